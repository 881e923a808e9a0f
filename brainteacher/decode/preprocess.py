"""Voxel preprocessing fitted on training rows only: z-scoring (optionally within run) and
ANOVA-F voxel selection. Fitting on the held-out rows too would leak their labels or statistics."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["anova_f", "Preprocessor", "fit_preprocessor"]


def anova_f(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """One-way ANOVA F score of every voxel across categories.

    X : (n, n_voxels) float; y : (n,) int labels. Returns (n_voxels,) float64, the ratio of
    between-category to within-category mean squares (as ``scipy.stats.f_oneway`` per column).
    A voxel with no within-category variance gets F = 0 rather than inf (it cannot generalise).
    """
    X = np.asarray(X, np.float64)
    classes, y_idx = np.unique(y, return_inverse=True)
    k, n = len(classes), len(y)
    counts = np.bincount(y_idx).astype(np.float64)
    means = np.zeros((k, X.shape[1]))
    np.add.at(means, y_idx, X)
    means /= counts[:, None]
    grand = X.mean(axis=0)
    ss_between = (counts[:, None] * (means - grand) ** 2).sum(axis=0)
    ss_within = ((X - means[y_idx]) ** 2).sum(axis=0)
    ms_between, ms_within = ss_between / max(k - 1, 1), ss_within / max(n - k, 1)
    return np.divide(ms_between, ms_within, out=np.zeros_like(ms_between), where=ms_within > 0)


def _mean_sd(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    sd = X.std(axis=0)
    return X.mean(axis=0), np.where(sd > 0, sd, 1.0)


@dataclass(frozen=True)
class Preprocessor:
    """Fitted z-scoring and voxel selection; ``transform`` applies it to any rows.

    ``mean``/``sd`` (n_voxels,) are the training rows' statistics; ``run_stats`` maps a run to its
    training rows' (mean, sd) when z-scoring within run; ``keep`` (n_selected,) voxel indices,
    ordered as in the input (not by score), so a 1D model sees the original voxel order.
    """

    mean: np.ndarray
    sd: np.ndarray
    run_stats: dict[int, tuple[np.ndarray, np.ndarray]]
    keep: np.ndarray

    def transform(self, X: np.ndarray, runs: np.ndarray | None = None) -> np.ndarray:
        """(n, n_voxels) -> (n, n_selected) float32. Rows of a run unseen in training use the global statistics."""
        Z = (np.asarray(X, np.float64) - self.mean) / self.sd
        if self.run_stats and runs is not None:
            for run in np.unique(runs):
                if int(run) in self.run_stats:
                    rows = runs == run
                    mu, sd = self.run_stats[int(run)]
                    Z[rows] = (X[rows] - mu) / sd
        return Z[:, self.keep].astype(np.float32)


def fit_preprocessor(
    X: np.ndarray,
    y: np.ndarray,
    runs: np.ndarray | None = None,
    *,
    n_voxels: int | None = None,
    within_run: bool = False,
) -> Preprocessor:
    """Fit on training rows: X (n, n_voxels), y (n,) labels, runs (n,) or None.

    ``n_voxels``: keep the top-N voxels by ANOVA F computed on the z-scored training rows
    (None or >= the ROI size keeps all).
    """
    mean, sd = _mean_sd(X)
    run_stats = {}
    if within_run:
        if runs is None:
            raise ValueError("within-run z-scoring needs the runs")
        # A run with a single training row has no spread; its rows fall back to global statistics.
        run_stats = {int(r): _mean_sd(X[runs == r]) for r in np.unique(runs) if (runs == r).sum() > 1}
    fitted = Preprocessor(mean, sd, run_stats, np.arange(X.shape[1]))
    if n_voxels is None or n_voxels >= X.shape[1]:
        return fitted
    scores = anova_f(fitted.transform(X, runs), y)
    keep = np.sort(np.argsort(-scores, kind="stable")[:n_voxels])
    return Preprocessor(mean, sd, run_stats, keep)
