"""The one training loop, shared by the brain decoders and the image students.

nanoGPT's order, with named helpers: set the learning rate, forward, backward, step, log.
The caller supplies ``loss_fn(logits, batch_index)`` so one loop serves cross-entropy on labels
and distillation on teacher targets alike.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from contextlib import nullcontext

import numpy as np
import torch
from torch import nn

from brainteacher.configs import TrainConfig  # defined torch-free, so the workflow can read its defaults
from brainteacher.optim import AdamW

__all__ = ["TrainConfig", "pick_device", "seed_everything", "fit", "predict_logits"]

log = logging.getLogger("brainteacher.train")


def pick_device(requested: str = "auto") -> torch.device:
    """``auto`` -> CUDA when available, else CPU; or exactly what was asked (``cpu``, ``cuda:0``)."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(requested)


def seed_everything(seed: int) -> torch.Generator:
    """Seed torch's global RNG (weight init) and return a CPU generator for shuffling/augmenting.

    On CPU the same seed then gives the same numbers run after run. Thread count is pinned by the
    caller's environment (``OMP_NUM_THREADS``); it does not change results for these ops.
    """
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def _lr_at(step: int, total: int, warmup: int, cfg: TrainConfig) -> float:
    if step < warmup:
        return cfg.lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def _autocast(device: torch.device):
    """bf16 autocast on CUDA (halves memory traffic, same exponent range as fp32); none on CPU."""
    return torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else nullcontext()


def _batches(n: int, batch_size: int, generator: torch.Generator) -> list[torch.Tensor]:
    perm = torch.randperm(n, generator=generator)
    batches = list(perm.split(batch_size))
    # BatchNorm cannot normalise a batch of one; fold a lone last sample into the previous batch.
    if len(batches) > 1 and len(batches[-1]) == 1:
        batches[-2] = torch.cat([batches[-2], batches.pop()])
    return batches


def fit(
    model: nn.Module,
    inputs: torch.Tensor,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    cfg: TrainConfig,
    generator: torch.Generator,
    *,
    augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None,
    desc: str = "",
) -> list[float]:
    """Train ``model`` in place on ``inputs`` (N, ...) already on the model's device.

    ``loss_fn(logits (B, C) float32, index (B,) int64 on the device)`` returns the scalar loss of a
    batch; ``augment(x, generator)`` transforms a batch on the device. Returns the mean training
    loss of every epoch. Reports the last epoch's model (no selection on held-out data).
    """
    device = inputs.device
    opt = AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    n_batches = len(_batches(len(inputs), cfg.batch_size, torch.Generator().manual_seed(0)))
    total = cfg.steps if cfg.steps is not None else cfg.epochs * n_batches
    warmup = min(cfg.warmup_epochs * n_batches, total // 5)
    n_epochs = math.ceil(total / n_batches)
    step, history, t0 = 0, [], time.perf_counter()
    model.train()
    for epoch in range(n_epochs):
        losses = []
        for idx in _batches(len(inputs), cfg.batch_size, generator)[: total - step]:
            opt.lr = _lr_at(step, total, warmup, cfg)
            idx = idx.to(device)
            x = inputs[idx]
            if augment is not None:
                x = augment(x, generator)
            with _autocast(device):
                logits = model(x)
            loss = loss_fn(logits.float(), idx)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
            step += 1
        history.append(float(np.mean(losses)))
        level = logging.INFO if (epoch + 1) % cfg.log_every == 0 or epoch + 1 == n_epochs else logging.DEBUG
        log.log(
            level,
            "%sepoch %d/%d (step %d/%d) loss %.4f (%.1f s)",
            desc,
            epoch + 1,
            n_epochs,
            step,
            total,
            history[-1],
            time.perf_counter() - t0,
        )
    return history


@torch.no_grad()
def predict_logits(model: nn.Module, inputs: torch.Tensor, batch_size: int = 256) -> np.ndarray:
    """(N, ...) -> (N, C) float32 logits in eval mode; the model's train/eval state is restored."""
    was_training = model.training
    model.eval()
    with _autocast(inputs.device):
        out = torch.cat([model(x).float() for x in inputs.split(batch_size)])
    model.train(was_training)
    return out.cpu().numpy().astype(np.float32)
