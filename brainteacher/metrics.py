"""Classification metrics on (N, C) scores and (N,) integer labels; numpy in, floats out.

``scores`` are any per-class scores where higher means more likely (logits or probabilities);
``probs`` must be probabilities (rows summing to 1). ``labels`` are integers in 0..C-1.
Every metric comes with its chance level so results can be read against it.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "softmax",
    "topk_hits",
    "topk_accuracy",
    "chance_topk",
    "normalised_rank",
    "mean_normalised_rank",
    "true_class_nll",
    "nll",
    "brier_score",
    "expected_calibration_error",
    "calibrated_ece_draws",
    "ece_floor",
    "per_category_accuracy",
    "classification_summary",
    "binary_roc_auc",
    "average_precision",
    "precision_recall_curve",
    "macro_roc_auc",
    "macro_pr_auc",
    "micro_pr_curve",
    "confusion_matrix",
]


def _as_scores_and_labels(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scores = np.asarray(scores, np.float64)
    labels = np.asarray(labels)
    if scores.ndim != 2:
        raise ValueError(f"scores must be (N, C), got shape {scores.shape}")
    if labels.shape != scores.shape[:1]:
        raise ValueError(f"labels must be ({scores.shape[0]},), got shape {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integers, got dtype {labels.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() >= scores.shape[1]):
        raise ValueError(f"labels must lie in 0..{scores.shape[1] - 1}")
    return scores, labels


def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    """Probabilities exp(z) / sum(exp(z)) along ``axis``, float64, same shape as ``logits``.

    The row maximum is subtracted first so large logits cannot overflow."""
    z = np.asarray(logits, np.float64)
    z = z - z.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def topk_hits(scores: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """(N,) 1.0 where a row's true class is among its k highest scores, else 0.0.

    Ties at the k-th place are broken towards the lower class index (stable sort)."""
    scores, labels = _as_scores_and_labels(scores, labels)
    if not 1 <= k <= scores.shape[1]:
        raise ValueError(f"k must be in 1..{scores.shape[1]}, got {k}")
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return (top == labels[:, None]).any(axis=1).astype(np.float64)


def topk_accuracy(scores: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Fraction of rows whose true class is among the k highest scores (chance: k / C); see
    :func:`topk_hits` for ties."""
    return float(topk_hits(scores, labels, k).mean())


def chance_topk(n_classes: int, k: int) -> float:
    """Expected top-k accuracy of a random ranking: k / C."""
    return k / n_classes


def normalised_rank(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(N,) fraction of the C - 1 other classes scored below the true class, ties counted half.

    1 = true class ranked first, 0 = ranked last, 0.5 = chance. This is GOD's pairwise
    identification accuracy: the chance that the true class beats a random other class."""
    scores, labels = _as_scores_and_labels(scores, labels)
    if scores.shape[1] < 2:
        raise ValueError("normalised_rank needs at least 2 classes")
    true = scores[np.arange(len(labels)), labels][:, None]
    # The true class ties with itself, hence the - 1.
    below = (scores < true).sum(axis=1) + 0.5 * ((scores == true).sum(axis=1) - 1)
    return below / (scores.shape[1] - 1)


def mean_normalised_rank(scores: np.ndarray, labels: np.ndarray) -> float:
    """Mean of ``normalised_rank`` over rows (chance: 0.5)."""
    return float(normalised_rank(scores, labels).mean())


def true_class_nll(probs: np.ndarray, labels: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """(N,) negative log-likelihood of each row's true class, -log p_true, in nats.

    p_true is clipped to [eps, 1] so a zero probability costs -log(eps) instead of infinity."""
    probs, labels = _as_scores_and_labels(probs, labels)
    p = probs[np.arange(len(labels)), labels]
    return -np.log(np.clip(p, eps, 1.0))


def nll(probs: np.ndarray, labels: np.ndarray, eps: float = 1e-12) -> float:
    """Mean negative log-likelihood of the true class (:func:`true_class_nll`), in nats.
    Chance (uniform probabilities): log C."""
    return float(true_class_nll(probs, labels, eps).mean())


def brier_score(probs: np.ndarray, labels: np.ndarray) -> float:
    """Mean over rows of sum_c (p_c - [c == label])^2 (Brier 1950), in [0, 2]; 0 = certain and right.

    A proper score like NLL, but bounded: one row whose true class got a tiny probability costs at
    most 2, not -log p. Chance (uniform probabilities): 1 - 1/C."""
    probs, labels = _as_scores_and_labels(probs, labels)
    residual = probs.copy()  # the helper may return the caller's array
    residual[np.arange(len(labels)), labels] -= 1.0
    return float((residual**2).sum(axis=1).mean())


def _confidence_bins(confidence: np.ndarray, n_bins: int) -> np.ndarray:
    """Bin index b of each confidence, for the bins (b/n, (b+1)/n] (the first also holds 0)."""
    upper_edges = np.linspace(0.0, 1.0, n_bins + 1)[1:]
    # Comparing against the edges themselves (not ceil(c * n)) keeps c == b/n in bin b - 1 exactly.
    return np.minimum(np.searchsorted(upper_edges, confidence, side="left"), n_bins - 1)


def _calibration_error(confidence: np.ndarray, correct: np.ndarray, n_bins: int) -> np.ndarray:
    """ECE of (..., N) correctness against (N,) confidences: sum over bins of |hits - confidence| / N.

    That is sum_b (n_b / N) * |accuracy_b - mean confidence_b|; leading axes of ``correct`` are
    independent draws (see :func:`ece_floor`)."""
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    in_bin = np.eye(n_bins)[_confidence_bins(confidence, n_bins)]  # (N, n_bins) one-hot
    gaps = (correct - confidence) @ in_bin  # (..., n_bins) summed per bin
    return np.abs(gaps).sum(axis=-1) / max(len(confidence), 1)  # no rows: 0, as no bins


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, n_bins: int = 15) -> float:
    """ECE = sum over bins b of (n_b / N) * |accuracy_b - mean confidence_b|.

    Confidence is the max probability of a row, correct means its argmax is the label; bins are
    equal-width (0, 1/n_bins], (1/n_bins, 2/n_bins], ..., empty bins contribute nothing.
    0 = perfectly calibrated, but only in the limit of many rows: see :func:`ece_floor`."""
    probs, labels = _as_scores_and_labels(probs, labels)
    correct = (probs.argmax(axis=1) == labels).astype(np.float64)
    return float(_calibration_error(probs.max(axis=1), correct, n_bins))


def calibrated_ece_draws(probs: np.ndarray, n_bins: int = 15, n_draws: int = 1000, seed: int = 0) -> np.ndarray:
    """(n_draws,) ECEs of a perfectly calibrated classifier with these (N, C) probabilities: in each
    draw every row's top-1 prediction is correct with probability equal to its confidence
    ("consistency resampling", Broecker & Smith 2007). Deterministic for a given ``seed``."""
    probs = np.asarray(probs, np.float64)
    if probs.ndim != 2:
        raise ValueError(f"probs must be (N, C), got shape {probs.shape}")
    confidence = probs.max(axis=1)
    draws = np.random.default_rng(seed).random((n_draws, len(confidence))) < confidence
    return _calibration_error(confidence, draws.astype(np.float64), n_bins)


def ece_floor(probs: np.ndarray, n_bins: int = 15, n_draws: int = 1000, seed: int = 0) -> float:
    """The ECE that sampling alone gives these N rows: the mean of :func:`calibrated_ece_draws`.

    On the few rows of one decoder folder this floor is far from 0, so an ECE is read against it,
    not against 0."""
    return float(calibrated_ece_draws(probs, n_bins, n_draws, seed).mean())


def per_category_accuracy(scores: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """(n_classes,) top-1 accuracy per true class; NaN for classes absent from ``labels``."""
    scores, labels = _as_scores_and_labels(scores, labels)
    if labels.size and labels.max() >= n_classes:
        raise ValueError(f"labels must lie in 0..{n_classes - 1}")
    correct = np.argmax(scores, axis=1) == labels
    hits = np.bincount(labels, weights=correct, minlength=n_classes)
    counts = np.bincount(labels, minlength=n_classes)
    return np.divide(hits, counts, out=np.full(n_classes, np.nan), where=counts > 0)


def classification_summary(logits: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Top-1, top-5 (k = min(5, C)), mean normalised rank, NLL and ECE of (N, C) logits, each
    accuracy-like metric with its chance level (NLL's is log C); plain floats, JSON-ready."""
    logits, labels = _as_scores_and_labels(logits, labels)
    n_classes = logits.shape[1]
    k = min(5, n_classes)
    probs = softmax(logits, axis=1)
    return {
        "top1": topk_accuracy(logits, labels, 1),
        "top1_chance": chance_topk(n_classes, 1),
        "top5": topk_accuracy(logits, labels, k),
        "top5_chance": chance_topk(n_classes, k),
        "mean_normalised_rank": mean_normalised_rank(logits, labels),
        "nll": nll(probs, labels),
        "nll_chance": float(np.log(n_classes)),
        "ece": expected_calibration_error(probs, labels),
    }


# --- ranking metrics: one-vs-rest ROC-AUC and PR-AUC ---------------------------------------------


def _average_ranks(x: np.ndarray) -> np.ndarray:
    """(n,) 1-based ranks of ``x``, ties given the mean of the ranks they span."""
    order = np.argsort(x, kind="stable")
    sorted_x = x[order]
    # Start index of each run of equal values, and its length.
    starts = np.flatnonzero(np.r_[True, sorted_x[1:] != sorted_x[:-1]])
    lengths = np.diff(np.r_[starts, len(x)])
    mean_rank = starts + (lengths + 1) / 2.0
    ranks = np.empty(len(x))
    ranks[order] = np.repeat(mean_rank, lengths)
    return ranks


def binary_roc_auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve of (n,) ``scores`` for the boolean (n,) ``positive``: the chance that
    a random positive outscores a random negative, ties counted half (Mann-Whitney U / (n+ n-)).
    NaN when either class is absent. 0.5 = chance."""
    scores, positive = np.asarray(scores, np.float64), np.asarray(positive, bool)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = _average_ranks(scores)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def precision_recall_curve(scores: np.ndarray, positive: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(precision, recall) at every distinct threshold, from the highest score down (tied scores
    enter together). Recall rises from the first threshold's to 1. Needs at least one positive."""
    scores, positive = np.asarray(scores, np.float64), np.asarray(positive, bool)
    order = np.argsort(-scores, kind="stable")
    s, hit = scores[order], positive[order]
    last_of_tie = np.r_[s[1:] != s[:-1], True]
    tp = np.cumsum(hit)[last_of_tie]
    predicted = (np.arange(1, len(s) + 1))[last_of_tie]
    return tp / predicted, tp / positive.sum()


def average_precision(scores: np.ndarray, positive: np.ndarray) -> float:
    """PR-AUC as average precision: sum over thresholds of (R_k - R_{k-1}) P_k (no interpolation,
    sklearn's definition). NaN without positives; chance = the positives' prevalence."""
    positive = np.asarray(positive, bool)
    if not positive.any():
        return float("nan")
    precision, recall = precision_recall_curve(scores, positive)
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def _one_vs_rest(probs: np.ndarray, labels: np.ndarray, metric) -> float:
    probs, labels = _as_scores_and_labels(probs, labels)
    per_class = [metric(probs[:, c], labels == c) for c in range(probs.shape[1])]
    valid = [v for v in per_class if np.isfinite(v)]
    return float(np.mean(valid)) if valid else float("nan")


def macro_roc_auc(probs: np.ndarray, labels: np.ndarray) -> float:
    """Macro one-vs-rest ROC-AUC: the mean over classes of :func:`binary_roc_auc` of that class's
    column against the rest; classes with no positive (or no negative) row are skipped. Chance 0.5."""
    return _one_vs_rest(probs, labels, binary_roc_auc)


def macro_pr_auc(probs: np.ndarray, labels: np.ndarray) -> float:
    """Macro one-vs-rest PR-AUC (:func:`average_precision` per class, mean over the classes present).
    Chance: the mean prevalence, about 1 / C for balanced classes."""
    return _one_vs_rest(probs, labels, average_precision)


def micro_pr_curve(probs: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(precision, recall) of the micro-averaged one-vs-rest PR curve: every (row, class) cell is
    one binary decision, positive when the class is the row's label."""
    probs, labels = _as_scores_and_labels(probs, labels)
    positive = np.zeros(probs.shape, bool)
    positive[np.arange(len(labels)), labels] = True
    return precision_recall_curve(probs.ravel(), positive.ravel())


def confusion_matrix(scores: np.ndarray, labels: np.ndarray, n_classes: int | None = None) -> np.ndarray:
    """(C, C) counts: row = true class, column = the top-1 predicted class."""
    scores, labels = _as_scores_and_labels(scores, labels)
    n = scores.shape[1] if n_classes is None else n_classes
    return np.bincount(labels * n + scores.argmax(axis=1), minlength=n * n).reshape(n, n)
