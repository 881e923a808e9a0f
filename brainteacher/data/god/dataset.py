"""A GOD dataset on disk (:class:`GODLayout`: subject files, stimulus tables, images) and a subject
and ROI's training data aligned to the stimulus table by ``stimulus_id`` (:class:`TrainingData`)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from brainteacher.data.god import stimuli
from brainteacher.data.god.bdata import SubjectRecording, read_subject
from brainteacher.errors import DataError

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
        raise DataError(rec.files[0], f"ROI key {stimuli.roi_key(roi)!r} is absent (ROIs present: {present})")
    cols = rec.roi_masks[roi]
    if not cols.any():
        raise DataError(rec.files[0], f"ROI {stimuli.roi_key(roi)!r} flags no voxels")
    rows = np.flatnonzero(rec.datatype == stimuli.DATATYPE_TRAINING)
    if rows.size == 0:
        raise DataError(rec.files[0], f"no training rows ({stimuli.KEY_DATATYPE} == {stimuli.DATATYPE_TRAINING})")
    # X is float32: a value beyond its range would become Inf there, so it counts as one here.
    finite = np.abs(rec.voxels[np.ix_(rows, cols)]) <= np.finfo(np.float32).max
    if not finite.all():
        bad_rows = ~finite.all(axis=1)
        path = _first_bad_row(rec, rows, ~bad_rows)
        raise DataError(
            path,
            f"{int((~finite).sum())} NaN or Inf voxel values in {stimuli.roi_key(roi)}"
            f" on {int(bad_rows.sum())} training rows",
        )
    return rows, cols


def _match_to_table(rec: SubjectRecording, rows: np.ndarray, table: stimuli.StimulusTable) -> np.ndarray:
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
                f"{stimuli.stimulus_id_text(missing[0])} ({stimuli.name_from_stimulus_key(missing[0])})"
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
    table: stimuli.StimulusTable,
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
        return cls(
            {s: tuple(subjects[s]) for s in ordered}, root / stimuli.TRAINING_TSV, root / stimuli.TRAINING_IMAGE_DIR
        )

    def load(self, subject: str, roi: str, *, average_repeats: bool = True, check_images: bool = True) -> TrainingData:
        """Training data for one subject and ROI (reads the subject's files; see :func:`training_data`)."""
        if subject not in self.subjects:
            raise DataError(
                self.training_tsv.parent, f"unknown subject {subject!r}; this dataset has {', '.join(self.subjects)}"
            )
        return training_data(
            read_subject(self.subjects[subject]),
            roi,
            stimuli.read_stimulus_tsv(self.training_tsv),
            subject=subject,
            image_dir=self.image_dir if check_images else None,
            average_repeats=average_repeats,
        )


def image_paths(image_dir: str | Path, names: Sequence[str]) -> list[Path]:
    """The image file of each name: ``image_dir/<name>.JPEG``, in the order of ``names``."""
    return [Path(image_dir) / f"{n}{stimuli.IMAGE_SUFFIX}" for n in names]


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
