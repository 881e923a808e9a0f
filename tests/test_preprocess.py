"""Preprocessing: ANOVA F against scipy; statistics come from training rows only."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from brainteacher.data.splits import stratified_folds
from brainteacher.decode.preprocess import anova_f, fit_preprocessor


def test_anova_f_matches_scipy():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(4), 6)
    X = rng.normal(size=(24, 7)) + 0.8 * y[:, None] * (np.arange(7) % 2)
    expected = [stats.f_oneway(*(X[y == c, j] for c in range(4))).statistic for j in range(7)]
    np.testing.assert_allclose(anova_f(X, y), expected, rtol=1e-10)


def test_selection_keeps_informative_voxels_in_original_order():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(5), 8)
    X = rng.normal(size=(40, 30))
    X[:, [3, 17, 25]] += 3 * y[:, None]
    prep = fit_preprocessor(X, y, n_voxels=3)
    np.testing.assert_array_equal(prep.keep, [3, 17, 25])
    assert prep.transform(X).shape == (40, 3)


def test_zscore_uses_only_the_rows_it_was_fitted_on():
    rng = np.random.default_rng(0)
    X_train, X_test = rng.normal(2.0, 3.0, size=(50, 4)), rng.normal(100.0, 1.0, size=(10, 4))
    prep = fit_preprocessor(X_train, np.zeros(50, int))
    np.testing.assert_allclose(prep.mean, X_train.mean(0))
    z = prep.transform(X_test)
    assert z.mean() > 20  # held-out rows are not re-centred on themselves


def test_within_run_zscore_removes_run_offsets():
    rng = np.random.default_rng(0)
    runs = np.repeat([1, 2, 3], 20)
    X = rng.normal(size=(60, 5)) + 10 * runs[:, None]
    z = fit_preprocessor(X, np.zeros(60, int), runs, within_run=True).transform(X, runs)
    for r in (1, 2, 3):
        np.testing.assert_allclose(z[runs == r].mean(0), 0, atol=1e-5)
    with pytest.raises(ValueError, match="needs the runs"):
        fit_preprocessor(X, np.zeros(60, int), within_run=True)


@pytest.mark.parametrize("n_per_class, k", [(8, 4), (6, 5), (7, 3)])
def test_stratified_folds_are_balanced_and_cover_everything(n_per_class, k):
    y = np.repeat(np.arange(10), n_per_class)
    folds = stratified_folds(y, k, np.random.default_rng(0))
    sizes = np.bincount(folds, minlength=k)
    assert sizes.max() - sizes.min() <= 1
    for c in range(10):
        per_fold = np.bincount(folds[y == c], minlength=k)
        assert per_fold.max() - per_fold.min() <= 1
    with pytest.raises(ValueError, match="need at least"):
        stratified_folds(y, n_per_class + 1, np.random.default_rng(0))
