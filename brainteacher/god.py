"""The one place that knows the Generic Object Decoding (GOD) schema (Horikawa & Kamitani 2017).

The release is one bdpy BData HDF5 file per subject (``Subject1.h5`` ... ``Subject5.h5``; a
subject may also come as several session files, ``Subject1_<session>.h5``, concatenated here), the
stimulus list ``stimulus_ImageNetTraining.tsv`` and the images ``images/training/<name>.JPEG``.

BData columns used here (metadata flags are 1 on the columns they describe):

- ``VoxelData``: the voxel columns; ``voxel_x``, ``voxel_y``, ``voxel_z``: their coordinates (mm).
- ``ROI_<name>``: ROI membership flags over the voxel columns (see :data:`ROIS`).
- ``DataType`` (1 = training, 2 = perception test, 3 = imagery), ``Run``, ``Block``,
  ``stimulus_id``; newer files also have ``category_index`` and ``image_index``.

Training rows are in *presentation* order. They are matched to images by ``stimulus_id``, never by
position. A stimulus_id encodes ``n01518878_5958`` as the float ``1518878.005958``; the TSV writes
it with trailing zeros dropped (``1518878.01491`` is image 14910). Both are turned into one exact
integer key, ``synset * 10**6 + image_number``, before any comparison.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from brainteacher.errors import DataError

# ROI and subject names live in the torch-free registry (the workflow reads them there); re-exported.
from brainteacher.registry import ROI_UNIONS, ROIS, SINGLE_ROIS, SUBJECT_RE

__all__ = [
    "ROIS",
    "SINGLE_ROIS",
    "ROI_UNIONS",
    "DATATYPE_TRAINING",
    "DATATYPE_TEST",
    "DATATYPE_IMAGERY",
    "TRAINING_TSV",
    "TEST_TSV",
    "TRAINING_IMAGE_DIR",
    "TEST_IMAGE_DIR",
    "EVALUATION_TSV",
    "EVALUATION_IMAGE_DIR",
    "IMAGE_SUFFIX",
    "roi_key",
    "stimulus_key_from_name",
    "stimulus_keys_from_ids",
    "stimulus_key_from_tsv_text",
    "stimulus_id_text",
    "name_from_stimulus_key",
    "StimulusTable",
    "read_stimulus_tsv",
    "write_stimulus_tsv",
    "SubjectRecording",
    "read_subject",
    "TrainingData",
    "training_data",
    "GODLayout",
    "open_image",
    "image_paths",
    "verify_images",
    "write_bdata",
    "SUBJECT_RE",
]


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

_ID_SCALE = 10**6  # image numbers take the 6 decimal places of a stimulus_id
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
    return int(match[1]) * _ID_SCALE + int(match[2])


def stimulus_keys_from_ids(ids: np.ndarray) -> np.ndarray:
    """Float stimulus_ids from BData, shape (n,), -> exact int64 keys, shape (n,).

    A float64 holds ``1518878.005958`` to about 1e-10, so after scaling by 10**6 the nearest
    integer is the exact key; rounding, not truncation, is what makes this safe.
    """
    return np.rint(np.asarray(ids, dtype=np.float64) * _ID_SCALE).astype(np.int64)


def stimulus_key_from_tsv_text(text: str) -> int:
    """The authors' TSV spelling -> key: ``"1518878.01491"`` -> ``1518878014910``."""
    match = _ID_TEXT_RE.match(text.strip())
    if match is None:
        raise ValueError(f"not a stimulus_id like '1518878.005958': {text!r}")
    # The authors dropped trailing zeros, so the decimals are padded back on the right.
    return int(match[1]) * _ID_SCALE + int((match[2] or "").ljust(6, "0"))


def stimulus_id_text(key: int) -> str:
    """Key -> the authors' TSV spelling, trailing zeros dropped (inverse of the function above)."""
    synset, image = divmod(int(key), _ID_SCALE)
    decimals = f"{image:06d}".rstrip("0") or "0"
    return f"{synset}.{decimals}"


def name_from_stimulus_key(key: int) -> str:
    """Key -> image name: ``1518878005958`` -> ``"n01518878_5958"``."""
    synset, image = divmod(int(key), _ID_SCALE)
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


# --- BData files ------------------------------------------------------------------------------


def _bdata_groups(path: Path, f: h5py.File) -> tuple[h5py.Dataset, h5py.Group]:
    """The /dataset and /metadata members (or bdpy's older /dataSet, /metaData), checked by type."""
    # bdpy prefers the older spelling when both are present; so do we, to check what it reads.
    data = f.get("dataSet", f.get("dataset"))
    meta = f.get("metaData", f.get("metadata"))
    missing = [name for name, member in (("/dataset", data), ("/metadata", meta)) if member is None]
    if missing:
        raise DataError(path, f"not a BData file: HDF5 without {' and '.join(missing)}")
    if not isinstance(data, h5py.Dataset):
        raise DataError(path, f"not a BData file: {data.name} is a group, not a dataset")
    if not isinstance(meta, h5py.Group):
        raise DataError(path, f"not a BData file: {meta.name} is a dataset, not a group")
    return data, meta


def _is_numeric(dset: h5py.Dataset) -> bool:
    return dset.dtype.kind in "biuf"  # bool, ints and floats; bdpy casts them to float64


def _is_text(dset: h5py.Dataset) -> bool:
    return h5py.check_string_dtype(dset.dtype) is not None or dset.dtype.kind == "S"


def _check_bdata_layout(path: Path, f: h5py.File) -> None:
    """Refuse a BData file whose members bdpy would misread or choke on, naming the member.

    A BData file holds ``/dataset`` (n_rows, n_columns) numbers and ``/metadata/{key,
    description}`` (n_keys,) strings with ``/metadata/value`` (n_keys, n_columns) numbers.
    """
    data, meta = _bdata_groups(path, f)
    if data.ndim != 2 or not _is_numeric(data):
        raise DataError(
            path, f"{data.name} should be a 2-D numeric array (rows x columns), is {data.ndim}-D {data.dtype}"
        )
    members = {name: meta.get(name) for name in ("key", "description", "value")}
    absent = [name for name, member in members.items() if not isinstance(member, h5py.Dataset)]
    if absent:
        raise DataError(path, f"{meta.name} lacks the dataset(s) {', '.join(absent)}")
    key, description, value = members["key"], members["description"], members["value"]
    if key.ndim != 1 or not _is_text(key):
        raise DataError(path, f"{key.name} should be a 1-D array of strings, is {key.ndim}-D {key.dtype}")
    if value.ndim != 2 or not _is_numeric(value):
        raise DataError(
            path, f"{value.name} should be a 2-D numeric array (keys x columns), is {value.ndim}-D {value.dtype}"
        )
    if description.shape != key.shape:
        raise DataError(path, f"{description.name} has {description.shape} entries for {key.shape[0]} metadata keys")
    if value.shape != (key.shape[0], data.shape[1]):
        raise DataError(
            path,
            f"{value.name} has shape {value.shape}; {key.shape[0]} keys x {data.shape[1]} dataset columns expected",
        )


def _check_unique_keys(path: Path, keys: Sequence[str]) -> None:
    # bdpy silently takes the first of repeated keys; which one the authors meant is unknowable.
    seen = set()
    for key in keys:
        if key in seen:
            raise DataError(path, f"metadata key {key!r} appears more than once")
        seen.add(key)


def _open_bdata(path: Path):
    """Load one BData HDF5 file, refusing anything that is not one with a specific message.

    This is the one place fMRI files are opened, so it is the one place that turns h5py's and
    bdpy's exceptions (OSError for a truncated file, KeyError, ValueError, TypeError for damaged
    members) into a :class:`DataError` naming the file.
    """
    import bdpy  # bdpy is slow to import; only readers of fMRI need it

    if not path.is_file():
        raise DataError(path, "fMRI file not found")
    if path.stat().st_size == 0:
        raise DataError(path, "not a BData file: the file is empty")
    if not h5py.is_hdf5(path):
        raise DataError(path, "not a BData file: not HDF5 at all")
    try:
        with h5py.File(path, "r") as f:
            _check_bdata_layout(path, f)
        bdata = bdpy.BData(str(path))
    except DataError:
        raise
    except Exception as err:  # h5py and bdpy raise many unrelated types for one damaged file
        raise DataError(path, f"damaged HDF5 file, e.g. truncated ({type(err).__name__}: {err})") from None
    _check_unique_keys(path, bdata.metadata.key)
    return bdata


def _metadata_flag(bdata, path: Path, key: str) -> np.ndarray:
    """(n_columns,) bool: the columns flagged 1 by metadata ``key``."""
    if key not in bdata.metadata.key:
        raise DataError(path, f"metadata key {key!r} is absent")
    return bdata.get_metadata(key) == 1


def _voxel_metadata(bdata, path: Path, key: str) -> np.ndarray:
    """(n_columns,) metadata values such as voxel_x; NaN on non-voxel columns."""
    if key not in bdata.metadata.key:
        raise DataError(path, f"metadata key {key!r} is absent")
    return bdata.get_metadata(key)


def _single_column(bdata, path: Path, key: str) -> np.ndarray:
    """(n_rows,) the one dataset column flagged by ``key`` (DataType, Run, stimulus_id, ...)."""
    cols = np.flatnonzero(_metadata_flag(bdata, path, key))
    if cols.size != 1:
        raise DataError(path, f"metadata key {key!r} should flag exactly one column, flags {cols.size}")
    return bdata.dataset[:, cols[0]]


@dataclass(frozen=True)
class SubjectRecording:
    """All rows of one subject, session files concatenated, read once and reused for every ROI.

    ``voxels`` (n_rows, n_voxels) float64; ``roi_masks[roi]`` (n_voxels,) bool;
    ``voxel_xyz`` (n_voxels, 3) mm; the row vectors are (n_rows,): ``datatype``, ``runs`` (made
    unique across sessions), ``blocks``, ``stimulus_keys`` (int64), ``category_index`` and
    ``image_index`` (None when the files predate those columns), ``row_file`` (index into ``files``).
    """

    files: tuple[Path, ...]
    voxels: np.ndarray
    roi_masks: dict[str, np.ndarray]
    voxel_xyz: np.ndarray
    datatype: np.ndarray
    runs: np.ndarray
    blocks: np.ndarray
    stimulus_keys: np.ndarray
    category_index: np.ndarray | None
    image_index: np.ndarray | None
    row_file: np.ndarray

    @property
    def rois(self) -> tuple[str, ...]:
        return tuple(r for r in ROIS if r in self.roi_masks)


def _whole_number_column(bdata, path: Path, key: str) -> np.ndarray:
    """(n_rows,) int64: a column such as DataType or Run, refused unless every value is a whole number
    (of at most 2**31 in size: anything larger cannot be a run or block number and would not fit)."""
    values = _single_column(bdata, path, key)
    with np.errstate(invalid="ignore"):  # NaN and Inf are among the values being refused
        bad = ~(np.abs(values) <= 2**31) | (values != np.round(values))
    if bad.any():
        raise DataError(
            path,
            (
                f"column {key!r} has {int(bad.sum())} value(s) that are not whole numbers below "
                f"2**31, e.g. {values[bad][0]}"
            ),
        )
    return values.astype(np.int64)


def _stimulus_keys(bdata, path: Path, datatype: np.ndarray) -> np.ndarray:
    """(n_rows,) int64 keys; a training row whose stimulus_id is NaN, Inf or too large to be a key
    (synset * 10**6 + image must fit in int64) cannot be matched to an image."""
    ids = _single_column(bdata, path, KEY_STIMULUS)
    with np.errstate(invalid="ignore"):
        bad = (datatype == DATATYPE_TRAINING) & ~(np.abs(ids) < 2**62 / _ID_SCALE)
    if bad.any():
        raise DataError(
            path, f"column {KEY_STIMULUS!r} has {int(bad.sum())} NaN, Inf or out-of-range values on training rows"
        )
    with np.errstate(invalid="ignore", over="ignore"):  # other rows may hold anything; their keys are never used
        return stimulus_keys_from_ids(ids)


def _roi_masks(bdata, path: Path, voxel_cols: np.ndarray) -> dict[str, np.ndarray]:
    """``{roi: (n_voxels,) bool}`` for every known ROI flagged in the file; refuses a file with none."""
    masks = {
        roi: (bdata.get_metadata(roi_key(roi)) == 1)[voxel_cols] for roi in ROIS if roi_key(roi) in bdata.metadata.key
    }
    if not masks:
        others = [k for k in bdata.metadata.key if str(k).startswith("ROI_")]
        found = f"; it has only unknown ones: {', '.join(others)}" if others else ""
        raise DataError(path, f"no ROI flags: none of {', '.join(map(roi_key, ROIS))} is present{found}")
    return masks


def _read_session(path: Path) -> dict:
    bdata = _open_bdata(path)
    if bdata.dataset.shape[0] == 0:
        raise DataError(path, "the dataset has no rows")
    voxel_cols = _metadata_flag(bdata, path, KEY_VOXELS)
    if not voxel_cols.any():
        raise DataError(path, f"no voxel columns ({KEY_VOXELS!r} flags none)")
    optional = {
        k: _single_column(bdata, path, k) if k in bdata.metadata.key else None for k in (KEY_CATEGORY, KEY_IMAGE)
    }
    datatype = _whole_number_column(bdata, path, KEY_DATATYPE)
    return {
        "voxels": bdata.dataset[:, voxel_cols],
        "xyz": np.stack([_voxel_metadata(bdata, path, k)[voxel_cols] for k in KEY_XYZ], axis=1),
        "masks": _roi_masks(bdata, path, voxel_cols),
        "datatype": datatype,
        "runs": _whole_number_column(bdata, path, KEY_RUN),
        "blocks": _whole_number_column(bdata, path, KEY_BLOCK),
        "stimulus_keys": _stimulus_keys(bdata, path, datatype),
        **optional,
    }


def _check_same_voxels(first: Path, path: Path, a: dict, b: dict) -> None:
    if a["xyz"].shape != b["xyz"].shape or not np.allclose(a["xyz"], b["xyz"], equal_nan=True):
        raise DataError(
            path, f"voxel coordinates differ from those of {first.name}; sessions of one subject must share voxels"
        )
    if a["masks"].keys() != b["masks"].keys() or any((a["masks"][r] != b["masks"][r]).any() for r in a["masks"]):
        raise DataError(path, f"ROI flags differ from those of {first.name}; sessions of one subject must share ROIs")


def read_subject(files: str | Path | Sequence[str | Path]) -> SubjectRecording:
    """Read one subject's BData file(s); several files are sessions, concatenated in the given order."""
    paths = (Path(files),) if isinstance(files, (str, Path)) else tuple(Path(f) for f in files)
    if not paths:
        raise DataError(None, "no fMRI files given for the subject")
    sessions = [_read_session(p) for p in paths]
    for path, session in zip(paths[1:], sessions[1:]):
        _check_same_voxels(paths[0], path, sessions[0], session)
    # Run numbers restart in every session file; offset them so a run names one scan.
    offsets = np.cumsum([0] + [int(s["runs"].max()) for s in sessions[:-1]])

    def cat(key: str) -> np.ndarray | None:
        """Concatenate one row vector over sessions; None if any session lacks it."""
        return None if any(s[key] is None for s in sessions) else np.concatenate([s[key] for s in sessions])

    return SubjectRecording(
        files=paths,
        voxels=np.concatenate([s["voxels"] for s in sessions]),
        roi_masks=sessions[0]["masks"],
        voxel_xyz=sessions[0]["xyz"],
        datatype=cat("datatype"),
        runs=np.concatenate([s["runs"] + off for s, off in zip(sessions, offsets)]),
        blocks=cat("blocks"),
        stimulus_keys=cat("stimulus_keys"),
        category_index=cat(KEY_CATEGORY),
        image_index=cat(KEY_IMAGE),
        row_file=np.concatenate([np.full(len(s["datatype"]), i) for i, s in enumerate(sessions)]),
    )


def write_bdata(
    path: str | Path,
    voxels: np.ndarray,
    roi_masks: dict[str, np.ndarray],
    voxel_xyz: np.ndarray,
    *,
    datatype: np.ndarray,
    runs: np.ndarray,
    blocks: np.ndarray,
    stimulus_id: np.ndarray,
    category_index: np.ndarray | None = None,
    image_index: np.ndarray | None = None,
) -> None:
    """Write one subject file with bdpy in the release's schema.

    ``voxels`` (n_rows, n_voxels); ``roi_masks[roi]`` (n_voxels,) bool; ``voxel_xyz``
    (n_voxels, 3) mm; the row vectors (n_rows,); ``stimulus_id`` as floats (``key / 10**6``).
    """
    import bdpy

    bd = bdpy.BData()
    bd.add(np.asarray(voxels, np.float64), KEY_VOXELS)
    columns = {
        KEY_RUN: runs,
        KEY_BLOCK: blocks,
        KEY_DATATYPE: datatype,
        KEY_STIMULUS: stimulus_id,
        KEY_CATEGORY: category_index,
        KEY_IMAGE: image_index,
    }
    for key, values in columns.items():
        if values is not None:
            bd.add(np.asarray(values, np.float64), key)
    for axis, key in enumerate(KEY_XYZ):
        bd.add_metadata(key, voxel_xyz[:, axis], f"Voxel {key[-1]} coordinate (mm)", where=KEY_VOXELS)
    for roi, mask in roi_masks.items():
        bd.add_metadata(roi_key(roi), np.asarray(mask, float), f"1 = ROI {roi} voxel", where=KEY_VOXELS)
    bd.save(str(path))


# --- aligned training data ----------------------------------------------------------------------


@dataclass(frozen=True)
class TrainingData:
    """One subject x ROI, training trials aligned to images; rows follow the stimulus TSV's order.

    ``X`` (n, n_voxels) float32; ``labels`` (n,) int64 in 0..C-1 (C = categories in the TSV);
    ``image_ids`` (n,) image names; ``stimulus_keys`` (n,) int64; ``runs`` (n,) int64 (with
    averaged repeats, the run of the first presentation); ``image_paths`` (n,) or None;
    ``voxel_xyz`` (n_voxels, 3). With ``average_repeats=False`` an image with several trials has
    several consecutive rows, in presentation order.
    """

    subject: str
    roi: str
    X: np.ndarray
    labels: np.ndarray
    image_ids: tuple[str, ...]
    stimulus_keys: np.ndarray
    runs: np.ndarray
    image_paths: tuple[Path, ...] | None
    voxel_xyz: np.ndarray
    category_synsets: tuple[str, ...]

    @property
    def n_categories(self) -> int:
        return len(self.category_synsets)


def _first_bad_row(rec: SubjectRecording, rows: np.ndarray, ok: np.ndarray) -> Path:
    return rec.files[int(rec.row_file[rows[np.flatnonzero(~ok)[0]]])]


def _training_rows(rec: SubjectRecording, roi: str) -> tuple[np.ndarray, np.ndarray]:
    """Row indices of the training trials and the ROI's column mask, both checked."""
    if roi not in rec.roi_masks:
        present = ", ".join(rec.rois) or "none"
        raise DataError(rec.files[0], f"ROI key {roi_key(roi)!r} is absent (ROIs present: {present})")
    cols = rec.roi_masks[roi]
    if not cols.any():
        raise DataError(rec.files[0], f"ROI {roi_key(roi)!r} flags no voxels")
    rows = np.flatnonzero(rec.datatype == DATATYPE_TRAINING)
    if rows.size == 0:
        raise DataError(rec.files[0], f"no training rows ({KEY_DATATYPE} == {DATATYPE_TRAINING})")
    # X is float32: a value beyond its range would become Inf there, so it counts as one here.
    finite = np.abs(rec.voxels[np.ix_(rows, cols)]) <= np.finfo(np.float32).max
    if not finite.all():
        bad_rows = ~finite.all(axis=1)
        path = _first_bad_row(rec, rows, ~bad_rows)
        raise DataError(
            path,
            f"{int((~finite).sum())} NaN or Inf voxel values in {roi_key(roi)} on {int(bad_rows.sum())} training rows",
        )
    return rows, cols


def _match_to_table(rec: SubjectRecording, rows: np.ndarray, table: StimulusTable) -> np.ndarray:
    """Table row of every training trial; refuses IDs missing on either side."""
    keys = rec.stimulus_keys[rows]
    table_rows = table.rows_of(keys)
    if (table_rows < 0).any():
        missing = np.unique(keys[table_rows < 0])
        path = _first_bad_row(rec, rows, table_rows >= 0)
        raise DataError(
            path,
            (
                f"{missing.size} training stimulus_id(s) are not in {table.path}, e.g. "
                f"{stimulus_id_text(missing[0])} ({name_from_stimulus_key(missing[0])})"
            ),
        )
    unseen = np.setdiff1d(np.arange(len(table.keys)), table_rows)
    if unseen.size:
        files = ", ".join(p.name for p in rec.files)
        raise DataError(
            table.path,
            f"{unseen.size} image(s) listed here have no training trial in {files}, e.g. {table.names[unseen[0]]}",
        )
    if rec.category_index is not None:
        wrong = rec.category_index[rows] != table.category_index[table_rows]
        if wrong.any():
            path = _first_bad_row(rec, rows, ~wrong)
            raise DataError(
                path, f"{int(wrong.sum())} training rows have a category_index that disagrees with {table.path}"
            )
    return table_rows


def training_data(
    rec: SubjectRecording,
    roi: str,
    table: StimulusTable,
    *,
    subject: str = "",
    image_dir: str | Path | None = None,
    average_repeats: bool = True,
) -> TrainingData:
    """Align one ROI's training trials to the stimulus table (see :class:`TrainingData`)."""
    rows, cols = _training_rows(rec, roi)
    table_rows = _match_to_table(rec, rows, table)
    # Stable sort by table row keeps repeats of one image in presentation order.
    order = np.argsort(table_rows, kind="stable")
    rows, table_rows = rows[order], table_rows[order]
    X = rec.voxels[np.ix_(rows, cols)]
    runs = rec.runs[rows]
    if average_repeats:
        uniq, first, counts = np.unique(table_rows, return_index=True, return_counts=True)
        X = np.add.reduceat(X, first, axis=0) / counts[:, None]
        runs, table_rows = runs[first], uniq
    names = tuple(table.names[i] for i in table_rows)
    paths = None if image_dir is None else tuple(image_paths(image_dir, names))
    if paths is not None:
        missing = [p for p in paths if not p.is_file()]
        if missing:
            raise DataError(missing[0], f"image not found ({len(missing)} of {len(paths)} images missing)")
    return TrainingData(
        subject=subject,
        roi=roi,
        X=X.astype(np.float32),
        labels=table.labels[table_rows],
        image_ids=names,
        stimulus_keys=table.keys[table_rows],
        runs=runs,
        image_paths=paths,
        voxel_xyz=rec.voxel_xyz[cols],
        category_synsets=table.category_synsets,
    )


# --- a dataset on disk ------------------------------------------------------------------------


_SUBJECT_FILE_RE = re.compile(r"^(Subject\d+)(?:_[^.]+)?\.h5$")


@dataclass(frozen=True)
class GODLayout:
    """Where a GOD-format dataset's files are: subjects' BData files, the TSV and the images."""

    subjects: dict[str, tuple[Path, ...]]
    training_tsv: Path
    image_dir: Path

    @classmethod
    def from_root(cls, root: str | Path) -> GODLayout:
        """The release's layout under one folder: ``Subject<N>[_<session>].h5``, the TSV, ``images/training``."""
        root = Path(root)
        if not root.is_dir():
            raise DataError(root, "dataset folder not found")
        subjects: dict[str, list[Path]] = {}
        for path in sorted(root.glob("Subject*.h5")):
            match = _SUBJECT_FILE_RE.match(path.name)
            if match:
                subjects.setdefault(match[1], []).append(path)
        if not subjects:
            raise DataError(root, "no subject files (Subject<N>.h5) found")
        ordered = sorted(subjects, key=lambda s: int(s.removeprefix("Subject")))
        return cls({s: tuple(subjects[s]) for s in ordered}, root / TRAINING_TSV, root / TRAINING_IMAGE_DIR)

    def load(self, subject: str, roi: str, *, average_repeats: bool = True, check_images: bool = True) -> TrainingData:
        """Training data for one subject and ROI (reads the subject's files; see :func:`training_data`)."""
        if subject not in self.subjects:
            raise DataError(
                self.training_tsv.parent, f"unknown subject {subject!r}; this dataset has {', '.join(self.subjects)}"
            )
        return training_data(
            read_subject(self.subjects[subject]),
            roi,
            read_stimulus_tsv(self.training_tsv),
            subject=subject,
            image_dir=self.image_dir if check_images else None,
            average_repeats=average_repeats,
        )


def image_paths(image_dir: str | Path, names: Sequence[str]) -> list[Path]:
    """The image file of each name: ``image_dir/<name>.JPEG``, in the order of ``names``."""
    return [Path(image_dir) / f"{n}{IMAGE_SUFFIX}" for n in names]


def open_image(path: str | Path):
    """The image at ``path`` fully decoded as an RGB PIL image; :class:`DataError` naming the
    file if it is missing or unreadable."""
    from PIL import Image

    path = Path(path)
    if not path.is_file():
        raise DataError(path, "image not found")
    try:
        with Image.open(path) as im:
            return im.convert("RGB")
    except Exception as err:  # PIL raises several unrelated types for a broken file
        raise DataError(path, f"unreadable image ({type(err).__name__}: {err})") from None


def verify_images(paths: Sequence[Path]) -> None:
    """Open every image fully; raise :class:`DataError` naming the first missing or unreadable one."""
    for path in paths:
        open_image(path)
