"""Uncertainty and paired comparisons over matched units (subjects, splits, seeds); numpy/scipy.

Confidence intervals are two-sided at ``level`` (0.95 = 95 %). NaN values are treated as missing
and dropped (pairwise, for paired data) before anything is computed.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy import stats

__all__ = [
    "spearman",
    "mean_ci",
    "paired_difference",
    "non_inferiority",
    "holm",
    "sign_flip_p_value",
    "category_paired_test",
    "randomization_test",
]


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


def non_inferiority(diffs: np.ndarray, margin: float, level: float = 0.95) -> dict[str, float | int | bool]:
    """One-sided t-test that a new method is not worse than a reference by ``margin`` or more.

    Args:
        diffs: (n,) new minus reference, one per independent unit (NaNs dropped), in the units of
            ``margin`` (e.g. top-1 as a fraction, margin 0.01 = 1 pp).
        margin: the largest loss still counted as "as good" (>= 0).

    H0: mean(diffs) <= -margin, against H1: mean(diffs) > -margin. Returns ``mean_diff``,
    ``lower`` (the one-sided ``level`` lower confidence bound: ``mean - t_{level, n-1} * sd / sqrt(n)``),
    ``p_value`` (equal to ``scipy.stats.ttest_1samp(diffs, -margin, alternative="greater")``),
    ``n``, ``margin`` and ``non_inferior`` (lower > -margin). n < 2 or no spread gives a NaN
    bound and p, and ``non_inferior`` False: nothing is concluded from no evidence of spread.
    """
    _check_level(level)
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    x = _finite_1d(diffs)
    n = len(x)
    mean = float(x.mean()) if n else math.nan
    lower = p = math.nan
    if n >= 2 and x.std(ddof=1) > 0:
        # The one-sided bound at `level` is the lower end of the two-sided interval at 2 * level - 1.
        lower = mean_ci(x, 2 * level - 1)[1]
        p = float(stats.t.sf((mean + margin) / (x.std(ddof=1) / math.sqrt(n)), n - 1))
    return {
        "mean_diff": mean,
        "lower": lower,
        "p_value": p,
        "n": n,
        "margin": margin,
        "non_inferior": bool(lower > -margin),
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


# --- per-image comparisons with categories as the unit ---------------------------------------------

# Up to this many units the sign-flip null distribution is enumerated exactly (2**16 = 65,536 sign
# patterns); above it, Monte Carlo with a fixed seed keeps the p-value reproducible.
_EXACT_SIGN_FLIP_MAX = 16


def sign_flip_p_value(units: np.ndarray, n_permutations: int = 20000, seed: int = 0) -> float:
    """Two-sided p-value of mean(units) = 0 by flipping the sign of each unit's difference.

    Valid when, under the null, each unit's difference is symmetric about 0 (the two conditions are
    exchangeable within a unit). Exact enumeration for n <= 16, else ``n_permutations`` random sign
    patterns (with the observed one counted, so p >= 1 / (n_permutations + 1)).
    """
    x = _finite_1d(units)
    n = len(x)
    if n == 0:
        return math.nan
    observed = abs(x.mean())
    tolerance = 1e-12 * max(1.0, float(np.abs(x).max()))
    if n <= _EXACT_SIGN_FLIP_MAX:
        signs = 1 - 2 * ((np.arange(2**n)[:, None] >> np.arange(n)) & 1)
        return float((np.abs(signs @ x / n) >= observed - tolerance).mean())
    signs = np.random.default_rng(seed).choice([-1.0, 1.0], size=(n_permutations, n))
    exceed = int((np.abs(signs @ x / n) >= observed - tolerance).sum())
    return (exceed + 1) / (n_permutations + 1)


def category_paired_test(
    diffs: np.ndarray, categories: np.ndarray, level: float = 0.95, min_units: int = 3
) -> dict[str, float | int | str]:
    """Paired per-image differences summarised with *categories* as the independent units.

    Args:
        diffs: (n_images,) per-image difference of two students (e.g. correct_A - correct_B, or
            NLL_A - NLL_B), each already averaged over what is nested in the image (seeds,
            subjects, splits that test the same image).
        categories: (n_images,) category of each image.

    Images of one category are alike, and one student's errors cluster by category, so images
    are not independent; categories are far closer to it. Each category's mean difference is a
    unit: the estimate is the mean over categories, the interval a Student-t interval over them,
    and the p-value the sign-flip permutation test over them (:func:`sign_flip_p_value`).
    Fewer than ``min_units`` categories give NaN interval and p, with ``reason`` set.

    Returns ``mean_diff``, ``ci_low``, ``ci_high``, ``p_value``, ``n_units``, ``n_images``,
    ``test`` and ``reason`` ("" when the interval is defined).
    """
    d = np.asarray(diffs, np.float64).ravel()
    c = np.asarray(categories).ravel()
    if d.shape != c.shape:
        raise ValueError(f"diffs and categories differ in length: {len(d)} and {len(c)}")
    keep = ~np.isnan(d)
    d, c = d[keep], c[keep]
    cats, inverse = np.unique(c, return_inverse=True)
    units = np.bincount(inverse, weights=d, minlength=len(cats)) / np.maximum(
        np.bincount(inverse, minlength=len(cats)), 1
    )
    out: dict[str, float | int | str] = {
        "n_units": len(cats),
        "n_images": len(d),
        "test": "category units: t interval, sign-flip p",
    }
    if len(cats) < min_units:
        mean = float(units.mean()) if len(cats) else math.nan
        return out | {
            "mean_diff": mean,
            "ci_low": math.nan,
            "ci_high": math.nan,
            "p_value": math.nan,
            "reason": f"{len(cats)} independent unit(s) < {min_units}",
        }
    mean, low, high = mean_ci(units, level)
    return out | {"mean_diff": mean, "ci_low": low, "ci_high": high, "p_value": sign_flip_p_value(units), "reason": ""}


# --- students as the units: an exact randomization test ----------------------------------------

# Up to this many relabelings the null distribution is enumerated exactly; above it, Monte Carlo
# with a fixed seed keeps the p-value reproducible.
_EXACT_RELABELINGS_MAX = 2**20
ALTERNATIVES = ("greater", "less", "two-sided")


def _unit_contrasts(treated: float, controls: np.ndarray) -> np.ndarray:
    """(K + 1,) the unit's contrast "student j minus the mean of the others", j = 0 the treated one:
    under the null any of the K + 1 exchangeable students could have been the treated one."""
    x = np.concatenate([[treated], controls])
    k = len(controls)
    return (k + 1) / k * (x - x.mean())


def _null_sums(contrasts: list[np.ndarray], n_resamples: int, seed: int) -> tuple[np.ndarray, str]:
    """The sums over units of one relabeling each: all of them, or ``n_resamples`` at random."""
    n_relabelings = math.prod(len(c) for c in contrasts)
    if n_relabelings <= _EXACT_RELABELINGS_MAX:
        sums = np.zeros(1)
        for c in contrasts:
            sums = (sums[:, None] + c[None, :]).ravel()
        return sums, "exact"
    rng = np.random.default_rng(seed)
    sums = np.zeros(n_resamples)
    for c in contrasts:
        sums += c[rng.integers(len(c), size=n_resamples)]
    return sums, "monte carlo"


def randomization_test(
    treated: np.ndarray,
    controls: np.ndarray,
    alternative: str = "greater",
    level: float = 0.95,
    n_resamples: int = 20000,
    seed: int = 0,
) -> dict[str, float | int | str]:
    """Treated students against their exchangeable controls, one row per unit (a split, or a run).

    Args:
        treated: (U,) one value per unit (e.g. the brain students' top-1 on one split, seeds averaged).
        controls: (U, K) the unit's K controls (e.g. K within-category shuffle draws of the brain
            targets, trained with the same seeds); NaN marks a missing draw. K = 1 is a paired
            sign-flip test.
        alternative: "greater" (treated better when higher), "less" or "two-sided".

    The effect of a unit is ``treated - mean(controls)``; the estimate is its mean over units, with
    a Student-t interval over them. Under the null the K + 1 students of a unit are exchangeable:
    any of them could have been the treated one, independently in every unit. The p-value is the
    share of those relabelings whose mean contrast is at least the observed one (in the direction
    of ``alternative``; ``|.|`` for two-sided), enumerated exactly up to 2**20 relabelings, else
    from ``n_resamples`` random ones with the observed counted (p >= 1 / (n_resamples + 1)).
    Units with no control or a NaN treated value are dropped; under 2 units p and interval are NaN.

    Returns ``effect``, ``ci_low``, ``ci_high``, ``p_value``, ``n_units``, ``n_controls`` (the
    most controls in a unit) and ``method`` ("exact" or "monte carlo").
    """
    if alternative not in ALTERNATIVES:
        raise ValueError(f"alternative must be one of {', '.join(ALTERNATIVES)}, got {alternative!r}")
    treated = np.asarray(treated, np.float64).ravel()
    controls = np.asarray(controls, np.float64).reshape(len(treated), -1) if len(treated) else np.zeros((0, 1))
    units = [(t, c[~np.isnan(c)]) for t, c in zip(treated, controls) if not np.isnan(t) and (~np.isnan(c)).any()]
    effects = np.array([t - c.mean() for t, c in units])
    mean, low, high = mean_ci(effects, level)
    out = {"effect": mean, "ci_low": low, "ci_high": high, "p_value": math.nan, "n_units": len(units)}
    out |= {"n_controls": max((len(c) for _, c in units), default=0), "method": ""}
    if len(units) < 2:
        return out
    contrasts = [_unit_contrasts(t, c) for t, c in units]
    observed = float(sum(c[0] for c in contrasts))
    sums, method = _null_sums(contrasts, n_resamples, seed)
    tolerance = 1e-9 * max(1.0, float(np.abs(sums).max()))
    if alternative == "greater":
        exceed = sums >= observed - tolerance
    elif alternative == "less":
        exceed = sums <= observed + tolerance
    else:
        exceed = np.abs(sums) >= abs(observed) - tolerance
    p = float(exceed.mean()) if method == "exact" else (int(exceed.sum()) + 1) / (n_resamples + 1)
    return out | {"p_value": p, "method": method}


def spearman(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(rho, two-sided p); NaN for fewer than 3 points or a constant variable."""
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return (np.nan, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = stats.spearmanr(x, y)
    return (float(res.statistic), float(res.pvalue))
