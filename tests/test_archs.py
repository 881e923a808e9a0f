"""Student architectures: the tiny edge CNN's size by hand count, shapes, and latency timing."""

from __future__ import annotations

import pytest
import torch

from brainteacher.nn.archs import TINY_CHANNELS, TinyNet, build_student, measure_latency
from brainteacher.nn.resnet import ResNet, count_parameters


def _hand_count_tiny(dims: int, in_channels: int, channels: tuple[int, ...], num_classes: int) -> int:
    total, c_in = 0, in_channels
    for c_out in channels:
        total += c_in * c_out * 3**dims + 2 * c_out  # conv (no bias) + BatchNorm weight and bias
        c_in = c_out
    return total + c_in * num_classes + num_classes  # fc


def test_tiny_has_about_12k_parameters_at_20_categories():
    model = TinyNet(num_classes=20)
    assert TINY_CHANNELS == (24, 48)
    # 3*24*9 + 48 + 24*48*9 + 96 + 48*20 + 20 = 648 + 48 + 10368 + 96 + 980
    assert count_parameters(model) == 648 + 48 + 10368 + 96 + 980 == 12_140


@pytest.mark.parametrize(("dims", "num_classes"), [(1, 5), (2, 20), (2, 150), (3, 2)])
def test_tiny_parameter_count_matches_hand_count(dims, num_classes):
    assert count_parameters(TinyNet(dims, 3, num_classes)) == _hand_count_tiny(dims, 3, TINY_CHANNELS, num_classes)


def test_tiny_shapes_and_forward_is_fc_of_pooled_map():
    model = TinyNet(num_classes=7).eval()
    x = torch.randn(3, 3, 32, 32)
    fmap = model.feature_map(x)
    assert fmap.shape == (3, 48, 8, 8)
    assert model(x).shape == (3, 7)
    assert torch.allclose(model(x), model.fc(fmap.mean(dim=(2, 3))), atol=1e-5)


def test_build_student_dispatches_on_arch():
    assert isinstance(build_student("resnet18", 20, width=4), ResNet)
    assert isinstance(build_student("tiny", 20), TinyNet)
    with pytest.raises(ValueError, match="unknown student arch 'vit'"):
        build_student("vit", 20)


def test_latency_reports_median_ms_per_batch_and_threads():
    model = TinyNet(num_classes=20)
    before = torch.get_num_threads()
    out = measure_latency(model, (3, 16, 16), repeats=3, warmup=1, threads=1)
    assert set(out) == {"latency_ms_batch1", "latency_ms_batch64", "latency_threads", "latency_repeats"}
    assert 0 < out["latency_ms_batch1"] and 0 < out["latency_ms_batch64"] and out["latency_threads"] == 1
    assert torch.get_num_threads() == before and model.training  # the caller's state is untouched
