"""Per-image paired comparisons of students: the outcomes behind every p-value in ``summary.tsv``.

Each student folder holds its predictions on its scoring images: on simulated data the
evaluation set (``eval_logits.npy``: the same ~1,000 images for every split), else the split's
held-out images (``test_logits.npy``: pooled over K splits, every training image once). Two
teachers are compared image by image:

1. per run (split x seed), the image's outcome is averaged over the students of the group that
   share that run (the subjects of a pooled ``brain`` group share one baseline, so they are
   averaged, never counted as independent units);
2. the per-run difference (group - reference) is averaged over the runs that scored the image;
3. categories are the units (``stats.category_paired_test``): images of a category are alike,
   and a student's errors cluster by category.

Outcomes: ``top1`` (1 if the highest-scored category is the true one), ``top5`` and ``nll``
(-log p of the true category, nats).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from brainteacher.analysis.stats import category_paired_test
from brainteacher.formats import student_dir
from brainteacher.metrics import softmax, topk_hits, true_class_nll

__all__ = ["OUTCOMES", "ScoredImages", "read_scored_images", "scoring_set", "paired_image_test"]

# The prediction sets and their files: brainteacher.formats.student_dir.
EVALUATION_SET, HELDOUT_SET = student_dir.EVALUATION, student_dir.HELDOUT


# Per-image outcome of (N, C) logits and (N,) labels; top-5 is top-min(5, C), as in the metrics.
OUTCOMES: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "top1": lambda z, y: topk_hits(z, y, 1),
    "top5": lambda z, y: topk_hits(z, y, min(5, z.shape[1])),
    "nll": lambda z, y: true_class_nll(softmax(z, axis=1), y),
}


@dataclass(frozen=True)
class ScoredImages:
    """One student's per-image outcomes on its scoring set: ``ids`` (n,), ``labels`` (n,) and
    ``values[metric]`` (n,) for each metric of :data:`OUTCOMES`."""

    scoring_set: str
    ids: np.ndarray
    labels: np.ndarray
    values: dict[str, np.ndarray]


def scoring_set(folder: str | Path) -> str:
    """``evaluation`` if the student folder holds evaluation-set predictions, else ``heldout``."""
    return EVALUATION_SET if (Path(folder) / student_dir.prediction_files(EVALUATION_SET)[0]).is_file() else HELDOUT_SET


def read_scored_images(folder: str | Path) -> ScoredImages:
    """The per-image outcomes of the student in ``folder`` (see the module docstring)."""
    which = scoring_set(folder)
    saved = student_dir.read_predictions(folder, which)
    outcomes = {m: f(saved.logits, saved.labels) for m, f in OUTCOMES.items()}
    return ScoredImages(which, saved.image_ids.astype(str), saved.labels, outcomes)


def _run_means(students: pd.DataFrame, scored: dict[str, ScoredImages], metric: str) -> pd.DataFrame:
    """Long table (split, seed, image, label, value): each run's per-image outcome averaged over
    the students of that run (e.g. the subjects of a pooled group)."""
    frames = [
        pd.DataFrame(
            {
                "split": row.split,
                "seed": row.seed,
                "image": scored[row.folder].ids,
                "label": scored[row.folder].labels,
                "value": scored[row.folder].values[metric],
            }
        )
        for row in students.itertuples()
    ]
    long = pd.concat(frames, ignore_index=True)
    return long.groupby(["split", "seed", "image", "label"], as_index=False)["value"].mean()


def paired_image_test(
    group: pd.DataFrame, reference: pd.DataFrame, scored: dict[str, ScoredImages], metric: str, level: float = 0.95
) -> dict:
    """Group minus reference on ``metric``, paired image by image on the runs both have.

    ``group`` and ``reference``: student rows with ``split``, ``seed`` and ``folder`` (a key of
    ``scored``). Returns :func:`stats.category_paired_test`'s dict plus ``n_runs``.
    """
    if group.empty or reference.empty:
        return category_paired_test(np.array([]), np.array([])) | {"n_runs": 0}
    a, b = _run_means(group, scored, metric), _run_means(reference, scored, metric)
    paired = a.merge(b, on=["split", "seed", "image", "label"], suffixes=("_a", "_b"))
    paired["diff"] = paired["value_a"] - paired["value_b"]
    n_runs = int(paired[["split", "seed"]].drop_duplicates().shape[0])
    # An image scored on several runs (the shared evaluation set, or several seeds) is one image.
    per_image = paired.groupby(["image", "label"], as_index=False)["diff"].mean()
    return category_paired_test(per_image["diff"].to_numpy(), per_image["label"].to_numpy(), level) | {"n_runs": n_runs}
