"""Classification metrics on hand-made examples with known answers."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy.special import log_softmax

from brainteacher.metrics import (
    brier_score,
    chance_topk,
    classification_summary,
    ece_floor,
    expected_calibration_error,
    mean_normalised_rank,
    nll,
    normalised_rank,
    per_category_accuracy,
    softmax,
    topk_accuracy,
)

# Four classes; the true class is ranked 1st, 2nd, 4th and 3rd in the four rows.
SCORES = np.array(
    [
        [0.9, 0.1, 0.0, 0.0],
        [0.5, 0.3, 0.1, 0.1],
        [0.1, 0.2, 0.3, 0.0],
        [0.4, 0.1, 0.3, 0.2],
    ]
)
LABELS = np.array([0, 1, 3, 3])


def test_topk_accuracy_by_hand():
    assert topk_accuracy(SCORES, LABELS, 1) == 0.25
    assert topk_accuracy(SCORES, LABELS, 2) == 0.5
    assert topk_accuracy(SCORES, LABELS, 3) == 0.75
    assert topk_accuracy(SCORES, LABELS, 4) == 1.0
    assert chance_topk(4, 1) == 0.25 and chance_topk(150, 5) == 5 / 150
    with pytest.raises(ValueError, match="k must be"):
        topk_accuracy(SCORES, LABELS, 5)


def test_normalised_rank_first_last_and_ties():
    np.testing.assert_allclose(normalised_rank(SCORES, LABELS), [1.0, 2 / 3, 0.0, 1 / 3])
    # Row 0 of a tie: true class 2 ties with class 3 (both 0.0) and beats nothing else -> 0.5 / 3.
    assert normalised_rank(SCORES[:1], np.array([2]))[0] == pytest.approx(0.5 / 3)
    assert mean_normalised_rank(SCORES, LABELS) == pytest.approx(0.5)


def test_normalised_rank_of_random_scores_is_half():
    rng = np.random.default_rng(0)
    scores = rng.standard_normal((20000, 10))
    labels = rng.integers(0, 10, 20000)
    assert mean_normalised_rank(scores, labels) == pytest.approx(0.5, abs=0.01)


def test_nll_against_log_softmax():
    logits = np.random.default_rng(1).standard_normal((7, 5)) * 3
    labels = np.array([0, 1, 2, 3, 4, 0, 1])
    want = -log_softmax(logits, axis=1)[np.arange(7), labels].mean()
    assert nll(softmax(logits), labels) == pytest.approx(want, rel=1e-12)
    assert nll(np.array([[0.5, 0.5]]), np.array([0])) == pytest.approx(math.log(2))
    assert nll(np.array([[1.0, 0.0]]), np.array([1]), eps=1e-12) == pytest.approx(-math.log(1e-12))


def test_brier_score_by_hand_and_its_bounds():
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3]])
    # row 1: 0.3^2 + 0.2^2 + 0.1^2 = 0.14; row 2 (true class 2): 0.1^2 + 0.6^2 + 0.7^2 = 0.86
    assert brier_score(probs, np.array([0, 2])) == pytest.approx((0.14 + 0.86) / 2)
    assert brier_score(np.eye(4), np.arange(4)) == 0.0
    assert brier_score(np.eye(4), np.array([1, 2, 3, 0])) == pytest.approx(2.0)
    assert brier_score(np.full((3, 5), 0.2), np.array([0, 1, 4])) == pytest.approx(1 - 1 / 5)
    before = probs.copy()
    brier_score(probs, np.array([0, 2]))
    np.testing.assert_array_equal(probs, before)  # the caller's array is not touched


def test_softmax_stable_for_large_logits():
    p = softmax(np.array([[1000.0, 1000.0, -1000.0]]))
    np.testing.assert_allclose(p, [[0.5, 0.5, 0.0]])


def test_ece_against_direct_computation():
    probs = np.array(
        [
            [0.9, 0.1],  # confidence 0.9, correct
            [0.8, 0.2],  # 0.8, wrong
            [0.6, 0.4],  # 0.6, correct
            [0.3, 0.7],  # 0.7, correct
            [0.55, 0.45],  # 0.55, wrong
        ]
    )
    labels = np.array([0, 1, 0, 1, 1])
    # 5 bins of width 0.2: (0.4, 0.6] holds 0.6 and 0.55; (0.6, 0.8] holds 0.8 and 0.7; (0.8, 1] holds 0.9.
    want = 2 / 5 * abs(0.5 - 0.575) + 2 / 5 * abs(0.5 - 0.75) + 1 / 5 * abs(1.0 - 0.9)
    assert expected_calibration_error(probs, labels, n_bins=5) == pytest.approx(want, rel=1e-12)


def test_ece_bin_edges_are_right_closed():
    # Confidence exactly 0.6 belongs to (0.4, 0.6], not (0.6, 0.8]; with 0.7 in the next bin the
    # two bins' errors differ from a single merged bin's.
    probs = np.array([[0.6, 0.4], [0.7, 0.3]])
    labels = np.array([0, 1])
    want = 0.5 * abs(1.0 - 0.6) + 0.5 * abs(0.0 - 0.7)
    assert expected_calibration_error(probs, labels, n_bins=5) == pytest.approx(want)


def test_ece_zero_when_perfectly_calibrated():
    # 10 rows at confidence 0.8 of which 8 are right, 4 rows at 0.5 of which 2 are right.
    probs = np.array([[0.8, 0.2]] * 10 + [[0.5, 0.5]] * 4)
    labels = np.array([0] * 8 + [1] * 2 + [0, 0, 1, 1])
    assert expected_calibration_error(probs, labels) == pytest.approx(0.0, abs=1e-12)


def _calibrated_rows(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, 20) probabilities like a quick LOC decoder's (top-1 ~0.25), labels drawn from them."""
    rng = np.random.default_rng(seed)
    probs = softmax(rng.standard_normal((n, 20)) * 1.2)
    labels = (probs.cumsum(axis=1) < rng.random((n, 1))).sum(axis=1)
    return probs, np.minimum(labels, 19)


def test_ece_floor_is_the_ece_of_a_calibrated_model():
    probs, _ = _calibrated_rows(120, 0)
    # The floor is the mean ECE over label draws from the probabilities themselves: check it
    # against independent draws of whole label vectors.
    observed = []
    rng = np.random.default_rng(7)
    for _ in range(300):
        labels = np.minimum((probs.cumsum(axis=1) < rng.random((120, 1))).sum(axis=1), 19)
        observed.append(expected_calibration_error(probs, labels))
    floor = ece_floor(probs)
    assert floor == pytest.approx(np.mean(observed), rel=0.1)
    assert 0.03 < floor < 0.2  # at ~100 rows an ECE of 0.05 is below what sampling gives


def test_ece_floor_falls_with_rows_and_is_zero_for_certain_predictions():
    small, large = ece_floor(_calibrated_rows(120, 1)[0]), ece_floor(_calibrated_rows(4800, 1)[0])
    assert large < small / 3  # ~1/sqrt(n): 40x the rows, ~6x lower
    assert ece_floor(np.eye(5)[[0, 1, 2, 3, 4, 0]]) == 0.0
    probs = _calibrated_rows(50, 2)[0]
    assert ece_floor(probs) == ece_floor(probs)  # deterministic
    assert ece_floor(probs, seed=1) != ece_floor(probs)


def test_an_overconfident_model_exceeds_its_floor():
    probs, labels = _calibrated_rows(4800, 3)
    sharpened = softmax(np.log(probs) * 3)
    assert expected_calibration_error(probs, labels) < ece_floor(probs) + 0.02
    assert expected_calibration_error(sharpened, labels) > ece_floor(sharpened) + 0.2


def test_per_category_accuracy_nan_for_absent_classes():
    scores = np.array([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.6, 0.3, 0.1], [0.1, 0.8, 0.1]])
    labels = np.array([0, 0, 1, 1])
    got = per_category_accuracy(scores, labels, 4)
    np.testing.assert_array_equal(got[:2], [0.5, 0.5])
    assert np.isnan(got[2]) and np.isnan(got[3]) and got.shape == (4,)


def test_summary_is_json_ready_with_chance_levels():
    logits = np.log(SCORES + 0.01)
    summary = classification_summary(logits, LABELS)
    json.dumps(summary)
    assert all(type(v) is float for v in summary.values())
    assert summary["top1"] == 0.25 and summary["top1_chance"] == 0.25
    assert summary["top5_chance"] == 1.0  # k = min(5, C) = 4
    assert summary["mean_normalised_rank"] == pytest.approx(0.5)
    assert summary["nll"] == pytest.approx(nll(softmax(logits), LABELS))


def test_bad_labels_raise():
    with pytest.raises(ValueError, match="labels must lie"):
        topk_accuracy(SCORES, np.array([0, 1, 2, 4]), 1)
    with pytest.raises(ValueError, match="labels must be"):
        nll(SCORES, np.array([0, 1]))


# --- ROC-AUC, PR-AUC, confusion -------------------------------------------------------------------

from brainteacher.metrics import (  # noqa: E402
    average_precision,
    binary_roc_auc,
    confusion_matrix,
    macro_pr_auc,
    macro_roc_auc,
    micro_pr_curve,
)


def test_roc_auc_counts_positive_negative_pairs_by_hand():
    # positives 0.9, 0.4; negatives 0.5, 0.1, 0.4: pairs won 3 + (1 + 0.5 tie), of 6 -> 4.5 / 6
    assert binary_roc_auc([0.9, 0.5, 0.4, 0.1, 0.4], [1, 0, 1, 0, 0]) == pytest.approx(4.5 / 6)
    assert binary_roc_auc([0.1, 0.2, 0.3], [0, 1, 1]) == 1.0
    assert binary_roc_auc([0.3, 0.2, 0.1], [0, 1, 1]) == 0.0
    assert np.isnan(binary_roc_auc([0.1, 0.2], [1, 1]))


def test_roc_auc_equals_brute_force_pair_count_on_random_ties():
    rng = np.random.default_rng(1)
    s, y = rng.integers(0, 5, 40).astype(float), rng.random(40) < 0.3
    pos, neg = s[y], s[~y]
    brute = np.mean([(p > n) + 0.5 * (p == n) for p in pos for n in neg])
    assert binary_roc_auc(s, y) == pytest.approx(brute)


def test_average_precision_by_hand():
    # ranked: 0.9 (+), 0.8 (-), 0.7 (+), 0.1 (-): precision at each positive 1 and 2/3; AP = (1 + 2/3) / 2
    assert average_precision([0.9, 0.8, 0.7, 0.1], [1, 0, 1, 0]) == pytest.approx((1 + 2 / 3) / 2)
    # tied scores enter together: 0.5 (+), 0.5 (-) -> one threshold at precision 1/2, recall 1
    assert average_precision([0.5, 0.5], [1, 0]) == pytest.approx(0.5)
    assert average_precision([0.3, 0.2], [1, 1]) == 1.0


def test_macro_aucs_average_the_classes_present():
    probs = np.array([[0.7, 0.2, 0.1], [0.2, 0.5, 0.3], [0.6, 0.3, 0.1], [0.1, 0.1, 0.8]])
    labels = np.array([0, 1, 1, 2])
    per_class_roc = [binary_roc_auc(probs[:, c], labels == c) for c in range(3)]
    per_class_ap = [average_precision(probs[:, c], labels == c) for c in range(3)]
    assert macro_roc_auc(probs, labels) == pytest.approx(np.mean(per_class_roc))
    assert macro_pr_auc(probs, labels) == pytest.approx(np.mean(per_class_ap))
    # class 0: positive 0.7 beats negatives 0.2, 0.6, 0.1 -> 1; class 1: 0.5, 0.3 vs 0.2, 0.1 -> 1; class 2: 1
    assert macro_roc_auc(probs, labels) == 1.0
    perfect = np.eye(3)[labels]
    assert macro_pr_auc(perfect, labels) == 1.0


def test_micro_pr_curve_ends_at_full_recall_and_confusion_counts():
    probs = np.array([[0.7, 0.3], [0.4, 0.6], [0.2, 0.8]])
    labels = np.array([0, 0, 1])
    precision, recall = micro_pr_curve(probs, labels)
    assert recall[-1] == 1.0 and precision[-1] == pytest.approx(0.5)
    assert confusion_matrix(probs, labels).tolist() == [[1, 1], [0, 1]]
