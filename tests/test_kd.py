"""The KD loss against hand computations, and the teacher/control target helpers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from brainteacher.distill.kd import kd_loss
from brainteacher.distill.targets import (
    entropy,
    epsilon_matching_true_class_prob,
    label_smoothing_targets,
    log_probs_from_probs,
    random_targets_with_entropy,
)

STUDENT = np.array([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3]])
TEACHER = np.array([[1.0, 1.5, 0.0], [-2.0, 0.0, 3.0]])
LABELS = np.array([0, 2])


def _probs(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _hand_kl(student, teacher, T):
    """KL(softmax(teacher/T) || softmax(student/T)) summed over classes, mean over rows."""
    p, q = _probs(teacher / T), _probs(student / T)
    return np.sum(p * np.log(p / q)) / len(student)


def _hand_kd(student, teacher, labels, T, alpha):
    """The Hinton loss written out with plain numpy, independently of the package."""
    ce = -np.mean(np.log(_probs(student)[np.arange(len(labels)), labels]))
    return (1 - alpha) * ce + alpha * T**2 * _hand_kl(student, teacher, T)


def _t(x):
    return torch.tensor(x, dtype=torch.float64)


@pytest.mark.parametrize("T, alpha", [(1.0, 0.5), (4.0, 0.5), (2.0, 0.9), (4.0, 1.0)])
def test_kd_loss_matches_hand_formula(T, alpha):
    got = kd_loss(_t(STUDENT), _t(TEACHER), torch.tensor(LABELS), T, alpha)
    assert got.ndim == 0
    assert got.item() == pytest.approx(_hand_kd(STUDENT, TEACHER, LABELS, T, alpha), rel=1e-12)


def test_t_squared_scaling():
    # Pure soft term: the loss must be T^2 times the plain KL at that temperature.
    for T in (1.0, 4.0):
        got = kd_loss(_t(STUDENT), _t(TEACHER), torch.tensor(LABELS), T, 1.0).item()
        assert got == pytest.approx(T**2 * _hand_kl(STUDENT, TEACHER, T), rel=1e-12)
    assert _hand_kl(STUDENT, TEACHER, 4.0) < _hand_kl(STUDENT, TEACHER, 1.0)  # why the factor is needed


def test_alpha_zero_is_exactly_cross_entropy_even_with_inf_teacher():
    student = torch.randn(5, 4, generator=torch.Generator().manual_seed(0))
    labels = torch.tensor([0, 1, 2, 3, 0])
    teacher = torch.full((5, 4), -math.inf)
    got = kd_loss(student, teacher, labels, 2.0, 0.0)
    assert torch.equal(got, F.cross_entropy(student, labels))


def test_bf16_inputs_computed_in_float32():
    student = _t(STUDENT).bfloat16()
    got = kd_loss(student, _t(TEACHER).bfloat16(), torch.tensor(LABELS), 2.0, 0.5)
    assert got.dtype == torch.float32
    want = _hand_kd(student.double().numpy(), _t(TEACHER).bfloat16().double().numpy(), LABELS, 2.0, 0.5)
    assert got.item() == pytest.approx(want, rel=1e-5)


def test_identical_logits_give_zero_loss_and_gradient():
    teacher = torch.randn(6, 5, generator=torch.Generator().manual_seed(1))
    student = teacher.clone().requires_grad_(True)
    loss = kd_loss(student, teacher, torch.zeros(6, dtype=torch.long), 3.0, 1.0)
    (grad,) = torch.autograd.grad(loss, student)
    assert loss.item() == pytest.approx(0.0, abs=1e-6)
    assert torch.allclose(grad, torch.zeros_like(grad), atol=1e-6)


def test_teacher_probabilities_converted_once_not_softmaxed_twice():
    T = 3.0
    teacher_logits = _t(TEACHER)
    teacher_log_probs = torch.from_numpy(log_probs_from_probs(torch.softmax(teacher_logits, dim=1).numpy()))
    student, labels = _t(STUDENT), torch.tensor(LABELS)
    from_logits = kd_loss(student, teacher_logits, labels, T, 1.0)
    from_probs = kd_loss(student, teacher_log_probs, labels, T, 1.0)
    assert from_probs.item() == pytest.approx(from_logits.item(), rel=1e-7)
    # A double softmax (probabilities used as logits) would give a different, flatter target.
    double = kd_loss(student, torch.softmax(teacher_logits, dim=1), labels, T, 1.0)
    assert abs(double.item() - from_logits.item()) > 1e-3
    assert torch.allclose(torch.softmax(teacher_log_probs / T, -1), torch.softmax(teacher_logits / T, -1), atol=1e-12)


def test_log_probs_from_probs_keeps_float32_and_clips():
    p = np.array([[0.5, 0.5, 0.0], [0.2, 0.3, 0.5]])
    logp = log_probs_from_probs(p)
    assert isinstance(logp, np.ndarray) and np.isfinite(logp).all()
    np.testing.assert_allclose(np.exp(logp).sum(axis=1), 1.0)
    np.testing.assert_allclose(logp[1], np.log(p[1]), rtol=1e-7)
    assert log_probs_from_probs(p.astype(np.float32)).dtype == np.float32
    with pytest.raises(ValueError, match="finite and >= 0"):
        log_probs_from_probs(np.array([[1.2, -0.2]]))


@pytest.mark.parametrize("T", [0.0, -1.0, math.nan, math.inf])
def test_bad_temperature_raises(T):
    with pytest.raises(ValueError, match="temperature"):
        kd_loss(_t(STUDENT), _t(TEACHER), torch.tensor(LABELS), T, 0.5)


@pytest.mark.parametrize("alpha", [-0.1, 1.5, math.nan])
def test_bad_alpha_raises(alpha):
    with pytest.raises(ValueError, match="alpha"):
        kd_loss(_t(STUDENT), _t(TEACHER), torch.tensor(LABELS), 2.0, alpha)


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match="teacher_logits shape"):
        kd_loss(_t(STUDENT), _t(TEACHER[:, :2]), torch.tensor(LABELS), 2.0, 0.5)
    with pytest.raises(ValueError, match="labels must be"):
        kd_loss(_t(STUDENT), _t(TEACHER), torch.tensor([0, 1, 2]), 2.0, 0.5)


def test_label_smoothing_rows_and_epsilon_inverse():
    C, eps = 5, 0.3
    targets = label_smoothing_targets(np.array([0, 3, 4]), C, eps)
    np.testing.assert_allclose(targets.sum(axis=1), 1.0)
    np.testing.assert_allclose(targets[1], [eps / C] * 3 + [1 - eps + eps / C, eps / C])
    # The same targets as torch's own label_smoothing: CE against them equals F.cross_entropy(..., label_smoothing).
    logits = torch.randn(3, C, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    labels = torch.tensor([0, 3, 4])
    soft = torch.from_numpy(label_smoothing_targets(labels.numpy(), C, eps))
    assert soft.shape == (3, C)
    mine = -(soft * F.log_softmax(logits, dim=1)).sum(dim=1).mean()
    assert mine.item() == pytest.approx(F.cross_entropy(logits, labels, label_smoothing=eps).item(), rel=1e-12)
    p_true = targets[1, 3]
    assert epsilon_matching_true_class_prob(p_true, C) == pytest.approx(eps)
    assert epsilon_matching_true_class_prob(1.0, C) == 0.0
    assert epsilon_matching_true_class_prob(0.1, C) == 1.0  # below chance: clipped to uniform


def test_entropy_in_nats():
    p = np.array([[0.25, 0.25, 0.25, 0.25], [1.0, 0.0, 0.0, 0.0]])
    np.testing.assert_allclose(entropy(p), [math.log(4), 0.0])


@pytest.mark.parametrize("target", [0.05, 1.0, 2.5, math.log(20) - 0.01])
def test_random_targets_hit_mean_entropy(target):
    probs = random_targets_with_entropy(64, 20, target, np.random.default_rng(0))
    assert probs.shape == (64, 20)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    assert abs(entropy(probs).mean() - target) < 1e-3


@pytest.mark.parametrize("target", [0.0, -1.0, math.log(20), 5.0])
def test_random_targets_reject_unreachable_entropy(target):
    with pytest.raises(ValueError, match="target_entropy"):
        random_targets_with_entropy(8, 20, target, np.random.default_rng(0))
