"""A student's result folder: one student (teacher x split x seed) trained and tested.

Written by ``distill`` (``results/<run>/distill/{teacher}/split{k}/seed{s}/``); read by
``aggregate`` (metrics.json and the AUCs of the logits), ``comparisons`` (per-image outcomes) and
``plots`` (confusion matrices, PR curves). n_test is the split's held-out images, n_eval the
simulated dataset's evaluation images, C the number of categories.

=====================  ==============  ========  =====================================================
file                   shape           dtype     content
=====================  ==============  ========  =====================================================
metrics.json           object                    teacher, split, seed, test / evaluation / train metrics,
                                                 per-category accuracy, teacher statistics, size, times,
                                                 latency, provenance, ``format_version``
test_logits.npy        (n_test, C)     float32   logits on the split's held-out images
test_image_ids.npy     (n_test,)       str       their image names (row order)
test_labels.npy        (n_test,)       int64     their category index 0..C-1
eval_logits.npy        (n_eval, C)     float32   logits on the evaluation images (simulated data only)
eval_image_ids.npy     (n_eval,)       str       their image names
eval_labels.npy        (n_eval,)       int64     their category index
model.pt                                         the last step's state_dict (plain tensors)
=====================  ==============  ========  =====================================================

``FORMAT_VERSION`` is written into metrics.json and checked on read (DataError naming the file);
a metrics.json without the field predates it: version 1.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from brainteacher.errors import DataError
from brainteacher.formats._version import VERSION_KEY, check_version
from brainteacher.outputs import atomic_dir, save_npy, write_json

__all__ = [
    "FORMAT_VERSION",
    "METRICS",
    "MODEL",
    "HELDOUT",
    "EVALUATION",
    "PREFIXES",
    "prediction_files",
    "Predictions",
    "has_predictions",
    "read_predictions",
    "write",
    "check",
]

# 2: shuffle draws are uniform within-category permutations, the same pairing in every seed of a
# split; a version-1 shuffled-brain student was trained on a fresh derangement per seed, so its
# folder is refused rather than mixed into the new test.
FORMAT_VERSION = 2

METRICS = "metrics.json"
MODEL = "model.pt"
HELDOUT, EVALUATION = "heldout", "evaluation"  # the two prediction sets
PREFIXES = {HELDOUT: "test", EVALUATION: "eval"}  # file-name prefix of each set


def prediction_files(which: str) -> tuple[str, str, str]:
    """(logits, image ids, labels) file names of the ``heldout`` or ``evaluation`` predictions."""
    prefix = PREFIXES[which]
    return f"{prefix}_logits.npy", f"{prefix}_image_ids.npy", f"{prefix}_labels.npy"


@dataclass(frozen=True)
class Predictions:
    """A student's predictions on a set of images: ``logits`` (n, C), ``image_ids`` (n,), ``labels`` (n,)."""

    logits: np.ndarray
    image_ids: np.ndarray
    labels: np.ndarray


def _save(folder: Path, which: str, predictions: Predictions) -> None:
    for name, array in zip(prediction_files(which), (predictions.logits, predictions.image_ids, predictions.labels)):
        save_npy(folder / name, array)


def write(
    out: str | Path,
    metrics: dict[str, Any],
    test: Predictions,
    evaluation: Predictions | None,
    save_model: Callable[[Path], float],
    started: float,
) -> dict[str, Any]:
    """Write a student folder atomically; returns ``metrics`` as written.

    ``save_model(path)`` writes model.pt and returns its size in MB (``size_mb``). ``started`` is
    the job's ``time.perf_counter()`` at its start: ``wall_time_s`` is stamped last, so it covers
    the writing.
    """
    metrics[VERSION_KEY] = FORMAT_VERSION
    with atomic_dir(out) as tmp:
        metrics["size_mb"] = round(save_model(tmp / MODEL), 4)
        _save(tmp, HELDOUT, test)
        if evaluation is not None:
            _save(tmp, EVALUATION, evaluation)
        metrics["wall_time_s"] = round(time.perf_counter() - started, 3)
        write_json(tmp / METRICS, metrics)
    return metrics


def check(metrics: dict[str, Any], path: str | Path) -> None:
    """Refuse a student's metrics (read from ``path``) of another format version."""
    check_version(metrics, path, FORMAT_VERSION, "student folder")


def has_predictions(folder: str | Path, which: str) -> bool:
    """Whether the student in ``folder`` saved its ``which`` (heldout, evaluation) predictions."""
    return all((Path(folder) / name).is_file() for name in prediction_files(which))


def read_predictions(folder: str | Path, which: str) -> Predictions:
    """The student's ``which`` predictions, labels as int64; DataError naming the file that is
    missing, or the logits file when the three lengths disagree."""
    paths = [Path(folder) / name for name in prediction_files(which)]
    for path in paths:
        if not path.is_file():
            raise DataError(path, "student prediction file not found")
    logits, ids, labels = (np.load(p) for p in paths)
    if logits.ndim != 2 or not len(logits) == len(ids) == len(labels):
        raise DataError(paths[0], f"logits {logits.shape}, ids ({len(ids)},) and labels ({len(labels)},) do not match")
    return Predictions(logits, ids, labels.astype(np.int64))
