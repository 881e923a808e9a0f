"""The image cache: every training image decoded once, at one size, in the stimulus TSV's order.

Written and reused by ``brainteacher.data.images.load_image_cache`` (the workflow's
``results/<run>/images/{size}px.npy``, from ``cache-images``). N is the number of images, S the
size in pixels per side.

=====================  ================  =======  ====================================================
file                   shape             dtype    content
=====================  ================  =======  ====================================================
<name>.npy             (N, 3, S, S)      uint8    RGB pixels 0-255, shorter side resized to S, centre crop
<name>.npy.json        object                     the sidecar: ``format`` (FORMAT_VERSION), ``size`` (S),
                                                  ``images`` (N file names, in order), ``images_sha256``
                                                  (over the image files' names, lengths and bytes) and
                                                  ``array_sha256`` (over the array's bytes)
=====================  ================  =======  ====================================================

A cache is reused only when its sidecar matches what it would be built from now (version, size,
names, the images' hash) and the array matches its hash. Unlike the result folders, a cache of
another version is not refused but rebuilt: it is derived data that costs seconds to remake.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from brainteacher.outputs import read_json, save_npy, write_json

__all__ = ["FORMAT_VERSION", "cache_name", "sidecar", "record", "read", "write"]

# Bump when the decoding (resize, crop) changes, so old caches are rebuilt.
FORMAT_VERSION = 1


def cache_name(size: int) -> str:
    """The workflow's cache file for images of ``size`` pixels per side."""
    return f"{size}px.npy"


def sidecar(cache: str | Path) -> Path:
    """The JSON record beside an image cache: ``images.npy`` -> ``images.npy.json``."""
    cache = Path(cache)
    return cache.with_name(cache.name + ".json")


def record(image_names: list[str], size: int, images_sha256: str) -> dict[str, Any]:
    """What a cache of these images at ``size`` must have been built from (the sidecar, less the array hash)."""
    return {"format": FORMAT_VERSION, "size": size, "images": image_names, "images_sha256": images_sha256}


def _array_sha256(arr: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(arr).data).hexdigest()


def _load_array(cache: Path) -> np.ndarray | None:
    try:
        return np.load(cache, allow_pickle=False)
    except (OSError, ValueError, EOFError):  # truncated or not a .npy: rebuilt like a stale one
        return None


def read(cache: str | Path, expected: dict[str, Any]) -> tuple[np.ndarray | None, str]:
    """The cached (N, 3, S, S) array if its sidecar matches ``expected`` (:func:`record`) and its
    bytes match the sidecar's hash; else None and why (for the log)."""
    cache = Path(cache)
    side = sidecar(cache)
    if not cache.is_file() or not side.is_file():
        return None, "absent" if not cache.is_file() else f"no {side.name}"
    try:
        saved = read_json(side)
    except (OSError, ValueError):
        return None, f"{side.name} is unreadable"
    if not isinstance(saved, dict):
        return None, f"{side.name} is not a record"
    changed = [key for key in expected if saved.get(key) != expected[key]]
    if changed:
        return None, f"its {', '.join(changed)} differ from the images' now"
    arr = _load_array(cache)
    n, size = len(expected["images"]), expected["size"]
    well_formed = arr is not None and arr.dtype == np.uint8 and arr.shape == (n, 3, size, size)
    if not well_formed or _array_sha256(arr) != saved.get("array_sha256"):
        return None, f"the array does not match {side.name}"
    return arr, ""


def write(cache: str | Path, arr: np.ndarray, built_from: dict[str, Any]) -> None:
    """Write the array, then its sidecar (``built_from`` plus the array's hash), each atomically."""
    # The array first: a crash between the two writes leaves the new array beside no sidecar or an
    # old one whose array hash does not match it, so the next call rebuilds rather than trusts it.
    save_npy(cache, arr)
    write_json(sidecar(cache), {**built_from, "array_sha256": _array_sha256(arr)})
