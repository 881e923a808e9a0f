"""The loop's AdamW against torch.optim.AdamW (fused): the same numbers to the bit on the CPU."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from brainteacher.nn.optim import AdamW


def _model(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3), nn.Linear(3, 3))


def _train(model: nn.Module, opt, set_lr, steps: int = 25) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    for step in range(steps):
        x, y = torch.randn(16, 6, generator=gen), torch.randint(0, 3, (16,), generator=gen)
        set_lr(1e-2 * (1 + step) / steps)  # a changing learning rate, as the loop's schedule sets it
        hidden = model[:4](x)
        # The last layer gets no gradient on even steps: AdamW must skip it, step count and all.
        logits = model[4](hidden) if step % 2 else hidden
        opt.zero_grad()
        nn.functional.cross_entropy(logits, y).backward()
        opt.step()
    return [p.detach().clone() for p in model.parameters()]


@pytest.mark.parametrize("weight_decay", [0.0, 0.05])
def test_adamw_matches_torch_to_the_bit(weight_decay):
    ours_model, torch_model = _model(1), _model(1)
    ours = AdamW(ours_model.parameters(), lr=1e-2, weight_decay=weight_decay)
    reference = torch.optim.AdamW(torch_model.parameters(), lr=1e-2, weight_decay=weight_decay, fused=True)

    def set_ours(lr: float) -> None:
        ours.lr = lr

    def set_reference(lr: float) -> None:
        for group in reference.param_groups:
            group["lr"] = lr

    got, want = _train(ours_model, ours, set_ours), _train(torch_model, reference, set_reference)
    for a, b in zip(got, want, strict=True):
        assert torch.equal(a, b)
    assert got[0].ne(_model(1)[0].weight).any()  # it trained


def test_adamw_leaves_frozen_parameters_alone():
    model = _model(2)
    model[0].weight.requires_grad_(False)
    before = model[0].weight.clone()
    _train(model, AdamW(model.parameters(), lr=1e-2, weight_decay=0.1), lambda lr: None, steps=3)
    assert torch.equal(model[0].weight, before)
