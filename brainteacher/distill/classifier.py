"""What the student and the network teacher share: an image classifier (ResNet-18 or the tiny edge
CNN, ``nn.archs``) trained through ``nn.train.fit`` on a split's training images.

Images are decoded once into a uint8 cache, normalised with training-set statistics and augmented
on the device (random resized crop, flip). The loss (``kd``) is cross-entropy without a teacher,
Hinton KD on the teacher's precomputed, calibrated logits, or GLD.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from brainteacher.configs import StudentConfig
from brainteacher.data import god
from brainteacher.data.images import augment, channel_stats, load_training_images, normalise
from brainteacher.data.splits import read_split
from brainteacher.distill.kd import gld_loss, kd_loss, region_logits
from brainteacher.nn.archs import build_student
from brainteacher.nn.resnet import load_torchvision_weights
from brainteacher.nn.train import fit, predict_logits, seed_everything

if TYPE_CHECKING:
    from brainteacher.distill.network_teacher import CrossFittedTeacher

__all__ = ["SplitImages", "load_split_images", "load_backbone", "build_classifier", "train_classifier", "predict"]


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


def to_device(images: np.ndarray, device: torch.device, mean: np.ndarray, sd: np.ndarray) -> torch.Tensor:
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


def build_classifier(cfg: StudentConfig, n_classes: int, device: torch.device) -> nn.Module:
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


def loss_function(
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
    model = build_classifier(cfg, n_classes, device)
    stats = channel_stats(train.images)
    x = to_device(train.images, device, *stats)
    y = torch.from_numpy(train.labels).to(device)
    live = network(stats) if (teacher is not None and cfg.loss == "gld" and cfg.gld.needs_feature_maps) else None
    trained = _Probe(model) if live is not None else model
    loss_fn = loss_function(cfg, trained, teacher, live, y, device)
    history = fit(trained, x, loss_fn, cfg.train, generator, augment=augment, desc=desc)
    return model, stats, history


def predict(model: nn.Module, images: np.ndarray, stats, device: torch.device) -> np.ndarray:
    """(n, 3, S, S) uint8 -> (n, C) logits, normalised with the training statistics ``stats``."""
    return predict_logits(model, to_device(images, device, *stats))


def save_checkpoint(path: Path, model: nn.Module) -> float:
    """Save the state_dict (plain tensors, loadable with ``weights_only=True``); return its size in MB."""
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, path)
    return path.stat().st_size / 2**20
