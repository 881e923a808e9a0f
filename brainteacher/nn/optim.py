"""AdamW for the one training loop: torch's fused AdamW kernel, called directly.

Why not ``torch.optim``: constructing any of its optimizers imports ``torch._dynamo`` (its methods
are wrapped to stay out of ``torch.compile``), a cost paid at every job's start. Why the fused
kernel: it updates every parameter tensor in one call, where the single-tensor algorithm makes
about nine calls per tensor; a ResNet-18 has 62 tensors and a cohort of K students 62 K, so the
per-call overhead, not arithmetic, was the optimizer's cost. Each tensor's update depends on that
tensor alone, so a student's numbers are the same whether it steps alone or in a cohort.
``tests/test_optim.py`` checks the numbers against ``torch.optim.AdamW(fused=True)`` to the bit.
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
        # Per parameter: [steps taken (a float32 tensor, as the kernel wants it), m, v], created at its first step.
        self.state: dict[torch.nn.Parameter, list[torch.Tensor]] = {}

    def zero_grad(self) -> None:
        """Drop every gradient (``set_to_none``: the next backward writes fresh ones)."""
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        live = [p for p in self.params if p.grad is not None]
        if not live:
            return
        for p in live:
            if p not in self.state:
                zeros = [torch.zeros_like(p, memory_format=torch.preserve_format) for _ in range(2)]
                self.state[p] = [torch.zeros((), dtype=torch.float32, device=p.device), *zeros]
        steps, m, v = ([self.state[p][i] for p in live] for i in range(3))
        torch._foreach_add_(steps, 1)
        beta1, beta2 = self.betas
        torch._fused_adamw_(
            live,
            [p.grad for p in live],
            m,
            v,
            [],
            steps,
            lr=self.lr,
            beta1=beta1,
            beta2=beta2,
            weight_decay=self.weight_decay,
            eps=self.eps,
            amsgrad=False,
            maximize=False,
        )
