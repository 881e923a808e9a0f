"""A voxel order in which neighbours in the vector are neighbours in the brain.

A 1D convolution over an ROI's voxel vector only makes sense if the vector's axis means
something. The files' column order need not (the simulator shuffles it on purpose; real files
follow the scanner's raster, where x-neighbours are adjacent but y- and z-neighbours are a row or
a slice apart). Walking the voxels along a 3D Hilbert curve keeps most neighbours in the brain
within a few positions of each other in the vector, at every scale.

The order is a function of the coordinates alone: no voxel values, no labels.
"""

from __future__ import annotations

import numpy as np

__all__ = ["VOXEL_ORDERS", "hilbert_index", "spatial_order", "voxel_order"]

# ``spatial``: along a 3D Hilbert curve over voxel_x/y/z; ``file``: the columns as stored (an
# ablation, and what a decoder blind to order sees anyway).
VOXEL_ORDERS = ("spatial", "file")


def _grid_indices(xyz: np.ndarray) -> np.ndarray:
    """(n, 3) float mm -> (n, 3) int64: each axis's distinct coordinates ranked 0, 1, 2, ...

    On a regular voxel grid this is the voxel index along the axis, whatever the voxel size."""
    return np.stack(
        [np.unique(xyz[:, a], return_inverse=True)[1].reshape(-1) for a in range(xyz.shape[1])], axis=1
    ).astype(np.int64)


def hilbert_index(points: np.ndarray, bits: int) -> np.ndarray:
    """Position of each integer point along a Hilbert curve filling the cube [0, 2**bits)^d.

    points : (n, d) non-negative int64 below ``2**bits``. Returns (n,) int64 (needs d * bits < 63).
    Skilling's transform (AIP Conf. Proc. 707, 2004): undo the excess work, Gray-encode, then
    interleave the bits of the transposed coordinates, most significant first.
    """
    x = np.array(points, dtype=np.int64, copy=True)
    n, d = x.shape
    if d * bits >= 63:
        raise ValueError(f"{d} dimensions x {bits} bits do not fit an int64 index")
    q = 1 << (bits - 1)
    while q > 1:
        p = q - 1
        for i in range(d):
            high = (x[:, i] & q) != 0
            x[high, 0] ^= p  # invert the low bits of the first axis
            t = (x[:, 0] ^ x[:, i]) & p
            x[~high, 0] ^= t[~high]  # exchange the low bits of the first axis and this one
            x[~high, i] ^= t[~high]
        q >>= 1
    for i in range(1, d):
        x[:, i] ^= x[:, i - 1]
    t = np.zeros(n, np.int64)
    q = 1 << (bits - 1)
    while q > 1:
        t[(x[:, d - 1] & q) != 0] ^= q - 1
        q >>= 1
    x ^= t[:, None]
    index = np.zeros(n, np.int64)
    for bit in range(bits - 1, -1, -1):
        for i in range(d):
            index = (index << 1) | ((x[:, i] >> bit) & 1)
    return index


def spatial_order(xyz: np.ndarray) -> np.ndarray:
    """(n_voxels,) column indices visiting the voxels along a 3D Hilbert curve.

    xyz : (n_voxels, 3) voxel coordinates (mm, any regular grid). Raises ValueError on NaN or
    infinite coordinates. Ties (duplicate coordinates) keep their column order."""
    xyz = np.asarray(xyz, np.float64)
    if xyz.ndim != 2 or xyz.shape[1] != 3:
        raise ValueError(f"voxel coordinates must be (n_voxels, 3), got {xyz.shape}")
    if not np.isfinite(xyz).all():
        raise ValueError("voxel coordinates contain NaN or infinite values; no spatial order can be drawn")
    if len(xyz) == 0:
        return np.zeros(0, np.int64)
    grid = _grid_indices(xyz)
    bits = max(1, int(grid.max()).bit_length())
    return np.argsort(hilbert_index(grid, bits), kind="stable")


def voxel_order(xyz: np.ndarray, kind: str) -> np.ndarray:
    """Column indices for ``kind`` (one of :data:`VOXEL_ORDERS`); xyz (n_voxels, 3) mm."""
    if kind == "spatial":
        return spatial_order(xyz)
    if kind == "file":
        return np.arange(len(xyz))
    raise ValueError(f"unknown voxel order {kind!r}; choose one of {', '.join(VOXEL_ORDERS)}")
