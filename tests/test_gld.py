"""GLD (Kim et al. 2021): each term against a hand computation in numpy, weighting, refusals."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brainteacher.distill.kd import (
    GLDConfig,
    check_gld_teacher,
    gld_global_term,
    gld_local_term,
    gld_loss,
    gld_relation_term,
    region_logits,
    std_normalise,
)


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _norm(z):
    return z / z.std(axis=1, ddof=1, keepdims=True)


def _kl_hand(s, t):
    """sum_c p_t (log p_t - log p_s), mean over rows, after GLD's per-row std normalisation."""
    ps, pt = _softmax(_norm(s)), _softmax(_norm(t))
    return float(np.mean(np.sum(pt * (np.log(pt) - np.log(ps)), axis=1)))


def _relation_hand(s, t):
    def rel(z):
        m = len(z)
        d = np.array([[np.sum((z[i] - z[j]) ** 2) for j in range(m)] for i in range(m)])
        return d / np.linalg.norm(d, axis=1, keepdims=True)

    return float(np.sum((rel(t) - rel(s)) ** 2) / len(s) ** 2)


RNG = np.random.default_rng(0)
S, T = RNG.normal(size=(4, 5)), RNG.normal(size=(4, 5)) * 3
S_LOC, T_LOC = RNG.normal(size=(4, 4, 5)), RNG.normal(size=(4, 4, 5))
Y = np.array([0, 3, 1, 4])


def _t(a):
    return torch.tensor(a, dtype=torch.float64)


def test_std_normalise_divides_rows_by_their_sample_sd():
    z = np.array([[1.0, 2.0, 4.0]])
    assert np.allclose(std_normalise(_t(z)).numpy(), z / np.std(z, ddof=1))


def test_global_term_matches_hand_kl_and_ignores_logit_scale():
    assert gld_global_term(_t(S), _t(T)).item() == pytest.approx(_kl_hand(S, T), rel=1e-10)
    # std normalisation: a teacher 10x sharper in raw logits gives the same target
    assert gld_global_term(_t(S), _t(10 * T)).item() == pytest.approx(_kl_hand(S, T), rel=1e-10)
    assert gld_global_term(_t(T), _t(T)).item() == pytest.approx(0, abs=1e-12)


def test_local_term_averages_over_every_image_region_row():
    hand = _kl_hand(S_LOC.reshape(16, 5), T_LOC.reshape(16, 5))
    assert gld_local_term(_t(S_LOC), _t(T_LOC)).item() == pytest.approx(hand, rel=1e-10)


def test_relation_term_matches_hand_distance_matrices():
    s_all, t_all = np.concatenate([S, S_LOC.reshape(16, 5)]), np.concatenate([T, T_LOC.reshape(16, 5)])
    assert gld_relation_term(_t(s_all), _t(t_all)).item() == pytest.approx(_relation_hand(s_all, t_all), rel=1e-8)
    assert gld_relation_term(_t(t_all), _t(t_all)).item() == pytest.approx(0, abs=1e-12)


def test_total_uses_the_papers_weighting():
    cfg = GLDConfig()
    assert (cfg.alpha, cfg.beta, cfg.regions) == (0.7, 500.0, 2)
    total, parts = gld_loss(_t(S), _t(T), torch.tensor(Y), cfg, _t(S_LOC), _t(T_LOC))
    ce = float(np.mean(-np.log(_softmax(S)[np.arange(4), Y])))
    s_all, t_all = np.concatenate([S, S_LOC.reshape(16, 5)]), np.concatenate([T, T_LOC.reshape(16, 5)])
    hand = (
        0.3 * ce
        + 0.7 * _kl_hand(S, T)
        + 4 * _kl_hand(S_LOC.reshape(16, 5), T_LOC.reshape(16, 5))
        + 500 * _relation_hand(s_all, t_all)
    )
    assert total.item() == pytest.approx(hand, rel=1e-8)
    assert parts["ce"] == pytest.approx(ce, rel=1e-10)


def test_global_only_needs_no_feature_maps():
    cfg = GLDConfig(terms=("global",))
    total, parts = gld_loss(_t(S), _t(T), torch.tensor(Y), cfg)
    assert set(parts) == {"ce", "global"}
    assert total.item() == pytest.approx(0.3 * parts["ce"] + 0.7 * parts["global"], rel=1e-10)


def test_gradient_flows_to_student_only():
    s = _t(S).requires_grad_(True)
    t = _t(T).requires_grad_(True)
    sl, tl = _t(S_LOC).requires_grad_(True), _t(T_LOC).requires_grad_(True)
    total, _ = gld_loss(s, t, torch.tensor(Y), GLDConfig(), sl, tl)
    total.backward()
    assert s.grad.abs().sum() > 0 and sl.grad.abs().sum() > 0
    assert t.grad is None and tl.grad is None


def test_brain_teacher_asking_for_local_terms_is_refused():
    with pytest.raises(
        ValueError,
        match=(
            r"local and relation term\(s\) need a network teacher with feature maps; teacher "
            r"'brain/mean/LOC' has global logits only.*gld_terms: \[global\]"
        ),
    ):
        check_gld_teacher(GLDConfig(), "brain/mean/LOC", has_feature_maps=False)
    check_gld_teacher(GLDConfig(terms=("global",)), "brain/mean/LOC", has_feature_maps=False)  # allowed
    check_gld_teacher(GLDConfig(), "network", has_feature_maps=True)


def test_region_logits_pool_cells_through_the_classifier():
    fmap = torch.arange(2 * 3 * 4 * 4, dtype=torch.float64).reshape(2, 3, 4, 4)
    fc = torch.nn.Linear(3, 5).double()
    out = region_logits(fmap, fc, 2)
    assert out.shape == (2, 4, 5)
    top_right = fmap[:, :, :2, 2:].mean(dim=(2, 3))  # row-major: cell 1 is the top-right quarter
    assert torch.allclose(out[:, 1], fc(top_right))
    with pytest.raises(ValueError, match="at least 2 per side, got 1x1.*small-s2"):
        region_logits(fmap[:, :, :1, :1], fc, 2)


def test_bad_config_is_refused():
    with pytest.raises(ValueError, match="non-empty subset"):
        GLDConfig(terms=("global", "spatial"))
    with pytest.raises(ValueError, match="alpha"):
        GLDConfig(alpha=1.5)
