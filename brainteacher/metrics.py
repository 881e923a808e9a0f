"""Classification metrics on (N, C) scores and (N,) integer labels; numpy in, floats out."""

from __future__ import annotations

import numpy as np

__all__ = [
    "softmax",
    "topk_accuracy",
    "normalised_rank",
    "mean_normalised_rank",
    "nll",
    "expected_calibration_error",
    "per_category_accuracy",
    "classification_summary",
]


def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    z = np.asarray(logits, np.float64)
    z = z - z.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def topk_accuracy(scores: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Fraction of rows whose true class is among the k highest scores (chance: k / C)."""
    top = np.argsort(-np.asarray(scores), axis=1, kind="stable")[:, :k]
    return float((top == np.asarray(labels)[:, None]).any(axis=1).mean())


def normalised_rank(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(N,) fraction of the other classes scored below the true class (ties count half):
    1 = ranked first, 0 = ranked last, 0.5 = chance. GOD's pairwise identification accuracy."""
    scores = np.asarray(scores, np.float64)
    true = scores[np.arange(len(labels)), labels][:, None]
    below = (scores < true).sum(axis=1) + 0.5 * ((scores == true).sum(axis=1) - 1)
    return below / (scores.shape[1] - 1)


def mean_normalised_rank(scores: np.ndarray, labels: np.ndarray) -> float:
    return float(normalised_rank(scores, labels).mean())


def nll(probs: np.ndarray, labels: np.ndarray, eps: float = 1e-12) -> float:
    """Mean negative log-likelihood of the true class, in nats."""
    p = np.asarray(probs, np.float64)[np.arange(len(labels)), labels]
    return float(-np.log(np.clip(p, eps, 1.0)).mean())


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, n_bins: int = 15) -> float:
    """ECE: sum over equal-width confidence bins (0, 1/n], ... of |accuracy - confidence| * bin share."""
    probs = np.asarray(probs, np.float64)
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == np.asarray(labels)
    bins = np.clip(np.ceil(conf * n_bins).astype(int) - 1, 0, n_bins - 1)
    ece = 0.0
    for b in np.unique(bins):
        in_bin = bins == b
        ece += in_bin.mean() * abs(correct[in_bin].mean() - conf[in_bin].mean())
    return float(ece)


def per_category_accuracy(scores: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """(n_classes,) top-1 accuracy per true class; NaN for classes absent from ``labels``."""
    correct = np.argmax(scores, axis=1) == labels
    hits = np.bincount(labels, weights=correct, minlength=n_classes)
    counts = np.bincount(labels, minlength=n_classes)
    return np.divide(hits, counts, out=np.full(n_classes, np.nan), where=counts > 0)


def classification_summary(logits: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Top-1, top-5, mean normalised rank, NLL and ECE of logits, each with its chance level."""
    n_classes = logits.shape[1]
    k = min(5, n_classes)
    probs = softmax(logits, axis=1)
    return {
        "top1": topk_accuracy(logits, labels, 1),
        "top1_chance": 1 / n_classes,
        "top5": topk_accuracy(logits, labels, k),
        "top5_chance": k / n_classes,
        "mean_normalised_rank": mean_normalised_rank(logits, labels),
        "rank_chance": 0.5,
        "nll": nll(probs, labels),
        "nll_chance": float(np.log(n_classes)),
        "ece": expected_calibration_error(probs, labels),
    }
