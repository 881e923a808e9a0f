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

from brainteacher.columns import BASELINE_KIND, GLOBAL_ROI, NO_SUBJECT, REFERENCES, SUMMARY_COLUMNS
from brainteacher.comparisons import EVALUATION_SET, OUTCOMES, paired_image_test, read_scored_images
from brainteacher.methods import TABLE_METHODS
from brainteacher.registry import MEAN_SOURCE, ROIS, brain_kinds, draws_of, global_kinds, teacher_kind
from brainteacher.stats import holm, mean_ci, randomization_test
from brainteacher.tables import group_order, sort_rows, teacher_group

__all__ = [
    "summary_table",
    "unit_test",
    "conclusion",
    "primary_of",
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


def _with_draws(students: pd.DataFrame) -> pd.DataFrame:
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
    students = _with_draws(students)
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
    units = _with_units(students)
    units = units[units["kind"] != BASELINE_KIND].reset_index(drop=True)
    base = students.loc[students["kind"] == BASELINE_KIND, ["split", "seed", column]].rename(columns={column: "_base"})
    merged = units[["split", "seed"]].merge(base, on=["split", "seed"], how="left", validate="many_to_one")
    units["gain"] = units[column].to_numpy(np.float64) - merged["_base"].to_numpy(np.float64)
    return units[np.isfinite(units["gain"].to_numpy())].reset_index(drop=True)


ALPHA = 0.05  # the level every verdict below is judged at (one-sided, after Holm where stated)
_UNITS = {"nll": (1, "nats")}
# What a teacher's targets do when they beat a reference, as a verb phrase of "targets".
_CLAIMS = {
    "shuffled_brain": "carry image-specific information",
    "random": "help beyond their softness",
    "baseline": "beat no teacher",
    "network_matched": "beat an image model's targets of their quality",
}
_OTHER_CLAIMS = {"label_smoothing": "beat label smoothing at their confidence"}
_VERSUS = {
    "shuffled_brain": "vs shuffle draws",
    "random": "vs random targets of their entropy and confidence",
    "label_smoothing": "vs label smoothing",
    "baseline": "vs no teacher",
    "network_matched": "vs network-matched targets",
}


def _effect_text(test: Mapping[str, Any], metric: str) -> str:
    """ "+2.1 pp [+0.4, +3.8]" (accuracies) or "-0.05 nats [...]" (NLL)."""
    scale, unit = _UNITS.get(metric, (100, "pp"))
    digits = 2 if metric == "nll" else 1
    effect, low, high = (scale * test[k] for k in ("effect", "effect_ci_low", "effect_ci_high"))
    return f"{effect:+.{digits}f} {unit} [{low:+.{digits}f}, {high:+.{digits}f}]"


def _versus(test: Mapping[str, Any]) -> str:
    if test["n_shuffle_draws"]:
        return f"vs {test['n_shuffle_draws']} shuffle draws"
    return _VERSUS[test["test_reference"]]


PASSED = "positive control passed"  # how a verdict that passed begins


def control_passed(verdict: str) -> bool:
    """Whether a :func:`positive_control_verdict` sentence says the positive control passed."""
    return verdict.startswith(PASSED)


NO_POSITIVE_CONTROL = (
    "no positive control in this run: without an oracle teacher (simulated data only) a null result "
    "cannot tell 'the brain teaches nothing' from 'this setting could not have detected it'"
)


def positive_control_verdict(summary: pd.DataFrame, metric: str = "top1") -> str | None:
    """One sentence on the positive control, students as units, judged on ``metric`` (the primary
    metric): passed when the one-sided randomization p is below 0.05. The oracle against the
    baseline where there is one (simulated data); else network-matched targets against their
    shuffle draws, per ROI (:func:`matched_control_verdict`); else :data:`NO_POSITIVE_CONTROL`.
    None for an empty summary."""
    if summary.empty:
        return None
    oracle = summary[summary["teacher"] == "oracle"].set_index("metric")
    if oracle.empty or metric not in oracle.index:
        return matched_control_verdict(summary, metric) or NO_POSITIVE_CONTROL
    stated = "; ".join(
        f"{m} {_effect_text(oracle.loc[m], m)}, p = {oracle.loc[m, 'p_randomization']:.2g}"
        for m in ("top1", "nll")
        if m in oracle.index
    )
    units = f"{int(oracle.loc[metric, 'n_test_units'])} runs as units"
    if oracle.loc[metric, "p_randomization"] < ALPHA:
        return (
            f"{PASSED}: the oracle teacher beats the baseline ({stated}; {units}); the setting "
            "can detect a teacher effect"
        )
    return (
        "positive control FAILED: the oracle teacher does not reliably beat the baseline "
        f"on {metric} ({stated}; {units}); this setting cannot detect a teacher effect, so no "
        "brain-teacher result here can be read as one"
    )


def matched_control_verdict(summary: pd.DataFrame, metric: str = "top1") -> str | None:
    """The positive control without an oracle: per ROI, network-matched targets (an image model at
    the brain targets' quality) against their shuffle draws. Passed where p < 0.05; a ROI where it
    fails is named, since there the setting could not have detected image-specific targets of the
    brain's quality. The mean source's rows where there are any. None without such rows."""
    rows = summary[summary["teacher"].str.startswith(MATCHED_KIND) & (summary["metric"] == metric)]
    mean_rows = rows[rows["teacher"] == f"{MATCHED_KIND}-{MEAN_SOURCE}"]
    rows = mean_rows if not mean_rows.empty else rows
    if rows.empty:
        return None
    order = [r for r in ROIS if r in set(rows["roi"])]
    by_roi = rows.set_index("roi").loc[order]
    stated = {
        roi: f"{roi} {_effect_text(row, metric)}, p = {row['p_randomization']:.2g}" for roi, row in by_roi.iterrows()
    }
    failed = [roi for roi, row in by_roi.iterrows() if not row["p_randomization"] < ALPHA]
    passed = [roi for roi in order if roi not in failed]
    what = "network-matched targets (an image model at the brain targets' quality) vs their shuffle draws"
    if not failed:
        return (
            f"{PASSED}: {what} ({'; '.join(stated.values())}); the setting can detect "
            "image-specific targets of the brain's quality"
        )
    text = (
        f"positive control FAILED in {', '.join(failed)}: {what} ({'; '.join(stated[r] for r in failed)}); "
        f"there no brain-teacher result can be read as one"
    )
    return text + (f"; passed in {', '.join(passed)} ({'; '.join(stated[r] for r in passed)})" if passed else "")


def primary_of(summary: pd.DataFrame) -> dict[str, str] | None:
    """The primary contrast a summary was made with (teacher, reference, metric); None without one."""
    rows = summary[summary["family"] == "primary"] if not summary.empty else summary
    if rows.empty:
        return None
    first = rows.iloc[0]
    return {"teacher": first["teacher"], "reference": first["test_reference"], "metric": first["metric"]}


def _contrast_text(test: Mapping[str, Any], metric: str) -> str:
    ref = test["test_reference"]
    if not test["n_test_units"]:
        return f"are not tested {_versus(test)} (no such students in this run)"
    claim = (_CLAIMS | _OTHER_CLAIMS)[ref]
    claim = claim if test["p_holm"] < ALPHA else f"are not shown to {claim}"
    return f"{claim} ({_effect_text(test, metric)} {_versus(test)}, Holm p = {test['p_holm']:.2g})"


def conclusion(students: pd.DataFrame, primary: Mapping[str, str] | None = None, level: float = 0.95) -> dict:
    """The run's answer in words, per ROI of the primary teacher, from three or four contrasts tested with
    the students as units (:func:`unit_test`, each Holm-adjusted over the ROIs):

    - against the shuffle draws: do the targets carry image-specific information?
    - against random targets matched on true-class probability and entropy (``random``; uniform
      label smoothing cannot match the entropy): do they help beyond their softness?
    - against the no-teacher baseline: do they beat no teacher?
    - where the run has ``network-matched`` students, against them: do they beat an image model's
      targets of the same quality (is what they carry more than an image model would give)?

    Returns ``{"text": str, "tests": {roi: {reference: unit_test dict}}}``; the text is empty when
    the run has no primary teacher's students.
    """
    primary = dict(primary or DEFAULT_PRIMARY)
    if students.empty:
        return {"text": "", "tests": {}}
    students = _with_draws(students)
    units = _with_units(students)
    cells = units[units["group"] == primary["teacher"]].groupby("unit_roi", sort=False)
    present = set(students["kind"])
    refs = [
        primary["reference"],
        *(r for r in _CLAIMS if r != primary["reference"] and (r != "network_matched" or MATCHED_KIND in present)),
    ]
    metric = primary["metric"]
    tests = {roi: {ref: unit_test(cell, students, ref, metric, level) for ref in refs} for roi, cell in cells}
    for ref in refs:
        adjusted = holm(np.array([tests[roi][ref]["p_randomization"] for roi in tests], np.float64))
        for roi, p in zip(tests, adjusted):
            tests[roi][ref]["p_holm"] = float(p)
    order = [r for r in ROIS if r in tests] + [r for r in tests if r not in ROIS]
    sentences = [
        f"{roi}: {primary['teacher']} targets "
        + "; ".join(_contrast_text(tests[roi][ref], primary["metric"]) for ref in refs)
        + "."
        for roi in order
    ]
    return {"text": " ".join(sentences), "tests": {roi: tests[roi] for roi in order}}


# The summary's method in words, the sidecar's ``method`` field and the report caption's text
# (brainteacher.methods keeps the one copy).
STATISTICS_METHOD = TABLE_METHODS["summary"]
