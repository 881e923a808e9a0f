"""Brain decoders: voxels of one subject x ROI -> category logits, cross-fitted out of fold.

Each image's soft label comes from a fold model that never saw that image's trial, and the
decoder only ever sees the images of the split's training set, so nothing from a student's test
images reaches its teacher. Preprocessing (z-scoring, ANOVA voxel selection) is fitted inside each
fold on that fold's training rows.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from brainteacher import registry
from brainteacher.configs import DecoderConfig
from brainteacher.data import god
from brainteacher.data.splits import read_split, stratified_folds
from brainteacher.decode.calibration import calibrate_out_of_fold, fit_temperature
from brainteacher.decode.preprocess import fit_preprocessor
from brainteacher.decode.voxelorder import voxel_order
from brainteacher.formats import teacher_dir
from brainteacher.metrics import classification_summary, nll, softmax, topk_accuracy
from brainteacher.nn.resnet import ResNet, linear_layer, resnet18, stack_members
from brainteacher.nn.train import (
    MemberList,
    fit_cohort,
    fork_global_stream,
    member_layout,
    pick_device,
    predict_logits,
    seed_everything,
)
from brainteacher.outputs import provenance

__all__ = [
    "DecoderConfig",
    "Fold",
    "OutOfFold",
    "ShortcutResNet",
    "build_decoder",
    "cross_fitted_head_weights",
    "fold_layout",
    "out_of_fold_logits",
    "run_decode",
    "default_n_voxels",
]

log = logging.getLogger(__name__)

# GOD's analyses keep 500 voxels of a single ROI and 1000 of the unions.
_GOD_N_VOXELS = {**{r: 500 for r in god.SINGLE_ROIS}, **{r: 1000 for r in god.ROI_UNIONS}}
# Candidate weights of the 1D ResNet's residual head (0 = its linear read-out alone, 1 = the head
# as trained); five steps, since each is scored on ~100 images.
HEAD_WEIGHT_GRID = np.linspace(0.0, 1.0, 5)


def default_n_voxels(roi: str) -> int:
    """Top-N voxels kept by ANOVA F for an ROI: 500 for single ROIs, 1000 for LVC, HVC and VC."""
    return _GOD_N_VOXELS[roi]


class ShortcutResNet(ResNet):
    """A ResNet plus a linear read-out of its raw input: ``logits = shortcut(x) + fc(features(x))``.

    ``n_inputs`` is the flattened input size (the number of voxels); other arguments are
    :class:`ResNet`'s, whose parameter names stay torchvision's. Both heads start at zero, so
    training starts from the linear model and the convolutional stages only add what the linear
    read-out misses. In training, ``head_dropout`` is the share of samples whose residual head is
    dropped (stochastic depth of the whole head), so the shortcut must be a good model on its own.
    With ``members`` K > 1 (a cohort of a decoder's folds) both heads are per member: logits
    (N, K, num_classes).
    """

    def __init__(self, *args: Any, n_inputs: int, head_dropout: float = 0.0, **kwargs: Any) -> None:
        self._n_inputs = n_inputs  # read by _init_weights, which ResNet's constructor calls
        super().__init__(*args, **kwargs)
        self.head_dropout = head_dropout
        # Where head dropout draws: None = torch's global stream on the input's device; a decoder's
        # fold (fit_folds), alone or a cohort's member k, its own fork of the CPU stream.
        self.dropout_streams: list[torch.Generator] | None = None

    def _init_weights(self, zero_init_residual: bool) -> None:
        # The shortcut is made here, after the backbone's layers and before their initialisation,
        # as when ResNet itself held it: the random stream, so every initial weight, is unchanged.
        # A path that sees every input element by identity (a voxel's, where the convolutions and
        # pooling see only neighbourhoods).
        self.shortcut = linear_layer(self._n_inputs, self.fc.out_features, self.members)
        super()._init_weights(zero_init_residual)
        for head in (self.fc, self.shortcut):
            nn.init.zeros_(head.weight)
            nn.init.zeros_(head.bias)

    def logit_terms(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, in_channels, L) -> the shortcut's and the residual head's (N, num_classes) logits,
        whose sum is the eval-mode output (a cohort: (N, K, num_classes) each)."""
        return self.shortcut(torch.flatten(x, 1)), self.fc(self.features(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, in_channels, L) -> (N, num_classes) logits (a cohort: (N, K, num_classes))."""
        shortcut, head = self.logit_terms(x)
        if self.training and self.head_dropout > 0:
            head = head * self._kept_heads(head) / (1 - self.head_dropout)
        return head + shortcut

    def _kept_heads(self, head: torch.Tensor) -> torch.Tensor:
        """(N, 1), or (N, K, 1) for a cohort: True where a sample keeps its residual head."""
        if self.dropout_streams is None:
            return torch.rand(*head.shape[:-1], 1, device=head.device) >= self.head_dropout
        draws = [torch.rand(len(head), 1, generator=g) for g in self.dropout_streams]
        kept = (torch.stack(draws, dim=1) if self.members > 1 else draws[0]) >= self.head_dropout
        return kept.to(head.device)


def resnet1d_decoder(n_voxels: int, n_classes: int, cfg: DecoderConfig, members: int = 1) -> nn.Module:
    # ResNet-18's stages over the spatially ordered voxel vector, plus (by default) ShortcutResNet's
    # linear read-out of every voxel, which keeps voxel identity. The head is dropped for half of
    # the training samples, so the shortcut stays a full linear decoder and the stages only add to
    # it: trained jointly without that, the stages memorise the ~700 training rows and starve the
    # shortcut, and the decoder falls below the linear one at GOD scale. How much of the head enters
    # the logits is chosen afterwards, out of fold (cross_fitted_head_weights). Figures:
    # docs/benchmarks.md, "Decoders at GOD scale".
    backbone = {
        "spatial_dims": 1,
        "in_channels": 1,
        "num_classes": n_classes,
        "width": cfg.width,
        "stem": cfg.stem,
        "members": members,  # a cohort of a decoder's inner folds (fold_layout)
    }
    if not cfg.linear_shortcut:
        return resnet18(**backbone)
    return resnet18(cls=ShortcutResNet, n_inputs=n_voxels, head_dropout=0.5, **backbone)


def linear_decoder(n_voxels: int, n_classes: int, cfg: DecoderConfig) -> nn.Module:
    # Multinomial logistic regression. AdamW's decay is decoupled from the gradient, so it shrinks
    # the weights but is not an L2 penalty in the loss; its outputs are calibrated afterwards.
    # Zero initial weights make the fit independent of the voxels' column order.
    model = nn.Sequential(nn.Flatten(), nn.Linear(n_voxels, n_classes))
    nn.init.zeros_(model[1].weight)
    nn.init.zeros_(model[1].bias)
    return model


def build_decoder(cfg: DecoderConfig, n_voxels: int, n_classes: int) -> nn.Module:
    """The model for ``cfg.decoder``; input (N, 1, n_voxels), output (N, n_classes) logits."""
    return registry.resolve(registry.DECODERS[registry.decoder(cfg.decoder)])(n_voxels, n_classes, cfg)


def _noise(sd: float) -> Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None:
    if sd <= 0:
        return None
    # Drawn on the CPU generator, so CPU runs repeat exactly; then moved to the data's device.
    return lambda x, gen: x + sd * torch.randn(x.shape, generator=gen).to(x.device)


def _has_head_terms(cfg: DecoderConfig) -> bool:
    """Whether the decoder's logits are a linear shortcut plus a residual head to be weighed."""
    return cfg.decoder == "resnet1d" and cfg.linear_shortcut and cfg.head_weight == "cross-fitted"


class _LogitTerms(nn.Module):
    """(N, 1, n_voxels) -> (N, 2, n_classes): a shortcut ResNet's two logit terms, stacked (a
    cohort of K: (N, K, 2, n_classes))."""

    def __init__(self, model: ShortcutResNet) -> None:
        super().__init__()
        self.model = model

    @property
    def members(self) -> int:
        return self.model.members

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack(self.model.logit_terms(x), dim=-2)


@dataclass(frozen=True)
class Fold:
    """One inner fold, preprocessed on its own training rows: ``X_tr`` (n_tr, n_voxels) float32 and
    ``y_tr`` (n_tr,) int64 to train on, ``X_te`` (n_te, n_voxels) its held-out rows, and the seed
    of its model (initialisation, batches, input noise, head dropout)."""

    X_tr: np.ndarray
    y_tr: np.ndarray
    X_te: np.ndarray
    seed: int


def fold_layout(cfg: DecoderConfig, device: torch.device, folds: Sequence[Fold]) -> str:
    """How a decoder's inner folds train on ``device``: ``grouped`` (one resnet1d with a member per
    fold), ``separate`` (a ``train.MemberList``, one optimizer step for all; on the CPU each fold's
    model equals the one it trains alone, to the bit; see ``train.member_layout`` for ``auto``) or
    ``sequential`` (one after another: folds whose training sets differ in shape cannot step
    together). The linear decoder is never grouped."""
    if len({f.X_tr.shape for f in folds}) > 1:
        return "sequential"
    return member_layout(cfg.cohort_layout, device, groupable=cfg.decoder == "resnet1d")


def _fold_model(fold: Fold, n_classes: int, cfg: DecoderConfig) -> tuple[nn.Module, torch.Generator]:
    """A fold's model as its own run makes it, and its batch/noise stream. Its head dropout keeps
    the rest of the global stream it would draw from, so models trained side by side stay their own."""
    generator = seed_everything(fold.seed)
    model = build_decoder(cfg, fold.X_tr.shape[1], n_classes)
    if isinstance(model, ShortcutResNet):
        model.dropout_streams = [fork_global_stream()]
    return model, generator


def _cohort_of(models: list[nn.Module], n_voxels: int, n_classes: int, cfg: DecoderConfig, layout: str) -> nn.Module:
    """The folds' models as one module: a grouped resnet1d holding them as members, or a MemberList
    (of one, for a fold trained alone)."""
    if layout != "grouped" or len(models) == 1:
        return MemberList(models)
    cohort = resnet1d_decoder(n_voxels, n_classes, cfg, members=len(models))
    stack_members(cohort, models)
    if isinstance(cohort, ShortcutResNet):
        cohort.dropout_streams = [g for m in models for g in m.dropout_streams]
    return cohort


def fit_folds(folds: Sequence[Fold], n_classes: int, cfg: DecoderConfig, device: torch.device) -> list[np.ndarray]:
    """Train one model per fold, together (:func:`fold_layout`), and return each fold's logits for
    its held-out rows: (n_te, n_classes), or (n_te, 2, n_classes) for the shortcut's and the
    residual head's terms when they are to be weighed."""
    layout = fold_layout(cfg, device, folds)
    if layout != "sequential":
        return _fit_together(folds, n_classes, cfg, device, layout, f"{len(folds)} folds ({layout}) ")
    n = len(folds)
    return [_fit_together([f], n_classes, cfg, device, layout, f"fold {k + 1}/{n} ")[0] for k, f in enumerate(folds)]


def _fit_together(
    folds: Sequence[Fold], n_classes: int, cfg: DecoderConfig, device: torch.device, layout: str, desc: str
) -> list[np.ndarray]:
    """:func:`fit_folds` for folds that train in one loop (one fold: alone)."""
    models, generators = zip(*(_fold_model(f, n_classes, cfg) for f in folds))
    model = _cohort_of(list(models), folds[0].X_tr.shape[1], n_classes, cfg, layout).to(device)
    # The data are small: keep them on the device for the whole fit.
    inputs = [torch.from_numpy(f.X_tr).unsqueeze(1).to(device) for f in folds]
    labels = [torch.from_numpy(f.y_tr).to(device) for f in folds]
    fit_cohort(
        model,
        inputs,
        [lambda logits, idx, y=y: F.cross_entropy(logits, y[idx]) for y in labels],
        cfg.train,
        list(generators),
        augment=_noise(cfg.input_noise),
        desc=desc,
    )
    held_out = [torch.from_numpy(f.X_te).unsqueeze(1).to(device) for f in folds]
    if _has_head_terms(cfg):
        model = MemberList(map(_LogitTerms, model)) if isinstance(model, MemberList) else _LogitTerms(model)
    return list(predict_logits(model, held_out))  # (K, n_te, ...): fold k's held-out rows


def cross_fitted_head_weights(
    terms: np.ndarray, labels: np.ndarray, folds: np.ndarray, grid: np.ndarray = HEAD_WEIGHT_GRID
) -> np.ndarray:
    """(n_folds,) weight w of the residual head for each inner fold's rows, logits = shortcut + w * head.

    terms : (n, 2, C) out-of-fold shortcut and head logits; labels : (n,); folds : (n,) in 0..K-1.
    Fold k's weight is the ``grid`` value whose logits have the lowest NLL (nats, at their
    NLL-fitted temperature) on the *other* folds' rows, so no row's label enters the weight applied
    to it; ties go to the smaller weight. A head that only adds noise at test time gets ~0 (the
    decoder is then its linear read-out), one that carries what the shortcut misses keeps its weight.
    """
    shortcut, head = (np.asarray(terms[:, i], np.float64) for i in (0, 1))
    weights = np.zeros(int(folds.max()) + 1)
    for k in np.unique(folds):
        rest = folds != k
        losses = [_calibrated_nll(shortcut[rest] + w * head[rest], labels[rest]) for w in grid]
        weights[k] = grid[int(np.argmin(losses))]  # the first minimum: the smallest weight
    return weights


def _calibrated_nll(logits: np.ndarray, labels: np.ndarray) -> float:
    """Mean NLL (nats) of ``softmax(logits / tau)`` at the tau that minimises it."""
    probs = softmax(logits / fit_temperature(logits, labels, objective="nll"), axis=1)
    return nll(probs, labels)


def _image_folds(y: np.ndarray, groups: np.ndarray, n_folds: int, seed: int) -> np.ndarray:
    """(n,) fold per row, stratified by label, with all rows of one image (group) in one fold."""
    _, first, inverse = np.unique(groups, return_index=True, return_inverse=True)
    return stratified_folds(y[first], n_folds, np.random.default_rng(seed))[inverse]


@dataclass(frozen=True)
class OutOfFold:
    """Cross-fitted decoder output. ``logits`` (n, C) float32 and ``folds`` (n,) int64 per row;
    ``n_voxels`` kept; for a resnet1d whose residual head is weighed, ``head_weights`` (n_folds,)
    and ``terms`` (n, 2, C): the shortcut's and the head's out-of-fold logits."""

    logits: np.ndarray
    folds: np.ndarray
    n_voxels: int
    head_weights: np.ndarray | None = None
    terms: np.ndarray | None = None


def out_of_fold_logits(
    X: np.ndarray,
    y: np.ndarray,
    runs: np.ndarray,
    n_classes: int,
    cfg: DecoderConfig,
    device: torch.device | None = None,
    groups: np.ndarray | None = None,
) -> OutOfFold:
    """Cross-fitted logits: every row predicted by the fold model that held it out.

    X : (n, n_voxels) float32; y : (n,) int64 labels in 0..n_classes-1; runs : (n,) int;
    groups : (n,) image of each row when an image has several trials (they share a fold, so no
    model sees one trial of an image it is asked to predict); None means one row per image.
    Returns an :class:`OutOfFold`: logits (n, n_classes) float32, fold (n,) int64, the number of
    voxels kept and, for a resnet1d whose head is weighed, its per-fold weights and logit terms.
    """
    device = device or pick_device(cfg.device)
    folds = _image_folds(y, np.arange(len(y)) if groups is None else groups, cfg.n_folds, cfg.seed)
    logits = np.zeros((len(y), 2, n_classes) if _has_head_terms(cfg) else (len(y), n_classes), np.float32)
    inner = []
    for k in range(cfg.n_folds):
        tr, te = folds != k, folds == k
        # Here no ROI is known: None, like 0, keeps every voxel (run_decode resolves None first).
        prep = fit_preprocessor(X[tr], y[tr], runs[tr], n_voxels=cfg.n_voxels or None, within_run=cfg.within_run)
        n_tr, n_te, n_kept = tr.sum(), te.sum(), len(prep.keep)
        log.info("fold %d/%d: %d training rows, %d held out, %d voxels", k + 1, cfg.n_folds, n_tr, n_te, n_kept)
        inner.append(Fold(prep.transform(X[tr], runs[tr]), y[tr], prep.transform(X[te], runs[te]), cfg.seed * 1000 + k))
    for k, held_out in enumerate(fit_folds(inner, n_classes, cfg, device)):
        logits[folds == k] = held_out
    if logits.ndim == 2:
        return OutOfFold(logits, folds, n_kept)
    weights = cross_fitted_head_weights(logits, y, folds)
    log.info("residual head weight per fold (cross-fitted): %s", ", ".join(f"{w:.2f}" for w in weights))
    combined = logits[:, 0] + weights[folds, None].astype(np.float32) * logits[:, 1]
    return OutOfFold(combined, folds, n_kept, weights, logits)


def _head_record(terms: np.ndarray, weights: np.ndarray, labels: np.ndarray) -> dict:
    """metrics.json's ``residual_head``: the per-fold weights and, for comparison, the out-of-fold
    top-1 with the head at weight 1 (as trained) and at 0 (the shortcut alone).
    terms : (n, 2, C) per image; labels : (n,)."""
    shortcut, head = terms[:, 0], terms[:, 1]
    return {
        "selection": "cross-fitted",
        "grid": HEAD_WEIGHT_GRID.tolist(),
        "weights": weights.tolist(),
        "top1_weight_one": topk_accuracy(shortcut + head, labels, 1),
        "top1_shortcut_only": topk_accuracy(shortcut, labels, 1),
    }


def _mean_per_image(values: np.ndarray, image_of_row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Average rows (trials) of each image: (n_rows, ...) -> (n_images, ...), rows in first-seen order."""
    _, first, inverse = np.unique(image_of_row, return_index=True, return_inverse=True)
    order = np.argsort(first)  # keep the TSV order of images
    sums = np.zeros((len(first),) + values.shape[1:], np.float64)
    np.add.at(sums, inverse, values)
    counts = np.bincount(inverse)
    return (sums / counts.reshape(-1, *[1] * (values.ndim - 1)))[order], first[order]


def _for_roi(cfg: DecoderConfig, roi: str) -> DecoderConfig:
    """``cfg`` with ``n_voxels`` resolved for ``roi``: None -> GOD's count, 0 -> None (every voxel)."""
    return replace(cfg, n_voxels=default_n_voxels(roi) if cfg.n_voxels is None else (cfg.n_voxels or None))


def run_decode(
    root: str | Path, subject: str, roi: str, split_spec: str | Path, out: str | Path, cfg: DecoderConfig
) -> dict:
    """Decode one subject x ROI on a split's training images and write a teacher folder into
    ``out`` (``brainteacher.formats.teacher_dir``: calibrated and raw out-of-fold logits, soft
    labels, image ids, labels, folds and ``metrics.json``). ``cfg.keep_repeats`` trains on every presentation."""
    t0 = time.perf_counter()
    cfg = _for_roi(cfg, roi)  # recorded resolved, as the command line passed it before
    average_repeats = not cfg.keep_repeats
    data = god.GODLayout.from_root(root).load(subject, roi, average_repeats=average_repeats, check_images=False)
    split = read_split(split_spec, data.image_ids)
    rows = np.flatnonzero(split.train_mask(data.image_ids))
    # The 1D axis: from the voxel coordinates alone (no values, no labels), before any fold.
    order = voxel_order(data.voxel_xyz, cfg.voxel_order)
    X = data.X[:, order]
    device = pick_device(cfg.device)
    log.info(
        "%s %s split %s: %d training trials, %d voxels, %s decoder on %s",
        subject,
        roi,
        split.name,
        len(rows),
        data.X.shape[1],
        cfg.decoder,
        device,
    )
    image_of_row = data.stimulus_keys[rows]
    oof = out_of_fold_logits(
        X[rows], data.labels[rows], data.runs[rows], data.n_categories, cfg, device, groups=image_of_row
    )
    # With repeats kept, a trial's logits are averaged into one soft label per image.
    logits, first = _mean_per_image(oof.logits, image_of_row)
    logits = logits.astype(np.float32)
    rows, folds = rows[first], oof.folds[first]
    labels = data.labels[rows]
    head = None
    if oof.terms is not None:
        head = _head_record(_mean_per_image(oof.terms, image_of_row)[0], oof.head_weights, labels)
    metrics = {
        "subject": subject,
        "roi": roi,
        "decoder": cfg.decoder,
        "split": split.name,
        "n_images": len(rows),
        "n_categories": data.n_categories,
        "n_voxels": oof.n_voxels,
        # ROI column indices (0-based, into the ROI's voxels as stored) in the order the decoder saw.
        "voxel_order": {"kind": cfg.voxel_order, "columns": order.tolist()},
        "n_folds": cfg.n_folds,
        "epochs": cfg.train.epochs,
        "out_of_fold": classification_summary(logits, labels),
        **({} if head is None else {"residual_head": head}),
        "wall_time_s": round(time.perf_counter() - t0, 3),
        "device": str(device),
        **provenance(
            {
                "root": str(root),
                "subject": subject,
                "roi": roi,
                "split": str(split_spec),
                "average_repeats": average_repeats,
                "decoder": asdict(cfg),
            },
            cfg.seed,
        ),
    }
    calibrated, metrics = calibrate_out_of_fold(logits, labels, metrics)
    metrics = teacher_dir.write(out, logits, calibrated, [data.image_ids[i] for i in rows], labels, folds, metrics)
    top1, cal = metrics["out_of_fold"], metrics["calibration"]
    log.info(
        "out-of-fold top-1 %.3f (chance %.3f), top-5 %.3f, rank %.3f",
        top1["top1"],
        top1["top1_chance"],
        top1["top5"],
        top1["mean_normalised_rank"],
    )
    log.info(
        "calibration: temperature %.3f, NLL %.3f -> %.3f, Brier %.3f -> %.3f, ECE %.3f -> %.3f",
        cal["temperature"],
        cal["nll_before"],
        cal["nll_after"],
        cal["brier_before"],
        cal["brier_after"],
        cal["ece_before"],
        cal["ece_after"],
    )
    return metrics
