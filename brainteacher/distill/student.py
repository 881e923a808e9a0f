"""The distilled student: a cohort of students that share a split, trained in one pass.

Each member is the model its solo run would give (its own seed's initialisation, batches and
augmentation; members that share a seed see the same batches). The student is tested on the
split's held-out images and, on simulated data, on the dataset's evaluation images
(``images/evaluation``: never in a split, no fMRI), with the last step's weights (no selection on
test data). Its final training accuracy and loss are recorded beside, so under- and over-fitting
show. The shared training pieces are in ``classifier``; the network teacher, which GLD's local
terms query, in ``network_teacher``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from brainteacher.configs import StudentConfig
from brainteacher.data import god
from brainteacher.data.images import augment, channel_stats, load_evaluation_images
from brainteacher.distill import teachers
from brainteacher.distill.classifier import (
    SplitImages,
    build_classifier,
    load_split_images,
    loss_function,
    predict,
    save_checkpoint,
    to_device,
    train_classifier,
)
from brainteacher.distill.kd import check_gld_teacher
from brainteacher.distill.network_teacher import NETWORK_RECORD, load_network_teacher
from brainteacher.errors import DataError
from brainteacher.formats import student_dir
from brainteacher.metrics import classification_summary, per_category_accuracy
from brainteacher.nn.archs import build_student, measure_latency
from brainteacher.nn.resnet import count_parameters, member_state, stack_members
from brainteacher.nn.train import MemberList, fit_cohort, member_layout, pick_device, predict_logits, seed_everything
from brainteacher.outputs import provenance

__all__ = ["Member", "cohort_layout", "train_cohort", "run_cohort", "run_distill"]


log = logging.getLogger(__name__)


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
    with ``members``), ``separate`` (a ``train.MemberList``, one optimizer step for all; see
    ``train.member_layout`` for ``auto``) or ``sequential`` (one after another in the process:
    GLD's feature-map terms query the network teacher per member)."""
    if cfg.loss == "gld" and cfg.gld.needs_feature_maps:
        return "sequential"
    return member_layout(cfg.cohort_layout, device, groupable=cfg.arch == "resnet18")


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
        solo.append(build_classifier(cfg, n_classes, device if not grouped else torch.device("cpu")))
    if grouped:
        cohort = build_student(cfg.arch, n_classes, depth=cfg.depth, width=cfg.width, stem=cfg.stem, members=len(seeds))
        stack_members(cohort, solo)
        cohort = cohort.to(device).to(memory_format=torch.channels_last)
    else:
        cohort = MemberList(solo)
    generator_of = {seed: torch.Generator().manual_seed(seed) for seed in seeds}
    stats = channel_stats(train.images)
    x = to_device(train.images, device, *stats)
    y = torch.from_numpy(train.labels).to(device)
    loss_fns = [loss_function(cfg, cohort, t, None, y, device) for t in targets]
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
        logits = [None if im is None else predict_logits(cohort, to_device(im, device, *stats)) for im in sets]
        return [
            _Trained(*(None if lg is None else lg[i] for lg in logits), history[i][-1], _member_state(cohort, i))
            for i in range(k)
        ]
    out = []
    for member, target, network in zip(members, targets, networks):
        model, stats, history = train_classifier(
            train, n_classes, target, cfg, member.seed, device, desc=f"{member.teacher} ", network=network
        )
        logits = [None if im is None else predict(model, im, stats, device) for im in sets]
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
    metrics = student_dir.write(member.out, metrics, on_test, on_eval, lambda path: save_checkpoint(path, model), t0)
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
