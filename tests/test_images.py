"""Student images: decoded once to uint8, normalised with training statistics, augmented on tensors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from brainteacher.cli import main
from brainteacher.data import god
from brainteacher.data.images import CACHE_FORMAT, augment, cache_sidecar, channel_stats, load_image_cache, normalise
from brainteacher.errors import DataError
from brainteacher.outputs import read_json


def test_cache_is_decoded_once_and_reused(quick_dataset, tmp_path, monkeypatch):
    paths = sorted((quick_dataset / god.TRAINING_IMAGE_DIR).glob("*.JPEG"))[:10]
    cache = tmp_path / "images.npy"
    arr = load_image_cache(paths, 24, cache)
    assert arr.shape == (10, 3, 24, 24) and arr.dtype == np.uint8
    from brainteacher.data import images

    monkeypatch.setattr(images, "_decode", lambda *a: pytest.fail("decoded a JPEG again"))
    np.testing.assert_array_equal(load_image_cache(paths, 24, cache), arr)


@pytest.fixture
def jpegs(tmp_path):
    """Four small JPEGs of different colours, all 16 x 12."""
    paths = [tmp_path / f"n0000000{i}_1.JPEG" for i in range(4)]
    for i, path in enumerate(paths):
        Image.new("RGB", (16, 12), (60 * i, 200 - 40 * i, 90)).save(path)
    return paths


def _no_decoding(monkeypatch):
    from brainteacher.data import images

    monkeypatch.setattr(images, "_decode", lambda *a: pytest.fail("decoded a JPEG again"))


def test_cache_sidecar_records_its_inputs(jpegs, tmp_path):
    cache = tmp_path / "cache" / "images.npy"
    arr = load_image_cache(jpegs, 8, cache)
    record = read_json(cache_sidecar(cache))
    assert cache_sidecar(cache).name == "images.npy.json"
    assert record["format"] == CACHE_FORMAT and record["size"] == 8
    assert record["images"] == [p.name for p in jpegs]
    assert len(record["images_sha256"]) == len(record["array_sha256"]) == 64
    assert sorted(p.name for p in cache.parent.iterdir()) == [
        "images.npy",
        "images.npy.json",
    ]  # no temporary files left
    np.testing.assert_array_equal(np.load(cache), arr)


def test_cache_is_rebuilt_when_an_image_changes_at_the_same_shape(jpegs, tmp_path):
    cache = tmp_path / "images.npy"
    before = load_image_cache(jpegs, 8, cache)
    Image.new("RGB", (16, 12), (0, 0, 255)).save(jpegs[2])  # same name, same size, other content
    after = load_image_cache(jpegs, 8, cache)
    assert after.shape == before.shape
    np.testing.assert_array_equal(after, load_image_cache(jpegs, 8))  # what a fresh decode gives
    assert not np.array_equal(after[2], before[2])
    np.testing.assert_array_equal(after[[0, 1, 3]], before[[0, 1, 3]])
    np.testing.assert_array_equal(np.load(cache), after)  # and the rebuilt cache was saved


def _reorder(jpegs, cache):
    return jpegs[::-1]


def _rename(jpegs, cache):
    jpegs[0].rename(jpegs[0].with_name("n00000009_1.JPEG"))
    return [jpegs[0].with_name("n00000009_1.JPEG"), *jpegs[1:]]


def _swap_array(jpegs, cache):
    np.save(cache, np.zeros_like(np.load(cache)))  # right shape and dtype, not these images
    return jpegs


def _truncate_array(jpegs, cache):
    cache.write_bytes(cache.read_bytes()[:100])
    return jpegs


def _drop_sidecar(jpegs, cache):
    cache_sidecar(cache).unlink()
    return jpegs


def _break_sidecar(jpegs, cache):
    cache_sidecar(cache).write_text("{")
    return jpegs


def _old_format(jpegs, cache):
    record = read_json(cache_sidecar(cache))
    cache_sidecar(cache).write_text(json.dumps({**record, "format": CACHE_FORMAT - 1}))
    return jpegs


@pytest.mark.parametrize(
    "change", [_reorder, _rename, _swap_array, _truncate_array, _drop_sidecar, _break_sidecar, _old_format]
)
def test_cache_is_rebuilt_when_it_does_not_match(jpegs, tmp_path, change):
    cache = tmp_path / "images.npy"
    load_image_cache(jpegs, 8, cache)
    paths = change(jpegs, cache)
    np.testing.assert_array_equal(load_image_cache(paths, 8, cache), load_image_cache(paths, 8))
    assert read_json(cache_sidecar(cache))["images"] == [p.name for p in paths]


def test_cache_at_another_size_is_rebuilt_then_reused(jpegs, tmp_path, monkeypatch):
    cache = tmp_path / "images.npy"
    load_image_cache(jpegs, 8, cache)
    assert load_image_cache(jpegs, 6, cache).shape == (4, 3, 6, 6)
    _no_decoding(monkeypatch)
    assert load_image_cache(jpegs, 6, cache).shape == (4, 3, 6, 6)


def test_cache_of_a_missing_image_names_it(jpegs, tmp_path):
    jpegs[1].unlink()
    with pytest.raises(DataError, match=r"n00000001_1\.JPEG: image not found"):
        load_image_cache(jpegs, 8, tmp_path / "images.npy")
    assert not (tmp_path / "images.npy").exists()


def test_cli_cache_images_rebuilds_after_an_image_changes(handmade, tmp_path):
    out = tmp_path / "out" / "images.npy"
    args = ["-q", "cache-images", "--root", str(handmade.root), "--size", "16", "--out", str(out)]
    assert main(args) == 0
    first = np.load(out)
    path = handmade.root / god.TRAINING_IMAGE_DIR / "n01518878_5958.JPEG"
    Image.new("RGB", (8, 8), (10, 200, 10)).save(path)  # same size as the others
    assert main(args) == 0
    second = np.load(out)
    assert first.shape == second.shape == (6, 3, 16, 16)
    assert not np.array_equal(first[2], second[2])  # row 2 is n01518878_5958 in the TSV
    np.testing.assert_array_equal(first[[0, 1, 3, 4, 5]], second[[0, 1, 3, 4, 5]])


def test_unreadable_image_is_named(tmp_path):
    bad = tmp_path / "n01518878_5958.JPEG"
    bad.write_bytes(b"not a jpeg")
    with pytest.raises(DataError, match=r"n01518878_5958\.JPEG: unreadable image"):
        load_image_cache([bad], 8)


def test_normalise_uses_given_statistics():
    rng = np.random.default_rng(0)
    train = rng.integers(0, 256, (20, 3, 8, 8), dtype=np.uint8)
    mean, sd = channel_stats(train)
    z = normalise(torch.from_numpy(train), mean, sd)
    torch.testing.assert_close(z.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(z.std(dim=(0, 2, 3), unbiased=False), torch.ones(3), atol=1e-4, rtol=0)


def test_augment_is_random_per_image_and_repeatable():
    x = torch.arange(2 * 3 * 16 * 16, dtype=torch.float32).reshape(2, 3, 16, 16)
    a = augment(x, torch.Generator().manual_seed(1))
    b = augment(x, torch.Generator().manual_seed(1))
    c = augment(x, torch.Generator().manual_seed(2))
    assert a.shape == x.shape
    torch.testing.assert_close(a, b)
    assert not torch.equal(a, c)
    # A full-size crop returns each image unchanged or mirrored left-right, nothing else.
    full = augment(x, torch.Generator().manual_seed(0), scale=(1.0, 1.0), ratio=(1.0, 1.0))
    for i in range(2):
        same = torch.allclose(full[i], x[i], atol=1e-3)
        mirrored = torch.allclose(full[i], x[i].flip(-1), atol=1e-3)
        assert same or mirrored
