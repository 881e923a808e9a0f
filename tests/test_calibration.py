"""Temperature scaling and the calibration record, on logits with a known temperature."""

from __future__ import annotations

import numpy as np
import pytest

from brainteacher.decode.calibration import OBJECTIVES, calibrate, fit_temperature, reliability
from brainteacher.metrics import ece_floor, expected_calibration_error, softmax


def _tempered(n: int, tau: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(n, 20) logits whose labels are drawn from softmax(logits / tau): calibrated at tau."""
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((n, 20)) * 3
    probs = softmax(logits / tau, axis=1)
    labels = np.minimum((probs.cumsum(axis=1) < rng.random((n, 1))).sum(axis=1), 19)
    return logits, labels


@pytest.mark.parametrize("objective", OBJECTIVES)
@pytest.mark.parametrize("tau", [0.5, 2.0])
def test_fit_temperature_recovers_the_generating_temperature(tau, objective):
    logits, labels = _tempered(4000, tau)
    assert fit_temperature(logits, labels, objective) == pytest.approx(tau, rel=0.1)


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_fit_temperature_minimises_its_objective(objective):
    # A shifted, noisy model: its best temperature is not known in closed form.
    logits, labels = _tempered(500, 1.0, seed=3)
    logits = logits + np.random.default_rng(4).standard_normal(logits.shape) * 2
    tau, score = fit_temperature(logits, labels, objective), OBJECTIVES[objective]
    best = score(softmax(logits / tau, axis=1), labels)
    for other in (tau * 0.95, tau * 1.05, fit_temperature(logits, labels, *(set(OBJECTIVES) - {objective}))):
        assert best <= score(softmax(logits / other, axis=1), labels) + 1e-12


def test_fit_temperature_names_an_unknown_objective():
    with pytest.raises(ValueError, match="unknown objective 'ece'.*brier, nll"):
        fit_temperature(np.zeros((2, 3)), np.array([0, 1]), "ece")


def test_calibrate_keeps_top1_lowers_nll_and_records_the_ece_floor():
    logits, labels = _tempered(600, 2.0, seed=1)  # overconfident by a factor 2
    calibrated, record = calibrate(logits, labels)
    np.testing.assert_array_equal(calibrated.argmax(axis=1), logits.argmax(axis=1))
    assert record["nll_after"] < record["nll_before"] and record["ece_after"] < record["ece_before"]
    assert record["brier_after"] < record["brier_before"]
    assert record["temperature"] == pytest.approx(fit_temperature(logits, labels, "brier"), rel=1e-5)
    after = softmax(calibrated.astype(np.float64), axis=1)
    assert record["ece_after"] == pytest.approx(expected_calibration_error(after, labels))
    assert record["ece_floor"] == pytest.approx(ece_floor(after))
    assert record["ece_after"] < record["ece_floor"] + 0.03


def test_reliability_by_hand():
    probs = np.array([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.1, 0.1, 0.8]])
    got = reliability(probs, np.array([0, 2, 2]))
    assert got["top1"] == pytest.approx(2 / 3)
    assert got["mean_confidence"] == pytest.approx((0.6 + 0.5 + 0.8) / 3)
    assert got["true_class_prob"] == pytest.approx((0.6 + 0.3 + 0.8) / 3)
    assert got["ece"] == pytest.approx(expected_calibration_error(probs, np.array([0, 2, 2])))


def test_reliability_tells_sampling_from_miscalibration():
    logits, labels = _tempered(2000, 1.0, seed=2)
    calibrated = reliability(softmax(logits, axis=1), labels)
    overconfident = reliability(softmax(logits * 1.5, axis=1), labels)
    assert calibrated["ece_p"] > 0.01 and abs(calibrated["ece"] - calibrated["ece_floor"]) < 0.02
    assert overconfident["ece_p"] == pytest.approx(1 / 1001)  # no calibrated draw comes near
    assert overconfident["mean_confidence"] > overconfident["top1"] + 0.05
