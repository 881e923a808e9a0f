"""Student architectures and what they cost on a device: the ResNet student, a tiny edge CNN,
and CPU inference latency.

Every student exposes the same three pieces, so one training loop, one KD loss family (GLD needs
the last feature map and the classifier) and one SimCLR backbone serve all of them:

- ``feature_map(x)``: (N, C_in, *S) -> (N, F, *S') the last convolutional map, before pooling;
- ``features(x)``: (N, F) the globally average-pooled map;
- ``fc``: the ``nn.Linear(F, num_classes)`` classifier; ``forward(x) = fc(features(x))``.

``tiny`` is the on-device student users ask for: two conv blocks (3x3 conv, BatchNorm, ReLU,
2x2 max-pool) and a linear classifier, 12,140 parameters at 20 categories (the quick preset).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from contextlib import contextmanager

import torch
from torch import nn

from brainteacher import registry
from brainteacher.nn.resnet import _CONV, _NORM, ResNet, resnet

__all__ = ["ARCHS", "TINY_CHANNELS", "TinyNet", "build_student", "measure_latency", "LATENCY_BATCHES"]

ARCHS = registry.ARCHS  # named in the torch-free registry
TINY_CHANNELS = (24, 48)  # ~12k parameters at 20 categories, the size of the edge student users cite
LATENCY_BATCHES = (1, 64)

_MAXPOOL_FIXED: dict[int, type[nn.Module]] = {1: nn.MaxPool1d, 2: nn.MaxPool2d, 3: nn.MaxPool3d}
_GLOBAL_POOL: dict[int, type[nn.Module]] = {1: nn.AdaptiveAvgPool1d, 2: nn.AdaptiveAvgPool2d, 3: nn.AdaptiveAvgPool3d}


class TinyNet(nn.Module):
    """Two conv blocks plus a linear classifier.

    Block: 3-wide convolution (no bias: BatchNorm shifts), BatchNorm, ReLU, 2-wide max-pool, so a
    (N, in_channels, *S) input gives a (N, channels[-1], *S / 4) map; ``fc`` maps its global mean
    to (N, num_classes) logits. Parameters: sum over blocks of (c_in * c_out * 3^d + 2 c_out)
    plus (channels[-1] + 1) * num_classes.
    """

    def __init__(
        self,
        spatial_dims: int = 2,
        in_channels: int = 3,
        num_classes: int = 20,
        channels: Sequence[int] = TINY_CHANNELS,
    ) -> None:
        super().__init__()
        if spatial_dims not in _CONV:
            raise ValueError(f"spatial_dims must be one of {sorted(_CONV)}, got {spatial_dims!r}")
        blocks, c_in = [], in_channels
        for c_out in channels:
            blocks += [
                _CONV[spatial_dims](c_in, c_out, kernel_size=3, padding=1, bias=False),
                _NORM[spatial_dims](c_out),
                nn.ReLU(inplace=True),
                _MAXPOOL_FIXED[spatial_dims](2),
            ]
            c_in = c_out
        self.body = nn.Sequential(*blocks)
        self.pool = _GLOBAL_POOL[spatial_dims](1)
        self.fc = nn.Linear(c_in, num_classes)
        for m in self.modules():
            if isinstance(m, tuple(_CONV.values())):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """(N, in_channels, *S) -> (N, channels[-1], *S / 4)."""
        return self.body(x)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, in_channels, *S) -> (N, channels[-1]) globally pooled features."""
        return torch.flatten(self.pool(self.feature_map(x)), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, in_channels, *S) -> (N, num_classes) logits."""
        return self.fc(self.features(x))


def build_student(
    arch: str,
    num_classes: int,
    *,
    depth: int = 18,
    width: int = 16,
    stem: str = "imagenet",
    spatial_dims: int = 2,
    in_channels: int = 3,
    members: int = 1,
) -> nn.Module:
    """A student of ``arch`` (``resnet18``: the ResNet of ``depth``/``width``/``stem``; ``tiny``:
    :class:`TinyNet`, which ignores them); ``members`` > 1 builds a cohort of that many ResNets
    (``resnet.ResNet``; the tiny CNN has no cohort form)."""
    if arch == "resnet18":
        return resnet(
            depth,
            spatial_dims,
            in_channels=in_channels,
            num_classes=num_classes,
            width=width,
            stem=stem,
            members=members,
        )
    if arch == "tiny":
        if members != 1:
            raise ValueError("the tiny student trains one network at a time (members must be 1)")
        return TinyNet(spatial_dims, in_channels, num_classes)
    raise ValueError(f"unknown student arch {arch!r}; valid: {', '.join(ARCHS)}")


def is_resnet(model: nn.Module) -> bool:
    return isinstance(model, ResNet)


@contextmanager
def _threads(n: int):
    # Latency depends on the thread count, so it is pinned and stated; the caller's is restored.
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@torch.no_grad()
def measure_latency(
    model: nn.Module,
    sample_shape: Sequence[int],
    batches: Sequence[int] = LATENCY_BATCHES,
    *,
    repeats: int = 9,
    warmup: int = 2,
    threads: int = 1,
) -> dict[str, float | int]:
    """CPU inference latency of ``model`` in eval mode: median wall time (milliseconds) of
    ``repeats`` forward passes per batch size after ``warmup`` untimed ones, on ``threads`` torch
    threads. ``sample_shape`` is one input without the batch axis, e.g. (3, 32, 32).

    Returns ``{"latency_ms_batch<B>": ms for each B in batches, "latency_threads": threads,
    "latency_repeats": repeats}``. The model is copied to the CPU; the original is untouched.
    Timings taken on a loaded machine are upper bounds."""
    import copy

    cpu = copy.deepcopy(model).cpu().eval()
    out: dict[str, float | int] = {}
    gen = torch.Generator().manual_seed(0)
    with _threads(threads):
        for b in batches:
            x = torch.randn((b, *sample_shape), generator=gen)
            for _ in range(warmup):
                cpu(x)
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                cpu(x)
                times.append(time.perf_counter() - t0)
            out[f"latency_ms_batch{b}"] = round(1000 * statistics.median(times), 4)
    return out | {"latency_threads": threads, "latency_repeats": repeats}
