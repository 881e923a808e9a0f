"""The conventional network teacher: a ResNet cross-fitted over a split's training images.

Like the brain decoders it is cross-fitted: each training image's target comes from a fold model
that never saw it, so it cannot teach memorised one-hot labels. GLD's local and relation terms
need the teacher's feature maps on the very view the student sees, so the teacher keeps its fold
models (``fold<k>.pt`` + ``network.json`` in its folder) and each training image is run, augmented,
through the fold model that never saw it (:class:`CrossFittedTeacher`): the cross-fitting holds.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from torch import nn

from brainteacher.configs import NetworkConfig, StudentConfig
from brainteacher.data.splits import stratified_folds
from brainteacher.decode.calibration import calibrate_out_of_fold
from brainteacher.distill.classifier import SplitImages, load_split_images, predict, save_checkpoint, train_classifier
from brainteacher.distill.kd import region_logits
from brainteacher.errors import DataError
from brainteacher.formats import teacher_dir
from brainteacher.metrics import classification_summary
from brainteacher.nn.archs import build_student
from brainteacher.nn.train import pick_device
from brainteacher.outputs import atomic_path, provenance, read_json, write_json

__all__ = ["CrossFittedTeacher", "load_network_teacher", "run_network_teacher"]

log = logging.getLogger(__name__)


NETWORK_RECORD = teacher_dir.NETWORK_RECORD  # the network teacher's fold models: architecture and input statistics


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


def _keep_fold_models(out: Path, models: list[nn.Module], stats: list, cfg: StudentConfig, n_classes: int) -> None:
    """``fold<k>.pt`` (model k never saw fold k) and ``network.json`` beside the teacher's logits,
    so GLD can query each image's out-of-fold model on augmented views."""
    for k, model in enumerate(models):
        with atomic_path(out / teacher_dir.fold_model(k)) as tmp:
            save_checkpoint(tmp, model)
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
        logits[held] = predict(model, train.images[held], stats, device)
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
    calibrated, metrics = calibrate_out_of_fold(logits, train.labels, metrics)
    metrics = teacher_dir.write(out, logits, calibrated, train.ids, train.labels, folds, metrics)
    _keep_fold_models(Path(out), fold_models, fold_stats, cfg, n_classes)
    log.info(
        "network teacher out-of-fold top-1 %.3f (chance %.3f)",
        metrics["out_of_fold"]["top1"],
        metrics["out_of_fold"]["top1_chance"],
    )
    return metrics
