"""A teacher folder: out-of-fold logits over a split's training images, one row per image.

Written by ``decode`` (a brain decoder, ``results/<run>/decode/{decoder}/{subject}/{roi}/split{k}/``)
and ``network-teacher`` (``results/<run>/network/split{k}/``); read by a student's teacher
(``brainteacher.distill.teachers``). n is the number of training images, C the number of categories; rows
are in the same image order in every file and are matched to a student's images by name.

================  ==============  =========  ========================================================
file              shape           dtype      content
================  ==============  =========  ========================================================
logits.npy        (n, C)          float32    calibrated out-of-fold logits (what teachers read)
raw_logits.npy    (n, C)          float32    the same before calibration
soft_labels.npy   (n, C)          float32    softmax of logits.npy at T = 1 (probabilities, rows sum to 1)
image_ids.npy     (n,)            str        image names (row order)
labels.npy        (n,)            int64      category index 0..C-1 of each image
folds.npy         (n,)            int64      inner fold that held each image out
metrics.json      object                     counts, out-of-fold metrics (before and after calibration),
                                             calibration record, provenance, ``format_version``
================  ==============  =========  ========================================================

The network teacher's folder also keeps its fold models for GLD's local terms: ``fold{k}.pt`` (a
state_dict; model k never saw fold k) and ``network.json`` (architecture, ``n_folds``,
``n_classes`` and each fold's input statistics).

``FORMAT_VERSION`` is written into metrics.json and checked on read: a folder of another version
is refused (DataError naming its metrics.json). A folder without the field predates it: version 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from brainteacher.errors import DataError
from brainteacher.formats._version import VERSION_KEY, check_version
from brainteacher.outputs import atomic_dir, read_json, save_npy, write_json

__all__ = [
    "FORMAT_VERSION",
    "LOGITS",
    "RAW_LOGITS",
    "SOFT_LABELS",
    "IMAGE_IDS",
    "LABELS",
    "FOLDS",
    "METRICS",
    "READ_FILES",
    "ARRAYS",
    "FILES",
    "NETWORK_RECORD",
    "fold_model",
    "network_model_files",
    "TeacherDir",
    "write",
    "read",
    "read_metrics",
]

FORMAT_VERSION = 1

LOGITS = "logits.npy"
RAW_LOGITS = "raw_logits.npy"
SOFT_LABELS = "soft_labels.npy"
IMAGE_IDS = "image_ids.npy"
LABELS = "labels.npy"
FOLDS = "folds.npy"
METRICS = "metrics.json"
READ_FILES = (LOGITS, IMAGE_IDS, LABELS)  # what a student's teacher reads
ARRAYS = (LOGITS, RAW_LOGITS, SOFT_LABELS, IMAGE_IDS, LABELS, FOLDS)
FILES = (*ARRAYS, METRICS)  # what a teacher writes

NETWORK_RECORD = "network.json"  # the network teacher's fold models: architecture and input statistics


def fold_model(k: int) -> str:
    """The network teacher's fold model k (trained without fold k)."""
    return f"fold{k}.pt"


def network_model_files(n_folds: int) -> list[str]:
    """What GLD's local terms read from a network-teacher folder beside its logits."""
    return [NETWORK_RECORD, FOLDS, *(fold_model(k) for k in range(n_folds))]


@dataclass(frozen=True)
class TeacherDir:
    """A teacher folder's rows: ``logits`` (n, C) calibrated, ``image_ids`` (n,) str, ``labels`` (n,)."""

    logits: np.ndarray
    image_ids: list[str]
    labels: np.ndarray


def write(
    out: str | Path,
    raw_logits: np.ndarray,
    calibrated: np.ndarray,
    image_ids: Sequence[str],
    labels: np.ndarray,
    folds: np.ndarray,
    metrics: dict,
) -> dict:
    """A teacher folder, written atomically: out-of-fold ``raw_logits`` (n, C), the same
    ``calibrated`` (``calibration.calibrate_out_of_fold``), their softmax, the rows' ids, labels and
    folds, and ``metrics`` with ``format_version`` added (returned)."""
    from brainteacher.metrics import softmax  # here: the workflow imports this module without scipy

    metrics = {**metrics, VERSION_KEY: FORMAT_VERSION}
    with atomic_dir(out) as tmp:
        save_npy(tmp / LOGITS, calibrated)
        save_npy(tmp / RAW_LOGITS, np.asarray(raw_logits, np.float32))
        save_npy(tmp / SOFT_LABELS, softmax(calibrated, axis=1).astype(np.float32))
        save_npy(tmp / IMAGE_IDS, np.asarray(image_ids))
        save_npy(tmp / LABELS, labels)
        save_npy(tmp / FOLDS, folds)
        write_json(tmp / METRICS, metrics)
    return metrics


def check(metrics: dict[str, Any], path: str | Path) -> None:
    """Refuse a teacher folder's metrics (read from ``path``) of another format version."""
    check_version(metrics, path, FORMAT_VERSION, "teacher folder")


def read_metrics(folder: str | Path) -> dict[str, Any] | None:
    """The folder's metrics.json after the version check; None if the folder has none (hand-made)."""
    path = Path(folder) / METRICS
    if not path.is_file():
        return None
    metrics = read_json(path)
    check(metrics, path)
    return metrics


def read(folder: str | Path) -> TeacherDir:
    """The rows of a teacher folder, checked for presence, matching lengths, finite logits and version.

    Raises DataError naming the file at fault.
    """
    folder = Path(folder)
    for name in READ_FILES:
        if not (folder / name).is_file():
            raise DataError(folder / name, "teacher file not found")
    read_metrics(folder)
    logits = np.load(folder / LOGITS)
    ids = [str(i) for i in np.load(folder / IMAGE_IDS)]
    labels = np.load(folder / LABELS)
    if logits.ndim != 2 or len(logits) != len(ids) or len(labels) != len(ids):
        shapes = f"logits {logits.shape}, image_ids ({len(ids)},) and labels {labels.shape}"
        raise DataError(folder, f"{shapes} do not match")
    if not np.isfinite(logits).all():
        raise DataError(folder / LOGITS, "non-finite teacher logits")
    return TeacherDir(logits, ids, labels)
