"""Figures from the result tables: PNG (150 dpi) and SVG, each written atomically.

Each figure is meant to be read without a caption: a title, a subtitle (the caller's ``note``, e.g.
that the data are simulated, and what the error bars are), axis labels with units, a legend, and
labelled reference lines. A figure whose data are missing is still written, with a centred
"no data" message, so the workflow's outputs always exist.

Figures are built on ``matplotlib.figure.Figure`` with the Agg canvas, never pyplot: no global
state, no display needed.
"""

from __future__ import annotations

import json
import textwrap
import warnings
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
from scipy import stats as scipy_stats

from brainteacher.columns import BASELINE_KIND, COLUMNS, GLOBAL_ROI, REFERENCES
from brainteacher.comparisons import scoring_set
from brainteacher.errors import DataError
from brainteacher.formats import student_dir
from brainteacher.io import atomic_path, read_json
from brainteacher.registry import MEAN_SOURCE, global_kinds
from brainteacher.runs import check_same_run
from brainteacher.stats import mean_ci
from brainteacher.summary import gains_vs_baseline, positive_control_verdict, score_column
from brainteacher.tables import read_table

__all__ = ["roi_comparison", "decoder_accuracy", "decoder_vs_gain", "write_plots", "FORMATS", "DPI"]

FORMATS = ("png", "svg")
DPI = 150
LEVEL = 0.95
_SUBJECT_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")
# Fixed SVG ids and no date: the same data give the same SVG bytes.
_RC = {"svg.hashsalt": "brainteacher"}
_METADATA = {"png": {"Software": None}, "svg": {"Date": None}}


# --- figure plumbing -----------------------------------------------------------------------------


def _new_figure(title: str, subtitle: str, width: float = 8.0, height: float = 5.0) -> tuple[Figure, Axes]:
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    fig.suptitle(title, fontsize=12, fontweight="bold")
    if subtitle:
        ax.set_title(subtitle, fontsize=8.5, color="0.25")
    return fig, ax


def _subtitle(note: str, what: str) -> str:
    """The caller's note (e.g. 'SIMULATED data ...') on the first line, what is shown on the next."""
    return "\n".join(s for s in (note, what) if s)


def _save(fig: Figure, out_stem: Path) -> list[Path]:
    """Write ``out_stem.png`` and ``out_stem.svg`` atomically; returns their paths."""
    out_stem = Path(out_stem)
    paths = []
    with matplotlib.rc_context(_RC):
        for fmt in FORMATS:
            # name + suffix, not with_suffix: a stem may itself contain a dot.
            target = out_stem.with_name(f"{out_stem.name}.{fmt}")
            with atomic_path(target) as tmp:
                # The temporary name has no image suffix, so the format is given explicitly.
                fig.savefig(tmp, format=fmt, dpi=DPI, bbox_inches="tight", metadata=_METADATA[fmt])
            paths.append(target)
    return paths


def _no_data(out_stem: Path, title: str, reason: str, note: str) -> list[Path]:
    fig, ax = _new_figure(title, _subtitle(note, ""))
    ax.text(0.5, 0.5, f"no data\n{reason}", ha="center", va="center", fontsize=13, color="0.3", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])
    return _save(fig, out_stem)


def _roi_axis(roi_order: Sequence[str], present: Sequence[str]) -> list[str]:
    """ROIs to show, left to right: ``roi_order`` restricted to those with data, then any others."""
    present = [r for r in pd.unique(pd.Series(present)) if not pd.isna(r)]
    return [r for r in roi_order if r in present] + sorted(r for r in present if r not in roi_order)


def _offsets(n: int, width: float) -> np.ndarray:
    """(n,) evenly spread x offsets within ``width`` centred on 0 (deterministic 'jitter')."""
    return np.zeros(1) if n == 1 else np.linspace(-width / 2, width / 2, n)


def _ci_yerr(mean: float, low: float, high: float) -> np.ndarray:
    """(2, 1) asymmetric error-bar lengths; zero (no bar) where the CI is undefined (n = 1)."""
    if np.isnan(low):
        return np.zeros((2, 1))
    return np.array([[mean - low], [high - mean]])


def _legend_outside(ax: Axes, handles=None, **kwargs) -> None:
    args = {} if handles is None else {"handles": handles}
    ax.legend(**args, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False, **kwargs)


def _roi_ticks(ax: Axes, rois: Sequence[str], xlabel: str) -> None:
    ax.set_xticks(range(len(rois)), rois)
    ax.set_xlim(-0.6, len(rois) - 0.4)
    ax.set_xlabel(xlabel)
    ax.grid(axis="y", alpha=0.3)


# --- roi_comparison ------------------------------------------------------------------------------


def _pp(values: pd.Series | np.ndarray) -> np.ndarray:
    """Fractions -> percentage points."""
    return 100.0 * np.asarray(values, np.float64)


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


def _primary_reference(primary: pd.DataFrame) -> str | None:
    """The reference of the primary contrast: the one whose Holm column is filled in."""
    for ref in REFERENCES:
        if primary[f"p_holm_vs_{ref}"].notna().any():
            return ref
    return None


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


def _draw_primary(ax: Axes, summary: pd.DataFrame, rois: list[str], metric: str) -> None:
    primary = summary[(summary["family"] == "primary") & (summary["metric"] == metric) & summary["roi"].isin(rois)]
    ref = _primary_reference(primary) if not primary.empty else None
    if ref is None:
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
    teacher = primary["teacher"].iloc[0]
    _interval_points(
        ax,
        primary,
        f"diff_vs_{ref}",
        xs,
        "D",
        "tab:blue",
        f"{teacher} minus its {ref.replace('_', '-')} control ({LEVEL:.0%} CI)",
        _scale(metric),
    )
    for x, (_, row) in zip(xs, primary.iterrows()):
        ax.annotate(
            f"Holm p = {row[f'p_holm_vs_{ref}']:.2g}",
            (x, _scale(metric) * row[f"diff_vs_{ref}_ci_high"]),
            textcoords="offset points",
            xytext=(0, 6),
            ha="center",
            fontsize=8,
        )
    ax.set_title(
        f"PRIMARY (pre-registered, Holm over ROIs):\n{teacher} minus its {ref.replace('_', '-')} control", fontsize=9.5
    )


def _draw_exploratory(ax: Axes, summary: pd.DataFrame, gains: pd.DataFrame, rois: list[str], metric: str) -> None:
    """Every teacher group's difference from the baseline per ROI (network and oracle in their own
    slot), with the summary's intervals, plus the subject teachers' per-subject means."""
    rows = summary[(summary["metric"] == metric) & summary["diff_vs_baseline"].notna()]
    groups = _exploratory_groups(set(rows["teacher"]))
    # Teachers with an ROI share the ROI slots; network and oracle share the 'no ROI' slot.
    global_groups = _global_groups()
    with_roi = [g for g in groups if g not in global_groups]
    shifts = dict(zip(with_roi, _offsets(len(with_roi), 0.45)))
    shifts |= dict(zip(global_groups, _offsets(len(global_groups), 0.3)))
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
    """Two panels from the summary's per-image comparisons (categories as units), in percentage
    points: the pre-registered primary contrast per ROI (with its Holm p), and every teacher
    group minus the no-teacher baseline (exploratory; network and oracle in a 'no ROI' slot;
    per-subject means of the subject teachers as small points). The y-range follows the data.
    The positive-control verdict is written under the panels. Writes ``out_stem.{png,svg}``."""
    title = f"Knowledge distillation from brain teachers: {metric} by ROI"
    if summary is None or summary.empty or students.empty:
        return _no_data(out_stem, title, "no student comparisons in the summary", note)
    gains = gains_vs_baseline(students, metric)
    rois = _roi_axis(roi_order, summary.loc[summary["roi"] != GLOBAL_ROI, "roi"])
    fig = Figure(figsize=(max(10.0, 2.2 * len(rois) + 6.0), 5.0))
    FigureCanvasAgg(fig)
    left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [len(rois) + 0.5, len(rois) + 1.5]})
    fig.suptitle(title, fontsize=12, fontweight="bold", y=1.04)
    scored_on = "evaluation-set" if score_column(students, metric).startswith("eval_") else "held-out"
    fig.text(
        0.5,
        0.965,
        _subtitle(
            note,
            (
                f"difference in {scored_on} {metric}, paired image by image; {LEVEL:.0%} CIs with "
                "categories as units; no bar: fewer than 3 units"
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
    _legend_outside(right)
    verdict = positive_control_verdict(summary, metric)
    if verdict:
        fig.text(
            0.01,
            -0.02,
            textwrap.fill(verdict, 170),
            fontsize=8,
            color="firebrick" if "FAILED" in verdict else "darkgreen",
            va="top",
        )
    fig.subplots_adjust(top=0.78, wspace=0.25)
    return _save(fig, out_stem)


# --- decoder_accuracy ----------------------------------------------------------------------------


def decoder_accuracy(decoders: pd.DataFrame, out_stem: Path, roi_order: list[str], note: str = "") -> list[Path]:
    """Out-of-fold top-1 accuracy (%) of each decoder per ROI: mean and CI over subjects x splits,
    per-subject points (mean over splits), and the chance level. Writes ``out_stem.{png,svg}``."""
    title = "Decoder out-of-fold top-1 accuracy by ROI"
    if decoders.empty:
        return _no_data(out_stem, title, "no decoder results", note)
    rois = _roi_axis(roi_order, decoders["roi"])
    names = sorted(decoders["decoder"].unique(), key=str)
    fig, ax = _new_figure(title, "", width=max(7.0, 1.0 * len(rois) + 4.0))
    _roi_ticks(ax, rois, "ROI")
    colours = matplotlib.colormaps["tab10"]
    shifts = _offsets(len(names), 0.4)
    for i, (name, shift) in enumerate(zip(names, shifts)):
        rows = decoders[decoders["decoder"] == name]
        per_subject = rows.groupby(["roi", "subject"])["top1"].mean().reset_index()
        px = [rois.index(r) + shift + 0.06 for r in per_subject["roi"]]
        ax.scatter(
            px,
            _pp(per_subject["top1"]),
            s=12,
            color=colours(i % 10),
            alpha=0.5,
            zorder=3,
            label=f"{name}: subjects (mean over splits)",
        )
        labelled = False
        for x, roi in enumerate(rois):
            mean, low, high = mean_ci(_pp(rows.loc[rows["roi"] == roi, "top1"]), LEVEL)
            if np.isnan(mean):
                continue
            ax.errorbar(
                x + shift - 0.03,
                mean,
                yerr=_ci_yerr(mean, low, high),
                fmt="o",
                ms=7,
                color=colours(i % 10),
                capsize=4,
                zorder=4,
                label=None if labelled else f"{name}: mean, {LEVEL:.0%} CI over subjects x splits",
            )
            labelled = True
    for chance in np.unique(np.round(_pp(decoders["top1_chance"].dropna()), 6)):
        ax.axhline(chance, color="0.4", ls="--", lw=1, zorder=1, label=f"chance ({chance:.3g} %)")
    ax.set_ylim(bottom=0)
    ax.set_ylabel("out-of-fold top-1 accuracy (%)")
    n_subjects, n_splits = decoders["subject"].nunique(), decoders["split"].nunique()
    ax.set_title(
        _subtitle(note, f"training images of each split, cross-fitted; {n_subjects} subjects x {n_splits} splits"),
        fontsize=8.5,
        color="0.25",
    )
    _legend_outside(ax)
    return _save(fig, out_stem)


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


def _spearman(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(rho, two-sided p); NaN for fewer than 3 points or a constant variable."""
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return (np.nan, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = scipy_stats.spearmanr(x, y)
    return (float(res.statistic), float(res.pvalue))


def _decoder_gain_points(decoders: pd.DataFrame, students: pd.DataFrame, decoder: str) -> pd.DataFrame:
    """One row per subject x ROI: ``accuracy`` (decoder top-1, mean over splits) and ``gain``
    (brain/{subject}/{roi} top-1 gain over baseline, mean over splits x seeds), both fractions."""
    accuracy = decoders[decoders["decoder"] == decoder].groupby(["subject", "roi"])["top1"].mean().rename("accuracy")
    gains = gains_vs_baseline(students, "top1")
    brain = gains[(gains["kind"] == "brain") & (gains["source"] != MEAN_SOURCE)]
    gain = brain.groupby(["subject", "roi"])["gain"].mean()  # subject: the teacher's source
    return pd.concat([accuracy, gain], axis=1, join="inner").reset_index()


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
        return _no_data(out_stem, title, "needs decoder results and brain-teacher student runs", note)
    points = _decoder_gain_points(decoders, students, decoder)
    if points.empty:
        return _no_data(
            out_stem, title, f"no subject x ROI with both a {decoder} decoder and a brain-teacher student", note
        )
    rois = _roi_axis(roi_order, points["roi"])
    subjects = sorted(points["subject"].unique(), key=str)
    colours = matplotlib.colormaps["tab10"]
    fig, ax = _new_figure(title, "")
    for p in points.itertuples():
        ax.scatter(
            _pp(p.accuracy),
            _pp(p.gain),
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
        ax.axvline(_pp(chance.mean()), color="0.4", ls="--", lw=1, label=f"decoder chance ({_pp(chance.mean()):.3g} %)")
    rho, p_value = _spearman(points["accuracy"].to_numpy(float), points["gain"].to_numpy(float))
    handles = ax.get_legend_handles_labels()[0]
    handles += [Line2D([], [], ls="", marker="o", color=colours(i % 10), label=f"ROI {r}") for i, r in enumerate(rois)]
    handles += [
        Line2D([], [], ls="", marker=_SUBJECT_MARKERS[i % len(_SUBJECT_MARKERS)], color="0.5", mec="black", label=s)
        for i, s in enumerate(subjects)
    ]
    _legend_outside(
        ax, handles=handles, title=f"Spearman ρ = {rho:.2f} (p = {p_value:.2g}), n = {len(points)}", title_fontsize=8
    )
    ax.set_xlabel(f"{decoder} decoder out-of-fold top-1 accuracy (%), mean over splits")
    ax.set_ylabel("brain-teacher top-1 gain over baseline (percentage points)")
    ax.set_title(
        _subtitle(
            note,
            f"one point per subject x ROI (n = {len(points)}); gain: mean over splits x seeds; Spearman ρ = {rho:.2f}",
        ),
        fontsize=8.5,
        color="0.25",
    )
    ax.grid(alpha=0.3)
    return _save(fig, out_stem)


# --- all figures ---------------------------------------------------------------------------------


def _read_or_empty(path: Path) -> pd.DataFrame:
    """A result table, or an empty one if its file is missing (the figure then says 'no data')."""
    return read_table(path) if path.exists() else pd.DataFrame()


def _check_tables_from_run(tables_dir: Path, run: Mapping[str, Any]) -> None:
    """Refuse any table present whose sidecar records another dataset or config than ``run``:
    the plots would show its numbers under this run's title and note."""
    for name in COLUMNS:  # the tables' names
        if (tables_dir / f"{name}.tsv").exists():
            sidecar = tables_dir / f"{name}.provenance.json"
            try:
                recorded = read_json(sidecar).get("run")
            except (OSError, json.JSONDecodeError, AttributeError) as err:
                raise DataError(sidecar, f"cannot read the table's provenance ({err})") from None
            check_same_run(sidecar, recorded, run)


def write_plots(
    tables_dir: str | Path,
    out_dir: str | Path,
    roi_order: list[str],
    note: str = "",
    run: Mapping[str, Any] | None = None,
) -> list[Path]:
    """Read ``decoders.tsv`` and ``students.tsv`` from ``tables_dir`` and write
    ``roi_comparison``, ``decoder_accuracy`` and ``decoder_vs_gain`` as PNG and SVG into
    ``out_dir``. Returns the six paths.

    With ``run`` (the identity :func:`brainteacher.runs.read_run_provenance` returns), first
    refuse tables made from another dataset or config (DataError naming the sidecar)."""
    tables_dir, out_dir = Path(tables_dir), Path(out_dir)
    if run is not None:
        _check_tables_from_run(tables_dir, run)
    decoders = _read_or_empty(tables_dir / "decoders.tsv")
    students = _read_or_empty(tables_dir / "students.tsv")
    summary = _read_or_empty(tables_dir / "summary.tsv")
    return [
        *roi_comparison(students, out_dir / "roi_comparison", roi_order, note, summary),
        *decoder_accuracy(decoders, out_dir / "decoder_accuracy", roi_order, note),
        *decoder_vs_gain(decoders, students, out_dir / "decoder_vs_gain", note, roi_order=roi_order),
    ]


# --- issue 14: edge trade-off, confusion matrices, PR curves --------------------------------------

EVALUATION_PLOTS = ("accuracy_vs_size", "confusion_matrices", "pr_curves")
_ARCH_MARKERS = {"resnet18": "o", "tiny": "s"}
_ARCH_COLOURS = {"resnet18": "tab:blue", "tiny": "tab:orange"}


def _teacher_label(row: pd.Series) -> str:
    """'none', 'oracle', 'brain-mean LOC', 'brain Subject1 V1' ...: the summary's teacher groups, by ROI."""
    from brainteacher.tables import teacher_group

    group = teacher_group(row["kind"], row["source"])
    return group if pd.isna(row["roi"]) else f"{group} {row['roi']}"


def _labelled(students: pd.DataFrame) -> pd.DataFrame:
    out = students.copy()
    out["label"] = [_teacher_label(r) for _, r in out.iterrows()] if len(out) else []
    return out


def accuracy_vs_size(tables: Sequence[pd.DataFrame], out_stem: Path, note: str = "") -> list[Path]:
    """Scoring-set top-1 (%) against checkpoint size (MB, log axis), one panel per teacher, one
    point per student architecture (mean over runs and subjects; bars: min-max over runs), each
    labelled with its parameters and batch-1 CPU latency. ``tables`` are students.tsv tables, e.g.
    a ResNet-18 run and a tiny run. Writes ``out_stem.{png,svg}``."""
    title = "Edge trade-off: accuracy against student size, per teacher"
    students = (
        pd.concat([t for t in tables if not t.empty], ignore_index=True)
        if any(not t.empty for t in tables)
        else pd.DataFrame()
    )
    if students.empty:
        return _no_data(out_stem, title, "no students", note)
    column = score_column(students, "top1")
    students = _labelled(students)
    labels = list(pd.unique(students["label"]))
    ncols = min(4, len(labels))
    nrows = int(np.ceil(len(labels) / ncols))
    height = 2.9 * nrows + 1.2
    fig = Figure(figsize=(3.4 * ncols + 1.5, height))
    FigureCanvasAgg(fig)
    axes = np.atleast_1d(fig.subplots(nrows, ncols, sharey=True, squeeze=False)).ravel()
    scored_on = "evaluation-set" if column.startswith("eval_") else "held-out"
    fig.suptitle(title, fontsize=12, fontweight="bold")
    fig.text(
        0.5,
        0.955,
        _subtitle(
            note, f"{scored_on} top-1, mean over runs (bars: min to max); labels: parameters, CPU latency at batch 1"
        ),
        ha="center",
        fontsize=8.5,
        color="0.25",
        va="top",
    )
    for ax, label in zip(axes, labels):
        rows = students[students["label"] == label]
        for arch, cell in rows.groupby("arch", sort=True):
            y = _pp(cell[column])
            x = float(cell["size_mb"].mean())
            ax.errorbar(
                [x],
                [y.mean()],
                yerr=[[y.mean() - y.min()], [y.max() - y.mean()]],
                fmt=_ARCH_MARKERS.get(arch, "D"),
                color=_ARCH_COLOURS.get(arch, "0.3"),
                ms=7,
                capsize=3,
                label=arch,
            )
            latency = cell["latency_ms_batch1"].mean() if "latency_ms_batch1" in cell else np.nan
            text = f"{int(cell['n_parameters'].iloc[0]):,} p" + ("" if pd.isna(latency) else f"\n{latency:.2g} ms")
            ax.annotate(text, (x, y.mean()), textcoords="offset points", xytext=(6, -4), fontsize=7, color="0.3")
        ax.set_xscale("log")
        ax.set_title(label, fontsize=9)
        ax.grid(alpha=0.3)
        ax.set_xlabel("checkpoint size (MB, log)", fontsize=8)
    sizes = students["size_mb"].to_numpy(np.float64)
    for ax in axes[: len(labels)]:
        ax.set_xlim(np.nanmin(sizes) / 2, np.nanmax(sizes) * 8)  # one x range for every panel, room for the labels
    for ax in axes[len(labels) :]:
        ax.set_visible(False)
    for ax in axes[::ncols]:
        ax.set_ylabel(f"{scored_on} top-1 (%)", fontsize=8)
    chance = students["top1_chance"].iloc[0] if "top1_chance" in students else np.nan
    if np.isfinite(chance):
        for ax in axes[: len(labels)]:
            ax.axhline(100 * chance, color="0.5", ls=":", lw=1)
    handles = [
        Line2D([], [], marker=_ARCH_MARKERS.get(a, "D"), ls="", color=_ARCH_COLOURS.get(a, "0.3"), label=a)
        for a in sorted(pd.unique(students["arch"]))
    ]
    handles.append(Line2D([], [], color="0.5", ls=":", label="chance"))
    fig.legend(handles=handles, loc="upper right", fontsize=8, frameon=False)
    fig.subplots_adjust(top=1 - 1.15 / height, hspace=0.55, wspace=0.12)  # about an inch for the titles
    return _save(fig, out_stem)


def _scored_predictions(folder: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """A student's scoring-set (logits (n, C), labels (n,)): evaluation set if saved, else held-out."""
    logits, _, labels = student_dir.prediction_files(scoring_set(folder))
    return np.load(Path(folder) / logits), np.load(Path(folder) / labels).astype(np.int64)


def category_order(ground_truth: str | Path | None, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """(order (C,), group (C,)): labels sorted by the simulator's superordinate group (then label),
    from ``ground_truth.json``; without one (real data) label order and one group."""
    if ground_truth is None or not Path(ground_truth).is_file():
        return np.arange(n_classes), np.zeros(n_classes, np.int64)
    from brainteacher.io import read_json

    cats = read_json(ground_truth)["categories"]
    group = np.zeros(n_classes, np.int64)
    for c in cats:
        group[int(c["label"])] = int(c["group"])
    return np.lexsort((np.arange(n_classes), group)), group


def confusion_matrices(
    students: pd.DataFrame, out_stem: Path, ground_truth: str | Path | None = None, note: str = ""
) -> list[Path]:
    """One row-normalised confusion matrix per teacher (group x ROI), pooled over its runs and
    subjects, on the scoring images; categories ordered by superordinate group (simulated data),
    group boundaries drawn. Writes ``out_stem.{png,svg}``."""
    from brainteacher.metrics import confusion_matrix

    title = "Confusion matrices per teacher (rows: true category, fraction of its images)"
    if students.empty:
        return _no_data(out_stem, title, "no students", note)
    students = _labelled(students)
    labels = list(pd.unique(students["label"]))
    n = int(students["n_categories"].iloc[0])
    order, group = category_order(ground_truth, n)
    ncols = min(4, len(labels))
    nrows = int(np.ceil(len(labels) / ncols))
    height = 3.3 * nrows + 1.2
    fig = Figure(figsize=(3.3 * ncols + 1.2, height))
    FigureCanvasAgg(fig)
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    fig.subplots_adjust(top=1 - 1.2 / height)
    fig.suptitle(title, fontsize=12, fontweight="bold")
    what = (
        "categories ordered by superordinate group (lines: group boundaries)"
        if ground_truth and Path(ground_truth).is_file()
        else "categories in label order"
    )
    fig.text(
        0.5,
        0.955,
        _subtitle(note, f"pooled over runs and subjects; {what}"),
        ha="center",
        fontsize=8.5,
        color="0.25",
        va="top",
    )
    image = None
    bounds = np.flatnonzero(np.diff(group[order])) + 0.5
    counts_of = {
        label: sum(
            confusion_matrix(*_scored_predictions(f), n) for f in students.loc[students["label"] == label, "folder"]
        )
        for label in labels
    }
    rates = {label: c / np.maximum(c.sum(axis=1, keepdims=True), 1) for label, c in counts_of.items()}
    vmax = max(float(r.max()) for r in rates.values())  # one colour scale for every panel, so they compare
    for ax, label in zip(axes, labels):
        counts, rate = counts_of[label], rates[label]
        image = ax.imshow(rate[np.ix_(order, order)], vmin=0, vmax=vmax, cmap="viridis", interpolation="nearest")
        for b in bounds:
            ax.axhline(b, color="white", lw=0.8)
            ax.axvline(b, color="white", lw=0.8)
        ax.set_title(f"{label}\n(top-1 {np.trace(counts) / counts.sum():.0%})", fontsize=8.5)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel("predicted", fontsize=8)
        ax.set_ylabel("true", fontsize=8)
    for ax in axes[len(labels) :]:
        ax.set_visible(False)
    fig.colorbar(image, ax=list(axes[: len(labels)]), shrink=0.8, label="fraction of the true category's images")
    return _save(fig, out_stem)


def _best_brain_label(students: pd.DataFrame) -> str | None:
    """The brain teacher (group x ROI, kind brain) with the highest mean scoring top-1 (display only)."""
    brain = students[students["kind"] == "brain"]
    if brain.empty:
        return None
    return str(brain.groupby("label")[score_column(students, "top1")].mean().idxmax())


def pr_curves(students: pd.DataFrame, out_stem: Path, note: str = "") -> list[Path]:
    """Micro-averaged one-vs-rest precision-recall curves of the baseline, the best brain teacher
    (highest mean scoring top-1 among brain teachers, chosen for display) and the oracle, pooled
    over runs; the legend gives each one's macro PR-AUC (mean over runs). Writes ``out_stem.{png,svg}``."""
    from brainteacher.metrics import micro_pr_curve, softmax

    title = "Precision-recall: baseline, best brain teacher, oracle"
    if students.empty:
        return _no_data(out_stem, title, "no students", note)
    students = _labelled(students)
    chosen = [
        ("none", "baseline (no teacher)", "0.4"),
        (_best_brain_label(students), "best brain teacher", "tab:blue"),
        ("oracle", "oracle (positive control)", "tab:green"),
    ]
    fig, ax = _new_figure(
        title,
        _subtitle(note, "micro-average over (image, category) decisions on the scoring images, pooled over runs"),
        width=7.0,
        height=5.0,
    )
    auc_column = score_column(students, "pr_auc") if "pr_auc" in students else None
    drawn = 0
    for label, role, colour in chosen:
        rows = students[students["label"] == label] if label else students.iloc[0:0]
        if rows.empty:
            continue
        preds = [_scored_predictions(f) for f in rows["folder"]]
        probs = np.concatenate([softmax(z, axis=1) for z, _ in preds])
        precision, recall = micro_pr_curve(probs, np.concatenate([y for _, y in preds]))
        keep = np.unique(
            np.linspace(0, len(recall) - 1, min(len(recall), 1500)).round().astype(int)
        )  # a lighter SVG, same curve to the eye
        precision, recall = precision[keep], recall[keep]
        auc = f", macro PR-AUC {rows[auc_column].mean():.2f}" if auc_column else ""
        ax.plot(
            np.r_[0.0, recall],
            np.r_[precision[0], precision],
            color=colour,
            lw=1.6,
            drawstyle="steps-post",
            label=f"{role}: {label}{auc}",
        )
        drawn += 1
    if not drawn:
        return _no_data(out_stem, title, "no baseline, brain or oracle students", note)
    n = int(students["n_categories"].iloc[0])
    ax.axhline(1 / n, color="0.5", ls=":", lw=1, label=f"chance (1/{n})")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper right", frameon=False)
    return _save(fig, out_stem)


def write_evaluation_plots(
    tables_dir: str | Path,
    out_dir: str | Path,
    *,
    ground_truth: str | Path | None = None,
    compare: Sequence[str | Path] = (),
    note: str = "",
    run: Mapping[str, Any] | None = None,
) -> list[Path]:
    """``accuracy_vs_size`` (this run's students.tsv plus the ``compare`` tables, e.g. another
    architecture's run), ``confusion_matrices`` and ``pr_curves``, as PNG and SVG in ``out_dir``.
    With ``run``, tables of another dataset or config are refused first (as in :func:`write_plots`)."""
    tables_dir, out_dir = Path(tables_dir), Path(out_dir)
    if run is not None:
        _check_tables_from_run(tables_dir, run)
    students = _read_or_empty(tables_dir / "students.tsv")
    others = [read_table(p) for p in compare]
    return [
        *accuracy_vs_size([students, *others], out_dir / "accuracy_vs_size", note),
        *confusion_matrices(students, out_dir / "confusion_matrices", ground_truth, note),
        *pr_curves(students, out_dir / "pr_curves", note),
    ]
