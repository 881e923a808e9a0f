"""AdamW for the one training loop, computed as ``torch.optim.AdamW`` computes it on the CPU.

Why not ``torch.optim``: constructing any of its optimizers imports ``torch._dynamo`` (its methods
are wrapped to stay out of ``torch.compile``), about 2 s of every job's start. The default run has
28 decoder and student jobs, so that import alone is ~10% of its 5-minute budget on 2 cores. This
class does the same operations in the same order as torch's single-tensor AdamW (the CPU default),
so its numbers are identical to the bit; ``tests/test_optim.py`` checks that against torch's.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

__all__ = ["AdamW"]


class AdamW:
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019).

    Per step, for each parameter p with a gradient g (parameters without one are skipped, their
    step count unchanged): ``p *= 1 - lr * weight_decay``; ``m = lerp(m, g, 1 - beta1)``;
    ``v = beta2 * v + (1 - beta2) * g^2``; ``p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)``.
    Set the learning rate with ``lr`` before a step (the loop's schedule does).
    """

    def __init__(
        self,
        params: Iterable[torch.nn.Parameter],
        lr: float,
        weight_decay: float,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        self.params = [p for p in params if p.requires_grad]
        self.lr, self.weight_decay, self.betas, self.eps = lr, weight_decay, betas, eps
        # Per parameter: [steps taken, first moment m, second moment v], created at its first step.
        self.state: dict[torch.nn.Parameter, list] = {}

    def zero_grad(self) -> None:
        """Drop every gradient (``set_to_none``: the next backward writes fresh ones)."""
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        beta1, beta2 = self.betas
        for p in self.params:
            if p.grad is None:
                continue
            if p not in self.state:
                zeros = [torch.zeros_like(p, memory_format=torch.preserve_format) for _ in range(2)]
                self.state[p] = [0, *zeros]
            state = self.state[p]
            state[0] += 1
            t, m, v, g = float(state[0]), state[1], state[2], p.grad
            p.mul_(1 - self.lr * self.weight_decay)
            m.lerp_(g, 1 - beta1)
            v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
            step_size = self.lr / (1 - beta1**t)
            denom = (v.sqrt() / (1 - beta2**t) ** 0.5).add_(self.eps)
            p.addcdiv_(m, denom, value=-step_size)
