"""The run's verdicts in words: the positive control (the oracle on simulated data, the matched
network teacher otherwise), the primary contrast's conclusion, and the level they are judged at.

Each verdict reads the summary table (``summary.summary_table``); ``aggregate`` logs them and
writes them to the run's provenance, the ROI plot shows them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from brainteacher.analysis.stats import holm
from brainteacher.analysis.summary import DEFAULT_PRIMARY, MATCHED_KIND, unit_test, with_draws, with_units
from brainteacher.registry import MEAN_SOURCE, ROIS

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


# What a failed positive control costs: a null cannot be read; a rejection keeps its calibrated
# false-positive rate (the test's validity does not rest on the control, only its power does).
_CANNOT_TELL = "cannot tell 'the brain teaches nothing' from 'this setting could not have detected it'"
NULL_UNREADABLE = (
    f"a brain-teacher null {_CANNOT_TELL} (a significant brain result stands: the test's false-positive "
    "rate does not depend on it)"
)


NO_POSITIVE_CONTROL = (
    "no positive control in this run: without an oracle teacher (simulated data only) or network-matched "
    f"students a null result {_CANNOT_TELL}"
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
        f"on {metric} ({stated}; {units}); this setting may not detect a teacher effect, so {NULL_UNREADABLE}"
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
        f"there {NULL_UNREADABLE}"
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
    students = with_draws(students)
    units = with_units(students)
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
# (brainteacher.analysis.methods keeps the one copy).
