"""Figures from the result tables: PNG (150 dpi) and SVG, each written atomically.

Each figure is meant to be read without a caption: a title, a subtitle (the caller's ``note``, e.g.
that the data are simulated, and what the error bars are), axis labels with units, a legend, and
labelled reference lines. A figure whose data are missing is still written, with a centred
"no data" message, so the workflow's outputs always exist.

Figures are built on ``matplotlib.figure.Figure`` with the Agg canvas, never pyplot: no global
state, no display needed.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from brainteacher.analysis.columns import BASELINE_KIND, GLOBAL_ROI
from brainteacher.analysis.stats import mean_ci, spearman
from brainteacher.analysis.summary import decoder_gain_points, gains_vs_baseline, score_column
from brainteacher.analysis.verdicts import conclusion, control_passed, positive_control_verdict, primary_of
from brainteacher.plots.figures import (
    check_tables_from_run,
    ci_yerr,
    legend_outside,
    new_figure,
    no_data,
    offsets,
    pp,
    read_or_empty,
    roi_axis,
    roi_ticks,
    save,
    subtitle,
)
from brainteacher.registry import MEAN_SOURCE, ROI_PLOTS, global_kinds

__all__ = ["roi_comparison", "decoder_accuracy", "decoder_vs_gain", "write_plots"]

LEVEL = 0.95
_SUBJECT_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")


# --- roi_comparison ------------------------------------------------------------------------------


# Each summary group's marker and colour in the ROI comparison, in drawing order (a palette, not a
# list of kinds: the groups come from the summary and brainteacher.registry). Groups without an
# entry are drawn after these in _FALLBACK_STYLE.
_GROUP_STYLES: dict[str, tuple[str, str]] = {
    "brain-mean": ("D", "tab:blue"),
    "brain": ("o", "black"),
    "shuffled-brain-mean": ("v", "tab:purple"),
    "shuffled-brain": ("v", "tab:purple"),
    "label-smoothing-mean": ("s", "tab:orange"),
    "label-smoothing": ("s", "tab:orange"),
    "class-mean-brain-mean": ("^", "tab:brown"),
    "class-mean-brain": ("^", "tab:brown"),
    "random-mean": ("x", "tab:gray"),
    "random": ("x", "tab:gray"),
    "network-matched-mean": ("p", "tab:cyan"),
    "network-matched": ("p", "tab:cyan"),
    "shuffled-network-matched-mean": ("1", "tab:cyan"),
    "shuffled-network-matched": ("1", "tab:cyan"),
    "network": ("P", "tab:green"),
    "oracle": ("*", "tab:red"),
}
_FALLBACK_STYLE = ("X", "tab:olive")
GLOBAL_SLOT = "no ROI"  # x-axis slot of the teachers that use no ROI (network, oracle)


def _global_groups() -> tuple[str, ...]:
    """Groups drawn in the 'no ROI' slot: the global kinds but the baseline (network, oracle)."""
    return tuple(k for k in global_kinds() if k != BASELINE_KIND)


def _exploratory_groups(present: set[str]) -> list[str]:
    """The summary's groups compared with the baseline, styled ones first in the palette's order."""
    known = [g for g in _GROUP_STYLES if g in present]
    return known + sorted(present - set(known) - {BASELINE_KIND})


def _scale(metric: str) -> float:
    """Accuracies are drawn in percentage points, NLL in nats."""
    return 1.0 if metric == "nll" else 100.0


def _interval_points(
    ax: Axes, rows: pd.DataFrame, column: str, xs: list[float], marker: str, colour: str, label: str, scale: float
) -> None:
    """Points at ``scale * rows[column]`` with their summary intervals (NA interval: no bar)."""
    mean = scale * rows[column].to_numpy(np.float64)
    low, high = (
        scale * rows[f"{column}_ci_low"].to_numpy(np.float64),
        scale * rows[f"{column}_ci_high"].to_numpy(np.float64),
    )
    yerr = np.nan_to_num(np.vstack([mean - low, high - mean]))
    ax.errorbar(
        xs,
        mean,
        yerr=yerr,
        fmt=marker,
        ms=7,
        color=colour,
        mfc="white" if marker == "D" else colour,
        mew=1.5,
        capsize=3,
        ls="none",
        zorder=4,
        label=label,
    )


def _reference_text(row: pd.Series) -> str:
    """What the primary teacher is compared with, in words."""
    if row["n_shuffle_draws"]:
        return f"the mean of its {int(row['n_shuffle_draws'])} shuffle draws"
    return {"baseline": "no teacher", "label_smoothing": "label smoothing"}.get(row["test_reference"], "its reference")


def _draw_primary(ax: Axes, summary: pd.DataFrame, rois: list[str], metric: str) -> None:
    primary = summary[(summary["family"] == "primary") & (summary["metric"] == metric) & summary["roi"].isin(rois)]
    if primary.empty or primary["n_test_units"].max() == 0:
        ax.text(
            0.5,
            0.5,
            "no primary contrast in the summary",
            ha="center",
            va="center",
            transform=ax.transAxes,
            color="0.3",
        )
        return
    primary = primary.set_index("roi").loc[[r for r in rois if r in set(primary["roi"])]]
    xs = [rois.index(r) for r in primary.index]
    teacher, versus = primary["teacher"].iloc[0], _reference_text(primary.iloc[0])
    label = f"{teacher} minus {versus} ({LEVEL:.0%} CI over {int(primary['n_test_units'].max())} runs)"
    _interval_points(ax, primary, "effect", xs, "D", "tab:blue", label, _scale(metric))
    for x, (_, row) in zip(xs, primary.iterrows()):
        ax.annotate(
            f"Holm p = {row['p_holm']:.2g}",
            (x, _scale(metric) * np.nan_to_num(row["effect_ci_high"], nan=row["effect"])),
            textcoords="offset points",
            xytext=(0, 6),
            ha="center",
            fontsize=8,
        )
    ax.set_title(
        f"PRIMARY (pre-registered; students as units, randomization test, Holm over ROIs):\n{teacher} minus {versus}",
        fontsize=9.5,
    )


def _draw_exploratory(ax: Axes, summary: pd.DataFrame, gains: pd.DataFrame, rois: list[str], metric: str) -> None:
    """Every teacher group's difference from the baseline per ROI (network and oracle in their own
    slot), with the summary's intervals, plus the subject teachers' per-subject means."""
    rows = summary[(summary["metric"] == metric) & summary["diff_vs_baseline"].notna()]
    groups = _exploratory_groups(set(rows["teacher"]))
    # Teachers with an ROI share the ROI slots; network and oracle share the 'no ROI' slot.
    global_groups = _global_groups()
    with_roi = [g for g in groups if g not in global_groups]
    shifts = dict(zip(with_roi, offsets(len(with_roi), 0.45)))
    shifts |= dict(zip(global_groups, offsets(len(global_groups), 0.3)))
    slots = [GLOBAL_SLOT, *rois]
    for group in groups:
        cell = rows[(rows["teacher"] == group) & rows["roi"].isin([*rois, GLOBAL_ROI])]
        xs = [slots.index(GLOBAL_SLOT if r == GLOBAL_ROI else r) + shifts[group] for r in cell["roi"]]
        marker, colour = _GROUP_STYLES.get(group, _FALLBACK_STYLE)
        _interval_points(ax, cell, "diff_vs_baseline", xs, marker, colour, group, _scale(metric))
    subjects = gains[(gains["kind"] == "brain") & (gains["source"] != MEAN_SOURCE) & gains["roi"].isin(rois)]
    if not subjects.empty and "brain" in shifts:
        per_subject = subjects.groupby(["roi", "source"])["gain"].mean().reset_index()
        xs = [slots.index(r) + shifts["brain"] + 0.08 for r in per_subject["roi"]]
        ax.scatter(
            xs,
            _scale(metric) * per_subject["gain"].to_numpy(np.float64),
            s=10,
            color="0.4",
            alpha=0.7,
            zorder=3,
            label="brain: one subject (mean over runs)",
        )
    ax.set_xticks(range(len(slots)), slots)
    ax.set_xlim(-0.6, len(slots) - 0.4)
    ax.set_title("exploratory (unadjusted):\neach teacher minus the no-teacher baseline", fontsize=9.5)


def roi_comparison(
    students: pd.DataFrame,
    out_stem: Path,
    roi_order: list[str],
    note: str = "",
    summary: pd.DataFrame | None = None,
    metric: str = "top1",
) -> list[Path]:
    """Two panels, in percentage points (nats for NLL): the pre-registered primary contrast per ROI,
    students as units (the summary's ``effect`` and its Holm p), and every teacher group minus the
    no-teacher baseline, paired image by image with categories as units (exploratory; network and
    oracle in a 'no ROI' slot; per-subject means of the subject teachers as small points). The
    y-range follows the data. The positive-control verdict and the run's conclusion
    (:func:`verdicts.conclusion`) are written under the panels. Writes ``out_stem.{png,svg}``."""
    title = f"Knowledge distillation from brain teachers: {metric} by ROI"
    if summary is None or summary.empty or students.empty:
        return no_data(out_stem, title, "no student comparisons in the summary", note)
    gains = gains_vs_baseline(students, metric)
    rois = roi_axis(roi_order, summary.loc[summary["roi"] != GLOBAL_ROI, "roi"])
    fig = Figure(figsize=(max(10.0, 2.2 * len(rois) + 6.0), 5.0))
    FigureCanvasAgg(fig)
    left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [len(rois) + 0.5, len(rois) + 1.5]})
    fig.suptitle(title, fontsize=12, fontweight="bold", y=1.04)
    scored_on = "evaluation-set" if score_column(students, metric).startswith("eval_") else "held-out"
    fig.text(
        0.5,
        0.965,
        subtitle(
            note,
            (
                f"difference in {scored_on} {metric}; left: students as units (splits vs shuffle draws); "
                f"right: paired image by image, categories as units; {LEVEL:.0%} CIs, no bar: too few units"
            ),
        ),
        ha="center",
        fontsize=8.5,
        color="0.25",
    )
    _draw_primary(left, summary, rois, metric)
    left.set_xticks(range(len(rois)), rois)
    left.set_xlim(-0.6, len(rois) - 0.4)
    _draw_exploratory(right, summary, gains, rois, metric)
    unit = "nats" if metric == "nll" else "percentage points"
    for ax in (left, right):
        ax.axhline(0.0, color="black", lw=1, zorder=2)
        ax.grid(axis="y", alpha=0.3)
        ax.margins(y=0.12)  # room for the Holm p labels above the bars
        ax.set_xlabel("ROI the teacher's fMRI was decoded from")
        ax.set_ylabel(f"difference ({unit})")
    legend_outside(right)
    verdict = positive_control_verdict(summary, metric)
    y = -0.02  # figure fraction: the texts below the axes, one under the other
    if verdict:
        text = textwrap.fill(verdict, 170)
        color = "darkgreen" if control_passed(verdict) else "firebrick"
        fig.text(0.01, y, text, fontsize=8, color=color, va="top")
        y -= _text_height(fig, text, fontsize=8) + 0.01
    primary = primary_of(summary)
    answer = conclusion(students, primary)["text"] if primary and primary["metric"] == metric else ""
    if answer:
        fig.text(0.01, y, textwrap.fill("Conclusion: " + answer, 170), fontsize=8, color="0.1", va="top")
    fig.subplots_adjust(top=0.78, wspace=0.25)
    return save(fig, out_stem)


def _text_height(fig: Figure, text: str, fontsize: float) -> float:
    """The height of ``text``'s lines at ``fontsize`` points, as a fraction of ``fig``'s height
    (matplotlib's default line spacing, 1.2)."""
    return (text.count("\n") + 1) * 1.2 * fontsize / 72 / fig.get_figheight()


# --- decoder_accuracy ----------------------------------------------------------------------------


def decoder_accuracy(decoders: pd.DataFrame, out_stem: Path, roi_order: list[str], note: str = "") -> list[Path]:
    """Out-of-fold top-1 accuracy (%) of each decoder per ROI: mean and CI over subjects x splits,
    per-subject points (mean over splits), and the chance level. Writes ``out_stem.{png,svg}``."""
    title = "Decoder out-of-fold top-1 accuracy by ROI"
    if decoders.empty:
        return no_data(out_stem, title, "no decoder results", note)
    rois = roi_axis(roi_order, decoders["roi"])
    names = sorted(decoders["decoder"].unique(), key=str)
    fig, ax = new_figure(title, "", width=max(7.0, 1.0 * len(rois) + 4.0))
    roi_ticks(ax, rois, "ROI")
    colours = matplotlib.colormaps["tab10"]
    shifts = offsets(len(names), 0.4)
    for i, (name, shift) in enumerate(zip(names, shifts)):
        rows = decoders[decoders["decoder"] == name]
        per_subject = rows.groupby(["roi", "subject"])["top1"].mean().reset_index()
        px = [rois.index(r) + shift + 0.06 for r in per_subject["roi"]]
        ax.scatter(
            px,
            pp(per_subject["top1"]),
            s=12,
            color=colours(i % 10),
            alpha=0.5,
            zorder=3,
            label=f"{name}: subjects (mean over splits)",
        )
        labelled = False
        for x, roi in enumerate(rois):
            mean, low, high = mean_ci(pp(rows.loc[rows["roi"] == roi, "top1"]), LEVEL)
            if np.isnan(mean):
                continue
            ax.errorbar(
                x + shift - 0.03,
                mean,
                yerr=ci_yerr(mean, low, high),
                fmt="o",
                ms=7,
                color=colours(i % 10),
                capsize=4,
                zorder=4,
                label=None if labelled else f"{name}: mean, {LEVEL:.0%} CI over subjects x splits",
            )
            labelled = True
    for chance in np.unique(np.round(pp(decoders["top1_chance"].dropna()), 6)):
        ax.axhline(chance, color="0.4", ls="--", lw=1, zorder=1, label=f"chance ({chance:.3g} %)")
    ax.set_ylim(bottom=0)
    ax.set_ylabel("out-of-fold top-1 accuracy (%)")
    n_subjects, n_splits = decoders["subject"].nunique(), decoders["split"].nunique()
    ax.set_title(
        subtitle(note, f"training images of each split, cross-fitted; {n_subjects} subjects x {n_splits} splits"),
        fontsize=8.5,
        color="0.25",
    )
    legend_outside(ax)
    return save(fig, out_stem)


# --- decoder_vs_gain -----------------------------------------------------------------------------


def _teacher_decoder(students: pd.DataFrame, decoders: pd.DataFrame, decoder: str | None) -> str | None:
    """The decoder the brain teachers were built from: ``decoder`` if given, else the students'
    most frequent ``decoder``, else the only decoder in ``decoders``."""
    if decoder is not None:
        return decoder
    used = (
        students.loc[students["kind"] == "brain", "decoder"].dropna() if not students.empty else pd.Series(dtype=object)
    )
    if not used.empty:
        return str(used.value_counts().index[0])
    names = decoders["decoder"].dropna().unique() if not decoders.empty else []
    return str(names[0]) if len(names) == 1 else None


def decoder_vs_gain(
    decoders: pd.DataFrame,
    students: pd.DataFrame,
    out_stem: Path,
    note: str = "",
    decoder: str | None = None,
    roi_order: Sequence[str] = (),
) -> list[Path]:
    """Across subject x ROI: decoder out-of-fold top-1 (x) against the brain teacher's top-1 KD gain
    over baseline (y), with Spearman's rho. ``decoder`` None: the one the brain teachers used;
    ``roi_order`` fixes the ROI colours (as in the other figures). Writes ``out_stem.{png,svg}``."""
    title = "Does a better decoder make a better teacher?"
    decoder = _teacher_decoder(students, decoders, decoder)
    if decoders.empty or students.empty or decoder is None:
        return no_data(out_stem, title, "needs decoder results and brain-teacher student runs", note)
    points = decoder_gain_points(decoders, students, decoder)
    if points.empty:
        return no_data(
            out_stem, title, f"no subject x ROI with both a {decoder} decoder and a brain-teacher student", note
        )
    rois = roi_axis(roi_order, points["roi"])
    subjects = sorted(points["subject"].unique(), key=str)
    colours = matplotlib.colormaps["tab10"]
    fig, ax = new_figure(title, "")
    for p in points.itertuples():
        ax.scatter(
            pp(p.accuracy),
            pp(p.gain),
            s=40,
            color=colours(rois.index(p.roi) % 10),
            marker=_SUBJECT_MARKERS[subjects.index(p.subject) % len(_SUBJECT_MARKERS)],
            edgecolor="black",
            lw=0.5,
            zorder=3,
        )
    ax.axhline(0.0, color="black", lw=1, zorder=2, label="baseline (no teacher)")
    chance = decoders.loc[decoders["decoder"] == decoder, "top1_chance"].dropna()
    if not chance.empty:
        ax.axvline(pp(chance.mean()), color="0.4", ls="--", lw=1, label=f"decoder chance ({pp(chance.mean()):.3g} %)")
    rho, p_value = spearman(points["accuracy"].to_numpy(float), points["gain"].to_numpy(float))
    handles = ax.get_legend_handles_labels()[0]
    handles += [Line2D([], [], ls="", marker="o", color=colours(i % 10), label=f"ROI {r}") for i, r in enumerate(rois)]
    handles += [
        Line2D([], [], ls="", marker=_SUBJECT_MARKERS[i % len(_SUBJECT_MARKERS)], color="0.5", mec="black", label=s)
        for i, s in enumerate(subjects)
    ]
    legend_outside(
        ax, handles=handles, title=f"Spearman ρ = {rho:.2f} (p = {p_value:.2g}), n = {len(points)}", title_fontsize=8
    )
    ax.set_xlabel(f"{decoder} decoder out-of-fold top-1 accuracy (%), mean over splits")
    ax.set_ylabel("brain-teacher top-1 gain over baseline (percentage points)")
    ax.set_title(
        subtitle(
            note,
            f"one point per subject x ROI (n = {len(points)}); gain: mean over splits x seeds; Spearman ρ = {rho:.2f}",
        ),
        fontsize=8.5,
        color="0.25",
    )
    ax.grid(alpha=0.3)
    return save(fig, out_stem)


def write_plots(
    tables_dir: str | Path,
    out_dir: str | Path,
    roi_order: list[str],
    note: str = "",
    run: Mapping[str, Any] | None = None,
    plots: Sequence[str] = ROI_PLOTS,
) -> list[Path]:
    """Read ``decoders.tsv``, ``students.tsv`` and ``summary.tsv`` from ``tables_dir`` and write
    ``plots`` (of ``roi_comparison``, ``decoder_accuracy`` and ``decoder_vs_gain``) as PNG and
    SVG into ``out_dir``. Returns the paths written.

    With ``run`` (the identity :func:`brainteacher.runs.read_run_provenance` returns), first
    refuse tables made from another dataset or config (DataError naming the sidecar)."""
    tables_dir, out_dir = Path(tables_dir), Path(out_dir)
    if run is not None:
        check_tables_from_run(tables_dir, run)
    decoders = read_or_empty(tables_dir / "decoders.tsv")
    students = read_or_empty(tables_dir / "students.tsv")
    summary = read_or_empty(tables_dir / "summary.tsv")
    draw = {
        "roi_comparison": lambda: roi_comparison(students, out_dir / "roi_comparison", roi_order, note, summary),
        "decoder_accuracy": lambda: decoder_accuracy(decoders, out_dir / "decoder_accuracy", roi_order, note),
        "decoder_vs_gain": lambda: decoder_vs_gain(
            decoders, students, out_dir / "decoder_vs_gain", note, roi_order=roi_order
        ),
    }
    return [path for plot in plots for path in draw[plot]()]
