"""The summary's statistics: teacher groups compared with their references, image by image.

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

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from brainteacher.columns import BASELINE_KIND, GLOBAL_ROI, NO_SUBJECT, REFERENCES, SUMMARY_COLUMNS
from brainteacher.comparisons import EVALUATION_SET, OUTCOMES, paired_image_test, read_scored_images
from brainteacher.registry import MEAN_SOURCE, ROIS, brain_kinds, global_kinds
from brainteacher.stats import holm, mean_ci
from brainteacher.tables import group_order, sort_rows, teacher_group

__all__ = [
    "summary_table",
    "gains_vs_baseline",
    "positive_control_verdict",
    "score_column",
    "DEFAULT_PRIMARY",
    "RUN_LEVEL_METRICS",
    "STATISTICS_METHOD",
]

MIN_UNITS = 3  # fewer independent units give no interval (NA), never a zero-width one
DEFAULT_PRIMARY = {"teacher": "brain-mean", "reference": "shuffled_brain", "metric": "top1"}
OUTCOME_METRICS = tuple(OUTCOMES)
RUN_LEVEL_METRICS = ("roc_auc", "pr_auc")


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


def _comparison_names(ref: str) -> list[str]:
    """The summary's ``*_vs_{ref}`` columns, in table order."""
    return [
        f"diff_vs_{ref}",
        f"diff_vs_{ref}_ci_low",
        f"diff_vs_{ref}_ci_high",
        f"p_vs_{ref}",
        f"p_holm_vs_{ref}",
        f"n_units_vs_{ref}",
        f"n_images_vs_{ref}",
    ]


def _no_comparison(ref: str) -> dict[str, Any]:
    """The ``*_vs_{ref}`` columns of a row that has no such comparison: NA, with 0 units and images."""
    return dict(zip(_comparison_names(ref), [math.nan] * 5 + [0, 0]))


def _comparison(
    units: pd.DataFrame, students: pd.DataFrame, scored: dict, ref: str, metric: str, level: float
) -> dict[str, Any]:
    """The ``*_vs_{ref}`` columns of one summary row (p_holm filled in later)."""
    ref_kind = REFERENCES[ref]
    names = _comparison_names(ref)
    if not _is_compared(units["kind"].iloc[0], ref_kind):
        return _no_comparison(ref)
    test = paired_image_test(units, _reference_rows(units, students, ref_kind), scored, metric, level)
    return dict(
        zip(
            names,
            [
                test["mean_diff"],
                test["ci_low"],
                test["ci_high"],
                test["p_value"],
                math.nan,
                test["n_units"],
                test["n_images"],
            ],
        )
    )


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


def _run_level_columns(
    group: str, roi: str, units: pd.DataFrame, students: pd.DataFrame, metric: str, family: str, level: float
) -> dict[str, Any]:
    """The columns of a summary row before its comparisons: the group's run-level mean and interval."""
    n, mean, low, high = _run_level(units, score_column(students, metric), level)
    return {
        "teacher": group,
        "roi": roi,
        "metric": metric,
        "family": family,
        "scoring_set": units["scoring_set"].iloc[0],
        "n": n,
        "mean": mean,
        "ci_low": low,
        "ci_high": high,
    }


def _summary_row(
    group: str,
    roi: str,
    units: pd.DataFrame,
    students: pd.DataFrame,
    scored: dict,
    metric: str,
    level: float,
    primary: Mapping[str, str],
) -> dict[str, Any]:
    row = _run_level_columns(group, roi, units, students, metric, _family(group, metric, primary), level)
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
    students: pd.DataFrame,
    metrics: Sequence[str] = ("top1", "top5", "nll"),
    level: float = 0.95,
    primary: Mapping[str, str] | None = None,
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
    return sort_rows(
        summary, {"teacher": group_order(), "roi": (GLOBAL_ROI, *ROIS), "metric": (*metrics, *RUN_LEVEL_METRICS)}
    )


def _run_level_row(
    group: str, roi: str, units: pd.DataFrame, students: pd.DataFrame, metric: str, level: float
) -> dict[str, Any]:
    """A summary row with the run-level mean and interval of a ranking metric; comparisons NA."""
    row = _run_level_columns(group, roi, units, students, metric, "exploratory", level)
    for ref in REFERENCES:
        row |= _no_comparison(ref)
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
        return (
            f"positive control passed: the oracle teacher beats the baseline ({stated}); the "
            "setting can detect a teacher effect"
        )
    return (
        "positive control FAILED: the oracle teacher does not reliably beat the baseline "
        f"on {metric} ({stated}); this setting cannot detect a teacher effect, so no "
        "brain-teacher result here can be read as one"
    )


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
