"""Knowledge distillation: the one KD loss family (Hinton KD and GLD), in torch. Its targets are
built in numpy by ``brainteacher.distill.targets`` and ``teachers``.

Conventions. N rows (images), C classes. "Logits" are unnormalised log-scores; any additive
constant per row is irrelevant (softmax invariance), so log-probabilities are valid logits.
Entropies are in nats. The distillation loss is Hinton et al. (2015):

    loss = (1 - alpha) * CE(student, labels) + alpha * T^2 * KL(p_T || q_T),
    p_T = softmax(teacher / T),  q_T = softmax(student / T),

with KL summed over classes and averaged over rows ("batchmean"). The T^2 factor keeps the soft
term's gradient magnitude comparable across temperatures (its gradient scales as 1/T^2).

The family's second member is GLD (Kim et al., ICCV 2021, "Distilling global and local logits
with densely connected relations"), chosen with ``students.loss: gld``:

    loss = (1 - alpha) CE + alpha * L_global + R * L_local + beta * L_relation,

- L_global: KL(softmax(n(t)) || softmax(n(s))) of the global logits, batchmean, where
  n(z) = z / std(z) per row (GLD's normalisation, instead of a temperature);
- L_local: the same KL over the *local* logits: each net's last feature map average-pooled into
  R = regions^d cells (d spatial dims; 2 x 2 = 4 in the paper), each cell's vector put through that
  net's own classifier, averaged over the N * R (image, region) rows;
- L_relation: the rows' relations. Stack an image's global and local logits of the whole batch
  (N (1 + R) rows), take the squared Euclidean distance matrix, L2-normalise each row, and average
  the squared teacher - student difference over all (N (1 + R))^2 entries.

Defaults are the paper's weighting (alpha 0.7, the local weight R, beta 500, 2 x 2 regions).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from brainteacher.configs import FEATURE_MAP_TERMS, GLD_TERMS, LOSSES, GLDConfig

__all__ = [
    "kd_loss",
    "LOSSES",
    "GLD_TERMS",
    "GLDConfig",
    "gld_loss",
    "gld_global_term",
    "gld_local_term",
    "gld_relation_term",
    "region_logits",
    "std_normalise",
    "check_gld_teacher",
]


def _check_temperature(temperature: float) -> None:
    if not (math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be a finite number > 0, got {temperature}")


def _check_alpha(alpha: float) -> None:
    if not 0.0 <= alpha <= 1.0:  # also rejects NaN
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")


def _check_kd_shapes(student: torch.Tensor, teacher: torch.Tensor, labels: torch.Tensor) -> None:
    if student.ndim != 2:
        raise ValueError(f"student_logits must be (N, C), got shape {tuple(student.shape)}")
    if teacher.shape != student.shape:
        raise ValueError(f"teacher_logits shape {tuple(teacher.shape)} != student_logits shape {tuple(student.shape)}")
    if labels.shape != student.shape[:1]:
        raise ValueError(f"labels must be ({student.shape[0]},), got shape {tuple(labels.shape)}")
    if labels.is_floating_point() or labels.is_complex():
        raise ValueError(f"labels must be integer class indices, got dtype {labels.dtype}")


def _at_least_float32(x: torch.Tensor) -> torch.Tensor:
    # bf16/fp16 log_softmax and KL lose several digits; float64 inputs are kept as they are.
    return x.to(torch.promote_types(x.dtype, torch.float32))


def kd_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    labels: torch.Tensor,
    temperature: float,
    alpha: float,
) -> torch.Tensor:
    """Hinton distillation loss, a scalar tensor (nats, averaged over the N rows).

    ``(1 - alpha) * CE(student, labels) + alpha * T^2 * KL(softmax(teacher/T) || softmax(student/T))``

    Args:
        student_logits: (N, C) float; gradients flow through it.
        teacher_logits: (N, C) float; logits or log-probabilities (see ``log_probs_from_probs``),
            never probabilities. Treated as a constant (detached).
        labels: (N,) integer class indices in 0..C-1.
        temperature: T > 0, applied to both student and teacher in the KL term only.
        alpha: weight of the soft term, 0 <= alpha <= 1.

    Computed in at least float32 (bf16/fp16 inputs are cast up). At ``alpha == 0`` the KL term is
    not computed, so the result is exactly ``F.cross_entropy`` and a teacher containing -inf cannot
    turn it into NaN; likewise the CE term is skipped at ``alpha == 1``. For 0 < alpha, teacher
    entries of -inf give NaN (0 * -inf inside the KL); convert probabilities with
    ``log_probs_from_probs``, which clips, to avoid them.
    """
    _check_temperature(temperature)
    _check_alpha(alpha)
    _check_kd_shapes(student_logits, teacher_logits, labels)
    student = _at_least_float32(student_logits)
    if alpha == 0:
        return F.cross_entropy(student, labels.long())
    soft = temperature**2 * _tempered_kl(student, _at_least_float32(teacher_logits.detach()), temperature)
    if alpha == 1:
        return soft
    return (1 - alpha) * F.cross_entropy(student, labels.long()) + alpha * soft


def _tempered_kl(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """KL(softmax(teacher/T) || softmax(student/T)), summed over classes, mean over rows."""
    log_student = F.log_softmax(student / temperature, dim=-1)
    log_teacher = F.log_softmax(teacher.to(student.dtype) / temperature, dim=-1)
    return F.kl_div(log_student, log_teacher, log_target=True, reduction="batchmean")


# --- GLD ------------------------------------------------------------------------------------------

# LOSSES, GLD_TERMS and GLDConfig live in brainteacher.configs (torch-free: the workflow reads them).


def check_gld_teacher(cfg: GLDConfig, teacher: str, has_feature_maps: bool) -> None:
    """Refuse GLD's local/relation terms for a teacher with global logits only (brain teachers,
    their controls, the oracle), with what to do instead."""
    if cfg.needs_feature_maps and not has_feature_maps:
        asked = [t for t in cfg.terms if t in FEATURE_MAP_TERMS]
        raise ValueError(
            f"GLD's {' and '.join(asked)} term(s) need a network teacher with feature maps; teacher {teacher!r} has "
            "global logits only. Use students.loss: gld with students.gld_terms: [global] "
            "(CLI: --gld-terms global) for it, or the network teacher"
        )


def std_normalise(logits: torch.Tensor) -> torch.Tensor:
    """(M, C) -> (M, C) each row divided by its (unbiased) standard deviation: GLD's stand-in for a
    temperature, which makes the KL blind to the logits' scale."""
    return logits / logits.std(dim=1, keepdim=True)


def _normalised_kl(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    log_s = F.log_softmax(std_normalise(student), dim=1)
    log_t = F.log_softmax(std_normalise(teacher.detach()), dim=1)
    return F.kl_div(log_s, log_t, log_target=True, reduction="batchmean")


def gld_global_term(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """(N, C) global logits -> KL(softmax(n(t)) || softmax(n(s))), summed over classes, mean over N (nats)."""
    return _normalised_kl(_at_least_float32(student), _at_least_float32(teacher))


def gld_local_term(student_local: torch.Tensor, teacher_local: torch.Tensor) -> torch.Tensor:
    """(N, R, C) local logits -> the normalised KL averaged over the N * R (image, region) rows (nats)."""
    if student_local.shape != teacher_local.shape or student_local.ndim != 3:
        raise ValueError(
            f"local logits must both be (N, R, C); got {tuple(student_local.shape)} and {tuple(teacher_local.shape)}"
        )
    return _normalised_kl(
        _at_least_float32(student_local).flatten(0, 1), _at_least_float32(teacher_local).flatten(0, 1)
    )


def _distance_relations(z: torch.Tensor) -> torch.Tensor:
    """(M, C) -> (M, M) squared Euclidean distances between rows, each row L2-normalised."""
    sq = z.pow(2).sum(dim=1)
    d = sq[:, None] + sq[None, :] - 2 * z @ z.T
    return F.normalize(d, dim=1)


def gld_relation_term(student_all: torch.Tensor, teacher_all: torch.Tensor) -> torch.Tensor:
    """(M, C) stacked global and local logits of a batch -> mean over the M^2 entries of the
    squared difference between the teacher's and the student's normalised distance matrices."""
    s, t = _at_least_float32(student_all), _at_least_float32(teacher_all.detach())
    return (_distance_relations(t) - _distance_relations(s)).pow(2).sum() / s.shape[0] ** 2


def region_logits(feature_map: torch.Tensor, classifier: torch.nn.Module, regions: int) -> torch.Tensor:
    """(N, F, *S) last feature map -> (N, R, C) local logits, R = regions^d: the map average-pooled
    into ``regions`` cells per spatial side (row-major), each cell's F-vector through ``classifier``.
    Raises ValueError when the map is smaller than ``regions`` on a side (cells would repeat)."""
    spatial = tuple(feature_map.shape[2:])
    if any(s < regions for s in spatial):
        raise ValueError(
            f"GLD with {regions} regions per side needs a last feature map of at least {regions} per side, "
            f"got {'x'.join(map(str, spatial))}; "
            "use a stem that downsamples less (students.stem: small-s2 or small) or larger images"
        )
    pool = {1: F.adaptive_avg_pool1d, 2: F.adaptive_avg_pool2d, 3: F.adaptive_avg_pool3d}[len(spatial)]
    cells = pool(feature_map, regions).flatten(2).transpose(1, 2)  # (N, R, F)
    return classifier(cells)


def gld_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    labels: torch.Tensor,
    cfg: GLDConfig,
    student_local: torch.Tensor | None = None,
    teacher_local: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """GLD loss (module docstring) and its parts as floats.

    Args:
        student_logits, teacher_logits: (N, C) global logits (the teacher's detached).
        labels: (N,) class indices.
        cfg: weights and which terms to use.
        student_local, teacher_local: (N, R, C) local logits; needed for the local and relation terms.
    """
    _check_kd_shapes(student_logits, teacher_logits, labels)
    if cfg.needs_feature_maps and (student_local is None or teacher_local is None):
        raise ValueError("GLD's local and relation terms need the student's and the teacher's local logits")
    student = _at_least_float32(student_logits)
    parts = {"ce": F.cross_entropy(student, labels.long())}
    total = (1 - cfg.alpha) * parts["ce"]
    if "global" in cfg.terms:
        parts["global"] = gld_global_term(student, teacher_logits)
        total = total + cfg.alpha * parts["global"]
    if "local" in cfg.terms:
        parts["local"] = gld_local_term(student_local, teacher_local)
        total = total + student_local.shape[1] * parts["local"]
    if "relation" in cfg.terms:
        s_all = torch.cat([student, student_local.flatten(0, 1)])
        t_all = torch.cat([teacher_logits.to(s_all.dtype), teacher_local.to(s_all.dtype).flatten(0, 1)])
        parts["relation"] = gld_relation_term(s_all, t_all)
        total = total + cfg.beta * parts["relation"]
    return total, {k: float(v.detach()) for k, v in parts.items()}


def parse_gld_terms(terms: Sequence[str]) -> tuple[str, ...]:
    """Terms in canonical order, duplicates dropped; ValueError for an unknown one."""
    unknown = [t for t in terms if t not in GLD_TERMS]
    if unknown:
        raise ValueError(f"unknown GLD term(s) {', '.join(unknown)}; valid: {', '.join(GLD_TERMS)}")
    return tuple(t for t in GLD_TERMS if t in terms)
