"""Images for the student: decoded once into a uint8 cache, augmented as tensors on the device.

No JPEG is decoded per epoch: ``load_image_cache`` decodes every image once at the configured
resolution into a (N, 3, S, S) uint8 array (saved as .npy beside the outputs when asked), and
``augment`` does a random resized crop and a horizontal flip on a batch tensor, on its device.
Normalisation statistics come from the training images only.

A saved cache ``<name>.npy`` has a sidecar ``<name>.npy.json`` recording what it was built from
(its format: ``brainteacher.formats.image_cache``). The cache is reused only when all of it
matches; otherwise it is rebuilt, so a cache of the right shape but from other or edited images
is never used.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from brainteacher.data.god import (
    EVALUATION_IMAGE_DIR,
    EVALUATION_TSV,
    GODLayout,
    StimulusTable,
    image_paths,
    open_image,
    read_stimulus_tsv,
)
from brainteacher.errors import DataError
from brainteacher.formats import image_cache

__all__ = [
    "CACHE_FORMAT",
    "cache_sidecar",
    "EvaluationImages",
    "load_image_cache",
    "load_training_images",
    "load_evaluation_images",
    "channel_stats",
    "normalise",
    "augment",
]

log = logging.getLogger(__name__)

CACHE_FORMAT = image_cache.FORMAT_VERSION  # bump it there when the decoding (resize, crop) changes


def _decode(path: Path, size: int) -> np.ndarray:
    """(3, size, size) uint8: shorter side resized to ``size``, then centre-cropped (ImageNet framing)."""
    from PIL import Image

    im = open_image(path)
    scale = size / min(im.size)
    im = im.resize((max(size, round(im.width * scale)), max(size, round(im.height * scale))), Image.BILINEAR)
    left, top = (im.width - size) // 2, (im.height - size) // 2
    return np.asarray(im.crop((left, top, left + size, top + size)), np.uint8).transpose(2, 0, 1)


def _images_sha256(paths: Sequence[Path]) -> str:
    """SHA-256 over every image file's name, length and bytes, in order.

    The bytes, not names + sizes + mtimes: an edited image can keep its size, and copies (``cp
    -p``, ``rsync -t``, unpacking an archive) carry mtimes over from other files, so only the
    content proves the cache is of these images. Reading GOD's 1,200 JPEGs (on the order of 100 MB)
    to hash them costs little beside decoding them.
    """
    digest = hashlib.sha256()
    for path in paths:
        try:
            data = Path(path).read_bytes()
        except OSError as err:
            raise DataError(
                path, "image not found" if isinstance(err, FileNotFoundError) else f"unreadable image ({err.strerror})"
            ) from None
        # Name and length go in first, so moving bytes from one file to the next changes the hash.
        digest.update(f"{Path(path).name}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()


def cache_sidecar(cache: str | Path) -> Path:
    """The JSON record beside an image cache: ``images.npy`` -> ``images.npy.json``."""
    return image_cache.sidecar(cache)


def _cache_record(paths: Sequence[Path], size: int) -> dict[str, Any]:
    """What a cache of ``paths`` at ``size`` must have been built from (the sidecar, less the array hash)."""
    return image_cache.record([Path(p).name for p in paths], size, _images_sha256(paths))


def load_image_cache(paths: Sequence[Path], size: int, cache: Path | None = None) -> np.ndarray:
    """(N, 3, size, size) uint8, in the order of ``paths``.

    With ``cache`` (a .npy path), the array is reused if its sidecar (:func:`cache_sidecar`) shows
    it was built from exactly these image files, in this order, at this size; otherwise every
    image is decoded again and the cache and sidecar are rewritten (each atomically).
    """
    if cache is None:
        return np.stack([_decode(Path(p), size) for p in paths])
    cache = Path(cache)
    record = _cache_record(paths, size)
    arr, why = image_cache.read(cache, record)
    if arr is not None:
        return arr
    log.info("building image cache %s (%s)", cache, why)
    arr = np.stack([_decode(Path(p), size) for p in paths])
    image_cache.write(cache, arr, record)
    return arr


def load_training_images(root: str | Path, size: int, cache: Path | None = None) -> tuple[np.ndarray, StimulusTable]:
    """Every training image of a GOD-format dataset, (N, 3, size, size) uint8 in the stimulus TSV's
    order, with that table; decoded once into ``cache`` (.npy) when given, else reused from it."""
    layout = GODLayout.from_root(root)
    table = read_stimulus_tsv(layout.training_tsv)
    return load_image_cache(image_paths(layout.image_dir, table.names), size, cache), table


@dataclass(frozen=True)
class EvaluationImages:
    """A simulated dataset's evaluation set: ``images`` (n, 3, S, S) uint8, ``labels`` (n,) in the
    training labels' order, ``ids`` (n,) names."""

    images: np.ndarray
    labels: np.ndarray
    ids: tuple[str, ...]


def load_evaluation_images(root: str | Path, size: int, category_synsets: Sequence[str]) -> EvaluationImages | None:
    """The evaluation images of a simulated dataset (``stimulus_SimulatedEvaluation.tsv``), labelled
    like the training images (matched by synset); None for a dataset without them (real GOD).
    Decoded each time (about a second for 1,000 small images), so no cache goes stale."""
    tsv = Path(root) / EVALUATION_TSV
    if not tsv.is_file():
        return None
    table = read_stimulus_tsv(tsv)
    label_of = {s: i for i, s in enumerate(category_synsets)}
    unknown = sorted({n.split("_")[0] for n in table.names} - set(label_of))
    if unknown:
        raise DataError(tsv, f"evaluation images of categories not in the training set, e.g. {unknown[0]}")
    labels = np.array([label_of[n.split("_")[0]] for n in table.names], np.int64)
    images = load_image_cache(image_paths(Path(root) / EVALUATION_IMAGE_DIR, table.names), size)
    return EvaluationImages(images, labels, table.names)


def channel_stats(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and SD (3,) in [0, 1] units of (N, 3, H, W) uint8 images."""
    x = images.astype(np.float64) / 255.0
    return x.mean(axis=(0, 2, 3)), x.std(axis=(0, 2, 3))


def normalise(images: torch.Tensor, mean: np.ndarray, sd: np.ndarray) -> torch.Tensor:
    """uint8 (N, 3, H, W) -> float32 normalised with the given per-channel statistics."""
    m = torch.as_tensor(mean, dtype=torch.float32, device=images.device).view(1, 3, 1, 1)
    s = torch.as_tensor(sd, dtype=torch.float32, device=images.device).view(1, 3, 1, 1)
    return (images.float() / 255.0 - m) / s


def augment(
    x: torch.Tensor,
    generator: torch.Generator,
    scale: tuple[float, float] = (0.35, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
) -> torch.Tensor:
    """Random resized crop and horizontal flip of a batch (B, C, H, W), done on x's device.

    Each image gets its own crop (area fraction in ``scale``, aspect in ``ratio``), resampled
    back to H x W by one batched ``grid_sample``; random numbers come from the CPU ``generator``
    so CPU runs repeat exactly.
    """
    b, _, h, w = x.shape
    rand = torch.rand(b, 5, generator=generator)
    area = scale[0] + (scale[1] - scale[0]) * rand[:, 0]
    log_r = np.log(ratio[0]) + (np.log(ratio[1]) - np.log(ratio[0])) * rand[:, 1]
    aspect = torch.exp(log_r)
    cw, ch = torch.sqrt(area * aspect).clamp(max=1.0), torch.sqrt(area / aspect).clamp(max=1.0)
    cx, cy = (rand[:, 2] * 2 - 1) * (1 - cw), (rand[:, 3] * 2 - 1) * (1 - ch)
    flip = torch.where(rand[:, 4] < 0.5, -1.0, 1.0)
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0], theta[:, 0, 2] = cw * flip, cx
    theta[:, 1, 1], theta[:, 1, 2] = ch, cy
    grid = F.affine_grid(theta.to(x.device, x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
