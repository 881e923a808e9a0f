"""Confidence intervals, paired tests and Holm correction against scipy and hand-worked values."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy import stats

from brainteacher.analysis.stats import holm, mean_ci, non_inferiority, paired_difference, spearman


def test_mean_ci_matches_scipy_t_interval():
    x = np.array([0.61, 0.55, 0.72, 0.58, 0.66])
    mean, low, high = mean_ci(x, 0.9)
    want = stats.t.interval(0.9, len(x) - 1, loc=x.mean(), scale=stats.sem(x))
    assert mean == pytest.approx(x.mean())
    assert (low, high) == pytest.approx(want, rel=1e-12)


def test_spearman_is_scipys_and_nan_where_it_is_undefined():
    x, y = np.array([0.1, 0.4, 0.2, 0.9, 0.5]), np.array([1.0, 3.0, 2.5, 4.0, 2.0])
    want = stats.spearmanr(x, y)
    assert spearman(x, y) == pytest.approx((want.statistic, want.pvalue))
    assert all(np.isnan(v) for v in spearman(x[:2], y[:2]))  # fewer than 3 points
    assert all(np.isnan(v) for v in spearman(x, np.ones(5)))  # a constant variable


def test_mean_ci_ignores_nan_and_handles_small_n():
    x = np.array([1.0, np.nan, 3.0])
    assert mean_ci(x) == pytest.approx(mean_ci([1.0, 3.0]))
    mean, low, high = mean_ci([2.5])
    assert mean == 2.5 and math.isnan(low) and math.isnan(high)
    assert all(math.isnan(v) for v in mean_ci([np.nan]))


def test_paired_difference_matches_ttest_rel():
    a = np.array([0.60, 0.52, 0.71, 0.66, 0.58])
    b = np.array([0.55, 0.50, 0.64, 0.67, 0.51])
    got = paired_difference(a, b)
    ref = stats.ttest_rel(a, b)
    assert got["p_value"] == pytest.approx(ref.pvalue, rel=1e-12)
    assert got["mean_diff"] == pytest.approx(np.mean(a - b))
    assert (got["ci_low"], got["ci_high"]) == pytest.approx(mean_ci(a - b)[1:])
    assert got["n"] == 5 and got["test"] == "paired t"


def test_paired_difference_degenerate_cases_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        same = paired_difference([0.5, 0.6, 0.7], [0.5, 0.6, 0.7])
        shifted = paired_difference([1.0, 2.0, 3.0], [0.0, 1.0, 2.0])
        single = paired_difference([1.0], [0.5])
        empty = paired_difference([np.nan], [1.0])
    assert same["p_value"] == 1.0 and same["mean_diff"] == 0.0
    assert math.isnan(shifted["p_value"]) and shifted["ci_low"] == shifted["ci_high"] == 1.0
    assert math.isnan(single["p_value"]) and single["n"] == 1 and single["mean_diff"] == 0.5
    assert empty["n"] == 0 and math.isnan(empty["mean_diff"])


def test_non_inferiority_matches_one_sided_scipy_test():
    diffs = np.random.default_rng(3).normal(-0.002, 0.01, 40)
    out = non_inferiority(diffs, margin=0.01)
    ref = stats.ttest_1samp(diffs, -0.01, alternative="greater")
    assert out["p_value"] == pytest.approx(ref.pvalue)
    # The one-sided 95% lower bound is the two-sided 90% interval's lower end.
    assert out["lower"] == pytest.approx(mean_ci(diffs, 0.90)[1])
    assert out["n"] == 40 and out["mean_diff"] == pytest.approx(diffs.mean())


def test_non_inferiority_verdict_follows_the_bound_and_margin():
    diffs = np.array([-0.012, 0.006, -0.004, 0.004, -0.009, 0.003])
    assert non_inferiority(diffs, margin=0.01)["non_inferior"]
    # The same data cannot rule out a loss of 0.5 pp: the bound sits below -0.005.
    tight = non_inferiority(diffs, margin=0.005)
    assert -0.01 < tight["lower"] < -0.005
    assert not tight["non_inferior"] and tight["p_value"] > 0.05
    # A clear loss larger than the margin is refused, with a p near 1.
    worse = non_inferiority(diffs - 0.02, margin=0.01)
    assert not worse["non_inferior"] and worse["p_value"] > 0.99


def test_non_inferiority_concludes_nothing_without_spread_and_checks_margin():
    for diffs in ([0.01], [0.0, 0.0, 0.0], []):
        out = non_inferiority(np.array(diffs), margin=0.01)
        assert not out["non_inferior"] and math.isnan(out["p_value"])
    with pytest.raises(ValueError, match="margin"):
        non_inferiority(np.zeros(3), margin=-0.01)


def test_paired_difference_drops_pairs_with_nan():
    got = paired_difference([1.0, np.nan, 2.0, 4.0], [0.5, 1.0, 1.0, 2.0])
    assert got["n"] == 3
    assert got["p_value"] == pytest.approx(stats.ttest_rel([1.0, 2.0, 4.0], [0.5, 1.0, 2.0]).pvalue)


def test_paired_difference_length_mismatch_raises():
    with pytest.raises(ValueError, match="same length"):
        paired_difference([1.0, 2.0], [1.0])


def test_holm_hand_worked_example():
    # Sorted: 0.01*4 = 0.04, 0.03*3 = 0.09, 0.04*2 = 0.08 -> 0.09 (monotone), 0.2*1 = 0.2.
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03, 0.2]), [0.04, 0.09, 0.09, 0.2])


def test_holm_clips_and_passes_nan_through():
    got = holm([0.3, np.nan, 0.6, 0.01])
    # m = 3 (NaN not counted): 0.01*3 = 0.03, 0.3*2 = 0.6, 0.6*1 = 0.6.
    np.testing.assert_allclose(got, [0.6, np.nan, 0.6, 0.03])
    np.testing.assert_allclose(holm([0.5, 0.9]), [1.0, 1.0])
    assert holm([]).shape == (0,)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        holm([0.5, 1.5])


def test_differences_equal_up_to_rounding_are_not_significant():
    """0.35 - 0.375 and 0.325 - 0.35 differ only in their last bits: no p = 0 from that."""
    assert 0.35 - 0.375 != 0.325 - 0.35  # the premise: float rounding
    result = paired_difference(np.array([0.35, 0.325]), np.array([0.375, 0.35]))
    assert math.isnan(result["p_value"])
    assert result["mean_diff"] == pytest.approx(-0.025)


def test_differences_that_are_zero_up_to_rounding_give_p_one():
    """(0.1 + 0.2) - 0.3 is 5.6e-17, not 0: still no difference at all."""
    result = paired_difference(np.array([0.1 + 0.2, 0.3]), np.array([0.3, 0.3]))
    assert result["p_value"] == 1.0


def test_sign_flip_p_value_matches_scipys_exact_permutation_test():
    from scipy import stats as sps

    x = np.array([0.03, -0.01, 0.05, 0.02, 0.04, -0.02, 0.06, 0.01, 0.03, 0.02])
    ref = sps.permutation_test(
        (x,), np.mean, permutation_type="samples", n_resamples=np.inf, alternative="two-sided"
    ).pvalue
    from brainteacher.analysis.stats import sign_flip_p_value

    assert sign_flip_p_value(x) == pytest.approx(ref)


def test_category_paired_test_uses_category_means_as_units():
    from brainteacher.analysis.stats import category_paired_test, mean_ci

    rng = np.random.default_rng(0)
    cats = np.repeat(np.arange(8), 25)
    diffs = rng.normal(0.1, 1.0, len(cats))
    out = category_paired_test(diffs, cats)
    units = np.array([diffs[cats == c].mean() for c in range(8)])
    assert out["n_units"] == 8 and out["n_images"] == 200
    assert (out["mean_diff"], out["ci_low"], out["ci_high"]) == pytest.approx(mean_ci(units))
    few = category_paired_test(diffs[cats < 2], cats[cats < 2])
    assert np.isnan(few["ci_low"]) and np.isnan(few["p_value"]) and "2 independent unit" in few["reason"]
