"""Reading results: metrics.json files of decoders and students -> one DataFrame row per job, in a
stable order, and the TSV tables read back.

Every file is checked first (its format version, its keys, one file per row): a stale or foreign
folder is refused with a ``DataError`` naming the file.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from brainteacher.analysis.columns import CALIBRATION_COLUMNS, DECODER_COLUMNS, METRIC_DOCS, NA_REP, STUDENT_COLUMNS
from brainteacher.analysis.comparisons import scoring_set
from brainteacher.decode.calibration import reliability
from brainteacher.errors import DataError
from brainteacher.formats import student_dir, teacher_dir
from brainteacher.metrics import macro_pr_auc, macro_roc_auc, softmax
from brainteacher.outputs import read_json
from brainteacher.registry import MEAN_SOURCE, ROIS, brain_kinds, global_kinds, kind_names, parse_teacher

__all__ = [
    "decoder_table",
    "mean_head_weight",
    "calibration_table",
    "student_table",
    "read_table",
    "teacher_group",
    "sort_rows",
    "group_order",
]

_METRICS = tuple(METRIC_DOCS)
_DECODER_KEYS = (
    "subject",
    "roi",
    "decoder",
    "split",
    "n_images",
    "n_categories",
    "n_voxels",
    "n_folds",
    "epochs",
    "wall_time_s",
    "device",
    "config_hash",
    "git_revision",
)
_CALIBRATION_KEYS = {
    "temperature": "temperature",
    "nll_calibrated": "nll_after",
    "brier_calibrated": "brier_after",  # absent from folders written before it: NA
    "ece_calibrated": "ece_after",
    "ece_floor": "ece_floor",  # absent from folders written before it: NA
}
_STUDENT_KEYS = {
    "teacher": "teacher",
    "kind": "teacher_kind",
    "source": "teacher_source",
    "roi": "roi",
    "decoder": "decoder",
    "split": "split",
    "seed": "seed",
}
_STUDENT_INFO = (
    "n_train",
    "n_test",
    "n_categories",
    "train_time_s",
    "device",
    "n_parameters",
    "size_mb",
    "config_hash",
    "git_revision",
)
_TEACHER_STATS = ("true_class_prob", "entropy", "top1")


# --- reading metrics.json files -----------------------------------------------------------------


def _read_metrics(
    path: Path, keys: Iterable[str], nested: str, check_version: Callable[[dict, Path], None]
) -> dict[str, Any]:
    """The JSON object in ``path``, after checking its format version (``check_version``, first: an
    older format may lack keys), that it has ``keys`` and that ``nested`` holds every metric."""
    try:
        data = read_json(path)
    except (OSError, json.JSONDecodeError) as err:
        raise DataError(path, f"cannot read metrics: {err}") from err
    if not isinstance(data, dict):
        raise DataError(path, "metrics file does not hold a JSON object")
    check_version(data, path)
    missing = [k for k in (*keys, nested) if k not in data]
    if not missing and isinstance(data[nested], dict):
        missing = [f"{nested}.{m}" for m in _METRICS if m not in data[nested]]
    elif not missing:
        missing = [f"{nested} (an object)"]
    if missing:
        raise DataError(path, f"missing key(s): {', '.join(missing)}")
    return data


def _decoder_row(path: Path) -> dict[str, Any]:
    data = _read_metrics(path, _DECODER_KEYS, "out_of_fold", teacher_dir.check)
    calibration = data.get("calibration") or {}
    row = {k: data[k] for k in _DECODER_KEYS} | {m: data["out_of_fold"][m] for m in _METRICS}
    row |= {col: calibration.get(key, math.nan) for col, key in _CALIBRATION_KEYS.items()}
    row["head_weight"] = mean_head_weight(data)
    return {c: row[c] for c in DECODER_COLUMNS}


def mean_head_weight(metrics: Mapping[str, Any]) -> float:
    """A decoder metrics.json's residual-head weight, mean over its inner folds (the ``head_weight``
    column); NaN without one (the linear decoder, or resnet1d with ``head_weight: one``)."""
    head = metrics.get("residual_head")
    return float(np.mean(head["weights"])) if head else math.nan


def _student_row(path: Path) -> dict[str, Any]:
    data = _read_metrics(path, (*_STUDENT_KEYS.values(), *_STUDENT_INFO, "teacher_stats"), "test", student_dir.check)
    stats = data["teacher_stats"] or {}  # null for the baseline: it has no targets
    evaluation = data.get("evaluation") or {}  # null on real data: no evaluation set
    train = data.get("train") or {}
    row = (
        {col: data[key] for col, key in _STUDENT_KEYS.items()}
        | {m: data["test"][m] for m in _METRICS}
        | {f"eval_{m}": evaluation.get(m, math.nan) for m in _METRICS}
        | {
            "draw": parse_teacher(data["teacher"]).draw,
            "train_top1": train.get("top1", math.nan),
            "train_loss": train.get("final_loss", math.nan),
            "scoring_set": scoring_set(path.parent),
        }
        | {f"teacher_{s}": stats.get(s, math.nan) for s in _TEACHER_STATS}
        | {k: data[k] for k in _STUDENT_INFO}
        | {"n_evaluation": data.get("n_evaluation", 0), "folder": str(path.parent)}
        | {k: data.get(k, d) for k, d in _TOOLBOX_DEFAULTS.items()}
        | _aucs(path.parent, student_dir.HELDOUT, "")
        | _aucs(path.parent, student_dir.EVALUATION, "eval_")
    )
    return {c: row[c] for c in STUDENT_COLUMNS}


# Keys metrics.json files from before the toolbox lack: what those students were.
_TOOLBOX_DEFAULTS = {
    "arch": "resnet18",
    "loss": None,
    "init": "random",
    "latency_ms_batch1": math.nan,
    "latency_ms_batch64": math.nan,
    "latency_threads": math.nan,
    "cohort_size": 1,  # before cohorts every student trained alone
}


def _aucs(folder: Path, which: str, column_prefix: str) -> dict[str, float]:
    """Macro ROC-AUC and PR-AUC of a student's ``which`` predictions (heldout, evaluation); NaN when absent."""
    if not student_dir.has_predictions(folder, which):
        return {f"{column_prefix}roc_auc": math.nan, f"{column_prefix}pr_auc": math.nan}
    saved = student_dir.read_predictions(folder, which)
    probs = softmax(saved.logits, axis=1)
    return {
        f"{column_prefix}roc_auc": macro_roc_auc(probs, saved.labels),
        f"{column_prefix}pr_auc": macro_pr_auc(probs, saved.labels),
    }


def _check_unique(table: pd.DataFrame, keys: Sequence[str], paths: Sequence[Path]) -> None:
    """Refuse two files describing the same table row (e.g. a stale copy of a results folder)."""
    dup = table.duplicated(list(keys), keep=False).to_numpy()
    if dup.any():
        first, second = [paths[i] for i in np.flatnonzero(dup)[:2]]
        raise DataError(second, f"same {' x '.join(keys)} as {first}")


# --- sorting -------------------------------------------------------------------------------------


def _natural_key(value: Any) -> tuple:
    """Sort key that orders Subject2 before Subject10 and split2 before split10."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"(\d+)", str(value)) if p)


def _rank(values: pd.Series, preferred: Sequence[Any] = ()) -> np.ndarray:
    """(n,) integer sort rank: values in ``preferred`` first, in that order, then the rest in natural
    order; missing values last."""
    uniques = [v for v in pd.unique(values) if not pd.isna(v)]
    ordered = sorted(uniques, key=lambda v: (preferred.index(v) if v in preferred else len(preferred), _natural_key(v)))
    rank = {v: i for i, v in enumerate(ordered)}
    return np.array([len(ordered) if pd.isna(v) else rank[v] for v in values], dtype=np.int64)


def sort_rows(table: pd.DataFrame, orders: Mapping[str, Sequence[Any]]) -> pd.DataFrame:
    """Rows sorted by the columns of ``orders`` (first = most significant), each column by its
    preferred order then naturally."""
    if table.empty:
        return table.reset_index(drop=True)
    keys = [_rank(table[col], pref) for col, pref in reversed(list(orders.items()))]
    return table.iloc[np.lexsort(keys)].reset_index(drop=True)


def group_order() -> tuple[str, ...]:
    """Teacher groups in display order: none, network, oracle, brain, brain-mean, label-smoothing, ..."""
    return global_kinds() + tuple(g for kind in brain_kinds() for g in (kind, f"{kind}-{MEAN_SOURCE}"))


# --- tables --------------------------------------------------------------------------------------


def decoder_table(paths: Iterable[str | Path]) -> pd.DataFrame:
    """One row per subject x roi x decoder x split (columns ``DECODER_COLUMNS``), sorted by them.

    Raises ValueError if ``paths`` is empty and DataError for an unreadable or incomplete file,
    or two files for the same row.
    """
    paths = [Path(p) for p in paths]
    if not paths:
        raise ValueError(
            "no decoder metrics files given (results/<run>/decode/{decoder}/{subject}/{roi}/split{k}/metrics.json)"
        )
    table = pd.DataFrame([_decoder_row(p) for p in paths], columns=list(DECODER_COLUMNS))
    _check_unique(table, ("subject", "roi", "decoder", "split"), paths)
    return sort_rows(table, {"subject": (), "roi": ROIS, "decoder": (), "split": ()})


def calibration_table(paths: Iterable[str | Path]) -> pd.DataFrame:
    """One row per decoder x ROI (columns ``CALIBRATION_COLUMNS``): the calibrated out-of-fold
    predictions of its teacher folders (the parents of ``paths``, decoder metrics.json files)
    pooled over subjects and splits.

    One folder holds too few images to read a small ECE (its sampling floor is about as large);
    pooled, the floor falls and ``ece_floor`` says how far. Raises DataError for a folder that
    ``teacher_dir.read`` refuses.
    """
    groups: dict[tuple[str, str], list[teacher_dir.TeacherDir]] = {}
    for path in paths:
        data = _read_metrics(Path(path), ("decoder", "roi"), "out_of_fold", teacher_dir.check)
        groups.setdefault((data["decoder"], data["roi"]), []).append(teacher_dir.read(Path(path).parent))
    rows = []
    for (decoder, roi), folders in groups.items():
        probs = softmax(np.concatenate([f.logits for f in folders]).astype(np.float64), axis=1)
        stats = reliability(probs, np.concatenate([f.labels for f in folders]))
        rows.append(
            {"decoder": decoder, "roi": roi, "n_folders": len(folders), "n_images": len(probs)}
            | stats
            | {"true_class_prob_chance": 1.0 / probs.shape[1], "ece_excess": stats["ece"] - stats["ece_floor"]}
        )
    table = pd.DataFrame(rows, columns=list(CALIBRATION_COLUMNS))  # the order the docs give
    return sort_rows(table, {"decoder": (), "roi": ROIS})


def student_table(paths: Iterable[str | Path]) -> pd.DataFrame:
    """One row per teacher x split x seed (columns ``STUDENT_COLUMNS``); headers only if ``paths``
    is empty. Sorted by kind, source (subjects, then mean), ROI, split and seed."""
    paths = [Path(p) for p in paths]
    table = pd.DataFrame([_student_row(p) for p in paths], columns=list(STUDENT_COLUMNS))
    _check_unique(table, ("teacher", "split", "seed"), paths)
    table = sort_rows(table, {"kind": kind_names(), "source": (), "roi": ROIS, "draw": (), "split": (), "seed": ()})
    # NaN-free integer columns stay integers in the TSV (a seed is not 0.0).
    if not table.empty:
        table["seed"] = table["seed"].astype(np.int64)
        table["draw"] = table["draw"].astype(np.int64)
    return table


def teacher_group(kind: str, source: str | None) -> str:
    """The summary's teacher group: ``brain`` for brain/Subject1/..., ``brain-mean`` for
    brain/mean/..., ``none`` / ``network`` / ``oracle`` for the global teachers."""
    if kind in global_kinds():
        return kind
    return f"{kind}-{MEAN_SOURCE}" if source == MEAN_SOURCE else kind


def read_table(path: str | Path) -> pd.DataFrame:
    """A TSV written by ``aggregate.write_tables``, with ``NA`` read as missing and nothing else (so
    a teacher named ``none`` stays a string)."""
    return pd.read_csv(path, sep="\t", keep_default_na=False, na_values=[NA_REP])
