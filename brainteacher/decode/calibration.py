"""Temperature scaling (Guo et al. 2017): one scalar that makes a classifier's logits calibrated.

A decoder fitted on ~100 trials is badly under- or over-confident, and a distillation target
inherits that. Before a teacher's logits are used, one temperature ``tau`` is fitted on the
teacher's own *out-of-fold* logits over the split's training images. No test image is involved:
the function receives only those logits and labels. Top-1 is unchanged (the argmax is
scale-invariant).

``tau`` minimises the Brier score of ``softmax(logits / tau)``, not Guo's NLL. Both are proper
scores, but NLL weighs most the images whose true class got a small probability, and on these
decoders its temperature leaves the top label overconfident (mean confidence above top-1, a higher
ECE); the Brier temperature closes most of that gap at almost no cost in NLL, for both decoders.
The figures (``bench/decoder_seeds.py``, ``bench/decoders.py``) are in docs/benchmarks.md,
"Decoders at GOD scale".
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import minimize_scalar

from brainteacher.metrics import (
    brier_score,
    calibrated_ece_draws,
    ece_floor,
    expected_calibration_error,
    nll,
    softmax,
)

__all__ = ["OBJECTIVES", "fit_temperature", "calibrate", "calibrate_out_of_fold", "reliability"]

# log(tau) search range: tau from 1/150 to 150 covers every decoder seen, far from overflow.
_LOG_TAU_BOUNDS = (-5.0, 5.0)

# What a temperature can be fitted to: both are proper scores of (n, C) probabilities.
OBJECTIVES = {"brier": brier_score, "nll": nll}


def fit_temperature(logits: np.ndarray, labels: np.ndarray, objective: str = "brier") -> float:
    """The temperature tau > 0 minimising ``objective`` (a key of :data:`OBJECTIVES`: the Brier
    score, or the NLL in nats as Guo et al.) of ``softmax(logits / tau)``.

    logits : (n, C) out-of-fold logits; labels : (n,) integers in 0..C-1.
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown objective {objective!r}; valid: {', '.join(OBJECTIVES)}")
    score = OBJECTIVES[objective]
    z = np.asarray(logits, np.float64)
    labels = np.asarray(labels)

    def loss(log_tau: float) -> float:
        return score(softmax(z / math.exp(log_tau), axis=1), labels)

    best = minimize_scalar(loss, bounds=_LOG_TAU_BOUNDS, method="bounded", options={"xatol": 1e-6})
    return float(math.exp(best.x))


def calibrate(logits: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, dict[str, float]]:
    """(calibrated logits (n, C) float32, record): logits / tau with tau from :func:`fit_temperature`.

    The record holds ``temperature``, the NLL (nats), Brier score and ECE (15 bins) before and
    after, and ``ece_floor``: the ECE that sampling alone gives a calibrated model on these rows.
    """
    tau = fit_temperature(logits, labels)
    calibrated = (np.asarray(logits, np.float64) / tau).astype(np.float32)
    before, after = softmax(np.asarray(logits, np.float64), axis=1), softmax(calibrated.astype(np.float64), axis=1)
    record = {
        "temperature": round(tau, 6),
        "nll_before": nll(before, labels),
        "nll_after": nll(after, labels),
        "brier_before": brier_score(before, labels),
        "brier_after": brier_score(after, labels),
        "ece_before": expected_calibration_error(before, labels),
        "ece_after": expected_calibration_error(after, labels),
        "ece_floor": ece_floor(after),
    }
    return calibrated, record


def calibrate_out_of_fold(logits: np.ndarray, labels: np.ndarray, metrics: dict) -> tuple[np.ndarray, dict]:
    """A teacher's out-of-fold ``logits`` (n, C) temperature-scaled on themselves (:func:`calibrate`:
    one scalar fitted over the split's training images, no test image). Returns the calibrated
    logits (n, C) float32 and ``metrics`` with ``calibration`` (the record) and
    ``out_of_fold_calibrated`` (the calibrated logits' metrics) added."""
    from brainteacher.metrics import classification_summary

    calibrated, record = calibrate(np.asarray(logits, np.float32), labels)
    summary = classification_summary(calibrated, labels)
    return calibrated, {**metrics, "calibration": record, "out_of_fold_calibrated": summary}


def reliability(probs: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """How well (N, C) probabilities are calibrated: ``top1``, ``mean_confidence`` (mean max
    probability, which equals top-1 when calibrated), ``true_class_prob`` (mean probability of the
    true class; chance 1/C), ``ece`` (15 bins), its sampling floor ``ece_floor`` and ``ece_p``, the
    fraction of a calibrated model's ECEs on these rows that reach ``ece`` (small: miscalibrated
    beyond what sampling explains)."""
    probs, labels = np.asarray(probs, np.float64), np.asarray(labels)
    ece, null = expected_calibration_error(probs, labels), calibrated_ece_draws(probs)
    return {
        "top1": float((probs.argmax(axis=1) == labels).mean()),
        "mean_confidence": float(probs.max(axis=1).mean()),
        "true_class_prob": float(probs[np.arange(len(labels)), labels].mean()),
        "ece": ece,
        "ece_floor": float(null.mean()),
        # (1 + hits) / (1 + draws): a Monte-Carlo p-value is never 0.
        "ece_p": float((1 + np.sum(null >= ece)) / (1 + len(null))),
    }
