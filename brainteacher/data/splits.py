"""Stratified folds: the outer train/test splits of images, and the decoders' inner folds.

A split file (JSON) lists the images a student trains on and the ones it is tested on; nothing
from the test images (fMRI or labels) may reach a teacher, so decoders fit inside ``train``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from brainteacher.errors import DataError
from brainteacher.outputs import read_json, write_json

__all__ = ["stratified_folds", "Split", "make_splits", "read_split", "write_split", "ALL_IMAGES"]

ALL_IMAGES = "all"


def stratified_folds(labels: np.ndarray, n_folds: int, rng: np.random.Generator) -> np.ndarray:
    """(n,) fold index 0..n_folds-1 per sample, each category spread evenly over the folds.

    Samples of a category are shuffled and dealt round-robin; the dealing starts where the previous
    category stopped, so fold sizes differ by at most one even when n_per_category % n_folds != 0.
    """
    labels = np.asarray(labels)
    counts = np.bincount(labels)
    if n_folds < 2:
        raise ValueError(f"need at least 2 folds, got {n_folds}")
    if counts[counts > 0].min() < n_folds:
        raise ValueError(
            f"{n_folds} folds need at least {n_folds} samples per category; the smallest has {counts[counts > 0].min()}"
        )
    folds = np.empty(len(labels), np.int64)
    start = 0
    for c in np.flatnonzero(counts):
        idx = rng.permutation(np.flatnonzero(labels == c))
        folds[idx] = (start + np.arange(len(idx))) % n_folds
        start = (start + len(idx)) % n_folds
    return folds


@dataclass(frozen=True)
class Split:
    """Image names a student trains on and is tested on (``test`` empty for ``all``)."""

    name: str
    train: tuple[str, ...]
    test: tuple[str, ...]

    def train_mask(self, image_ids) -> np.ndarray:
        """(n,) bool: which of ``image_ids`` are training images of this split."""
        train = set(self.train)
        return np.array([i in train for i in image_ids])


def make_splits(image_ids, labels: np.ndarray, n_splits: int, seed: int) -> list[Split]:
    """K stratified splits: split k tests on fold k (e.g. 2 of 8 images per category for K=4)."""
    folds = stratified_folds(labels, n_splits, np.random.default_rng(seed))
    ids = np.asarray(image_ids)
    return [Split(f"split{k}", tuple(ids[folds != k]), tuple(ids[folds == k])) for k in range(n_splits)]


def write_split(path: str | Path, split: Split, provenance: dict | None = None) -> None:
    write_json(
        path, {"name": split.name, "train": list(split.train), "test": list(split.test), "provenance": provenance}
    )


def read_split(spec: str | Path, image_ids) -> Split:
    """A split file, or ``"all"`` (every image trains, none is held out)."""
    if str(spec) == ALL_IMAGES:
        return Split(ALL_IMAGES, tuple(image_ids), ())
    path = Path(spec)
    if not path.is_file():
        raise DataError(path, "split file not found")
    raw = read_json(path)
    if not {"train", "test"} <= set(raw):
        raise DataError(path, "split file needs 'train' and 'test' lists of image names")
    split = Split(raw.get("name", path.stem), tuple(raw["train"]), tuple(raw["test"]))
    if set(split.train) & set(split.test):
        raise DataError(path, "an image is in both 'train' and 'test'")
    unknown = (set(split.train) | set(split.test)) - set(image_ids)
    if unknown:
        raise DataError(path, f"{len(unknown)} image(s) not in the dataset, e.g. {sorted(unknown)[0]}")
    return split
