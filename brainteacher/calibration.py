"""Temperature scaling (Guo et al. 2017): one scalar that makes a classifier's logits calibrated.

A decoder fitted on ~100 trials is badly under- or over-confident, and a distillation target
inherits that. Before a teacher's logits are used, one temperature ``tau`` is fitted by
minimising the negative log-likelihood of ``softmax(logits / tau)`` on the teacher's own
*out-of-fold* logits over the split's training images. No test image is involved: the function
receives only those logits and labels. Top-1 is unchanged (the argmax is scale-invariant).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import minimize_scalar

from brainteacher.metrics import expected_calibration_error, nll, softmax

__all__ = ["fit_temperature", "calibrate"]

# log(tau) search range: tau from 1/150 to 150 covers every decoder seen, far from overflow.
_LOG_TAU_BOUNDS = (-5.0, 5.0)


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature tau > 0 minimising mean NLL of ``softmax(logits / tau)`` (nats).

    logits : (n, C) out-of-fold logits; labels : (n,) integers in 0..C-1.
    """
    z = np.asarray(logits, np.float64)
    labels = np.asarray(labels)

    def loss(log_tau: float) -> float:
        return nll(softmax(z / math.exp(log_tau), axis=1), labels)

    best = minimize_scalar(loss, bounds=_LOG_TAU_BOUNDS, method="bounded", options={"xatol": 1e-6})
    return float(math.exp(best.x))


def calibrate(logits: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, dict[str, float]]:
    """(calibrated logits (n, C) float32, record): logits / tau with tau from :func:`fit_temperature`.

    The record holds ``temperature`` and the NLL (nats) and ECE (15 bins) before and after.
    """
    tau = fit_temperature(logits, labels)
    calibrated = (np.asarray(logits, np.float64) / tau).astype(np.float32)
    before, after = softmax(np.asarray(logits, np.float64), axis=1), softmax(calibrated.astype(np.float64), axis=1)
    record = {
        "temperature": round(tau, 6),
        "nll_before": nll(before, labels),
        "nll_after": nll(after, labels),
        "ece_before": expected_calibration_error(before, labels),
        "ece_after": expected_calibration_error(after, labels),
    }
    return calibrated, record
