"""The students-as-units randomization test (stats.randomization_test)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from brainteacher.analysis.stats import randomization_test


def _brute_force_p(treated: np.ndarray, controls: np.ndarray, alternative: str) -> float:
    """Every relabeling spelled out: in each unit any of its K + 1 students is the treated one."""
    units = [np.concatenate([[t], c]) for t, c in zip(treated, controls)]
    observed = sum(u[0] - np.delete(u, 0).mean() for u in units)
    stats = [
        sum(u[j] - np.delete(u, j).mean() for u, j in zip(units, choice))
        for choice in itertools.product(*(range(len(u)) for u in units))
    ]
    stats = np.array(stats)
    if alternative == "greater":
        return float((stats >= observed - 1e-12).mean())
    if alternative == "less":
        return float((stats <= observed + 1e-12).mean())
    return float((np.abs(stats) >= abs(observed) - 1e-12).mean())


@pytest.mark.parametrize("alternative", ["greater", "less", "two-sided"])
@pytest.mark.parametrize("n_controls", [1, 3])
def test_the_p_value_equals_a_brute_force_enumeration(alternative, n_controls):
    rng = np.random.default_rng(n_controls)
    treated = rng.normal(0.3, 1, 5)
    controls = rng.normal(0, 1, (5, n_controls))
    got = randomization_test(treated, controls, alternative)
    assert got["method"] == "exact" and got["n_units"] == 5 and got["n_controls"] == n_controls
    assert got["p_value"] == pytest.approx(_brute_force_p(treated, controls, alternative), abs=1e-12)
    assert got["effect"] == pytest.approx(np.mean(treated - controls.mean(axis=1)))


def test_missing_draws_and_units_are_dropped():
    treated = np.array([1.0, 2.0, np.nan, 0.5])
    controls = np.array([[0.0, np.nan], [1.0, 1.5], [0.0, 0.0], [np.nan, np.nan]])
    got = randomization_test(treated, controls)
    assert got["n_units"] == 2 and got["n_controls"] == 2
    assert got["p_value"] == pytest.approx(
        _brute_force_p(treated[:2], [np.array([0.0]), np.array([1.0, 1.5])], "greater")
    )


def test_one_unit_gives_no_p_value():
    got = randomization_test(np.array([1.0]), np.array([[0.0, 0.1]]))
    assert math.isnan(got["p_value"]) and math.isnan(got["ci_low"]) and got["effect"] == pytest.approx(0.95)


def test_monte_carlo_agrees_with_the_exact_p_value(monkeypatch):
    rng = np.random.default_rng(0)
    treated, controls = rng.normal(0.2, 1, 8), rng.normal(0, 1, (8, 3))
    exact = randomization_test(treated, controls)
    monkeypatch.setattr("brainteacher.analysis.stats._EXACT_RELABELINGS_MAX", 10)
    mc = randomization_test(treated, controls, n_resamples=40000)
    assert mc["method"] == "monte carlo"
    assert mc["p_value"] == pytest.approx(exact["p_value"], abs=0.01)
    assert randomization_test(treated, controls, n_resamples=40000)["p_value"] == mc["p_value"]  # fixed seed


def test_exchangeable_students_are_rejected_at_about_the_nominal_rate():
    """Null: in each unit the treated student and its draws come from one distribution, with a
    unit effect (the split, the seed) shared by all of them."""
    rng = np.random.default_rng(1)
    p = []
    for _ in range(400):
        unit = rng.normal(0, 3, (6, 1))
        values = unit + rng.normal(0, 1, (6, 4))
        p.append(randomization_test(values[:, 0], values[:, 1:])["p_value"])
    rate = np.mean(np.array(p) <= 0.05)
    assert 0.02 <= rate <= 0.08, rate


def test_a_planted_difference_is_found():
    rng = np.random.default_rng(2)
    unit = rng.normal(0, 3, (8, 1))
    values = unit + rng.normal(0, 1, (8, 4))
    values[:, 0] += 2.0
    got = randomization_test(values[:, 0], values[:, 1:])
    assert got["p_value"] < 0.01 and got["ci_low"] > 0
    assert randomization_test(values[:, 0], values[:, 1:], "less")["p_value"] > 0.9


def test_an_unknown_alternative_is_refused():
    with pytest.raises(ValueError, match="alternative"):
        randomization_test(np.zeros(3), np.zeros((3, 1)), "bigger")
