"""Student images: decoded once to uint8, normalised with training statistics, augmented on tensors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brainteacher import god
from brainteacher.errors import DataError
from brainteacher.images import augment, channel_stats, load_image_cache, normalise


def test_cache_is_decoded_once_and_reused(quick_dataset, tmp_path, monkeypatch):
    paths = sorted((quick_dataset / god.TRAINING_IMAGE_DIR).glob("*.JPEG"))[:10]
    cache = tmp_path / "images.npy"
    arr = load_image_cache(paths, 24, cache)
    assert arr.shape == (10, 3, 24, 24) and arr.dtype == np.uint8
    from brainteacher import images

    monkeypatch.setattr(images, "_decode", lambda *a: pytest.fail("decoded a JPEG again"))
    np.testing.assert_array_equal(load_image_cache(paths, 24, cache), arr)


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
