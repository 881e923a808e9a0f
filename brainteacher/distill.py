"""Image classifiers: the distilled ResNet-18 student and the cross-fitted ResNet-34 network teacher.

Both train through ``train.fit`` on a split's training images, decoded once into a uint8 cache,
normalised with training-set statistics and augmented on the device (random resized crop, flip).
The student is tested on the split's held-out images and, on simulated data, on the dataset's
evaluation images (``images/evaluation``: never in a split, no fMRI), with the last step's
weights (no selection on test data). Its final training accuracy and loss are recorded beside,
so under- and over-fitting show. The network teacher, like the brain decoders, is cross-fitted: each training image's
target comes from a fold model that never saw it, so it cannot teach memorised one-hot labels.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from brainteacher import god, teachers
from brainteacher.decode import write_soft_labels
from brainteacher.errors import DataError
from brainteacher.images import augment, channel_stats, load_evaluation_images, load_training_images, normalise
from brainteacher.io import atomic_dir, provenance, save_npy, write_json
from brainteacher.kd import kd_loss
from brainteacher.metrics import classification_summary, per_category_accuracy
from brainteacher.resnet import count_parameters, load_torchvision_weights, resnet
from brainteacher.splits import read_split, stratified_folds
from brainteacher.train import TrainConfig, fit, pick_device, predict_logits, seed_everything

__all__ = ["StudentConfig", "SplitImages", "load_split_images", "train_classifier", "run_distill", "run_network_teacher"]

log = logging.getLogger("brainteacher.distill")


def _student_train_config() -> TrainConfig:
    # 300 steps of 32 images: ~80 passes over a quick split's 120 images, enough to fit them.
    return TrainConfig(steps=300, batch_size=32, lr=2e-3, weight_decay=5e-4, log_every=20)


@dataclass(frozen=True)
class StudentConfig:
    """An image classifier and its distillation. ``width`` 64 is torchvision's ResNet; ``image_size``
    is pixels per side of the cached images; ``alpha`` weighs the KD term and ``temperature`` is
    Hinton's T; ``stem`` a key of ``resnet.STEMS`` (``imagenet`` is torchvision's and the fastest
    per accuracy at 32 px on CPU); ``weights`` is an optional torchvision-format state_dict file to
    start from (its ``fc`` is skipped; needs the ``imagenet`` stem)."""

    depth: int = 18
    width: int = 16
    image_size: int = 32
    stem: str = "imagenet"
    alpha: float = 0.9
    temperature: float = 2.0
    weights: str | None = None
    device: str = "auto"
    train: TrainConfig = field(default_factory=_student_train_config)


@dataclass(frozen=True)
class SplitImages:
    """One side of a split: ``images`` (n, 3, S, S) uint8, ``labels`` (n,) int64, ``ids`` (n,) names."""

    images: np.ndarray
    labels: np.ndarray
    ids: tuple[str, ...]


def load_split_images(root: str | Path, split_spec: str | Path, image_size: int, cache: str | Path | None = None) -> tuple[SplitImages, SplitImages, god.StimulusTable]:
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


def _build(cfg: StudentConfig, n_classes: int, device: torch.device) -> nn.Module:
    model = resnet(cfg.depth, 2, num_classes=n_classes, width=cfg.width, stem=cfg.stem)
    if cfg.weights:
        load_torchvision_weights(model, cfg.weights, skip_fc=True)
    model = model.to(device)
    return model.to(memory_format=torch.channels_last) if device.type == "cuda" else model


def train_classifier(
    train: SplitImages, n_classes: int, teacher: np.ndarray | None, cfg: StudentConfig, seed: int, device: torch.device, desc: str = ""
) -> tuple[nn.Module, tuple[np.ndarray, np.ndarray], list[float]]:
    """Train a ResNet on ``train``; with ``teacher`` (n, C) logits the loss is Hinton KD, else CE.

    Returns the model (last step), the (mean, sd) per-channel statistics it was normalised with and
    the mean training loss of every epoch.
    """
    generator = seed_everything(seed)
    model = _build(cfg, n_classes, device)
    stats = channel_stats(train.images)
    x = _to_device(train.images, device, *stats)
    y = torch.from_numpy(train.labels).to(device)
    if teacher is None:
        loss_fn = lambda logits, idx: F.cross_entropy(logits, y[idx])  # noqa: E731
    else:
        t = torch.from_numpy(np.asarray(teacher, np.float32)).to(device)
        loss_fn = lambda logits, idx: kd_loss(logits, t[idx], y[idx], cfg.temperature, cfg.alpha)  # noqa: E731
    history = fit(model, x, loss_fn, cfg.train, generator, augment=augment, desc=desc)
    return model, stats, history


def _predict(model: nn.Module, images: np.ndarray, stats, device: torch.device) -> np.ndarray:
    """(n, 3, S, S) uint8 -> (n, C) logits, normalised with the training statistics ``stats``."""
    return predict_logits(model, _to_device(images, device, *stats))


def _checkpoint(path: Path, model: nn.Module) -> float:
    """Save the state_dict (plain tensors, loadable with ``weights_only=True``); return its size in MB."""
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, path)
    return path.stat().st_size / 2**20


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
    """Train one student with one teacher on a split and test it on the split's held-out images.

    Writes atomically into ``out``: ``metrics.json`` (test top-1/top-5/NLL/ECE on the held-out
    images, the same on the evaluation images where the dataset has them, training accuracy and
    final loss, per-category accuracy, parameters, size, train time, device, teacher statistics,
    provenance), ``test_logits.npy`` (n_test, C) float32, ``test_image_ids.npy``,
    ``test_labels.npy``, on simulated data ``eval_logits.npy``, ``eval_image_ids.npy`` and
    ``eval_labels.npy``, and ``model.pt`` (a state_dict). ``decoder`` only labels which decoder a brain teacher came from.
    """
    t0 = time.perf_counter()
    spec = teachers.parse_teacher(teacher)
    train, test, table = load_split_images(root, split_spec, cfg.image_size, image_cache)
    if not len(test.ids):
        raise DataError(split_spec, "the split has no test images to evaluate a student on")
    n_classes = len(table.categories)
    split_name = Path(str(split_spec)).stem
    targets = teachers.teacher_logits(
        spec, teacher_inputs, train.ids, train.labels, table.category_synsets, cfg.temperature,
        test_ids=test.ids, seed=seed, split=split_name,
    )  # fmt: skip
    evaluation = load_evaluation_images(root, cfg.image_size, table.category_synsets)
    device = pick_device(cfg.device)
    log.info("student ResNet-%d (width %d) with teacher %s, %d training / %d test images, on %s", cfg.depth, cfg.width, spec.name, len(train.ids), len(test.ids), device)
    t_train = time.perf_counter()
    model, stats, history = train_classifier(train, n_classes, targets, cfg, seed, device, desc=f"{spec.name} ")
    train_time = time.perf_counter() - t_train
    logits = _predict(model, test.images, stats, device)
    eval_logits = None if evaluation is None else _predict(model, evaluation.images, stats, device)
    metrics = {
        "teacher": spec.name,
        "teacher_kind": spec.kind,
        "teacher_source": spec.source,
        "roi": spec.roi,
        "decoder": decoder if spec.is_brain_derived else None,
        "split": split_name,
        "seed": seed,
        "n_train": len(train.ids),
        "n_test": len(test.ids),
        "n_evaluation": 0 if evaluation is None else len(evaluation.ids),
        "n_categories": n_classes,
        "test": classification_summary(logits, test.labels),
        "evaluation": None if evaluation is None else classification_summary(eval_logits, evaluation.labels),
        # Training images seen without augmentation, in eval mode, after the last step.
        "train": {**classification_summary(_predict(model, train.images, stats, device), train.labels), "final_loss": history[-1]},
        "per_category_accuracy": dict(zip(table.category_synsets, per_category_accuracy(logits, test.labels, n_classes).tolist())),
        "teacher_stats": teachers.target_stats(targets, train.labels, cfg.temperature),
        "steps": cfg.train.steps,
        "n_parameters": count_parameters(model),
        "train_time_s": round(train_time, 3),
        "wall_time_s": None,
        "device": str(device),
        **provenance({"root": str(root), "split": str(split_spec), "teacher": spec.name, "teacher_inputs": [str(p) for p in teacher_inputs], "student": asdict(cfg)}, seed),
    }
    with atomic_dir(out) as tmp:
        metrics["size_mb"] = round(_checkpoint(tmp / "model.pt", model), 4)
        save_npy(tmp / "test_logits.npy", logits)
        save_npy(tmp / "test_image_ids.npy", np.asarray(test.ids))
        save_npy(tmp / "test_labels.npy", test.labels)
        if evaluation is not None:
            save_npy(tmp / "eval_logits.npy", eval_logits)
            save_npy(tmp / "eval_image_ids.npy", np.asarray(evaluation.ids))
            save_npy(tmp / "eval_labels.npy", evaluation.labels)
        metrics["wall_time_s"] = round(time.perf_counter() - t0, 3)
        write_json(tmp / "metrics.json", metrics)
    s = metrics["evaluation"] or metrics["test"]
    log.info("%s: %s top-1 %.3f (chance %.3f), top-5 %.3f, NLL %.3f; training top-1 %.3f", spec.name, "evaluation" if evaluation else "test", s["top1"], s["top1_chance"], s["top5"], s["nll"], metrics["train"]["top1"])
    return metrics


def run_network_teacher(
    root: str | Path, split_spec: str | Path, out: str | Path, cfg: StudentConfig, *, n_folds: int = 4, seed: int = 0, image_cache: str | Path | None = None
) -> dict:
    """Cross-fit a ResNet (``cfg.depth``, 34 for the network teacher) over a split's training images
    with ``n_folds`` stratified folds, and write its out-of-fold logits as a teacher folder (the
    same files as a decoder's: see ``decode.write_soft_labels``). Test images are never used."""
    t0 = time.perf_counter()
    train, _, table = load_split_images(root, split_spec, cfg.image_size, image_cache)
    n_classes = len(table.categories)
    device = pick_device(cfg.device)
    folds = stratified_folds(train.labels, n_folds, np.random.default_rng(seed))
    logits = np.zeros((len(train.ids), n_classes), np.float32)
    for k in range(n_folds):
        fit_rows, held = np.flatnonzero(folds != k), np.flatnonzero(folds == k)
        log.info("network teacher fold %d/%d: %d training images, %d held out", k + 1, n_folds, len(fit_rows), len(held))
        part = SplitImages(train.images[fit_rows], train.labels[fit_rows], ())
        model, stats, _ = train_classifier(part, n_classes, None, cfg, seed * 1000 + k, device, desc=f"fold {k + 1}/{n_folds} ")
        logits[held] = _predict(model, train.images[held], stats, device)
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
    metrics = write_soft_labels(out, logits, train.ids, train.labels, folds, metrics)
    log.info("network teacher out-of-fold top-1 %.3f (chance %.3f)", metrics["out_of_fold"]["top1"], metrics["out_of_fold"]["top1_chance"])
    return metrics
