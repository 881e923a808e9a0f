"""Image classifiers: the distilled student (ResNet-18 or the tiny edge CNN, ``archs``) and the
cross-fitted ResNet network teacher.

Both train through ``train.fit`` on a split's training images, decoded once into a uint8 cache,
normalised with training-set statistics and augmented on the device (random resized crop, flip).
The student is tested on the split's held-out images and, on simulated data, on the dataset's
evaluation images (``images/evaluation``: never in a split, no fMRI), with the last step's
weights (no selection on test data). Its final training accuracy and loss are recorded beside,
so under- and over-fitting show. The network teacher, like the brain decoders, is cross-fitted: each training image's
target comes from a fold model that never saw it, so it cannot teach memorised one-hot labels.

Losses (``kd``): Hinton KD on the teacher's precomputed, calibrated logits, or GLD. GLD's local and
relation terms need the teacher's feature maps on the very view the student sees, so the network
teacher keeps its fold models (``fold<k>.pt`` + ``network.json`` in its folder) and each training
image is run, augmented, through the fold model that never saw it: the cross-fitting holds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from brainteacher import god, teachers
from brainteacher.archs import build_student, measure_latency
from brainteacher.configs import INITS, NetworkConfig, StudentConfig
from brainteacher.errors import DataError
from brainteacher.formats import student_dir, teacher_dir
from brainteacher.images import augment, channel_stats, load_evaluation_images, load_training_images, normalise
from brainteacher.kd import check_gld_teacher, gld_loss, kd_loss, region_logits
from brainteacher.metrics import classification_summary, per_category_accuracy
from brainteacher.outputs import atomic_path, provenance, read_json, write_json
from brainteacher.resnet import count_parameters, load_torchvision_weights, member_state, stack_members
from brainteacher.splits import read_split, stratified_folds
from brainteacher.train import MemberList, fit, fit_cohort, pick_device, predict_logits, seed_everything

__all__ = [
    "StudentConfig",
    "SplitImages",
    "CrossFittedTeacher",
    "INITS",
    "load_split_images",
    "load_network_teacher",
    "load_backbone",
    "train_classifier",
    "Member",
    "cohort_layout",
    "train_cohort",
    "run_cohort",
    "run_distill",
    "run_network_teacher",
]

NETWORK_RECORD = teacher_dir.NETWORK_RECORD  # the network teacher's fold models: architecture and input statistics

log = logging.getLogger("brainteacher.distill")


@dataclass(frozen=True)
class SplitImages:
    """One side of a split: ``images`` (n, 3, S, S) uint8, ``labels`` (n,) int64, ``ids`` (n,) names."""

    images: np.ndarray
    labels: np.ndarray
    ids: tuple[str, ...]


def load_split_images(
    root: str | Path, split_spec: str | Path, image_size: int, cache: str | Path | None = None
) -> tuple[SplitImages, SplitImages, god.StimulusTable]:
    """The split's training and test images from the dataset's TSV order; images are decoded once
    (or read from ``cache``, a .npy of every training image in TSV order at ``image_size``)."""
    all_images, table = load_training_images(root, image_size, cache)
    split = read_split(split_spec, table.names)
    names = np.asarray(table.names)

    def side(members: tuple[str, ...]) -> SplitImages:
        rows = np.flatnonzero(np.isin(names, members))
        return SplitImages(all_images[rows], table.labels[rows], tuple(names[rows]))

    return side(split.train), side(split.test), table


def _to_device(images: np.ndarray, device: torch.device, mean: np.ndarray, sd: np.ndarray) -> torch.Tensor:
    """uint8 (n, 3, S, S) -> normalised float32 on the device (channels_last on CUDA, which its
    convolution kernels prefer)."""
    x = normalise(torch.from_numpy(images).to(device), mean, sd)
    return x.contiguous(memory_format=torch.channels_last) if device.type == "cuda" else x


def load_backbone(model: nn.Module, path: str | Path) -> None:
    """Load every parameter but the classifier (``fc``) from a ``pretrain-simclr`` checkpoint into
    ``model``; the keys must match exactly (same arch, width, stem)."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    own = {k for k in model.state_dict() if not k.startswith("fc.")}
    if set(state) != own:
        missing, extra = sorted(own - set(state))[:5], sorted(set(state) - own)[:5]
        raise ValueError(
            f"{path}: not a backbone of this student (missing {missing}, unexpected {extra}); "
            "pretrain with the same arch, width and stem"
        )
    model.load_state_dict(state, strict=False)


def _build(cfg: StudentConfig, n_classes: int, device: torch.device) -> nn.Module:
    model = build_student(cfg.arch, n_classes, depth=cfg.depth, width=cfg.width, stem=cfg.stem)
    if cfg.weights:
        load_torchvision_weights(model, cfg.weights, skip_fc=True)
    if cfg.init == "simclr":
        load_backbone(model, cfg.init_checkpoint)
    model = model.to(device)
    return model.to(memory_format=torch.channels_last) if device.type == "cuda" else model


class _Probe(nn.Module):
    """Wraps a student so its forward returns logits as usual but keeps the batch it saw and its
    last feature map, which GLD's local terms need; the shared training loop stays unchanged."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net
        self.last_input: torch.Tensor | None = None
        self.last_map: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.last_input, self.last_map = x, self.net.feature_map(x)
        return self.net.fc(self.last_map.flatten(2).mean(-1))


class CrossFittedTeacher:
    """The network teacher's fold models, each answering only for the training images it never saw.

    ``models[k]`` was trained without fold k; ``fold_of`` (n_train,) gives each training image's
    fold in the student's row order; ``stats[k]`` the (mean, sd) its inputs were normalised with.
    Called on a student batch (normalised with ``student_stats``), it returns (B, C) global and
    (B, R, C) local logits from each image's own out-of-fold model, without gradients.
    """

    def __init__(
        self,
        models: list[nn.Module],
        stats: list[tuple[np.ndarray, np.ndarray]],
        fold_of: np.ndarray,
        student_stats,
        regions: int,
        device: torch.device,
    ) -> None:
        self.models = [m.to(device).eval() for m in models]
        self.regions = regions
        self.fold_of = torch.as_tensor(fold_of, device=device)
        view = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float32, device=device).view(1, -1, 1, 1)  # noqa: E731
        self.student = tuple(view(a) for a in student_stats)
        self.stats = [(view(m), view(s)) for m, s in stats]

    @torch.no_grad()
    def __call__(self, x: torch.Tensor, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raw = x.float() * self.student[1] + self.student[0]  # back to [0, 1] pixels, then the fold model's statistics
        glob, local = None, None
        for k, model in enumerate(self.models):
            rows = self.fold_of[idx] == k
            if not bool(rows.any()):
                continue
            mean, sd = self.stats[k]
            fmap = model.feature_map((raw[rows] - mean) / sd).float()
            g, loc = model.fc(fmap.flatten(2).mean(-1)), region_logits(fmap, model.fc, self.regions)
            if glob is None:
                glob = x.new_zeros((len(idx), g.shape[1]), dtype=torch.float32)
                local = x.new_zeros((len(idx), loc.shape[1], g.shape[1]), dtype=torch.float32)
            glob[rows], local[rows] = g, loc
        return glob, local


def _loss_function(
    cfg: StudentConfig,
    model: nn.Module,
    teacher: np.ndarray | None,
    network: CrossFittedTeacher | None,
    y: torch.Tensor,
    device: torch.device,
):
    """``loss_fn(logits, idx)`` for ``fit``: CE without a teacher, Hinton KD, or GLD."""
    if teacher is None:
        return lambda logits, idx: F.cross_entropy(logits, y[idx])
    t = torch.from_numpy(np.asarray(teacher, np.float32)).to(device)
    if cfg.loss == "hinton":
        return lambda logits, idx: kd_loss(logits, t[idx], y[idx], cfg.temperature, cfg.alpha)
    if not cfg.gld.needs_feature_maps:
        return lambda logits, idx: gld_loss(logits, t[idx], y[idx], cfg.gld)[0]

    def gld_with_maps(logits: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        t_global, t_local = network(model.last_input, idx)
        s_local = region_logits(model.last_map.float(), model.net.fc, cfg.gld.regions)
        return gld_loss(logits, t_global, y[idx], cfg.gld, s_local, t_local)[0]

    return gld_with_maps


def train_classifier(
    train: SplitImages,
    n_classes: int,
    teacher: np.ndarray | None,
    cfg: StudentConfig,
    seed: int,
    device: torch.device,
    desc: str = "",
    network: Callable[[tuple[np.ndarray, np.ndarray]], CrossFittedTeacher] | None = None,
) -> tuple[nn.Module, tuple[np.ndarray, np.ndarray], list[float]]:
    """Train a student on ``train``; with ``teacher`` (n, C) logits the loss is ``cfg.loss`` (Hinton
    KD or GLD), else CE. ``network(student_stats)`` builds the cross-fitted network teacher that
    GLD's local and relation terms query on each augmented batch.

    Returns the model (last step), the (mean, sd) per-channel statistics it was normalised with and
    the mean training loss of every epoch.
    """
    generator = seed_everything(seed)
    model = _build(cfg, n_classes, device)
    stats = channel_stats(train.images)
    x = _to_device(train.images, device, *stats)
    y = torch.from_numpy(train.labels).to(device)
    live = network(stats) if (teacher is not None and cfg.loss == "gld" and cfg.gld.needs_feature_maps) else None
    trained = _Probe(model) if live is not None else model
    loss_fn = _loss_function(cfg, trained, teacher, live, y, device)
    history = fit(trained, x, loss_fn, cfg.train, generator, augment=augment, desc=desc)
    return model, stats, history


def _predict(model: nn.Module, images: np.ndarray, stats, device: torch.device) -> np.ndarray:
    """(n, 3, S, S) uint8 -> (n, C) logits, normalised with the training statistics ``stats``."""
    return predict_logits(model, _to_device(images, device, *stats))


def _keep_fold_models(out: Path, models: list[nn.Module], stats: list, cfg: StudentConfig, n_classes: int) -> None:
    """``fold<k>.pt`` (model k never saw fold k) and ``network.json`` beside the teacher's logits,
    so GLD can query each image's out-of-fold model on augmented views."""
    for k, model in enumerate(models):
        with atomic_path(out / teacher_dir.fold_model(k)) as tmp:
            _checkpoint(tmp, model)
    record = {
        "n_folds": len(models),
        "n_classes": n_classes,
        "depth": cfg.depth,
        "width": cfg.width,
        "stem": cfg.stem,
        "image_size": cfg.image_size,
        "stats": stats,
    }
    write_json(out / NETWORK_RECORD, record)


def _checkpoint(path: Path, model: nn.Module) -> float:
    """Save the state_dict (plain tensors, loadable with ``weights_only=True``); return its size in MB."""
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, path)
    return path.stat().st_size / 2**20


@dataclass(frozen=True)
class Member:
    """One student of a cohort: its teacher (a name ``teachers.parse_teacher`` reads), the folders or
    file the teacher is built from, its seed (initialisation, batches, augmentation, random
    controls) and its student folder."""

    teacher: str
    teacher_inputs: tuple[str, ...]
    seed: int
    out: str


def cohort_layout(cfg: StudentConfig, device: torch.device) -> str:
    """How a cohort of students of ``cfg`` trains on ``device``: ``grouped`` (one ``resnet.ResNet``
    with ``members``), ``separate`` (a ``train.MemberList``, one optimizer step for all) or
    ``sequential`` (one after another in the process: GLD's feature-map terms query the network
    teacher per member). ``auto`` groups on CUDA, where one launch per layer instead of K is the
    gain, and keeps members separate on the CPU, where each then equals its solo run to the bit."""
    if cfg.loss == "gld" and cfg.gld.needs_feature_maps:
        return "sequential"
    layout = cfg.cohort_layout
    if layout == "auto":
        layout = "grouped" if device.type == "cuda" else "separate"
    return "grouped" if layout == "grouped" and cfg.arch == "resnet18" else "separate"


def train_cohort(
    train: SplitImages,
    n_classes: int,
    targets: list[np.ndarray | None],
    seeds: list[int],
    cfg: StudentConfig,
    device: torch.device,
    desc: str = "",
    grouped: bool = False,
) -> tuple[nn.Module, tuple[np.ndarray, np.ndarray], list[list[float]]]:
    """Train K students on ``train`` in one loop, member k with teacher ``targets[k]`` ((n, C)
    logits, or None: CE) and seed ``seeds[k]``: initialised as its solo run is (the same seed, the
    same draws), with its own batches and augmentation, shared by members of the same seed.
    ``grouped``: one grouped network (``resnet.ResNet(members=K)``, channels_last); else a
    ``train.MemberList`` of the K networks. Returns the cohort, the (mean, sd) input statistics
    and each member's mean loss per epoch."""
    solo = []
    for seed in seeds:
        seed_everything(seed)
        solo.append(_build(cfg, n_classes, device if not grouped else torch.device("cpu")))
    if grouped:
        cohort = build_student(cfg.arch, n_classes, depth=cfg.depth, width=cfg.width, stem=cfg.stem, members=len(seeds))
        stack_members(cohort, solo)
        cohort = cohort.to(device).to(memory_format=torch.channels_last)
    else:
        cohort = MemberList(solo)
    generator_of = {seed: torch.Generator().manual_seed(seed) for seed in seeds}
    stats = channel_stats(train.images)
    x = _to_device(train.images, device, *stats)
    y = torch.from_numpy(train.labels).to(device)
    loss_fns = [_loss_function(cfg, cohort, t, None, y, device) for t in targets]
    history = fit_cohort(cohort, x, loss_fns, cfg.train, [generator_of[s] for s in seeds], augment=augment, desc=desc)
    return cohort, stats, history


def _member_state(cohort: nn.Module, k: int) -> dict[str, torch.Tensor]:
    """Member k's state_dict in the solo layout, on the CPU."""
    if isinstance(cohort, MemberList):
        return {key: v.detach().cpu() for key, v in cohort[k].state_dict().items()}
    return member_state(cohort, k)


@dataclass(frozen=True)
class _Trained:
    """What one trained student leaves: logits on each image set, its last loss, its state_dict."""

    test: np.ndarray
    evaluation: np.ndarray | None
    train: np.ndarray
    final_loss: float
    state: dict[str, torch.Tensor]


def _train_members(
    train: SplitImages,
    test: SplitImages,
    evaluation,
    n_classes: int,
    targets: list[np.ndarray | None],
    members: list[Member],
    networks: list,
    cfg: StudentConfig,
    device: torch.device,
) -> list[_Trained]:
    """Train every member (together, or one by one: :func:`cohort_layout`) and predict the test,
    evaluation and training images with each."""
    sets = [test.images, None if evaluation is None else evaluation.images, train.images]
    layout = cohort_layout(cfg, device)
    if len(members) > 1 and layout != "sequential":
        cohort, stats, history = train_cohort(
            train,
            n_classes,
            targets,
            [m.seed for m in members],
            cfg,
            device,
            desc=f"cohort of {len(members)} ",
            grouped=layout == "grouped",
        )
        k = len(members)
        logits = [None if im is None else predict_logits(cohort, _to_device(im, device, *stats)) for im in sets]
        return [
            _Trained(*(None if lg is None else lg[i] for lg in logits), history[i][-1], _member_state(cohort, i))
            for i in range(k)
        ]
    out = []
    for member, target, network in zip(members, targets, networks):
        model, stats, history = train_classifier(
            train, n_classes, target, cfg, member.seed, device, desc=f"{member.teacher} ", network=network
        )
        logits = [None if im is None else _predict(model, im, stats, device) for im in sets]
        state = {key: v.detach().cpu() for key, v in model.state_dict().items()}
        out.append(_Trained(*logits, history[-1], state))
    return out


def run_cohort(
    root: str | Path,
    split_spec: str | Path,
    members: list[Member],
    cfg: StudentConfig,
    *,
    image_cache: str | Path | None = None,
    decoder: str | None = None,
) -> list[dict]:
    """Train the students ``members`` of one split in one process and test each on the split's
    held-out (and, on simulated data, evaluation) images.

    Each member's student folder (``brainteacher.formats.student_dir``) is written atomically into
    its ``out``, exactly as a solo ``distill`` would write it; members train together as
    :func:`cohort_layout` says, at most ``cfg.cohort_chunk`` at once. ``decoder`` only labels which
    decoder the brain teachers came from. Returns each member's metrics.
    """
    t0 = time.perf_counter()
    if not members:
        raise ValueError("a cohort needs at least one member")
    train, test, table = load_split_images(root, split_spec, cfg.image_size, image_cache)
    if not len(test.ids):
        raise DataError(split_spec, "the split has no test images to evaluate a student on")
    n_classes = len(table.categories)
    split_name = Path(str(split_spec)).stem
    specs = [teachers.parse_teacher(m.teacher) for m in members]
    targets = [
        teachers.teacher_logits(
            spec,
            list(m.teacher_inputs),
            train.ids,
            train.labels,
            table.category_synsets,
            cfg.temperature,
            test_ids=test.ids,
            seed=m.seed,
            split=split_name,
        )
        for m, spec in zip(members, specs)
    ]
    evaluation = load_evaluation_images(root, cfg.image_size, table.category_synsets)
    device = pick_device(cfg.device)
    # GLD's feature-map teachers, checked for every member before any trains.
    networks = [_network_for_gld(cfg, s, list(m.teacher_inputs), train, device) for s, m in zip(specs, members)]
    log.info(
        "%d student(s) %s (depth %d, width %d), loss %s, init %s, teachers %s, %d training / %d test images, on %s",
        len(members),
        cfg.arch,
        cfg.depth,
        cfg.width,
        cfg.loss,
        cfg.init,
        ", ".join(f"{s.name} (seed {m.seed})" for s, m in zip(specs, members)),
        len(train.ids),
        len(test.ids),
        device,
    )
    # Latency and size are the architecture's, not the weights': measured once for the cohort.
    model = build_student(cfg.arch, n_classes, depth=cfg.depth, width=cfg.width, stem=cfg.stem)
    cost = {**measure_latency(model, (3, cfg.image_size, cfg.image_size)), "n_parameters": count_parameters(model)}
    context = _Context(root, split_spec, split_name, train, test, evaluation, table, cfg, decoder, device)
    results = []
    # At most cohort_chunk members train at once (device memory); each chunk is written when done.
    size = cfg.cohort_chunk or len(members)
    for start in range(0, len(members), size):
        chunk = slice(start, start + size)
        t_train = time.perf_counter()
        trained = _train_members(
            train, test, evaluation, n_classes, targets[chunk], members[chunk], networks[chunk], cfg, device
        )
        train_share = (time.perf_counter() - t_train) / len(trained)
        for member, spec, target, result in zip(members[chunk], specs[chunk], targets[chunk], trained):
            metrics = _student_metrics(context, member, spec, target, result, cost, train_share, len(trained))
            model.load_state_dict(result.state)
            results.append(_write_student(context, member, metrics, result, model, t0))
    return results


@dataclass(frozen=True)
class _Context:
    """What every member of a cohort shares: the dataset, the split and its images, the config."""

    root: str | Path
    split_spec: str | Path
    split_name: str
    train: SplitImages
    test: SplitImages
    evaluation: object
    table: god.StimulusTable
    cfg: StudentConfig
    decoder: str | None
    device: torch.device


def _student_metrics(
    c: _Context,
    member: Member,
    spec: teachers.TeacherSpec,
    targets: np.ndarray | None,
    result: _Trained,
    cost: dict,
    train_time: float,
    cohort_size: int,
) -> dict:
    """One student's metrics.json (before the folder's own fields: size, wall time, version)."""
    n_classes = len(c.table.categories)
    return {
        "teacher": spec.name,
        "teacher_kind": spec.kind,
        "teacher_source": spec.source,
        "roi": spec.roi,
        "decoder": c.decoder if spec.is_brain_derived else None,
        "split": c.split_name,
        "seed": member.seed,
        "n_train": len(c.train.ids),
        "n_test": len(c.test.ids),
        "n_evaluation": 0 if c.evaluation is None else len(c.evaluation.ids),
        "n_categories": n_classes,
        "test": classification_summary(result.test, c.test.labels),
        "evaluation": None if c.evaluation is None else classification_summary(result.evaluation, c.evaluation.labels),
        # Training images seen without augmentation, in eval mode, after the last step.
        "train": {**classification_summary(result.train, c.train.labels), "final_loss": result.final_loss},
        "per_category_accuracy": dict(
            zip(c.table.category_synsets, per_category_accuracy(result.test, c.test.labels, n_classes).tolist())
        ),
        "teacher_stats": teachers.target_stats(targets, c.train.labels, c.cfg.temperature),
        "steps": c.cfg.train.steps,
        "arch": c.cfg.arch,
        "loss": c.cfg.loss if targets is not None else "ce",
        "init": c.cfg.init,
        **cost,
        "train_time_s": round(train_time, 3),
        "cohort_size": cohort_size,
        "wall_time_s": None,
        "device": str(c.device),
        **provenance(
            {
                "root": str(c.root),
                "split": str(c.split_spec),
                "teacher": spec.name,
                "teacher_inputs": list(member.teacher_inputs),
                "student": asdict(c.cfg),
            },
            member.seed,
        ),
    }


def _write_student(c: _Context, member: Member, metrics: dict, result: _Trained, model: nn.Module, t0: float) -> dict:
    """The member's student folder, atomically; logs its headline figures."""
    on_test = student_dir.Predictions(result.test, np.asarray(c.test.ids), c.test.labels)
    on_eval = (
        None
        if c.evaluation is None
        else student_dir.Predictions(result.evaluation, np.asarray(c.evaluation.ids), c.evaluation.labels)
    )
    metrics = student_dir.write(member.out, metrics, on_test, on_eval, lambda path: _checkpoint(path, model), t0)
    s = metrics["evaluation"] or metrics["test"]
    log.info(
        "%s (seed %d): %s top-1 %.3f (chance %.3f), top-5 %.3f, NLL %.3f; training top-1 %.3f",
        metrics["teacher"],
        member.seed,
        "evaluation" if c.evaluation else "test",
        s["top1"],
        s["top1_chance"],
        s["top5"],
        s["nll"],
        metrics["train"]["top1"],
    )
    return metrics


def run_distill(
    root: str | Path,
    split_spec: str | Path,
    teacher: str,
    teacher_inputs: list[str | Path],
    seed: int,
    out: str | Path,
    cfg: StudentConfig,
    *,
    image_cache: str | Path | None = None,
    decoder: str | None = None,
) -> dict:
    """Train one student with one teacher on a split and test it on the split's held-out images:
    a cohort of one (:func:`run_cohort`). ``decoder`` only labels which decoder a brain teacher
    came from."""
    member = Member(teacher, tuple(str(p) for p in teacher_inputs), seed, str(out))
    return run_cohort(root, split_spec, [member], cfg, image_cache=image_cache, decoder=decoder)[0]


def _network_for_gld(
    cfg: StudentConfig, spec: teachers.TeacherSpec, teacher_inputs, train: SplitImages, device: torch.device
):
    """For GLD's local/relation terms: a builder of the cross-fitted network teacher from its
    folder; refused (ValueError) for a teacher with global logits only. None when not needed."""
    if cfg.loss != "gld" or spec.kind == "none":
        return None
    has_maps = (
        spec.kind == "network" and len(teacher_inputs) == 1 and (Path(teacher_inputs[0]) / NETWORK_RECORD).is_file()
    )
    if spec.kind == "network" and cfg.gld.needs_feature_maps and not has_maps:
        raise DataError(
            teacher_inputs[0] if teacher_inputs else "network",
            (
                f"no {NETWORK_RECORD} and fold models: rerun network-teacher (this version keeps "
                "them) for GLD's local terms"
            ),
        )
    check_gld_teacher(cfg.gld, spec.name, has_maps)
    if not cfg.gld.needs_feature_maps:
        return None
    return lambda student_stats: load_network_teacher(
        teacher_inputs[0], train.ids, student_stats, cfg.gld.regions, device
    )


def load_network_teacher(
    folder: str | Path, train_ids, student_stats, regions: int, device: torch.device
) -> CrossFittedTeacher:
    """The network teacher's fold models from its folder, routed by ``folds.npy`` so that each of
    ``train_ids`` is answered by the fold model that never saw it."""
    folder = Path(folder)
    record = read_json(folder / NETWORK_RECORD)
    ids, folds = np.load(folder / teacher_dir.IMAGE_IDS), np.load(folder / teacher_dir.FOLDS)
    fold_by_id = dict(zip(ids.tolist(), folds.tolist()))
    missing = [i for i in train_ids if i not in fold_by_id]
    if missing:
        raise DataError(folder, f"the network teacher has no fold for training image {missing[0]} (another split?)")
    models = []
    for k in range(record["n_folds"]):
        model = build_student(
            "resnet18", record["n_classes"], depth=record["depth"], width=record["width"], stem=record["stem"]
        )
        model.load_state_dict(torch.load(folder / teacher_dir.fold_model(k), map_location="cpu", weights_only=True))
        models.append(model)
    stats = [(np.asarray(m), np.asarray(s)) for m, s in record["stats"]]
    return CrossFittedTeacher(
        models, stats, np.array([fold_by_id[i] for i in train_ids]), student_stats, regions, device
    )


def run_network_teacher(
    root: str | Path,
    split_spec: str | Path,
    out: str | Path,
    cfg: StudentConfig,
    *,
    n_folds: int = NetworkConfig.folds,
    seed: int = NetworkConfig.seed,
    image_cache: str | Path | None = None,
) -> dict:
    """Cross-fit a ResNet (``cfg.depth``: ``network.depth``, 18 by default) over a split's training images
    with ``n_folds`` stratified folds, and write its out-of-fold logits as a teacher folder (the
    same files as a decoder's: see ``formats.teacher_dir``). Test images are never used."""
    t0 = time.perf_counter()
    train, _, table = load_split_images(root, split_spec, cfg.image_size, image_cache)
    n_classes = len(table.categories)
    device = pick_device(cfg.device)
    folds = stratified_folds(train.labels, n_folds, np.random.default_rng(seed))
    logits = np.zeros((len(train.ids), n_classes), np.float32)
    fold_models, fold_stats = [], []
    for k in range(n_folds):
        fit_rows, held = np.flatnonzero(folds != k), np.flatnonzero(folds == k)
        log.info(
            "network teacher fold %d/%d: %d training images, %d held out", k + 1, n_folds, len(fit_rows), len(held)
        )
        part = SplitImages(train.images[fit_rows], train.labels[fit_rows], ())
        model, stats, _ = train_classifier(
            part, n_classes, None, cfg, seed * 1000 + k, device, desc=f"fold {k + 1}/{n_folds} "
        )
        logits[held] = _predict(model, train.images[held], stats, device)
        fold_models.append(model)
        fold_stats.append([np.asarray(a).tolist() for a in stats])
    metrics = {
        "teacher": "network",
        "split": Path(str(split_spec)).stem,
        "n_images": len(train.ids),
        "n_categories": n_classes,
        "n_folds": n_folds,
        "out_of_fold": classification_summary(logits, train.labels),
        "wall_time_s": round(time.perf_counter() - t0, 3),
        "device": str(device),
        **provenance({"root": str(root), "split": str(split_spec), "network": asdict(cfg), "n_folds": n_folds}, seed),
    }
    metrics = teacher_dir.write(out, logits, train.ids, train.labels, folds, metrics)
    _keep_fold_models(Path(out), fold_models, fold_stats, cfg, n_classes)
    log.info(
        "network teacher out-of-fold top-1 %.3f (chance %.3f)",
        metrics["out_of_fold"]["top1"],
        metrics["out_of_fold"]["top1_chance"],
    )
    return metrics
