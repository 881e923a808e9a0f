"""A test of the tests: the false-positive rate and power of the summary's comparison.

Two students that differ only by their seed have no true difference, so the comparison the
summary uses (``stats.category_paired_test``: per-image paired outcomes, categories as units,
sign-flip p) should call them different in at most 5% of trials. This module measures that on
real, cheap students: a small MLP on 8x8-pooled pixels of a simulated dataset, trained on a
split's training images with its own seed (initialisation, batch order, input noise), scored on
the evaluation set. Seed-to-seed differences are real here, as they are for the ResNet students,
so a test that ignored them would fail this check. Power is measured by planting an effect of
known size: student B is made right on a random share of the images it got wrong, chosen so its
expected top-1 rises by each of ``effects``.

Used by ``bench/null_calibration.py`` (at least 200 comparisons) and a reduced test.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy import stats as sps
from torch import nn

from brainteacher.distill import load_split_images
from brainteacher.images import load_evaluation_images
from brainteacher.stats import category_paired_test

__all__ = ["NullResult", "pooled_pixels", "train_mlp", "run_null_simulation"]


@dataclass(frozen=True)
class NullResult:
    """``false_positive_rate`` with its 95% Clopper-Pearson interval over ``n_comparisons`` null
    comparisons at ``alpha``; ``power[effect]`` for each planted top-1 effect (a fraction)."""

    n_comparisons: int
    alpha: float
    false_positives: int
    false_positive_rate: float
    fpr_ci: tuple[float, float]
    power: dict[float, float]
    mean_seed_difference: float  # mean |top-1 difference| between two seeds, for scale


def pooled_pixels(images: np.ndarray, cells: int = 8) -> np.ndarray:
    """(n, 3, S, S) uint8 -> (n, 3 * cells * cells) float32 in [0, 1], average-pooled."""
    x = torch.from_numpy(images).float() / 255.0
    return F.adaptive_avg_pool2d(x, cells).flatten(1).numpy()


def train_mlp(x: np.ndarray, y: np.ndarray, n_classes: int, seed: int, steps: int = 60, hidden: int = 32) -> nn.Module:
    """A one-hidden-layer MLP trained with Adam on (x, y); the seed sets its initialisation,
    batch order and input noise, the only things two null students differ in."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(x.shape[1], hidden), nn.ReLU(), nn.Linear(hidden, n_classes))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2, weight_decay=1e-4)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    mean, sd = xt.mean(0), xt.std(0) + 1e-6
    xt = (xt - mean) / sd
    for _ in range(steps):
        idx = torch.randint(len(xt), (32,), generator=gen)
        noisy = xt[idx] + 1.0 * torch.randn(len(idx), xt.shape[1], generator=gen)
        loss = F.cross_entropy(model(noisy), yt[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    model.register_buffer("mean", mean)
    model.register_buffer("sd", sd)
    return model


@torch.no_grad()
def _correct(model: nn.Module, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    logits = model((torch.from_numpy(x) - model.mean) / model.sd)
    return (logits.argmax(1).numpy() == y).astype(np.float64)


def _plant(correct: np.ndarray, effect: float, rng: np.random.Generator) -> np.ndarray:
    """``correct`` with a random share of its wrong images made right: top-1 rises by ``effect``
    in expectation (capped at all right)."""
    wrong = correct == 0
    share = min(1.0, effect / max(wrong.mean(), 1e-12))
    return np.where(wrong & (rng.random(len(correct)) < share), 1.0, correct)


def run_null_simulation(
    root: str | Path,
    split: str | Path,
    n_comparisons: int = 200,
    effects: tuple[float, ...] = (0.03, 0.05, 0.10),
    alpha: float = 0.05,
    seed: int = 0,
) -> NullResult:
    """``n_comparisons`` pairs of seed-only students on ``split`` of the simulated dataset ``root``,
    each compared on its evaluation set with ``stats.category_paired_test``; the same pairs with
    each of ``effects`` planted in the second give the power."""
    train, _, table = load_split_images(root, split, 32)
    evaluation = load_evaluation_images(root, 32, table.category_synsets)
    if evaluation is None:
        raise ValueError(f"{root}: the null simulation needs a simulated dataset's evaluation set")
    x_train, x_eval = pooled_pixels(train.images), pooled_pixels(evaluation.images)
    n_classes = len(table.categories)
    rng = np.random.default_rng(seed)
    false_pos, hits, gaps = 0, dict.fromkeys(effects, 0), []
    for i in range(n_comparisons):
        a = _correct(train_mlp(x_train, train.labels, n_classes, seed=2 * i + 1), x_eval, evaluation.labels)
        b = _correct(train_mlp(x_train, train.labels, n_classes, seed=2 * i + 2), x_eval, evaluation.labels)
        gaps.append(abs(a.mean() - b.mean()))
        null = category_paired_test(b - a, evaluation.labels)
        false_pos += int(null["p_value"] < alpha)
        for effect in effects:
            planted = category_paired_test(_plant(b, effect, rng) - a, evaluation.labels)
            hits[effect] += int(planted["p_value"] < alpha and planted["mean_diff"] > 0)
    ci = sps.binomtest(false_pos, n_comparisons).proportion_ci(0.95, method="exact")
    power = {effect: count / n_comparisons for effect, count in hits.items()}
    return NullResult(
        n_comparisons,
        alpha,
        false_pos,
        false_pos / n_comparisons,
        (float(ci.low), float(ci.high)),
        power,
        float(np.mean(gaps)),
    )
