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

Inference uses the *students* as the units (``test_reference`` ... ``p_holm``): on each split
the brain's pairing of targets with images and each within-category shuffle draw's pairing are
trained with the same seeds (the seeds are replicates of a pairing, averaged), and under the null
that the brain targets carry nothing image-specific the pairings are exchangeable, so
:func:`stats.randomization_test` relabels them within each split. This carries training noise
(the seed-to-seed spread that flips a single run's verdict) and the luck of one pairing into the
p-value. Other contrasts take the (split, seed) runs as units. The per-image,
category-unit columns (``diff_vs_*``) hold the trained students fixed: they are description.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from brainteacher.analysis.columns import BASELINE_KIND, GLOBAL_ROI, NO_SUBJECT, REFERENCES, SUMMARY_COLUMNS
from brainteacher.analysis.comparisons import EVALUATION_SET, OUTCOMES, paired_image_test, read_scored_images
from brainteacher.analysis.stats import holm, mean_ci, randomization_test
from brainteacher.analysis.tables import group_order, sort_rows, teacher_group
from brainteacher.registry import MEAN_SOURCE, ROIS, brain_kinds, draws_of, global_kinds, teacher_kind

__all__ = [
    "summary_table",
    "unit_test",
    "gains_vs_baseline",
    "decoder_gain_points",
    "score_column",
    "with_units",
    "with_draws",
    "DEFAULT_PRIMARY",
    "MATCHED_KIND",
    "RUN_LEVEL_METRICS",
]

MIN_UNITS = 3  # fewer independent units give no interval (NA), never a zero-width one
DEFAULT_PRIMARY = {"teacher": "brain-mean", "reference": "shuffled_brain", "metric": "top1"}
OUTCOME_METRICS = tuple(OUTCOMES)
RUN_LEVEL_METRICS = ("roc_auc", "pr_auc")


def with_units(students: pd.DataFrame) -> pd.DataFrame:
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
        f"n_units_vs_{ref}",
        f"n_images_vs_{ref}",
    ]


def _no_comparison(ref: str) -> dict[str, Any]:
    """The ``*_vs_{ref}`` columns of a row that has no such comparison: NA, with 0 units and images."""
    return dict(zip(_comparison_names(ref), [math.nan] * 4 + [0, 0]))


def _comparison(
    units: pd.DataFrame, students: pd.DataFrame, scored: dict, ref: str, metric: str, level: float
) -> dict[str, Any]:
    """The ``*_vs_{ref}`` columns of one summary row."""
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
                test["n_units"],
                test["n_images"],
            ],
        )
    )


# --- students as the units ---------------------------------------------------------------------

# The references a group can be tested against: the summary's, plus the softness-matched random
# targets (the conclusion's "beyond their softness" contrast).
TEST_REFERENCES: dict[str, str | None] = {
    **REFERENCES,
    "random": "random",
    "network_matched": "network-matched",
    "shuffled_network_matched": "shuffled-network-matched",
}
MATCHED_KIND = "network-matched"  # the positive control where there is no oracle


def _reference_key(kind: str) -> str:
    """The TEST_REFERENCES key of a reference kind (shuffled_brain for shuffled-brain)."""
    return next(ref for ref, k in TEST_REFERENCES.items() if k == kind)


TEST_COLUMNS = (
    "test_reference",
    "n_seeds",
    "n_shuffle_draws",
    "n_test_units",
    "effect",
    "effect_ci_low",
    "effect_ci_high",
    "p_randomization",
    "p_holm",
)


def _helpful(metric: str) -> str:
    """The randomization test's alternative: a teacher helps when it raises accuracy, lowers NLL."""
    return "less" if metric == "nll" else "greater"


def _unit_keys(ref_kind: str | None, drawn: bool) -> list[str]:
    """The columns that name a unit: a run against the baseline; a source's split against shuffle
    draws (seeds are replicates of a pairing); a source's run against any other control."""
    if ref_kind is None:
        return ["split", "seed"]
    return ["source", "split"] if drawn else ["source", "split", "seed"]


def unit_test(
    units: pd.DataFrame, students: pd.DataFrame, ref: str, metric: str, level: float = 0.95
) -> dict[str, Any]:
    """One teacher group's students against the reference ``ref`` (a key of ``TEST_REFERENCES``), with
    the students as the units: :func:`stats.randomization_test`, one-sided in the helpful direction.

    A unit is a (split, seed) run, and also a source when the reference is a brain-derived control
    (each subject's brain student has its own controls). Against shuffle draws a unit is a split
    (and source) instead, its seeds averaged: a draw pairs targets with images the same way in
    every seed, as the brain does, so what is exchangeable under the null is the pairing, and its
    seeds are replicates of it, not units (a pairing that happens to suit the images would
    otherwise count once per seed). In a unit the group's students are averaged, and so are the
    reference's of each draw (a shuffle reference holds ``students.shuffle_draws`` draws, every
    other reference one). ``units`` and ``students`` carry ``draw`` (0 where absent). Returns the
    ``TEST_COLUMNS`` values (``p_holm`` NaN).
    """
    column = score_column(students, metric)
    ref_kind = TEST_REFERENCES[ref]
    drawn = ref_kind is not None and teacher_kind(ref_kind).drawn
    keys = _unit_keys(ref_kind, drawn)
    treated = units.groupby(keys)[column].mean().rename("treated")
    reference = _reference_rows(units, students, ref_kind)
    controls = reference.pivot_table(index=keys, columns="draw", values=column, aggfunc="mean")
    joined = treated.to_frame().join(controls, how="inner")
    seeds = units.merge(joined.reset_index()[keys], on=keys)["seed"].nunique()
    controls = joined.drop(columns="treated").to_numpy(np.float64)
    test = randomization_test(
        joined["treated"].to_numpy(np.float64),
        controls.reshape(len(joined), -1) if len(joined) else [],
        _helpful(metric),
        level,
    )
    return {
        "test_reference": ref,
        "n_seeds": int(seeds),
        "n_shuffle_draws": int(test["n_controls"]) if drawn else 0,
        "n_test_units": int(test["n_units"]),
        "effect": test["effect"],
        "effect_ci_low": test["ci_low"],
        "effect_ci_high": test["ci_high"],
        "p_randomization": test["p_value"],
        "p_holm": math.nan,
    }


def _test_reference(group: str, kind: str, primary: Mapping[str, str]) -> str | None:
    """The reference a group is tested against: the primary one for the primary teacher; the shuffle
    draws of a teacher that has them (brain, network-matched); the baseline for every other teacher
    (none for the baseline)."""
    if group == primary["teacher"]:
        return primary["reference"]
    if kind == BASELINE_KIND:
        return None
    draws = draws_of(kind)
    return "baseline" if draws is None else _reference_key(draws)


def _no_test() -> dict[str, Any]:
    return dict(zip(TEST_COLUMNS, ["", 0, 0, 0] + [math.nan] * 5))


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
    return "positive-control" if group == "oracle" or group.startswith(MATCHED_KIND) else "exploratory"


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
    ref = _test_reference(group, units["kind"].iloc[0], primary)
    row |= _no_test() if ref is None else unit_test(units, students, ref, metric, level)
    for ref in REFERENCES:
        row |= _comparison(units, students, scored, ref, metric, level)
    return row


def _add_holm(summary: pd.DataFrame) -> pd.DataFrame:
    """Fill ``p_holm`` on the primary family's rows: their randomization p, Holm over the ROIs."""
    rows = (summary["family"] == "primary").to_numpy()
    if rows.any():
        summary.loc[rows, "p_holm"] = holm(summary.loc[rows, "p_randomization"].to_numpy(np.float64))
    return summary


def with_draws(students: pd.DataFrame) -> pd.DataFrame:
    """``students`` with a ``draw`` column (0 for tables written before shuffle draws)."""
    return students if "draw" in students.columns else students.assign(draw=0)


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
    students = with_draws(students)
    scored = {folder: read_scored_images(folder) for folder in students["folder"]}
    units = with_units(students)
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
    summary = _add_holm(pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS)))
    return sort_rows(
        summary, {"teacher": group_order(), "roi": (GLOBAL_ROI, *ROIS), "metric": (*metrics, *RUN_LEVEL_METRICS)}
    )


def _run_level_row(
    group: str, roi: str, units: pd.DataFrame, students: pd.DataFrame, metric: str, level: float
) -> dict[str, Any]:
    """A summary row with the run-level mean and interval of a ranking metric; comparisons NA."""
    row = _run_level_columns(group, roi, units, students, metric, "exploratory", level) | _no_test()
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
    units = with_units(students)
    units = units[units["kind"] != BASELINE_KIND].reset_index(drop=True)
    base = students.loc[students["kind"] == BASELINE_KIND, ["split", "seed", column]].rename(columns={column: "_base"})
    merged = units[["split", "seed"]].merge(base, on=["split", "seed"], how="left", validate="many_to_one")
    units["gain"] = units[column].to_numpy(np.float64) - merged["_base"].to_numpy(np.float64)
    return units[np.isfinite(units["gain"].to_numpy())].reset_index(drop=True)


def decoder_gain_points(decoders: pd.DataFrame, students: pd.DataFrame, decoder: str) -> pd.DataFrame:
    """One row per subject x ROI: ``accuracy`` (decoder top-1, mean over splits) and ``gain``
    (brain/{subject}/{roi} top-1 gain over baseline, mean over splits x seeds), both fractions."""
    accuracy = decoders[decoders["decoder"] == decoder].groupby(["subject", "roi"])["top1"].mean().rename("accuracy")
    gains = gains_vs_baseline(students, "top1")
    brain = gains[(gains["kind"] == "brain") & (gains["source"] != MEAN_SOURCE)]
    gain = brain.groupby(["subject", "roi"])["gain"].mean()  # subject: the teacher's source
    return pd.concat([accuracy, gain], axis=1, join="inner").reset_index()
