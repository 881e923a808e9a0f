"""Uncertainty and paired comparisons over matched units (subjects, splits, seeds); numpy/scipy.

Confidence intervals are two-sided at ``level`` (0.95 = 95 %). NaN values are treated as missing
and dropped (pairwise, for paired data) before anything is computed.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy import stats

__all__ = ["mean_ci", "paired_difference", "holm", "bootstrap_ci"]


def _finite_1d(values: np.ndarray) -> np.ndarray:
    x = np.asarray(values, np.float64).ravel()
    return x[~np.isnan(x)]


def _check_level(level: float) -> None:
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")


def mean_ci(values: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high): mean of the non-NaN values with its Student-t confidence interval,
    ``mean -/+ t_{(1+level)/2, n-1} * sd / sqrt(n)`` with sd the n - 1 standard deviation.

    n == 1 gives (x, nan, nan); n == 0 gives (nan, nan, nan); zero spread gives low == high == mean.
    """
    _check_level(level)
    x = _finite_1d(values)
    n = len(x)
    if n == 0:
        return (math.nan, math.nan, math.nan)
    mean = float(x.mean())
    if n == 1:
        return (mean, math.nan, math.nan)
    half = float(stats.t.ppf((1 + level) / 2, n - 1) * x.std(ddof=1) / math.sqrt(n))
    return (mean, mean - half, mean + half)


def _paired_t_p_value(diffs: np.ndarray) -> float:
    """Two-sided paired t-test p-value on differences, with the degenerate cases made explicit."""
    if len(diffs) < 2:
        return math.nan
    # Accuracies like 13/40 - 12/40 differ in the last bits between units; spreads that small are
    # rounding, not evidence, and would otherwise give t ~ 1e15 and p = 0.
    tolerance = 1e-12 * max(1.0, float(np.abs(diffs).max()))
    if np.ptp(diffs) <= tolerance:
        # t is 0/0 (all differences zero: no evidence of a difference -> 1) or c/0 (undefined -> NaN),
        # with "zero" under the same rounding tolerance as "no spread".
        return 1.0 if np.abs(diffs).max() <= tolerance else math.nan
    with warnings.catch_warnings():
        # Near-constant differences make scipy warn about precision loss; the p-value is still usable.
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(stats.ttest_rel(diffs, np.zeros_like(diffs)).pvalue)


def paired_difference(a: np.ndarray, b: np.ndarray, level: float = 0.95) -> dict[str, float | int | str]:
    """Mean of a[i] - b[i] over matched units, its t confidence interval and a paired t-test.

    Args:
        a, b: (n,) values of two conditions on the same units (a[i] and b[i] share unit i).
            Pairs with a NaN on either side are dropped.

    Returns dict with ``mean_diff``, ``ci_low``, ``ci_high``, ``p_value`` (two-sided, equal to
    ``scipy.stats.ttest_rel(a, b)``), ``n`` (pairs used) and ``test`` ("paired t").
    Degenerate cases, without warnings: n < 2 -> CI and p NaN; all differences identical ->
    zero-width CI, and p = 1 if they are all 0, NaN otherwise (t = c / 0 is undefined).
    Raises ValueError if a and b differ in length.
    """
    a = np.asarray(a, np.float64).ravel()
    b = np.asarray(b, np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same length, got {len(a)} and {len(b)}")
    diffs = a - b
    diffs = diffs[~np.isnan(diffs)]
    mean, low, high = mean_ci(diffs, level)
    return {
        "mean_diff": mean,
        "ci_low": low,
        "ci_high": high,
        "p_value": _paired_t_p_value(diffs),
        "n": int(len(diffs)),
        "test": "paired t",
    }


def holm(p_values: np.ndarray) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values, same shape as ``p_values``.

    With the m non-NaN p-values sorted ascending, p_(1) <= ... <= p_(m), the adjusted value is
    ``min(1, max_{j <= i} (m - j + 1) * p_(j))`` (step-down; the running max keeps it monotone).
    NaNs are passed through and not counted in m. Raises ValueError for values outside [0, 1].
    """
    p = np.asarray(p_values, np.float64)
    flat = p.ravel()
    present = np.flatnonzero(~np.isnan(flat))
    observed = flat[present]
    if ((observed < 0) | (observed > 1)).any():
        raise ValueError("p-values must lie in [0, 1]")
    m = len(observed)
    order = np.argsort(observed, kind="stable")
    scaled = (m - np.arange(m)) * observed[order]
    adjusted_sorted = np.minimum(np.maximum.accumulate(scaled), 1.0)
    out = flat.copy()
    out[present[order]] = adjusted_sorted
    return out.reshape(p.shape)


def bootstrap_ci(values: np.ndarray, rng: np.random.Generator, n_boot: int = 2000, level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high): the mean of the non-NaN values and the percentile bootstrap interval of
    the mean (``n_boot`` resamples with replacement, quantiles (1 -/+ level) / 2).

    n == 0 gives (nan, nan, nan); n == 1 gives (x, nan, nan), as resampling one value says nothing.
    """
    _check_level(level)
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    x = _finite_1d(values)
    n = len(x)
    if n < 2:
        return (float(x[0]) if n else math.nan, math.nan, math.nan)
    means = x[rng.integers(0, n, size=(n_boot, n))].mean(axis=1)
    low, high = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return (float(x.mean()), float(low), float(high))
