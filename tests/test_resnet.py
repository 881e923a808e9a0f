"""The spatial-dims-generic ResNet: shapes, torchvision parity (counts, keys, shapes) and weight loading."""

from __future__ import annotations

import pytest
import torch

from brainteacher.nn.resnet import (
    _CONV,
    _MAXPOOL,
    BasicBlock,
    ResNet,
    _single_position_product,
    count_parameters,
    load_torchvision_weights,
    resnet,
    resnet18,
    resnet34,
)

# (builder, kwargs, input shape, output shape), as in MONAI's ResNet tests.
SHAPE_CASES = [
    (resnet18, {"spatial_dims": 1, "in_channels": 1, "num_classes": 150, "width": 8}, (2, 1, 200), (2, 150)),
    (resnet34, {"spatial_dims": 1, "in_channels": 1, "num_classes": 150, "width": 8}, (2, 1, 200), (2, 150)),
    (resnet18, {"spatial_dims": 1, "in_channels": 4, "num_classes": 10, "width": 4}, (3, 4, 17), (3, 10)),
    (resnet18, {"spatial_dims": 1, "in_channels": 1, "num_classes": 5, "width": 8}, (2, 1, 1), (2, 5)),
    (resnet18, {"spatial_dims": 2, "in_channels": 3, "num_classes": 150, "width": 8}, (2, 3, 32, 32), (2, 150)),
    (resnet34, {"spatial_dims": 2, "in_channels": 3, "num_classes": 150, "width": 8}, (2, 3, 32, 32), (2, 150)),
    (resnet18, {"spatial_dims": 2, "in_channels": 1, "num_classes": 7, "width": 8}, (1, 1, 24, 40), (1, 7)),
]


def _torchvision_resnet18_shapes(num_classes: int = 1000) -> dict[str, tuple[int, ...]]:
    """torchvision's resnet18 state_dict keys and shapes, written out by hand."""
    shapes: dict[str, tuple[int, ...]] = {}

    def bn(prefix: str, c: int) -> None:
        for name in ("weight", "bias", "running_mean", "running_var"):
            shapes[f"{prefix}.{name}"] = (c,)
        shapes[f"{prefix}.num_batches_tracked"] = ()

    shapes["conv1.weight"] = (64, 3, 7, 7)
    bn("bn1", 64)
    in_c = 64
    for stage, c in enumerate((64, 128, 256, 512), start=1):
        for block in range(2):
            p = f"layer{stage}.{block}"
            shapes[f"{p}.conv1.weight"] = (c, in_c if block == 0 else c, 3, 3)
            bn(f"{p}.bn1", c)
            shapes[f"{p}.conv2.weight"] = (c, c, 3, 3)
            bn(f"{p}.bn2", c)
            if block == 0 and stage > 1:
                shapes[f"{p}.downsample.0.weight"] = (c, in_c, 1, 1)
                bn(f"{p}.downsample.1", c)
        in_c = c
    shapes["fc.weight"] = (num_classes, 512)
    shapes["fc.bias"] = (num_classes,)
    return shapes


def _random_state(shapes: dict[str, tuple[int, ...]], seed: int = 123) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {k: (torch.tensor(7) if s == () else torch.randn(s, generator=g)) for k, s in shapes.items()}


@pytest.fixture(scope="module")
def tv_state() -> dict[str, torch.Tensor]:
    return _random_state(_torchvision_resnet18_shapes())


@pytest.mark.parametrize(("builder", "kwargs", "in_shape", "out_shape"), SHAPE_CASES)
def test_output_shape(builder, kwargs, in_shape, out_shape):
    model = builder(**kwargs).eval()
    with torch.no_grad():
        assert model(torch.randn(in_shape)).shape == out_shape
        assert model.features(torch.randn(in_shape)).shape == (in_shape[0], 8 * kwargs["width"])


@pytest.mark.parametrize(("builder", "expected"), [(resnet18, 11_689_512), (resnet34, 21_797_672)])
def test_parameter_count_matches_torchvision(builder, expected):
    assert count_parameters(builder(spatial_dims=2, in_channels=3, num_classes=1000)) == expected


def test_state_dict_keys_and_shapes_match_torchvision():
    got = {k: tuple(v.shape) for k, v in resnet18().state_dict().items()}
    expected = _torchvision_resnet18_shapes()
    assert set(got) == set(expected)
    assert got == expected
    # Spot checks, so a bug in the hand-written table cannot hide a bug in the model.
    assert got["conv1.weight"] == (64, 3, 7, 7)
    assert got["layer2.0.downsample.0.weight"] == (128, 64, 1, 1)
    assert got["layer4.1.conv2.weight"] == (512, 512, 3, 3)
    assert got["fc.weight"] == (1000, 512)
    assert "layer1.0.downsample.0.weight" not in got


def test_1d_keys_mirror_2d():
    keys_1d = set(resnet18(spatial_dims=1, in_channels=1, width=8).state_dict())
    assert keys_1d == set(resnet18(spatial_dims=2).state_dict())


def test_load_torchvision_weights_strict(tmp_path, tv_state):
    path = tmp_path / "resnet18.pth"
    torch.save(tv_state, path)
    model = resnet18()
    load_torchvision_weights(model, path)
    loaded = model.state_dict()
    for k, v in tv_state.items():
        assert torch.equal(loaded[k], v), k


@pytest.mark.parametrize("wrap", ["state_dict", "model", "module"])
def test_load_accepts_wrappers_and_module_prefix(tmp_path, tv_state, wrap):
    obj = {f"module.{k}": v for k, v in tv_state.items()} if wrap == "module" else {wrap: tv_state, "epoch": 3}
    path = tmp_path / "ckpt.pth"
    torch.save(obj, path)
    model = resnet18()
    load_torchvision_weights(model, path)
    assert torch.equal(model.conv1.weight, tv_state["conv1.weight"])


def test_load_skip_fc_keeps_own_head(tmp_path, tv_state):
    path = tmp_path / "resnet18.pth"
    torch.save(tv_state, path)
    model = resnet18(num_classes=150)
    fc_before = {k: v.clone() for k, v in model.fc.state_dict().items()}
    load_torchvision_weights(model, path, skip_fc=True)
    assert torch.equal(model.layer3[1].bn2.running_var, tv_state["layer3.1.bn2.running_var"])
    assert torch.equal(model.fc.weight, fc_before["weight"])
    assert torch.equal(model.fc.bias, fc_before["bias"])
    # Without skip_fc the 1000-class head cannot go into a 150-class model.
    with pytest.raises(ValueError, match=r"fc\.weight"):
        load_torchvision_weights(resnet18(num_classes=150), path)


def test_load_skip_fc_is_still_strict_elsewhere(tmp_path, tv_state):
    state = {k: v for k, v in tv_state.items() if k != "layer1.0.bn1.running_mean"}
    path = tmp_path / "broken.pth"
    torch.save(state, path)
    with pytest.raises(ValueError, match=r"broken\.pth.*missing keys: layer1\.0\.bn1\.running_mean"):
        load_torchvision_weights(resnet18(num_classes=150), path, skip_fc=True)


def test_load_missing_key_raises(tmp_path, tv_state):
    state = dict(tv_state)
    del state["layer2.0.downsample.0.weight"]
    path = tmp_path / "missing.pth"
    torch.save(state, path)
    model = resnet18()
    before = model.conv1.weight.clone()
    with pytest.raises(ValueError, match=r"missing\.pth.*layer2\.0\.downsample\.0\.weight"):
        load_torchvision_weights(model, path)
    assert torch.equal(model.conv1.weight, before)  # nothing half-loaded


def test_load_wrong_shape_raises(tmp_path, tv_state):
    state = dict(tv_state)
    state["layer3.0.conv1.weight"] = torch.zeros(256, 128, 5, 5)
    path = tmp_path / "shape.pth"
    torch.save(state, path)
    with pytest.raises(ValueError, match=r"shape\.pth.*shape mismatches: layer3\.0\.conv1\.weight"):
        load_torchvision_weights(resnet18(), path)


def test_load_unexpected_key_raises(tmp_path, tv_state):
    path = tmp_path / "extra.pth"
    torch.save({**tv_state, "head.weight": torch.zeros(3)}, path)
    with pytest.raises(ValueError, match=r"unexpected keys: head\.weight"):
        load_torchvision_weights(resnet18(), path)


def test_load_error_lists_at_most_ten_keys(tmp_path):
    path = tmp_path / "empty.pth"
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7)}, path)
    with pytest.raises(ValueError, match=r"\(\+\d+ more\)") as err:
        load_torchvision_weights(resnet18(), path)
    assert str(err.value).count("layer") <= 10


def test_load_missing_file_raises(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        load_torchvision_weights(resnet18(), tmp_path / "nope.pth")


def test_1d_forward_backward_and_features():
    torch.manual_seed(0)
    model = resnet18(spatial_dims=1, in_channels=1, num_classes=150, width=8)
    x = torch.randn(4, 1, 200)
    assert model.features(x).shape == (4, 64)
    loss = torch.nn.functional.cross_entropy(model(x), torch.randint(0, 150, (4,)))
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert model.conv1.weight.grad.abs().sum() > 0


def test_forward_is_fc_of_features():
    model = resnet18(spatial_dims=2, num_classes=10, width=8).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(model(x), model.fc(model.features(x)))


def test_same_seed_same_parameters():
    torch.manual_seed(42)
    a = resnet18(spatial_dims=1, in_channels=1, num_classes=150, width=8)
    torch.manual_seed(42)
    b = resnet18(spatial_dims=1, in_channels=1, num_classes=150, width=8)
    for (name, pa), pb in zip(a.named_parameters(), b.parameters()):
        assert torch.equal(pa, pb), name


def test_init_matches_torchvision_scheme():
    model = resnet18(spatial_dims=2, width=8, zero_init_residual=True)
    assert torch.equal(model.bn1.weight, torch.ones(8)) and torch.equal(model.bn1.bias, torch.zeros(8))
    for m in model.modules():
        if isinstance(m, BasicBlock):
            assert torch.equal(m.bn2.weight, torch.zeros_like(m.bn2.weight))
    # kaiming_normal_(fan_out): std = sqrt(2 / (out_channels * kernel area)).
    w = resnet18(spatial_dims=2).layer4[0].conv2.weight
    assert abs(w.std().item() - (2 / (512 * 9)) ** 0.5) < 0.05 * (2 / (512 * 9)) ** 0.5


@pytest.mark.parametrize("dims", [0, 4])
def test_bad_spatial_dims(dims):
    with pytest.raises(ValueError, match=r"\[1, 2, 3\]"):
        ResNet((2, 2, 2, 2), spatial_dims=dims)


def test_bad_depth():
    with pytest.raises(ValueError, match=r"\[18, 34\]"):
        resnet(50)


# --- 3D volumes --------------------------------------------------------------------------------


def _hand_count_resnet18(dims: int, in_channels: int, width: int, num_classes: int) -> int:
    """ResNet-18 parameters written out by hand: conv weights (c_in * c_out * k^dims, no bias),
    BatchNorm (2 per channel), 1x1 downsample on stages 2-4, fc (weights + bias)."""
    total = in_channels * width * 7**dims + 2 * width  # stem conv + bn
    c_in = width
    for stage in range(4):
        planes = width * 2**stage
        for block in range(2):
            first_in = c_in if block == 0 else planes
            total += first_in * planes * 3**dims + 2 * planes + planes * planes * 3**dims + 2 * planes
            if block == 0 and stage > 0:
                total += c_in * planes + 2 * planes
        c_in = planes
    return total + 8 * width * num_classes + num_classes


def test_hand_count_formula_reproduces_torchvision_2d():
    assert _hand_count_resnet18(2, 3, 64, 1000) == 11_689_512


@pytest.mark.parametrize(("in_channels", "width", "num_classes"), [(1, 8, 1), (1, 64, 2), (3, 16, 20)])
def test_3d_parameter_count_matches_hand_count(in_channels, width, num_classes):
    model = resnet18(spatial_dims=3, in_channels=in_channels, width=width, num_classes=num_classes)
    assert count_parameters(model) == _hand_count_resnet18(3, in_channels, width, num_classes)


@pytest.mark.slow  # a 33M-parameter model
def test_3d_resnet18_width64_one_channel_has_33m_parameters():
    # A 1-channel volumetric ResNet-18 at torchvision width with a 2-output head: 33,161,026
    # weights (the hand count above; 7^3 stem, 3^3 kernels), about 2.8 x the 2D net.
    assert count_parameters(resnet18(spatial_dims=3, in_channels=1, num_classes=2)) == 33_161_026


@pytest.mark.parametrize("stem", ["imagenet", "small", "small-s2"])
def test_3d_output_and_feature_map_shapes(stem):
    model = resnet18(spatial_dims=3, in_channels=1, num_classes=3, width=4, stem=stem).eval()
    x = torch.randn(2, 1, 32, 24, 16)
    assert model(x).shape == (2, 3)
    down = {"imagenet": 32, "small": 8, "small-s2": 16}[stem]
    assert model.feature_map(x).shape == (2, 32, *(max(1, -(-s // down)) for s in (32, 24, 16)))
    assert torch.allclose(model.fc(model.feature_map(x).mean(dim=(2, 3, 4))), model(x), atol=1e-5)


def test_3d_keys_mirror_2d():
    keys_2d = {k: v.ndim for k, v in resnet18(spatial_dims=2, width=8).state_dict().items()}
    keys_3d = {k: v.ndim for k, v in resnet18(spatial_dims=3, width=8).state_dict().items()}
    assert keys_2d.keys() == keys_3d.keys()
    assert all(
        keys_3d[k] == keys_2d[k] + (k.endswith("conv1.weight") or k.endswith("conv2.weight") or "downsample.0" in k)
        for k in keys_2d
    )


# (spatial dims, input size, kernel, stride, padding): every case has a single output position.
SINGLE_POSITION = [
    (2, 1, 3, 1, 1),  # a 3x3 convolution of a 1x1 map: the last stage at 32 px
    (2, 2, 3, 2, 1),  # its first convolution: 2x2 -> 1x1, stride 2
    (2, 2, 1, 2, 0),  # its downsample: a 1x1 convolution, stride 2
    (2, 3, 3, 1, 0),  # no padding: the whole kernel on the whole map
    (1, 2, 7, 2, 3),  # a 1D stem on two voxels
    (3, 1, 3, 1, 1),
]


@pytest.mark.parametrize("dims, size, kernel, stride, padding", SINGLE_POSITION)
def test_single_position_convolution_is_the_convolution(dims, size, kernel, stride, padding):
    # The matrix-product path must give the convolution's output and gradients, up to rounding.
    torch.manual_seed(0)
    conv = _CONV[dims](5, 4, kernel_size=kernel, stride=stride, padding=padding, bias=True)
    x = torch.randn(6, 5, *([size] * dims), requires_grad=True)
    assert _single_position_product(conv, x) is not None  # else the comparison below is vacuous
    fast = conv(x)
    slow = getattr(torch.nn, f"Conv{dims}d").forward(conv, x)  # torch.nn's own convolution
    assert fast.shape == slow.shape == (6, 4, *([1] * dims))
    torch.testing.assert_close(fast, slow, rtol=1e-5, atol=1e-5)
    g = torch.randn_like(slow)
    grads_fast = torch.autograd.grad(fast, (x, conv.weight, conv.bias), g)
    grads_slow = torch.autograd.grad(slow, (x, conv.weight, conv.bias), g)
    for a, b in zip(grads_fast, grads_slow):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_single_position_path_is_taken_only_where_it_applies():
    conv = _CONV[2](4, 4, kernel_size=3, padding=1, bias=False)
    assert _single_position_product(conv, torch.randn(2, 4, 1, 1)) is not None
    assert _single_position_product(conv, torch.randn(2, 4, 2, 2)) is None  # 2x2 out
    grouped = _CONV[2](4, 4, kernel_size=3, padding=1, bias=False, groups=2)
    assert _single_position_product(grouped, torch.randn(2, 4, 1, 1)) is None
    dilated = _CONV[2](4, 4, kernel_size=3, padding=2, dilation=2, bias=False)
    assert _single_position_product(dilated, torch.randn(2, 4, 1, 1)) is None


def _graph_names(t: torch.Tensor) -> set[str]:
    """The names of the autograd nodes ``t`` was computed through."""
    names, stack = set(), [t.grad_fn]
    while stack:
        node = stack.pop()
        if node is not None:
            names.add(node.name())
            stack.extend(n for n, _ in node.next_functions)
    return names


# (spatial dims, input shape, kernel, stride, padding, dilation, ceil_mode, channels-last input)
MAX_POOLS = [
    (2, (32, 16, 16, 16), 3, 2, 1, 1, False, False),  # a student's stem at 32 px
    (2, (32, 16, 16, 16), 3, 2, 1, 1, False, True),  # ... on evaluation images (channels-last)
    (1, (32, 8, 250), 3, 2, 1, 1, False, False),  # a decoder's stem at 500 voxels
    (2, (3, 5, 9, 7), (3, 2), (2, 1), (1, 0), 1, True, False),
    (2, (3, 5, 9, 7), (3, 2), (2, 1), (1, 0), 1, True, True),
    (1, (2, 3, 11), 2, None, 0, 2, False, False),
]


@pytest.mark.parametrize("dims, shape, kernel, stride, padding, dilation, ceil_mode, channels_last", MAX_POOLS)
def test_channels_last_max_pool_is_torchs_to_the_bit(
    dims, shape, kernel, stride, padding, dilation, ceil_mode, channels_last
):
    # Values, output layout and gradients must be torch's exactly: the pool sits in every trained
    # model, and a changed bit (or a layout the next convolution sums differently in) would change
    # every student. The ReLU makes ties (zeros), whose gradient goes to the first maximum in both
    # kernels. Channels-last inputs are what evaluation images give.
    torch.manual_seed(0)
    kw = {"kernel_size": kernel, "stride": stride, "padding": padding, "dilation": dilation, "ceil_mode": ceil_mode}
    pool = _MAXPOOL[dims](**kw)
    torch_pool = getattr(torch.nn, f"MaxPool{dims}d")(**kw)
    x = torch.randn(*shape)
    x = x.contiguous(memory_format=torch.channels_last) if channels_last else x
    x.requires_grad_()
    ours, theirs = pool(torch.relu(x)), torch_pool(torch.relu(x))
    assert "_MaxPoolChannelsLastFunctionBackward" in _graph_names(ours)  # else the test is vacuous
    assert ours.stride() == theirs.stride() and torch.equal(ours, theirs)
    g = torch.randn_like(theirs)
    assert torch.equal(torch.autograd.grad(ours, x, g)[0], torch.autograd.grad(theirs, x, g)[0])
    with torch.no_grad():  # evaluation: torch's no-grad kernels
        ours, theirs = pool(torch.relu(x)), torch_pool(torch.relu(x))
    assert ours.stride() == theirs.stride() and torch.equal(ours, theirs)
