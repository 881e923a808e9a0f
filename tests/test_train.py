"""The training loop's schedule and batching, tested directly."""

from __future__ import annotations

import math

import pytest
import torch

from brainteacher.nn.train import TrainConfig, _batches, _lr_at


def test_the_schedule_warms_up_linearly_then_decays_by_cosine_to_its_floor():
    cfg = TrainConfig(lr=1e-2, min_lr_ratio=0.01)
    total, warmup = 100, 10
    lrs = [_lr_at(step, total, warmup, cfg) for step in range(total)]
    assert lrs[:warmup] == pytest.approx([1e-2 * (s + 1) / warmup for s in range(warmup)])
    assert lrs[warmup] == pytest.approx(1e-2)  # the peak, where the cosine starts
    assert all(a >= b for a, b in zip(lrs[warmup:], lrs[warmup + 1 :]))  # never rises after it
    midway = warmup + (total - warmup) // 2
    assert lrs[midway] == pytest.approx(1e-2 * (0.01 + 0.99 * 0.5), rel=1e-6)
    assert _lr_at(total, total, warmup, cfg) == pytest.approx(1e-4)  # the floor, lr * min_lr_ratio
    assert _lr_at(0, 1, 0, cfg) == pytest.approx(1e-2)  # no warm-up, a schedule of one step


@pytest.mark.parametrize(("n", "batch_size"), [(10, 3), (10, 5), (7, 32), (33, 32), (1, 4)])
def test_batches_cover_every_row_once_with_no_batch_of_one(n, batch_size):
    batches = _batches(n, batch_size, torch.Generator().manual_seed(0))
    rows = torch.cat(batches)
    assert sorted(rows.tolist()) == list(range(n))
    assert len(batches) == max(1, math.ceil(n / batch_size) - (n % batch_size == 1 and n > batch_size))
    assert n == 1 or all(len(b) > 1 for b in batches)  # BatchNorm cannot normalise a batch of one
    assert max(len(b) for b in batches) <= batch_size + 1


def test_batches_follow_their_generator():
    a = _batches(50, 8, torch.Generator().manual_seed(3))
    b = _batches(50, 8, torch.Generator().manual_seed(3))
    c = _batches(50, 8, torch.Generator().manual_seed(4))
    assert all(torch.equal(x, y) for x, y in zip(a, b)) and not torch.equal(a[0], c[0])
