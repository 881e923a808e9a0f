"""The one training loop, shared by the brain decoders and the image students.

nanoGPT's order, with named helpers: set the learning rate, forward, backward, step, log.
The caller supplies ``loss_fn(logits, batch_index)`` so one loop serves cross-entropy on labels
and distillation on teacher targets alike.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext

import numpy as np
import torch
from torch import nn

from brainteacher.configs import TrainConfig  # defined torch-free, so the workflow can read its defaults
from brainteacher.nn.optim import AdamW

__all__ = [
    "TrainConfig",
    "pick_device",
    "seed_everything",
    "fork_global_stream",
    "member_layout",
    "fit",
    "fit_cohort",
    "predict_logits",
]

log = logging.getLogger(__name__)


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


def fork_global_stream() -> torch.Generator:
    """A CPU generator that continues torch's global CPU random stream from where it stands now:
    the draws a model made just now would take from that stream if it trained alone on the CPU,
    kept for it while other models draw in between (a cohort of a decoder's folds). Drawn on the
    CPU and moved to the model's device, as the input noise is: CPU runs repeat exactly."""
    generator = torch.Generator()
    generator.set_state(torch.get_rng_state())
    return generator


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
        lone = batches.pop()  # popped first: `batches[-2] = cat(.., pop())` assigns to the wrong batch
        batches[-1] = torch.cat([batches[-1], lone])
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
    """Train one ``model`` in place on ``inputs`` (N, ...) already on the model's device.

    ``loss_fn(logits (B, C) float32, index (B,) int64 on the device)`` returns the scalar loss of a
    batch; ``augment(x, generator)`` transforms a batch on the device. Returns the mean training
    loss of every epoch. Reports the last epoch's model (no selection on held-out data).
    """
    return fit_cohort(model, inputs, [loss_fn], cfg, [generator], augment=augment, desc=desc)[0]


class MemberList(nn.ModuleList):
    """K networks trained as one cohort by :func:`fit_cohort`, each running its own kernels: a
    member computes exactly what it computes alone, so on the CPU its numbers equal its solo
    run's to the bit. ``members`` is K; called on one input it returns (N, K, C)."""

    @property
    def members(self) -> int:
        return len(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([member(x) for member in self], dim=1)


def member_layout(requested: str, device: torch.device, groupable: bool) -> str:
    """``separate`` or ``grouped``: how a cohort asked to train as ``requested`` (a
    ``configs.COHORT_LAYOUTS`` name) trains on ``device``. ``auto`` groups on CUDA, where one kernel
    launch per layer instead of K is the gain, and keeps members separate on the CPU, where each
    then equals its solo run to the bit. Only a ``groupable`` network (a ResNet) is ever grouped."""
    if requested == "auto":
        requested = "grouped" if device.type == "cuda" else "separate"
    return "grouped" if requested == "grouped" and groupable else "separate"


def _stack_members(views: list[torch.Tensor]) -> torch.Tensor:
    """The members' batches (B, c, *S) side by side as channel groups: (B, K * c, *S), in the
    memory format cohorts train in (channels_last for images, where grouped kernels are fastest)."""
    x = torch.cat(views, dim=1)
    return x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x


def fit_cohort(
    model: nn.Module,
    inputs: torch.Tensor | Sequence[torch.Tensor],
    loss_fns: Sequence[Callable[[torch.Tensor, torch.Tensor], torch.Tensor]],
    cfg: TrainConfig,
    generators: Sequence[torch.Generator],
    *,
    augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None,
    desc: str = "",
) -> list[list[float]]:
    """Train the K members of ``model`` together, one optimizer step for all, each as its solo
    :func:`fit` would train it.

    ``model`` is one network (K = 1) or a cohort (``resnet.ResNet(members=K)``: input
    (B, K * c, *S), output (B, K, C)). ``inputs`` (N, c, *S) are every member's training set, or
    a sequence of K such tensors, one per member (a decoder's inner folds: each its own rows, all
    of one size, so the members step through their epochs together). Member k draws its batches
    and augmentation from ``generators[k]``; members given the *same* generator object (the same
    seed, and then the same inputs) see the same batches and views, computed once: common random
    numbers for their paired comparison. Its loss
    is ``loss_fns[k](logits (B, C), index (B,))``; the step minimises the members' sum, so each
    member's gradient is its own (members share no parameter). AdamW is elementwise, so each
    member's update is the one it would get alone. Returns each member's mean loss per epoch.

    The loop never waits for the device inside an epoch: losses are kept as tensors and read once
    per epoch.
    """
    k_members = len(loss_fns)
    if len(generators) != k_members:
        raise ValueError(f"{k_members} loss functions but {len(generators)} generators")
    streams = list({id(g): g for g in generators}.values())  # one batch/augmentation stream per seed
    stream_of = [next(i for i, g in enumerate(streams) if g is gen) for gen in generators]
    data = _stream_inputs(inputs, stream_of, len(streams))
    device = data[0].device
    opt = AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    n_batches = len(_batches(len(data[0]), cfg.batch_size, torch.Generator().manual_seed(0)))
    total = cfg.steps if cfg.steps is not None else cfg.epochs * n_batches
    warmup = min(cfg.warmup_epochs * n_batches, total // 5)
    n_epochs = math.ceil(total / n_batches)
    step, history, t0 = 0, [[] for _ in loss_fns], time.perf_counter()
    model.train()
    for epoch in range(n_epochs):
        epoch_batches = [_batches(len(x), cfg.batch_size, g)[: total - step] for x, g in zip(data, streams)]
        losses = []
        for batch in zip(*epoch_batches):
            opt.lr = _lr_at(step, total, warmup, cfg)
            idx = [i.to(device) for i in batch]
            views = [x[i] for x, i in zip(data, idx)]
            if augment is not None:
                views = [augment(v, g) for v, g in zip(views, streams)]
            with _autocast(device):
                if isinstance(model, MemberList):
                    logits = [member(views[s]) for member, s in zip(model, stream_of)]
                elif k_members == 1:
                    logits = [model(views[0])]
                else:
                    logits = model(_stack_members([views[s] for s in stream_of])).unbind(1)
            member_losses = [fn(lg.float(), idx[stream_of[k]]) for k, (fn, lg) in enumerate(zip(loss_fns, logits))]
            # The sum's gradient reaches each member's loss as exactly 1: its own gradient, bit for bit.
            loss = member_losses[0] if k_members == 1 else torch.stack(member_losses).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(torch.stack([m.detach() for m in member_losses]))
            step += 1
        per_step = torch.stack(losses).tolist()  # (steps, K): the epoch's one read from the device
        for k in range(k_members):
            history[k].append(float(np.mean([row[k] for row in per_step])))
        level = logging.INFO if (epoch + 1) % cfg.log_every == 0 or epoch + 1 == n_epochs else logging.DEBUG
        log.log(
            level,
            "%sepoch %d/%d (step %d/%d) loss %s (%.1f s)",
            desc,
            epoch + 1,
            n_epochs,
            step,
            total,
            _loss_text([h[-1] for h in history]),
            time.perf_counter() - t0,
        )
    return history


def _stream_inputs(
    inputs: torch.Tensor | Sequence[torch.Tensor], stream_of: list[int], n_streams: int
) -> list[torch.Tensor]:
    """Each random stream's training set: the one ``inputs``, or its members' own (members that
    share a stream must share their inputs, and every set must have one size)."""
    if isinstance(inputs, torch.Tensor):
        return [inputs] * n_streams
    if len(inputs) != len(stream_of):
        raise ValueError(f"{len(stream_of)} members but {len(inputs)} input sets")
    data: list[torch.Tensor | None] = [None] * n_streams
    for x, s in zip(inputs, stream_of):
        if data[s] is not None and data[s] is not x:
            raise ValueError("members that share a generator must share their inputs")
        data[s] = x
    if len({len(x) for x in data}) > 1:
        raise ValueError(f"a cohort's input sets must have one size, got {sorted({len(x) for x in data})}")
    return data


def _loss_text(losses: list[float]) -> str:
    """One member's loss, or a cohort's mean and range."""
    if len(losses) == 1:
        return f"{losses[0]:.4f}"
    return f"mean {np.mean(losses):.4f} (members {min(losses):.4f} to {max(losses):.4f})"


@torch.no_grad()
def predict_logits(
    model: nn.Module, inputs: torch.Tensor | Sequence[torch.Tensor], batch_size: int = 256
) -> np.ndarray:
    """(N, ...) -> (N, C) float32 logits in eval mode; the model's train/eval state is restored.

    A cohort (a :class:`MemberList`, or a grouped network with ``members`` K > 1) gives (K, N, C):
    member k's logits on every input, or on ``inputs[k]`` when ``inputs`` is a sequence of K
    tensors of one size (a decoder's folds: each predicts its own held-out rows)."""
    k = getattr(model, "members", 1)
    per_member = list(inputs) if not isinstance(inputs, torch.Tensor) else [inputs] * k
    if isinstance(model, MemberList):
        return np.stack([predict_logits(member, x, batch_size) for member, x in zip(model, per_member)])
    was_training = model.training
    model.eval()
    with _autocast(per_member[0].device):
        if k == 1:
            out = torch.cat([model(x).float() for x in per_member[0].split(batch_size)])
        else:  # member k's rows in its own channel group: (K, N, C)
            chunks = zip(*(x.split(batch_size) for x in per_member))
            out = torch.cat([model(_stack_members(list(xs))).float() for xs in chunks]).transpose(0, 1)
    model.train(was_training)
    return out.cpu().numpy().astype(np.float32)
