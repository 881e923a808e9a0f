"""The 1D axis of the voxel decoders: a 3D Hilbert curve drawn from the coordinates alone."""

from __future__ import annotations

import numpy as np
import pytest

from brainteacher.decode.voxelorder import hilbert_index, spatial_order, voxel_order


@pytest.mark.parametrize("dims, bits", [(2, 3), (3, 3)])
def test_hilbert_curve_visits_every_cell_once_in_unit_steps(dims, bits):
    cells = np.stack(np.meshgrid(*[np.arange(2**bits)] * dims, indexing="ij"), axis=-1).reshape(-1, dims)
    index = hilbert_index(cells, bits)
    assert sorted(index) == list(range(len(cells)))
    path = cells[np.argsort(index)]
    assert (np.abs(np.diff(path, axis=0)).sum(axis=1) == 1).all()  # each step moves to a face neighbour


def test_order_depends_on_the_coordinates_alone():
    """Same coordinates in another column order: the same voxels in the same sequence."""
    rng = np.random.default_rng(0)
    grid = np.stack(np.meshgrid(np.arange(9), np.arange(3), np.arange(7), indexing="ij"), axis=-1).reshape(-1, 3)
    xyz = 3.0 * grid[rng.permutation(len(grid))[:150]] + [-30.0, -90.0, 4.0]  # mm on a 3 mm grid
    perm = rng.permutation(len(xyz))
    np.testing.assert_array_equal(xyz[spatial_order(xyz)], xyz[perm][spatial_order(xyz[perm])])
    # Neighbours along the vector are neighbours in the brain (mostly face neighbours, 3 mm).
    steps = np.linalg.norm(np.diff(xyz[spatial_order(xyz)], axis=0), axis=1)
    assert np.median(steps) == 3.0


def test_bad_coordinates_and_kinds_are_refused():
    with pytest.raises(ValueError, match="NaN"):
        spatial_order(np.array([[0.0, 1.0, np.nan]]))
    with pytest.raises(ValueError, match="unknown voxel order"):
        voxel_order(np.zeros((2, 3)), "random")
    np.testing.assert_array_equal(voxel_order(np.zeros((4, 3)), "file"), np.arange(4))
