"""GOD's BData HDF5 files: reading a subject's session files into one :class:`SubjectRecording`
(checked for layout, unique keys and the same voxels in every session) and writing them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from brainteacher.data.god.stimuli import (
    DATATYPE_TRAINING,
    ID_SCALE,
    KEY_BLOCK,
    KEY_CATEGORY,
    KEY_DATATYPE,
    KEY_IMAGE,
    KEY_RUN,
    KEY_STIMULUS,
    KEY_VOXELS,
    KEY_XYZ,
    roi_key,
    stimulus_keys_from_ids,
)
from brainteacher.errors import DataError

# ROI and subject names live in the torch-free registry (the workflow reads them there); re-exported.
from brainteacher.registry import ROIS


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
        bad = (datatype == DATATYPE_TRAINING) & ~(np.abs(ids) < 2**62 / ID_SCALE)
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
