"""GOD's schema keys and stimuli: BData column names, image folders, the exact integer key of a
``stimulus_id``, and the stimulus TSV (:class:`StimulusTable`)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from brainteacher.errors import DataError

# ROI and subject names live in the torch-free registry (the workflow reads them there); re-exported.

DATATYPE_TRAINING, DATATYPE_TEST, DATATYPE_IMAGERY = 1, 2, 3

KEY_VOXELS = "VoxelData"
KEY_XYZ = ("voxel_x", "voxel_y", "voxel_z")
KEY_DATATYPE = "DataType"
KEY_RUN = "Run"
KEY_BLOCK = "Block"
KEY_STIMULUS = "stimulus_id"
KEY_CATEGORY = "category_index"
KEY_IMAGE = "image_index"

TRAINING_TSV = "stimulus_ImageNetTraining.tsv"
TEST_TSV = "stimulus_ImageNetTest.tsv"
# Simulated datasets only: extra images of the training categories, with no fMRI, to score students on.
EVALUATION_TSV = "stimulus_SimulatedEvaluation.tsv"
EVALUATION_IMAGE_DIR = Path("images") / "evaluation"
TRAINING_IMAGE_DIR = Path("images") / "training"
TEST_IMAGE_DIR = Path("images") / "test"
IMAGE_SUFFIX = ".JPEG"

ID_SCALE = 10**6  # image numbers take the 6 decimal places of a stimulus_id
_NAME_RE = re.compile(r"^n(\d{8})_(\d{1,6})$")
_ID_TEXT_RE = re.compile(r"^(\d+)(?:\.(\d{0,6}))?$")


def roi_key(roi: str) -> str:
    """``"V1"`` -> ``"ROI_V1"``: the BData metadata key of an ROI flag."""
    return f"ROI_{roi}"


# --- stimulus IDs -----------------------------------------------------------------------------


def stimulus_key_from_name(name: str) -> int:
    """``"n01518878_5958"`` -> ``1518878005958`` (synset * 10**6 + image number)."""
    match = _NAME_RE.match(name)
    if match is None:
        raise ValueError(f"not an ImageNet image name like 'n01518878_5958': {name!r}")
    return int(match[1]) * ID_SCALE + int(match[2])


def stimulus_keys_from_ids(ids: np.ndarray) -> np.ndarray:
    """Float stimulus_ids from BData, shape (n,), -> exact int64 keys, shape (n,).

    A float64 holds ``1518878.005958`` to about 1e-10, so after scaling by 10**6 the nearest
    integer is the exact key; rounding, not truncation, is what makes this safe.
    """
    return np.rint(np.asarray(ids, dtype=np.float64) * ID_SCALE).astype(np.int64)


def stimulus_key_from_tsv_text(text: str) -> int:
    """The authors' TSV spelling -> key: ``"1518878.01491"`` -> ``1518878014910``."""
    match = _ID_TEXT_RE.match(text.strip())
    if match is None:
        raise ValueError(f"not a stimulus_id like '1518878.005958': {text!r}")
    # The authors dropped trailing zeros, so the decimals are padded back on the right.
    return int(match[1]) * ID_SCALE + int((match[2] or "").ljust(6, "0"))


def stimulus_id_text(key: int) -> str:
    """Key -> the authors' TSV spelling, trailing zeros dropped (inverse of the function above)."""
    synset, image = divmod(int(key), ID_SCALE)
    decimals = f"{image:06d}".rstrip("0") or "0"
    return f"{synset}.{decimals}"


def name_from_stimulus_key(key: int) -> str:
    """Key -> image name: ``1518878005958`` -> ``"n01518878_5958"``."""
    synset, image = divmod(int(key), ID_SCALE)
    return f"n{synset:08d}_{image}"


# --- the stimulus table -------------------------------------------------------------------------


@dataclass(frozen=True)
class StimulusTable:
    """One stimulus TSV, in file order.

    ``names`` (n,) image names without extension; ``keys`` (n,) int64 stimulus keys;
    ``category_index`` (n,) the file's category numbers (1..150 for GOD training);
    ``image_index`` (n,) the file's image numbers.
    """

    path: Path
    names: tuple[str, ...]
    keys: np.ndarray
    category_index: np.ndarray
    image_index: np.ndarray

    @property
    def categories(self) -> np.ndarray:
        """Sorted distinct category numbers; label ``c`` means ``categories[c]``."""
        return np.unique(self.category_index)

    @property
    def labels(self) -> np.ndarray:
        """(n,) int64 category labels 0..C-1, in file order."""
        return np.searchsorted(self.categories, self.category_index).astype(np.int64)

    @property
    def category_synsets(self) -> tuple[str, ...]:
        """The synset (``"n01518878"``) of each label 0..C-1, taken from its first image's name."""
        first = {}
        for name, cat in zip(self.names, self.category_index):
            first.setdefault(int(cat), name.split("_")[0])
        return tuple(first[int(c)] for c in self.categories)

    def rows_of(self, keys: np.ndarray) -> np.ndarray:
        """Row positions in this table of ``keys`` (n,); -1 where a key is absent."""
        order = np.argsort(self.keys)
        pos = np.searchsorted(self.keys, keys, sorter=order)
        pos = np.clip(pos, 0, len(self.keys) - 1)
        rows = order[pos]
        return np.where(self.keys[rows] == keys, rows, -1)


def _parse_tsv_line(path: Path, lineno: int, line: str) -> tuple[str, int, int, int]:
    fields = line.rstrip("\r\n").split("\t")
    if len(fields) != 4:
        raise DataError(
            path,
            (
                f"line {lineno}: expected 4 tab-separated columns (name, stimulus_id, category "
                f"index, image index), found {len(fields)}"
            ),
        )
    name, id_text, cat_text, img_text = fields
    try:
        key = stimulus_key_from_name(name)
        key_from_id = stimulus_key_from_tsv_text(id_text)
        category, image = int(cat_text), int(float(img_text))
    except (ValueError, OverflowError) as err:  # OverflowError: an image index of "inf"
        raise DataError(path, f"line {lineno}: {err}") from None
    if key != key_from_id:
        raise DataError(path, f"line {lineno}: stimulus_id {id_text} does not encode image name {name}")
    if category < 1:
        raise DataError(path, f"line {lineno}: category index must be >= 1, got {category}")
    return name, key, category, image


def _refuse_duplicates(path: Path, what: str, values: Sequence) -> None:
    seen: dict = {}
    for lineno, value in enumerate(values, start=1):
        if value in seen:
            raise DataError(path, f"duplicate rows: {what} {value} on lines {seen[value]} and {lineno}")
        seen[value] = lineno


def read_stimulus_tsv(path: str | Path) -> StimulusTable:
    """Read a GOD stimulus TSV (no header: name, stimulus_id, category index, image index)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "stimulus TSV not found")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise DataError(path, f"not a text file: byte {err.start} is not UTF-8") from None
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise DataError(path, "stimulus TSV is empty")
    rows = [_parse_tsv_line(path, i, line) for i, line in enumerate(lines, start=1)]
    names, keys, cats, images = zip(*rows)
    _refuse_duplicates(path, "image", names)
    _refuse_duplicates(path, "image index", images)
    return StimulusTable(
        path, tuple(names), np.array(keys, np.int64), np.array(cats, np.int64), np.array(images, np.int64)
    )


def write_stimulus_tsv(
    path: str | Path, keys: Sequence[int], category_index: Sequence[int], image_index: Sequence[int]
) -> None:
    """Write a TSV in the authors' format (trailing zeros of the stimulus_id dropped)."""
    lines = [
        f"{name_from_stimulus_key(k)}\t{stimulus_id_text(k)}\t{int(c)}\t{int(i)}\n"
        for k, c, i in zip(keys, category_index, image_index)
    ]
    Path(path).write_text("".join(lines))
