"""Teacher targets in numpy: probabilities to logits, and the control targets.

Conventions: N rows (images), C classes, entropies in nats. "Logits" are unnormalised log-scores;
log-probabilities are valid logits (softmax is invariant to a per-row constant), which is how
probability targets reach the KD loss (``brainteacher.distill.kd``). The controls here keep a
teacher's confidence and spread but none of its image-specific information: label smoothing at
its mean true-class probability, random targets at its mean entropy and true-class probability.
No torch: ``teachers`` builds every target with these.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import xlogy

from brainteacher.metrics import softmax

__all__ = [
    "log_probs_from_probs",
    "label_smoothing_targets",
    "epsilon_matching_true_class_prob",
    "entropy",
    "random_targets_with_entropy",
    "random_targets_matching",
]


def log_probs_from_probs(probs: np.ndarray, eps: float = 1e-8) -> np.ndarray:
    """(..., C) probabilities -> (..., C) log-probabilities, usable as teacher logits in ``kd_loss``.

    ``log(clip(p, eps) / sum(clip(p, eps)))`` along the last axis. Since softmax(log p / T) is
    proportional to p^(1/T), these are exactly the tempered teacher distribution's logits: convert
    once, and never apply softmax to probabilities themselves (a double softmax flattens the target).
    Clipping keeps every entry finite, so KL never meets 0 * log 0. Float32 stays float32.
    Raises ValueError for negative or non-finite entries.
    """
    p = np.asarray(probs)
    p = p.astype(np.result_type(p.dtype, np.float32), copy=False)
    if not np.isfinite(p).all() or (p < 0).any():
        raise ValueError("probabilities must be finite and >= 0")
    clipped = np.maximum(p, eps)
    return np.log(clipped / clipped.sum(axis=-1, keepdims=True))


def label_smoothing_targets(labels: np.ndarray, n_classes: int, epsilon: float) -> np.ndarray:
    """(N,) integer labels -> (N, C) float64 smoothed one-hot probabilities (torch's convention):
    ``1 - eps + eps/C`` on the true class and ``eps/C`` elsewhere, so each row sums to 1."""
    if not 0.0 <= epsilon <= 1.0:
        raise ValueError(f"epsilon must be in [0, 1], got {epsilon}")
    labels = np.asarray(labels)
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"labels must lie in 0..{n_classes - 1}")
    one_hot = np.eye(n_classes)[labels]
    return one_hot * (1 - epsilon) + epsilon / n_classes


def epsilon_matching_true_class_prob(p_true_mean: float, n_classes: int) -> float:
    """The smoothing epsilon whose true-class probability ``1 - eps + eps/C`` equals ``p_true_mean``.

    ``eps = (1 - p) * C / (C - 1)``, clipped to [0, 1]: a mean true-class probability at or below
    chance (1/C) gives eps = 1 (uniform targets). Used to build a label-smoothing control that
    matches a teacher's average confidence in the true class.
    """
    if n_classes < 2:
        raise ValueError(f"n_classes must be >= 2, got {n_classes}")
    eps = (1.0 - float(p_true_mean)) * n_classes / (n_classes - 1)
    return float(np.clip(eps, 0.0, 1.0))


def entropy(probs: np.ndarray) -> np.ndarray:
    """(N, C) probabilities -> (N,) Shannon entropy per row in nats, with 0 log 0 = 0."""
    p = np.asarray(probs, np.float64)
    return -xlogy(p, p).sum(axis=-1)


def _mean_entropy_at(gaussians: np.ndarray, tau: float) -> float:
    return float(entropy(softmax(gaussians / tau, axis=-1)).mean())


# log(tau) search range: wide enough for targets within ~1e-12 nats of 0 or log C, narrow enough
# that g / tau stays far from float64 overflow.
_LOG_TAU_RANGE = (-60.0, 60.0)


def random_targets_with_entropy(n: int, n_classes: int, target_entropy: float, rng: np.random.Generator) -> np.ndarray:
    """(n, C) random probability rows whose MEAN row entropy equals ``target_entropy`` (nats).

    Rows are ``softmax(g / tau)`` with ``g ~ N(0, 1)`` i.i.d. drawn from ``rng`` and one temperature
    ``tau`` shared by all rows, found by root-finding on log(tau): the mean entropy rises
    monotonically from 0 (tau -> 0) to log C (tau -> inf). Accurate to far better than 1e-3 nats.
    A control teacher with the brain teacher's entropy but no information about the image.
    Raises ValueError unless 0 < target_entropy < log C.
    """
    if n < 1 or n_classes < 2:
        raise ValueError(f"need n >= 1 and n_classes >= 2, got n={n}, n_classes={n_classes}")
    if not 0.0 < target_entropy < math.log(n_classes):
        raise ValueError(f"target_entropy must be in (0, log C) = (0, {math.log(n_classes):.6f}), got {target_entropy}")
    g = rng.standard_normal((n, n_classes))

    def gap(log_tau: float) -> float:
        return _mean_entropy_at(g, math.exp(log_tau)) - target_entropy

    # Imported here: scipy.optimize is slow to import, and most students never draw random targets.
    from scipy.optimize import brentq

    low, high = _LOG_TAU_RANGE
    if gap(low) >= 0 or gap(high) <= 0:
        raise ValueError(f"target_entropy {target_entropy} too close to 0 or log C to reach with these draws")
    log_tau = brentq(gap, low, high, xtol=1e-12, rtol=1e-12, maxiter=500)
    return softmax(g / math.exp(log_tau), axis=-1)


def _binary_entropy(q: float) -> float:
    return float(-xlogy(q, q) - xlogy(1 - q, 1 - q))


def random_targets_matching(
    labels: np.ndarray, n_classes: int, true_class_prob: float, target_entropy: float, rng: np.random.Generator
) -> np.ndarray:
    """(n, C) random targets whose mean true-class probability and mean row entropy (nats) match.

    Every row gives its true class ``q = true_class_prob`` and spreads ``1 - q`` over the other
    C - 1 classes as ``softmax(g / tau)`` with random ``g`` (:func:`random_targets_with_entropy`),
    so the row entropy is ``H_b(q) + (1 - q) H(rest)``; tau is solved for the mean. The targets
    keep the teacher's confidence in the label and its spread, but say nothing about which other
    categories an image resembles. An entropy outside what ``q`` allows is clipped to the nearest
    reachable value.
    """
    labels = np.asarray(labels)
    n = len(labels)
    q = float(np.clip(true_class_prob, 1e-6, 1 - 1e-6))
    max_rest = math.log(n_classes - 1)
    rest_entropy = (float(target_entropy) - _binary_entropy(q)) / (1 - q)
    rest_entropy = float(np.clip(rest_entropy, 1e-3, max_rest - 1e-3))
    rest = random_targets_with_entropy(n, n_classes - 1, rest_entropy, rng)
    out = np.empty((n, n_classes))
    others = np.ones((n, n_classes), bool)
    others[np.arange(n), labels] = False
    out[others] = ((1 - q) * rest).ravel()
    out[np.arange(n), labels] = q
    return out
