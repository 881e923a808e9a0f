"""Shared fixtures: a simulated quick dataset, and hand-made GOD-format datasets for edge cases."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from brainteacher.data import god
from brainteacher.data.presets import get_preset
from brainteacher.data.simulate import simulate

SHARED_GOD = Path(__file__).resolve().parents[2] / "shared" / "god"

# Real GOD training IDs, some of which lose trailing zeros in the TSV (image 14910 -> ".01491").
REAL_NAMES = (
    "n01518878_10042",
    "n01518878_14910",
    "n01518878_5958",
    "n01639765_52902",
    "n01639765_7110",
    "n01639765_21040",
)


# Tests on a simulated dataset (written once per session, then decoded or distilled) or on many
# result folders (test_aggregate) are slow; the
# fast loop (`pytest -m "not slow"`, `make test-fast`) runs the rest in under 30 s.
SLOW_FIXTURES = {"quick_dataset", "quick_splits", "mini_dataset", "mini_splits", "result_files"}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--reverse",
        action="store_true",
        help="run the tests in reverse order: no test may depend on another's leftovers",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
    if config.getoption("--reverse"):
        items.reverse()


@pytest.fixture(scope="session")
def quick_dataset(tmp_path_factory) -> Path:
    """The simulator's quick preset, written once per test session."""
    return simulate(tmp_path_factory.mktemp("sim") / "quick", "quick", seed=0)


def mini_preset(n_subjects: int = 1, **overrides):
    """The quick preset shrunk to 6 categories x 8 images (3 groups, 32 px, a 4-cell grid)."""
    return get_preset("quick", n_subjects=n_subjects, n_categories=6, n_groups=3, image_size=32, grid=4, **overrides)


@pytest.fixture(scope="session")
def mini_dataset(tmp_path_factory) -> Path:
    """An even smaller simulated dataset (6 categories x 8 images, 1 subject) for slower code paths."""
    return simulate(tmp_path_factory.mktemp("sim") / "mini", mini_preset(), seed=0)


def _splits(root: Path, tmp_path_factory, name: str) -> list[Path]:
    """The 4 stratified split files of a dataset, written once per session."""
    from brainteacher.data.splits import make_splits, write_split

    table = god.read_stimulus_tsv(root / god.TRAINING_TSV)
    folder = tmp_path_factory.mktemp(name)
    paths = []
    for split in make_splits(table.names, table.labels, 4, seed=0):
        write_split(folder / f"{split.name}.json", split)
        paths.append(folder / f"{split.name}.json")
    return paths


@pytest.fixture(scope="session")
def quick_splits(quick_dataset, tmp_path_factory) -> list[Path]:
    return _splits(quick_dataset, tmp_path_factory, "quick_splits")


@pytest.fixture(scope="session")
def mini_splits(mini_dataset, tmp_path_factory) -> list[Path]:
    return _splits(mini_dataset, tmp_path_factory, "mini_splits")


@dataclass
class HandMade:
    """A tiny GOD-format dataset written by hand: 2 categories x 3 images, 4 voxels in ROI_V1."""

    root: Path
    keys: np.ndarray  # (6,) stimulus keys in TSV order
    order: np.ndarray  # (n_rows,) TSV row shown on each training trial, presentation order

    def write(
        self,
        voxels: np.ndarray | None = None,
        datatype: np.ndarray | None = None,
        stimulus_keys: np.ndarray | None = None,
        name: str = "Subject1.h5",
        rois=("V1",),
    ) -> Path:
        keys = self.keys[self.order] if stimulus_keys is None else stimulus_keys
        n = len(keys)
        # Voxel values encode the image: voxel 0 holds the TSV row, so alignment can be checked.
        if voxels is None:
            voxels = np.column_stack([self.order.astype(float), np.arange(n), np.ones(n), -np.ones(n)])
        path = self.root / name
        god.write_bdata(
            path,
            voxels,
            {r: np.ones(voxels.shape[1], bool) for r in rois},
            np.zeros((voxels.shape[1], 3)),
            datatype=np.ones(n) if datatype is None else datatype,
            runs=1 + np.arange(n) // 3,
            blocks=1 + np.arange(n) % 3,
            stimulus_id=keys / 1e6,
        )
        return path


@pytest.fixture
def handmade(tmp_path) -> HandMade:
    keys = np.array([god.stimulus_key_from_name(n) for n in REAL_NAMES])
    god.write_stimulus_tsv(tmp_path / god.TRAINING_TSV, keys, [1, 1, 1, 2, 2, 2], range(1, 7))
    images = tmp_path / god.TRAINING_IMAGE_DIR
    images.mkdir(parents=True)
    for n in REAL_NAMES:
        Image.new("RGB", (8, 8), (120, 30, 30)).save(images / f"{n}.JPEG")
    order = np.random.default_rng(3).permutation(6)  # shuffled presentation order
    made = HandMade(tmp_path, keys, order)
    made.write()
    return made


@pytest.fixture
def decoder_folds() -> list:
    """A decoder's 3 inner folds (``decode.decoders.Fold``) over 60 rows of 24 voxels with a planted
    signal of 4 categories: one size each (40 training, 20 held-out rows)."""
    from brainteacher.decode.decoders import Fold

    n_folds, n, n_voxels, n_classes = 3, 60, 24, 4
    rng = np.random.default_rng(0)
    y = (np.arange(n) % n_classes).astype(np.int64)
    X = (rng.normal(size=(n, n_voxels)) + rng.normal(size=(n_classes, n_voxels))[y]).astype(np.float32)
    fold = np.arange(n) % n_folds
    return [Fold(X[fold != k], y[fold != k], X[fold == k], 1000 + k) for k in range(n_folds)]


@pytest.fixture
def student_images():
    """24 training images of 3 classes at 16 px (``distill.classifier.SplitImages``) with a class
    signal in the red channel, so a cohort of students learns something in a few steps."""
    from brainteacher.distill.classifier import SplitImages

    n, n_classes, size = 24, 3, 16
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, 3, size, size), dtype=np.uint8)
    labels = (np.arange(n) % n_classes).astype(np.int64)
    images[:, 0] = np.clip(images[:, 0].astype(int) // 2 + 60 * labels[:, None, None], 0, 255).astype(np.uint8)
    return SplitImages(images, labels, tuple(f"img{i}" for i in range(n)))
