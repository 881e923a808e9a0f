"""One ResNet, generic over spatial dimension: a 1D net over voxel vectors, a 2D net over images,
a 3D net over volumes.

Layer types come from lookup tables keyed by ``spatial_dims`` (as in MONAI), not from copied
classes. Attribute names, and hence state_dict keys and shapes, follow torchvision's
``resnet18``/``resnet34`` (conv1, bn1, layer1.0.conv1, ..., layer2.0.downsample.0, ..., fc), so a
torchvision checkpoint loads into the 2D model from a local file. Nothing is ever downloaded.

Shapes: 1D input (N, in_channels, L), 2D input (N, in_channels, H, W), 3D input
(N, in_channels, D, H, W); output (N, num_classes).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from brainteacher.registry import STEMS

__all__ = [
    "BasicBlock",
    "ResNet",
    "MemberLinear",
    "linear_layer",
    "stack_members",
    "member_state",
    "resnet",
    "resnet18",
    "resnet34",
    "count_parameters",
    "load_torchvision_weights",
]


@functools.cache
def _single_position_window(
    spatial: tuple[int, ...],
    kernel: tuple[int, ...],
    padding: tuple[int, ...] | str,
    stride: tuple[int, ...],
    dilation: tuple[int, ...],
) -> tuple[int, ...] | None:
    """How many input positions per axis the one output position of a convolution sees, or None
    when the output has more than one position (or none), or the convolution is dilated or padded
    by name. Input positions ``0 .. h-1`` along an axis meet kernel taps ``padding ..
    padding+h-1``; the other taps fall on zero padding. Cached: one answer per layer and shape."""
    if isinstance(padding, str) or any(d != 1 for d in dilation):
        return None
    window = []
    for n, k, p, s in zip(spatial, kernel, padding, stride):
        if p >= k or n + 2 * p < k or (n + 2 * p - k) // s != 0:
            return None
        window.append(min(n, k - p))
    return tuple(window)


def _single_position_product(conv: nn.modules.conv._ConvNd, x: torch.Tensor) -> torch.Tensor | None:
    """``conv(x)`` as one matrix product when the output has a single position, else None.

    Such an output is a linear map of the input window it sees (:func:`_single_position_window`).
    Why: oneDNN runs these tiny problems, a ResNet's last stage at 32 px (1x1 maps), 2-3x slower
    than the product; a default student trains 4-8% faster. Only on the CPU and ungrouped (cuDNN
    and the grouped cohort kernels are left as they are). Equal to the convolution up to float
    rounding (tests/test_resnet.py).
    """
    if x.device.type != "cpu" or conv.groups != 1 or conv.padding_mode != "zeros":
        return None
    window = _single_position_window(tuple(x.shape[2:]), conv.kernel_size, conv.padding, conv.stride, conv.dilation)
    if window is None:
        return None
    inputs = x[(slice(None), slice(None), *(slice(0, h) for h in window))]
    taps = conv.weight[(slice(None), slice(None), *(slice(p, p + h) for p, h in zip(conv.padding, window)))]
    out = nn.functional.linear(inputs.flatten(1), taps.flatten(1), conv.bias)
    return out.view(len(x), conv.out_channels, *(1 for _ in window))


class _SinglePositionConv:
    """Mixin: a convolution that computes a single-position output as a matrix product."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = _single_position_product(self, x)
        return super().forward(x) if out is None else out


class Conv1d(_SinglePositionConv, nn.Conv1d):
    pass


class Conv2d(_SinglePositionConv, nn.Conv2d):
    pass


class Conv3d(_SinglePositionConv, nn.Conv3d):
    pass


class _MaxPoolChannelsLastFunction(torch.autograd.Function):
    """Max-pooling of an (N, C, H, W) map whose forward runs in channels-last memory.

    The output and its indices (each window's first maximum in raster order) come back in the
    layout torch's own kernel gives them, and the backward is torch's, so values, layout and
    gradients equal torch's to the bit (tests/test_resnet.py).
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, *pool: Any) -> torch.Tensor:
        out, indices = torch.ops.aten.max_pool2d_with_indices(x.contiguous(memory_format=torch.channels_last), *pool)
        # Torch's own output layout follows the input's (channels-last images at evaluation): the
        # next convolution sums in an order that depends on it.
        strides = _max_pool_strides(tuple(x.shape), x.stride(), pool)
        if out.stride() != strides:
            out, indices = _with_strides(out, strides), _with_strides(indices, strides)
        ctx.save_for_backward(x, indices)
        ctx.pool = pool
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, indices = ctx.saved_tensors
        grad_x = torch.ops.aten.max_pool2d_with_indices_backward(grad, x, *ctx.pool, indices)
        return (grad_x, *(None for _ in ctx.pool))


@functools.cache
def _max_pool_strides(shape: tuple[int, ...], stride: tuple[int, ...], pool: tuple) -> tuple[int, ...]:
    """The strides of torch's own ``max_pool2d_with_indices`` output for an input of this shape and
    these strides, from its meta kernel (no data, no compute). Cached per layer and shape."""
    meta = torch.empty_strided(shape, stride, device="meta")
    return torch.ops.aten.max_pool2d_with_indices(meta, *pool)[0].stride()


def _with_strides(t: torch.Tensor, strides: tuple[int, ...]) -> torch.Tensor:
    return torch.empty_strided(t.shape, strides, dtype=t.dtype).copy_(t)


def _pool_pair(value: int | Sequence[int], dims: int, pad: int) -> tuple[int, int]:
    """A pooling argument as the (H, W) pair of a 2D pool; a 1D pool is a 2D one of height 1."""
    pair = tuple(value) if isinstance(value, Sequence) else (value,) * dims
    return (pad, *pair) if dims == 1 else pair


class _ChannelsLastMaxPool:
    """Mixin: 1D and 2D max-pooling on the CPU through :class:`_MaxPoolChannelsLastFunction`.

    Why: torch's NCHW max-pool kernel on the CPU takes ~1 ms for a student's stem map
    (32 x 16 x 16 x 16), 5x its channels-last kernel; with the layout changes both ways the
    pool's forward and backward take about half the time. The same numbers, to the bit.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dims = x.dim() - 2
        if x.device.type != "cpu" or dims not in (1, 2) or self.return_indices:
            return super().forward(x)
        pool = (
            _pool_pair(self.kernel_size, dims, 1),
            _pool_pair(self.stride, dims, 1),
            _pool_pair(self.padding, dims, 0),
            _pool_pair(self.dilation, dims, 1),
            self.ceil_mode,
        )
        out = _MaxPoolChannelsLastFunction.apply(x.unsqueeze(-2) if dims == 1 else x, *pool)
        return out.squeeze(-2) if dims == 1 else out


class MaxPool1d(_ChannelsLastMaxPool, nn.MaxPool1d):
    pass


class MaxPool2d(_ChannelsLastMaxPool, nn.MaxPool2d):
    pass


_CONV: dict[int, type[nn.Module]] = {1: Conv1d, 2: Conv2d, 3: Conv3d}
_NORM: dict[int, type[nn.Module]] = {1: nn.BatchNorm1d, 2: nn.BatchNorm2d, 3: nn.BatchNorm3d}
_MAXPOOL: dict[int, type[nn.Module]] = {1: MaxPool1d, 2: MaxPool2d, 3: nn.MaxPool3d}
_AVGPOOL: dict[int, type[nn.Module]] = {1: nn.AdaptiveAvgPool1d, 2: nn.AdaptiveAvgPool2d, 3: nn.AdaptiveAvgPool3d}

# Stems: (kernel, stride, maxpool). ``imagenet`` is torchvision's (7x7 stride 2 + maxpool: /4);
# ``small`` suits images of 32-64 px (3x3 stride 1, no maxpool: layer1 sees every pixel), as in
# the CIFAR ResNets; ``small-s2`` halves the resolution once (3x3 stride 2, no maxpool: /2).

# Blocks per stage; only BasicBlock depths, since the bottleneck nets are too big for this task.
_DEPTHS: dict[int, tuple[int, int, int, int]] = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3)}

# Enough keys to diagnose a bad checkpoint without burying the message.
_MAX_KEYS_IN_ERROR = 10


def _check_spatial_dims(spatial_dims: int) -> None:
    if spatial_dims not in _CONV:
        raise ValueError(f"spatial_dims must be one of {sorted(_CONV)}, got {spatial_dims!r}")


def _conv(spatial_dims: int, in_planes: int, out_planes: int, members: int = 1, **kwargs: Any) -> nn.Module:
    """A convolution of ``members`` independent networks at once: each member's channels are a
    group of their own (``groups=members``), so member k's weight is rows ``k*out:(k+1)*out``."""
    return _CONV[spatial_dims](in_planes * members, out_planes * members, groups=members, **kwargs)


def _conv1x1(spatial_dims: int, in_planes: int, out_planes: int, stride: int = 1, members: int = 1) -> nn.Module:
    return _conv(spatial_dims, in_planes, out_planes, members, kernel_size=1, stride=stride, bias=False)


def _conv3x3(spatial_dims: int, in_planes: int, out_planes: int, stride: int = 1, members: int = 1) -> nn.Module:
    # No bias: the BatchNorm that follows has its own shift.
    return _conv(spatial_dims, in_planes, out_planes, members, kernel_size=3, stride=stride, padding=1, bias=False)


class MemberLinear(nn.Module):
    """``members`` independent ``nn.Linear(in_features, out_features)`` layers applied at once.

    (N, members * in_features) -> (N, members, out_features). ``weight`` is (members * out_features,
    in_features) and ``bias`` (members * out_features,): member k's ``nn.Linear`` parameters are
    rows ``k*out:(k+1)*out``, as for a grouped convolution's weight.
    """

    def __init__(self, in_features: int, out_features: int, members: int) -> None:
        super().__init__()
        self.in_features, self.out_features, self.members = in_features, out_features, members
        # nn.Linear's default initialisation: U(-1/sqrt(in), 1/sqrt(in)) for weight and bias.
        bound = in_features**-0.5
        self.weight = nn.Parameter(torch.empty(members * out_features, in_features).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(members * out_features).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, c, f = self.members, self.out_features, self.in_features
        out = torch.einsum("nkf,kcf->nkc", x.reshape(len(x), k, f), self.weight.view(k, c, f))
        return out + self.bias.view(1, k, c)


class BasicBlock(nn.Module):
    """Two 3-wide convolutions plus a shortcut (identity, or ``downsample`` when shape changes).

    (N, in_planes, *S) -> (N, planes, *S / stride).
    """

    expansion: int = 1

    def __init__(
        self,
        in_planes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        *,
        spatial_dims: int = 2,
        members: int = 1,
    ) -> None:
        super().__init__()
        _check_spatial_dims(spatial_dims)
        self.conv1 = _conv3x3(spatial_dims, in_planes, planes, stride, members)
        self.bn1 = _NORM[spatial_dims](planes * members)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(spatial_dims, planes, planes, members=members)
        self.bn2 = _NORM[spatial_dims](planes * members)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """ResNet built from :class:`BasicBlock`, 1D, 2D or 3D.

    Input (N, in_channels, L) when ``spatial_dims=1``, (N, in_channels, H, W) when 2 or
    (N, in_channels, D, H, W) when 3;
    output (N, num_classes) logits. Stage channels are ``width * (1, 2, 4, 8)``; ``width=64``
    with 3 input channels, 1000 classes and the ``imagenet`` stem is exactly torchvision's network.
    ``stem`` (a key of :data:`STEMS`) sets how much the first layers downsample. Backbone and
    ``fc`` only, as torchvision's: a task's extra heads live in a subclass (the 1D decoder's linear
    shortcut: ``decode.decoders.ShortcutResNet``), which may add modules in :meth:`_init_weights`.

    ``members`` K > 1 builds a *cohort*: K independent networks in one module, every convolution
    grouped by member and every BatchNorm per channel, so no member sees another's activations,
    gradients or batch statistics. Input (N, K * in_channels, *spatial), member k's in channels
    ``k*in_channels:(k+1)*in_channels``; output (N, K, num_classes). Every state_dict entry is the
    members' solo entries concatenated along dim 0 (:func:`stack_members`, :func:`member_state`).
    """

    def __init__(
        self,
        layers: Sequence[int],
        spatial_dims: int,
        in_channels: int = 3,
        num_classes: int = 1000,
        width: int = 64,
        zero_init_residual: bool = False,
        stem: str = "imagenet",
        members: int = 1,
    ) -> None:
        super().__init__()
        _check_spatial_dims(spatial_dims)
        if stem not in STEMS:
            raise ValueError(f"unknown stem {stem!r}; valid stems: {', '.join(STEMS)}")
        if len(layers) != 4:
            raise ValueError(f"layers must give 4 stage depths, got {list(layers)}")
        if members < 1:
            raise ValueError(f"members must be at least 1, got {members}")
        self.spatial_dims = spatial_dims
        self.members = members
        self.width = width
        self._in_planes = width  # channels entering the next stage; _make_layer advances it

        kernel, stride, pool = STEMS[stem]
        self.stem = stem
        self.conv1 = _conv(
            spatial_dims,
            in_channels,
            width,
            members,
            kernel_size=kernel,
            stride=stride,
            padding=kernel // 2,
            bias=False,
        )
        self.bn1 = _NORM[spatial_dims](width * members)
        self.relu = nn.ReLU(inplace=True)
        # Identity keeps the attribute (and forward) the same for every stem; it has no parameters.
        self.maxpool = _MAXPOOL[spatial_dims](kernel_size=3, stride=2, padding=1) if pool else nn.Identity()
        self.layer1 = self._make_layer(width, layers[0])
        self.layer2 = self._make_layer(width * 2, layers[1], stride=2)
        self.layer3 = self._make_layer(width * 4, layers[2], stride=2)
        self.layer4 = self._make_layer(width * 8, layers[3], stride=2)
        self.avgpool = _AVGPOOL[spatial_dims](1)
        self.fc = linear_layer(width * 8 * BasicBlock.expansion, num_classes, members)
        self._init_weights(zero_init_residual)

    def _make_layer(self, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        """One stage of ``blocks`` blocks; only the first may change resolution or channels."""
        downsample = None
        if stride != 1 or self._in_planes != planes * BasicBlock.expansion:
            # Sequential (not a custom module) so keys read downsample.0.*, downsample.1.* as in torchvision.
            downsample = nn.Sequential(
                _conv1x1(self.spatial_dims, self._in_planes, planes * BasicBlock.expansion, stride, self.members),
                _NORM[self.spatial_dims](planes * BasicBlock.expansion * self.members),
            )
        kw = {"spatial_dims": self.spatial_dims, "members": self.members}
        first = BasicBlock(self._in_planes, planes, stride, downsample, **kw)
        self._in_planes = planes * BasicBlock.expansion
        rest = [BasicBlock(self._in_planes, planes, **kw) for _ in range(1, blocks)]
        return nn.Sequential(first, *rest)

    def _init_weights(self, zero_init_residual: bool) -> None:
        # Same scheme as torchvision, so a fresh model matches its statistics.
        for m in self.modules():
            if isinstance(m, tuple(_CONV.values())):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, tuple(_NORM.values())):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if zero_init_residual:
            # Each residual branch starts at zero, so every block starts as the identity.
            for m in self.modules():
                if isinstance(m, BasicBlock):
                    nn.init.zeros_(m.bn2.weight)

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """(N, in_channels, *spatial) -> (N, 8 * width, *spatial / 32) the last stage's map, before
        pooling (GLD's local logits pool its regions through ``fc``)."""
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.maxpool(x)
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, in_channels, *spatial) -> (N, 8 * width) globally pooled features, before ``fc``
        (a cohort: (N, K * 8 * width), member-major)."""
        return torch.flatten(self.avgpool(self.feature_map(x)), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, in_channels, *spatial) -> (N, num_classes) logits."""
        return self.fc(self.features(x))


def linear_layer(in_features: int, out_features: int, members: int = 1) -> nn.Module:
    """``nn.Linear`` for one network (torchvision's ``fc``), :class:`MemberLinear` for a cohort
    (input (N, members * in_features), member-major; output (N, members, out_features))."""
    return nn.Linear(in_features, out_features) if members == 1 else MemberLinear(in_features, out_features, members)


def stack_members(cohort: ResNet, models: Sequence[nn.Module]) -> None:
    """Load ``models`` (K solo networks of the cohort's shape) into ``cohort`` as its members, in
    order: each entry is the members' entries concatenated along dim 0; a 0-dim entry (BatchNorm's
    step count) must agree across members and is kept once."""
    if len(models) != cohort.members:
        raise ValueError(f"the cohort has {cohort.members} members, got {len(models)} models")
    states = [m.state_dict() for m in models]
    stacked = {}
    for key, value in cohort.state_dict().items():
        parts = [s[key] for s in states]
        stacked[key] = parts[0] if value.dim() == 0 else torch.cat(parts)
    cohort.load_state_dict(stacked)


def member_state(cohort: ResNet, k: int) -> dict[str, torch.Tensor]:
    """Member ``k``'s state_dict in the solo network's layout (torchvision names and shapes), as
    detached CPU tensors."""
    if not 0 <= k < cohort.members:
        raise IndexError(f"member {k} of a cohort of {cohort.members}")
    out = {}
    for key, value in cohort.state_dict().items():
        part = value if value.dim() == 0 else value.chunk(cohort.members)[k]
        out[key] = part.detach().cpu().clone()
    return out


def resnet(depth: int, spatial_dims: int = 2, cls: type[ResNet] = ResNet, **kwargs: Any) -> ResNet:
    """A ResNet (or the subclass ``cls``) of the given ``depth`` (a key of ``_DEPTHS``); ``kwargs``
    go to its constructor."""
    if depth not in _DEPTHS:
        raise ValueError(f"unknown ResNet depth {depth!r}; valid depths: {sorted(_DEPTHS)}")
    return cls(_DEPTHS[depth], spatial_dims, **kwargs)


def resnet18(spatial_dims: int = 2, **kwargs: Any) -> ResNet:
    """ResNet-18; see :func:`resnet`."""
    return resnet(18, spatial_dims, **kwargs)


def resnet34(spatial_dims: int = 2, **kwargs: Any) -> ResNet:
    """ResNet-34; see :func:`resnet`."""
    return resnet(34, spatial_dims, **kwargs)


def count_parameters(model: nn.Module) -> int:
    """Number of parameters (trainable or not; buffers such as BN running stats excluded)."""
    return sum(p.numel() for p in model.parameters())


def _key_list(keys: Sequence[str] | set[str]) -> str:
    keys = sorted(keys)
    shown = ", ".join(keys[:_MAX_KEYS_IN_ERROR])
    return shown + (f" (+{len(keys) - _MAX_KEYS_IN_ERROR} more)" if len(keys) > _MAX_KEYS_IN_ERROR else "")


def _unwrap_state_dict(obj: Any, path: Path) -> dict[str, torch.Tensor]:
    """The bare state_dict inside a checkpoint, with any DataParallel ``module.`` prefix stripped."""
    if isinstance(obj, Mapping):
        for wrapper in ("state_dict", "model"):
            if isinstance(obj.get(wrapper), Mapping):
                obj = obj[wrapper]
                break
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(f"{path}: expected a state_dict (a dict of tensors), got {type(obj).__name__}")
    return {k.removeprefix("module."): v for k, v in obj.items()}


def load_torchvision_weights(model: nn.Module, path: str | Path, *, skip_fc: bool = False) -> None:
    """Load a torchvision-format state_dict from a local file into ``model``, strictly.

    A ``{"state_dict": ...}`` or ``{"model": ...}`` wrapper and a ``module.`` key prefix are accepted.
    With ``skip_fc`` the file's ``fc.weight``/``fc.bias`` are dropped and the model keeps its own
    ``fc`` (e.g. a 150-class head); every other key must still match exactly.

    Raises FileNotFoundError if ``path`` does not exist, and ValueError naming the file and the
    missing, unexpected or mis-shaped keys.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: weights file not found")
    state = _unwrap_state_dict(torch.load(path, map_location="cpu", weights_only=True), path)

    own = model.state_dict()
    fc_keys = {"fc.weight", "fc.bias"}
    if skip_fc:
        state = {k: v for k, v in state.items() if k not in fc_keys}
        own = {k: v for k, v in own.items() if k not in fc_keys}

    # Checked here rather than by load_state_dict so the message names the file and stays short.
    missing = own.keys() - state.keys()
    unexpected = state.keys() - own.keys()
    mis_shaped = sorted(k for k in own.keys() & state.keys() if state[k].shape != own[k].shape)
    problems = []
    if missing:
        problems.append(f"missing keys: {_key_list(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {_key_list(unexpected)}")
    if mis_shaped:
        shown = [
            f"{k} (file {tuple(state[k].shape)}, model {tuple(own[k].shape)})" for k in mis_shaped[:_MAX_KEYS_IN_ERROR]
        ]
        more = f" (+{len(mis_shaped) - _MAX_KEYS_IN_ERROR} more)" if len(mis_shaped) > _MAX_KEYS_IN_ERROR else ""
        problems.append("shape mismatches: " + ", ".join(shown) + more)
    if problems:
        raise ValueError(f"{path}: does not match the model; " + "; ".join(problems))

    # Non-strict only so the model's own fc may stay; every other key was matched above.
    model.load_state_dict(state, strict=not skip_fc)
