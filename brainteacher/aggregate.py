"""Result tables: decoder and student metrics.json files -> decoders.tsv, students.tsv, summary.tsv.

Every table is written atomically next to a ``<name>.provenance.json`` sidecar that carries the
provenance of the aggregation and a description of every column (``COLUMNS``, the tables' docs).

The summary pools students into *teacher groups* and compares each group, per ROI, with three
references, image by image (``comparisons``: per-image paired outcomes on the scoring images,
averaged over nested runs and subjects, with categories as the independent units):

- group: the teacher kind for a subject's teacher (``brain``, ``label-smoothing``, ...), the kind +
  ``-mean`` for the mean-over-subjects source (``brain-mean``, ...), and the kind itself for the
  global teachers ``none``, ``network`` and ``oracle`` (their ROI is ``all``);
- run: (split, seed); the students of a pooled group that share a run (its subjects) are
  averaged, since they share that run's baseline;
- references: ``baseline`` (teacher ``none`` at the same split and seed), and the
  ``label-smoothing`` and ``shuffled-brain`` controls of the same source and ROI at the same split
  and seed. Differences are the group minus the reference, in the metric's units;
- family: one contrast is pre-registered (config ``stats``; default brain-mean vs shuffled-brain,
  top-1): its rows are ``primary`` and Holm runs over their ROIs; the oracle's rows are the
  ``positive-control``; every other row is ``exploratory`` (unadjusted p-values).
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from brainteacher.errors import DataError
from brainteacher.formats import student_dir, teacher_dir
from brainteacher.io import atomic_path, provenance, read_json, write_json
from brainteacher.runs import check_dataset_root
from brainteacher.metrics import macro_pr_auc, macro_roc_auc, softmax
from brainteacher.comparisons import EVALUATION_SET, OUTCOMES, paired_image_test, read_scored_images, scoring_set
from brainteacher.stats import holm, mean_ci
from brainteacher.registry import MEAN_SOURCE, ROIS, brain_kinds, global_kinds, kind_names

__all__ = [
    "COLUMNS",
    "DECODER_COLUMNS",
    "STUDENT_COLUMNS",
    "SUMMARY_COLUMNS",
    "REFERENCES",
    "decoder_table",
    "student_table",
    "summary_table",
    "gains_vs_baseline",
    "teacher_group",
    "write_tables",
    "read_table",
    "positive_control_verdict",
]

log = logging.getLogger("brainteacher.aggregate")

BASELINE_KIND = "none"
GLOBAL_ROI = "all"  # the summary's ROI for teachers that use no ROI
NO_SUBJECT = "-"  # the summary's subject for the mean source and the global teachers

# Reference name in column suffixes -> teacher kind it stands for (None: the baseline, kind "none").
REFERENCES: dict[str, str | None] = {"baseline": None, "label_smoothing": "label-smoothing", "shuffled_brain": "shuffled-brain"}

MIN_UNITS = 3  # fewer independent units give no interval (NA), never a zero-width one
DEFAULT_PRIMARY = {"teacher": "brain-mean", "reference": "shuffled_brain", "metric": "top1"}
OUTCOME_METRICS = tuple(OUTCOMES)

NA_REP = "NA"  # how a missing value is written in the TSVs (read back by read_table)
FLOAT_FORMAT = "%.8g"  # eight significant digits: far below any run-to-run difference

_METRIC_DOCS = {
    "top1": "top-1 accuracy, fraction of images (0-1) whose highest-scored category is the true one",
    "top1_chance": "top-1 accuracy of a random ranking, 1 / n_categories",
    "top5": "top-k accuracy with k = min(5, n_categories), fraction 0-1",
    "top5_chance": "top-k accuracy of a random ranking, k / n_categories",
    "mean_normalised_rank": "mean fraction of the other categories scored below the true one (ties half); 1 = always first, chance 0.5",
    "nll": "mean negative log-likelihood of the true category, nats (lower is better)",
    "nll_chance": "NLL of uniform probabilities, log(n_categories), nats",
    "ece": "expected calibration error, 15 equal-width confidence bins, fraction 0-1 (0 = calibrated)",
}
# Ranking metrics from the saved logits (softmax probabilities): not per-image outcomes, so the
# summary gives them run-level means only.
_AUC_DOCS = {
    "roc_auc": "macro one-vs-rest ROC-AUC of the softmax probabilities, mean over categories present (chance 0.5)",
    "pr_auc": "macro one-vs-rest PR-AUC (average precision) of the softmax probabilities, mean over categories present (chance ~1 / n_categories)",
}
_PROVENANCE_DOCS = {
    "device": "device the job ran on (e.g. cpu, cuda:0)",
    "config_hash": "short SHA-256 of the job's configuration",
    "git_revision": "source commit of the job (-dirty: uncommitted changes)",
}

DECODER_DOCS: dict[str, str] = {
    "subject": "subject whose fMRI was decoded (e.g. Subject1)",
    "roi": "region of interest the voxels came from (e.g. V1, LOC)",
    "decoder": "decoder architecture (e.g. linear, resnet1d)",
    "split": "train/test image split (e.g. split0); the decoder saw only its training images",
    **{k: f"out-of-fold {v}" for k, v in _METRIC_DOCS.items()},
    "n_images": "training images decoded (one soft label each)",
    "n_categories": "number of categories",
    "n_voxels": "voxels kept after voxel selection",
    "n_folds": "cross-fitting folds (each image scored by a fold model that never saw it)",
    "temperature": "calibration temperature fitted on the out-of-fold logits of the split's training images (no test image)",
    "nll_calibrated": "out-of-fold NLL after calibration, nats",
    "ece_calibrated": "out-of-fold ECE after calibration (15 bins), fraction 0-1",
    "epochs": "training epochs per fold model",
    "wall_time_s": "wall-clock time of the decode job, seconds",
    **_PROVENANCE_DOCS,
}

STUDENT_DOCS: dict[str, str] = {
    "teacher": "teacher spec: none, network, oracle or KIND/SOURCE/ROI (e.g. brain/Subject1/LOC)",
    "kind": f"teacher kind: {', '.join(kind_names())}",
    "source": "whose brain data the teacher derives from: a subject, or mean (mean over subjects); NA for none/network/oracle",
    "roi": "ROI of the brain-derived teacher; NA for none/network/oracle",
    "decoder": "decoder whose out-of-fold logits the brain-derived teacher came from; NA for none/network/oracle",
    "split": "train/test image split (e.g. split0)",
    "seed": "student training seed",
    "arch": "student architecture: resnet18 (the ResNet student) or tiny (2 conv blocks + classifier)",
    "loss": "training loss: ce (no teacher), hinton (KD) or gld (global + local logits + relations)",
    "init": "student initialisation: random, weights (a torchvision file) or simclr (pretrain-simclr backbone)",
    **{k: f"student, the split's held-out images: {v}" for k, v in _METRIC_DOCS.items()},
    **{k: f"student, the split's held-out images: {v}" for k, v in _AUC_DOCS.items()},
    **{f"eval_{k}": f"student, the simulated evaluation set (never in a split, no fMRI): {v}; NA on real data" for k, v in (_METRIC_DOCS | _AUC_DOCS).items()},
    "train_top1": "student top-1 on its own training images after the last step (no augmentation): near 1 = fits them",
    "train_loss": "mean training loss of the last epoch (the KD objective for distilled students, CE for the baseline)",
    "scoring_set": "images the summary's comparisons use: evaluation (simulated data) or heldout (the split's held-out images)",
    "teacher_true_class_prob": "mean probability of the true category in the tempered teacher targets, training images; NA for none",
    "teacher_entropy": "mean entropy of the tempered teacher targets, nats, training images; NA for none",
    "teacher_top1": "fraction of training images whose tempered teacher target ranks the true category first; NA for none",
    "n_train": "student training images",
    "n_test": "student held-out images",
    "n_evaluation": "student evaluation-set images (0 on real data)",
    "n_categories": "number of categories",
    "train_time_s": "wall-clock time of student training, seconds",
    "n_parameters": "trainable parameters of the student",
    "size_mb": "size of the student checkpoint (model.pt, a state_dict), MB (2^20 bytes)",
    "latency_ms_batch1": "CPU inference latency, batch of 1 image, median of repeated timings, milliseconds (latency_threads threads; an upper bound on a loaded machine)",
    "latency_ms_batch64": "CPU inference latency, batch of 64 images, median of repeated timings, milliseconds",
    "latency_threads": "torch CPU threads the latency was timed with",
    **_PROVENANCE_DOCS,
    "folder": "the student's output folder (its predictions feed the summary's per-image comparisons)",
}


def _reference_docs(ref: str, kind: str | None) -> dict[str, str]:
    if kind is None:
        what = "the no-teacher baseline (teacher none) at the same split and seed"
    else:
        what = f"the {kind} control of the same source and ROI at the same split and seed"
    return {
        f"diff_vs_{ref}": f"this teacher - {what}: per-image paired difference on the scoring images, averaged over runs, mean over categories (metric units); NA if no pairs or the row is that reference",
        f"diff_vs_{ref}_ci_low": f"lower bound of the Student-t interval of diff_vs_{ref} over categories (the independent units); NA with fewer than 3",
        f"diff_vs_{ref}_ci_high": f"upper bound of that interval",
        f"p_vs_{ref}": f"two-sided sign-flip permutation p-value of diff_vs_{ref} over categories (exact up to 16 categories); unadjusted, exploratory unless family is primary",
        f"p_holm_vs_{ref}": f"p_vs_{ref} Holm-adjusted over the primary family's ROIs; NA outside the primary contrast",
        f"n_units_vs_{ref}": "categories (independent units) in the comparison; 0 if none",
        f"n_images_vs_{ref}": "scoring images paired in the comparison",
    }


SUMMARY_DOCS: dict[str, str] = {
    "teacher": "teacher group: kind for a subject source (brain, ...), kind-mean for the mean source (brain-mean, ...), none/network/oracle",
    "roi": "ROI of the teacher; all for none/network/oracle",
    "metric": "student metric summarised: top1, top5 (fractions) or nll (nats), on the scoring images; roc_auc and pr_auc (macro one-vs-rest) rows give the run-level mean and interval only (not per-image outcomes, so every diff/p column is NA)",
    "family": "primary (the pre-registered contrast, config stats), positive-control (the oracle) or exploratory",
    "scoring_set": "images scored: evaluation (simulated evaluation set) or heldout (the splits' held-out images)",
    "n": "runs (split x seed) with a value; a pooled group's subjects are averaged within a run",
    "mean": "mean of the metric over runs",
    "ci_low": "lower bound of the Student-t interval of the mean over runs; NA with fewer than 3 runs",
    "ci_high": "upper bound of that interval",
    **{k: v for ref, kind in REFERENCES.items() for k, v in _reference_docs(ref, kind).items()},
}

DECODER_COLUMNS = tuple(DECODER_DOCS)
STUDENT_COLUMNS = tuple(STUDENT_DOCS)
SUMMARY_COLUMNS = tuple(SUMMARY_DOCS)
COLUMNS: dict[str, dict[str, str]] = {"decoders": DECODER_DOCS, "students": STUDENT_DOCS, "summary": SUMMARY_DOCS}

_METRICS = tuple(_METRIC_DOCS)
_DECODER_KEYS = ("subject", "roi", "decoder", "split", "n_images", "n_categories", "n_voxels", "n_folds", "epochs", "wall_time_s", "device", "config_hash", "git_revision")
_CALIBRATION_KEYS = {"temperature": "temperature", "nll_calibrated": "nll_after", "ece_calibrated": "ece_after"}
_STUDENT_KEYS = {"teacher": "teacher", "kind": "teacher_kind", "source": "teacher_source", "roi": "roi", "decoder": "decoder", "split": "split", "seed": "seed"}
_STUDENT_INFO = ("n_train", "n_test", "n_categories", "train_time_s", "device", "n_parameters", "size_mb", "config_hash", "git_revision")
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
    return {c: row[c] for c in DECODER_COLUMNS}


def _student_row(path: Path) -> dict[str, Any]:
    data = _read_metrics(path, (*_STUDENT_KEYS.values(), *_STUDENT_INFO, "teacher_stats"), "test", student_dir.check)
    stats = data["teacher_stats"] or {}  # null for the baseline: it has no targets
    evaluation = data.get("evaluation") or {}  # null on real data: no evaluation set
    train = data.get("train") or {}
    row = (
        {col: data[key] for col, key in _STUDENT_KEYS.items()}
        | {m: data["test"][m] for m in _METRICS}
        | {f"eval_{m}": evaluation.get(m, math.nan) for m in _METRICS}
        | {"train_top1": train.get("top1", math.nan), "train_loss": train.get("final_loss", math.nan), "scoring_set": scoring_set(path.parent)}
        | {f"teacher_{s}": stats.get(s, math.nan) for s in _TEACHER_STATS}
        | {k: data[k] for k in _STUDENT_INFO}
        | {"n_evaluation": data.get("n_evaluation", 0), "folder": str(path.parent)}
        | {k: data.get(k, d) for k, d in _TOOLBOX_DEFAULTS.items()}
        | _aucs(path.parent, student_dir.HELDOUT, "") | _aucs(path.parent, student_dir.EVALUATION, "eval_")
    )
    return {c: row[c] for c in STUDENT_COLUMNS}


# Keys metrics.json files from before the toolbox lack: what those students were.
_TOOLBOX_DEFAULTS = {"arch": "resnet18", "loss": None, "init": "random", "latency_ms_batch1": math.nan, "latency_ms_batch64": math.nan, "latency_threads": math.nan}


def _aucs(folder: Path, which: str, column_prefix: str) -> dict[str, float]:
    """Macro ROC-AUC and PR-AUC of a student's ``which`` predictions (heldout, evaluation); NaN when absent."""
    logits_file, _, labels_file = student_dir.prediction_files(which)
    logits, labels = folder / logits_file, folder / labels_file
    if not (logits.is_file() and labels.is_file()):
        return {f"{column_prefix}roc_auc": math.nan, f"{column_prefix}pr_auc": math.nan}
    probs, y = softmax(np.load(logits), axis=1), np.load(labels).astype(np.int64)
    return {f"{column_prefix}roc_auc": macro_roc_auc(probs, y), f"{column_prefix}pr_auc": macro_pr_auc(probs, y)}


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


def _sort_rows(table: pd.DataFrame, orders: Mapping[str, Sequence[Any]]) -> pd.DataFrame:
    """Rows sorted by the columns of ``orders`` (first = most significant), each column by its
    preferred order then naturally."""
    if table.empty:
        return table.reset_index(drop=True)
    keys = [_rank(table[col], pref) for col, pref in reversed(list(orders.items()))]
    return table.iloc[np.lexsort(keys)].reset_index(drop=True)


def _group_order() -> tuple[str, ...]:
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
        raise ValueError("no decoder metrics files given (results/<run>/decode/{decoder}/{subject}/{roi}/split{k}/metrics.json)")
    table = pd.DataFrame([_decoder_row(p) for p in paths], columns=list(DECODER_COLUMNS))
    _check_unique(table, ("subject", "roi", "decoder", "split"), paths)
    return _sort_rows(table, {"subject": (), "roi": ROIS, "decoder": (), "split": ()})


def student_table(paths: Iterable[str | Path]) -> pd.DataFrame:
    """One row per teacher x split x seed (columns ``STUDENT_COLUMNS``); headers only if ``paths``
    is empty. Sorted by kind, source (subjects, then mean), ROI, split and seed."""
    paths = [Path(p) for p in paths]
    table = pd.DataFrame([_student_row(p) for p in paths], columns=list(STUDENT_COLUMNS))
    _check_unique(table, ("teacher", "split", "seed"), paths)
    table = _sort_rows(table, {"kind": kind_names(), "source": (), "roi": ROIS, "split": (), "seed": ()})
    # NaN-free integer columns stay integers in the TSV (a seed is not 0.0).
    if not table.empty:
        table["seed"] = table["seed"].astype(np.int64)
    return table


def teacher_group(kind: str, source: str | None) -> str:
    """The summary's teacher group: ``brain`` for brain/Subject1/..., ``brain-mean`` for
    brain/mean/..., ``none`` / ``network`` / ``oracle`` for the global teachers."""
    if kind in global_kinds():
        return kind
    return f"{kind}-{MEAN_SOURCE}" if source == MEAN_SOURCE else kind


def _with_units(students: pd.DataFrame) -> pd.DataFrame:
    """``students`` plus the summary's ``group``, ``unit_roi`` ("all" for global teachers) and
    ``subject`` ("-" for the mean source and global teachers) columns."""
    units = students.copy()
    is_global = units["kind"].isin(global_kinds()).to_numpy()
    is_mean = (units["source"] == MEAN_SOURCE).to_numpy()
    units["group"] = [teacher_group(k, s) for k, s in zip(units["kind"], units["source"])]
    units["unit_roi"] = np.where(is_global, GLOBAL_ROI, units["roi"].astype(object))
    units["subject"] = np.where(is_global | is_mean, NO_SUBJECT, units["source"].astype(object))
    return units


def _is_compared(kind: str, ref_kind: str | None) -> bool:
    """Whether a teacher kind has a reference of ``ref_kind``: everything but the baseline is
    compared with it; only the other brain-derived kinds have a control of the same source/ROI."""
    if ref_kind is None:
        return kind != BASELINE_KIND
    return kind in brain_kinds() and kind != ref_kind


def score_column(students: pd.DataFrame, metric: str) -> str:
    """The students.tsv column of ``metric`` on the scoring images: ``eval_<metric>`` when every
    student has the simulated evaluation set, else the held-out ``<metric>``."""
    evaluated = not students.empty and (students["scoring_set"] == EVALUATION_SET).all()
    return f"eval_{metric}" if evaluated else metric


def _reference_rows(units: pd.DataFrame, students: pd.DataFrame, ref_kind: str | None) -> pd.DataFrame:
    """The reference's student rows for ``units``: the baseline at the units' runs, or the control
    ``ref_kind`` of the units' source and ROI at their runs."""
    keys = ["split", "seed"] if ref_kind is None else ["source", "roi", "split", "seed"]
    ref = students[students["kind"] == (ref_kind or BASELINE_KIND)]
    return ref.merge(units[keys].drop_duplicates(), on=keys)


def _comparison(units: pd.DataFrame, students: pd.DataFrame, scored: dict, ref: str, metric: str, level: float) -> dict[str, Any]:
    """The ``*_vs_{ref}`` columns of one summary row (p_holm filled in later)."""
    ref_kind = REFERENCES[ref]
    names = [f"diff_vs_{ref}", f"diff_vs_{ref}_ci_low", f"diff_vs_{ref}_ci_high", f"p_vs_{ref}", f"p_holm_vs_{ref}", f"n_units_vs_{ref}", f"n_images_vs_{ref}"]
    if not _is_compared(units["kind"].iloc[0], ref_kind):
        return dict(zip(names, [math.nan] * 5 + [0, 0]))
    test = paired_image_test(units, _reference_rows(units, students, ref_kind), scored, metric, level)
    return dict(zip(names, [test["mean_diff"], test["ci_low"], test["ci_high"], test["p_value"], math.nan, test["n_units"], test["n_images"]]))


def _run_level(units: pd.DataFrame, column: str, level: float) -> tuple[int, float, float, float]:
    """(n runs, mean, low, high) of ``column``: subjects averaged within a run; NA interval with
    fewer than 3 runs (a t-interval on 2 runs has 1 degree of freedom and means nothing)."""
    per_run = units.groupby(["split", "seed"])[column].mean().to_numpy(np.float64)
    per_run = per_run[np.isfinite(per_run)]
    mean, low, high = mean_ci(per_run, level)
    if len(per_run) < MIN_UNITS:
        low = high = math.nan
    return len(per_run), mean, low, high


def _family(group: str, metric: str, primary: Mapping[str, str]) -> str:
    if group == primary["teacher"] and metric == primary["metric"]:
        return "primary"
    return "positive-control" if group == "oracle" else "exploratory"


def _summary_row(group: str, roi: str, units: pd.DataFrame, students: pd.DataFrame, scored: dict, metric: str, level: float, primary: Mapping[str, str]) -> dict[str, Any]:
    n, mean, low, high = _run_level(units, score_column(students, metric), level)
    row: dict[str, Any] = {
        "teacher": group, "roi": roi, "metric": metric, "family": _family(group, metric, primary),
        "scoring_set": units["scoring_set"].iloc[0], "n": n, "mean": mean, "ci_low": low, "ci_high": high,
    }  # fmt: skip
    for ref in REFERENCES:
        row |= _comparison(units, students, scored, ref, metric, level)
    return row


def _add_holm(summary: pd.DataFrame, primary: Mapping[str, str]) -> pd.DataFrame:
    """Fill ``p_holm_vs_<primary reference>`` on the primary family's rows: Holm over its ROIs."""
    ref = primary["reference"]
    rows = (summary["family"] == "primary").to_numpy()
    if rows.any():
        summary.loc[rows, f"p_holm_vs_{ref}"] = holm(summary.loc[rows, f"p_vs_{ref}"].to_numpy(np.float64))
    return summary


def summary_table(
    students: pd.DataFrame, metrics: Sequence[str] = ("top1", "top5", "nll"), level: float = 0.95, primary: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """Long table, one row per teacher group x ROI x metric (columns ``SUMMARY_COLUMNS``).

    Args:
        students: ``student_table`` output (its ``folder`` column locates each student's predictions).
        metrics: metrics of ``comparisons.OUTCOMES`` to summarise.
        level: two-sided confidence level of every interval (0.95 = 95 %).
        primary: the pre-registered contrast, ``{"teacher", "reference", "metric"}``
            (:data:`DEFAULT_PRIMARY` if None).

    Each comparison is ``comparisons.paired_image_test``: image by image on the scoring images,
    subjects and runs averaged, categories as units. The run-level mean and interval come from
    ``stats.mean_ci`` over runs (NA under 3 runs).
    """
    primary = dict(primary or DEFAULT_PRIMARY)
    unknown = [m for m in metrics if m not in OUTCOME_METRICS]
    if unknown:
        raise ValueError(f"metrics must be among {', '.join(OUTCOME_METRICS)}; got {', '.join(unknown)}")
    if students.empty:
        return pd.DataFrame(columns=list(SUMMARY_COLUMNS))
    scored = {folder: read_scored_images(folder) for folder in students["folder"]}
    units = _with_units(students)
    rows = [
        _summary_row(group, roi, cell.reset_index(drop=True), students, scored, metric, level, primary)
        for (group, roi), cell in units.groupby(["group", "unit_roi"], sort=False)
        for metric in metrics
    ]
    rows += [
        _run_level_row(group, roi, cell.reset_index(drop=True), students, metric, level)
        for (group, roi), cell in units.groupby(["group", "unit_roi"], sort=False)
        for metric in RUN_LEVEL_METRICS
        if metric in students.columns
    ]
    summary = _add_holm(pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS)), primary)
    return _sort_rows(summary, {"teacher": _group_order(), "roi": (GLOBAL_ROI, *ROIS), "metric": (*metrics, *RUN_LEVEL_METRICS)})


RUN_LEVEL_METRICS = ("roc_auc", "pr_auc")


def _run_level_row(group: str, roi: str, units: pd.DataFrame, students: pd.DataFrame, metric: str, level: float) -> dict[str, Any]:
    """A summary row with the run-level mean and interval of a ranking metric; comparisons NA."""
    n, mean, low, high = _run_level(units, score_column(students, metric), level)
    row: dict[str, Any] = {"teacher": group, "roi": roi, "metric": metric, "family": "exploratory", "scoring_set": units["scoring_set"].iloc[0], "n": n, "mean": mean, "ci_low": low, "ci_high": high}
    for ref in REFERENCES:
        row |= {f"diff_vs_{ref}": math.nan, f"diff_vs_{ref}_ci_low": math.nan, f"diff_vs_{ref}_ci_high": math.nan, f"p_vs_{ref}": math.nan, f"p_holm_vs_{ref}": math.nan, f"n_units_vs_{ref}": 0, f"n_images_vs_{ref}": 0}
    return row


def gains_vs_baseline(students: pd.DataFrame, metric: str = "top1") -> pd.DataFrame:
    """Non-baseline student rows with ``gain`` = metric on the scoring images - the baseline's at
    the same split and seed (metric units), plus the summary's ``group``, ``unit_roi`` and
    ``subject``. Rows whose split x seed has no baseline are dropped."""
    if students.empty:
        return pd.DataFrame(columns=[*students.columns, "group", "unit_roi", "subject", "gain"])
    column = score_column(students, metric)
    units = _with_units(students)
    units = units[units["kind"] != BASELINE_KIND].reset_index(drop=True)
    base = students.loc[students["kind"] == BASELINE_KIND, ["split", "seed", column]].rename(columns={column: "_base"})
    merged = units[["split", "seed"]].merge(base, on=["split", "seed"], how="left", validate="many_to_one")
    units["gain"] = units[column].to_numpy(np.float64) - merged["_base"].to_numpy(np.float64)
    return units[np.isfinite(units["gain"].to_numpy())].reset_index(drop=True)


def _describe(row: pd.Series, metric: str) -> str:
    scale, unit = (100, "pp") if metric != "nll" else (1, "nats")
    d, low, high = (scale * row[k] for k in ("diff_vs_baseline", "diff_vs_baseline_ci_low", "diff_vs_baseline_ci_high"))
    return f"{metric} {d:+.1f} {unit} [{low:+.1f}, {high:+.1f}], p = {row['p_vs_baseline']:.2g}"


def positive_control_verdict(summary: pd.DataFrame, metric: str = "top1") -> str | None:
    """One sentence on the oracle (the positive control) against the baseline, from the summary's
    per-image comparisons; it states top-1 and NLL and judges on ``metric`` (the primary metric):
    passed when its 95% interval excludes zero in the helpful direction. None without an oracle."""
    oracle = summary[summary["teacher"] == "oracle"].set_index("metric") if not summary.empty else summary
    if oracle.empty or metric not in oracle.index:
        return None
    stated = "; ".join(_describe(oracle.loc[m], m) for m in ("top1", "nll") if m in oracle.index)
    row = oracle.loc[metric]
    better = row["diff_vs_baseline_ci_high"] < 0 if metric == "nll" else row["diff_vs_baseline_ci_low"] > 0
    if better:
        return f"positive control passed: the oracle teacher beats the baseline ({stated}); the setting can detect a teacher effect"
    return f"positive control FAILED: the oracle teacher does not reliably beat the baseline on {metric} ({stated}); this setting cannot detect a teacher effect, so no brain-teacher result here can be read as one"


STATISTICS_METHOD = (
    "Comparisons pair two students image by image on the scoring images (the simulated evaluation set, or the splits' "
    "held-out images, each training image once per seed). Within a run (split x seed) the students of a pooled group "
    "(its subjects, who share the run's baseline) are averaged; an image scored on several runs is averaged over them. "
    "Categories are the independent units: images of a category are alike and a student's errors cluster by category. "
    "Interval: Student-t over the category means; p: two-sided sign-flip permutation over them (exact up to 16 "
    "categories). This is inference over images and categories for the trained students; run-to-run (seed) variation "
    "enters through each category's mean, and the mean/ci columns show it over runs. Under 3 units an interval is NA. "
    "Holm runs over the primary family only; every other p-value is unadjusted and exploratory."
)


# --- writing and reading -------------------------------------------------------------------------


def _write_tsv(path: Path, table: pd.DataFrame) -> Path:
    with atomic_path(path) as tmp:
        table.to_csv(tmp, sep="\t", index=False, float_format=FLOAT_FORMAT, na_rep=NA_REP)
    return path


def read_table(path: str | Path) -> pd.DataFrame:
    """A TSV written by ``write_tables``, with ``NA`` read as missing and nothing else (so a
    teacher named ``none`` stays a string)."""
    return pd.read_csv(path, sep="\t", keep_default_na=False, na_values=[NA_REP])


def _sidecar(name: str, table: pd.DataFrame, n_inputs: int, provenance_config: dict, run: Mapping[str, Any] | None, extra: dict[str, Any]) -> dict[str, Any]:
    return {
        **provenance(provenance_config),
        "run": None if run is None else dict(run),
        "table": f"{name}.tsv",
        "n_rows": len(table),
        "n_input_files": n_inputs,
        **extra,
        "columns": {c: COLUMNS[name][c] for c in table.columns},
    }


def _check_from_run(paths: Iterable[str | Path], run: Mapping[str, Any]) -> None:
    """Refuse a metrics file that a job ran on another dataset folder than the run's."""
    for path in paths:
        try:
            data = read_json(path)
        except (OSError, json.JSONDecodeError) as err:
            raise DataError(path, f"cannot read metrics: {err}") from err
        job_config = data.get("config") if isinstance(data, dict) else None
        check_dataset_root(path, job_config.get("root") if isinstance(job_config, dict) else None, run)


def write_tables(
    decode_paths: Iterable[str | Path],
    student_paths: Iterable[str | Path],
    out_dir: str | Path,
    provenance_config: dict,
    *,
    metrics: Sequence[str] = ("top1", "top5", "nll"),
    level: float = 0.95,
    primary: Mapping[str, str] | None = None,
    run: Mapping[str, Any] | None = None,
) -> dict[str, Path]:
    """Write ``decoders.tsv``, ``students.tsv`` and ``summary.tsv`` (tab-separated, missing = NA)
    into ``out_dir``, each with a ``<name>.provenance.json`` sidecar documenting every column.

    ``run`` is the run's identity (:func:`brainteacher.runs.read_run_provenance`): every metrics
    file must come from its dataset folder, and each sidecar records it under ``run`` so that
    ``plot`` can refuse tables of another run.

    Returns {file name: path} for the six files. Raises ValueError if there are no decoder
    files; no student files give students/summary tables with headers only.
    """
    decode_paths, student_paths = list(decode_paths), list(student_paths)
    if run is not None:
        _check_from_run([*decode_paths, *student_paths], run)
    out_dir = Path(out_dir)
    primary = dict(primary or DEFAULT_PRIMARY)
    students = student_table(student_paths)
    summary = summary_table(students, metrics, level, primary)
    verdict = positive_control_verdict(summary, primary["metric"])
    if verdict:
        log.log(logging.WARNING if "FAILED" in verdict else logging.INFO, verdict)
    summary_notes = {"level": level, "metrics": list(metrics), "references": REFERENCES, "primary": primary, "positive_control": verdict, "method": STATISTICS_METHOD}
    tables = {
        "decoders": (decoder_table(decode_paths), len(decode_paths), {}),
        "students": (students, len(student_paths), {}),
        "summary": (summary, len(student_paths), summary_notes),
    }
    written: dict[str, Path] = {}
    for name, (table, n_inputs, extra) in tables.items():
        written[f"{name}.tsv"] = _write_tsv(out_dir / f"{name}.tsv", table)
        sidecar = out_dir / f"{name}.provenance.json"
        write_json(sidecar, _sidecar(name, table, n_inputs, provenance_config, run, extra))
        written[sidecar.name] = sidecar
    return written
