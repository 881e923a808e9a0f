"""``brainteacher inspect-data``: one row per subject x ROI, after checking the dataset is consistent."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from brainteacher.analysis.columns import INSPECTION_COLUMNS
from brainteacher.data import god
from brainteacher.errors import DataError

__all__ = ["inspect_dataset"]


def _check_same_rois(layout: god.GODLayout, rois_by_subject: dict[str, tuple[str, ...]]) -> None:
    first, *rest = rois_by_subject.items()
    for subject, rois in rest:
        if rois != first[1]:
            raise DataError(
                layout.subjects[subject][0], f"ROIs {', '.join(rois)} differ from {first[0]}'s {', '.join(first[1])}"
            )


def inspect_dataset(
    layout: god.GODLayout, rois: Sequence[str] | None = None, check_images: bool = True
) -> pd.DataFrame:
    """Load every subject x ROI as the decoders will and tabulate it (columns: INSPECTION_COLUMNS).

    Each load already refuses misaligned IDs, NaN voxels and missing ROIs; on top of that every
    image is opened once, and all subjects must have the same ROIs.
    """
    table = god.read_stimulus_tsv(layout.training_tsv)
    if check_images:
        god.verify_images(god.image_paths(layout.image_dir, table.names))
    rows, rois_by_subject = [], {}
    for subject, files in layout.subjects.items():
        rec = god.read_subject(files)
        rois_by_subject[subject] = rec.rois
        n_trials = int((rec.datatype == god.DATATYPE_TRAINING).sum())
        for roi in rois or rec.rois:
            data = god.training_data(rec, roi, table, subject=subject)
            rows.append((subject, roi, data.X.shape[1], n_trials, len(data.image_ids), data.n_categories))
    _check_same_rois(layout, rois_by_subject)
    return pd.DataFrame(rows, columns=list(INSPECTION_COLUMNS))
