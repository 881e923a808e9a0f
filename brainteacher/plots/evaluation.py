"""The evaluation figures a clinician-minded user expects: accuracy against model size (the edge
trade-off), confusion matrices per teacher group, and precision-recall curves. PNG and SVG, each
written atomically, readable without a caption (see ``figures``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from brainteacher.analysis.comparisons import scoring_set
from brainteacher.analysis.summary import score_column
from brainteacher.analysis.tables import read_table
from brainteacher.formats import student_dir
from brainteacher.outputs import read_json
from brainteacher.plots.figures import (
    check_tables_from_run,
    new_figure,
    no_data,
    pp,
    read_or_empty,
    save,
    subtitle,
)

__all__ = [
    "accuracy_vs_size",
    "category_order",
    "confusion_matrices",
    "pr_curves",
    "write_evaluation_plots",
]

_ARCH_MARKERS = {"resnet18": "o", "tiny": "s"}
_ARCH_COLOURS = {"resnet18": "tab:blue", "tiny": "tab:orange"}


def _teacher_label(row: pd.Series) -> str:
    """'none', 'oracle', 'brain-mean LOC', 'brain Subject1 V1' ...: the summary's teacher groups, by ROI."""
    from brainteacher.analysis.tables import teacher_group

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
        return no_data(out_stem, title, "no students", note)
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
        subtitle(
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
            y = pp(cell[column])
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
        # Plain numbers at 1-2-5 steps: the log axis's default minor labels (2x10^0, 3x10^0, ...)
        # overlap when the range spans about a decade.
        ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
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
    return save(fig, out_stem)


def _scored_predictions(folder: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """A student's scoring-set (logits (n, C), labels (n,)): evaluation set if saved, else held-out."""
    saved = student_dir.read_predictions(folder, scoring_set(folder))
    return saved.logits, saved.labels


def category_order(ground_truth: str | Path | None, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """(order (C,), group (C,)): labels sorted by the simulator's superordinate group (then label),
    from ``ground_truth.json``; without one (real data) label order and one group."""
    if ground_truth is None or not Path(ground_truth).is_file():
        return np.arange(n_classes), np.zeros(n_classes, np.int64)

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
        return no_data(out_stem, title, "no students", note)
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
        subtitle(note, f"pooled over runs and subjects; {what}"),
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
    return save(fig, out_stem)


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
        return no_data(out_stem, title, "no students", note)
    students = _labelled(students)
    chosen = [
        ("none", "baseline (no teacher)", "0.4"),
        (_best_brain_label(students), "best brain teacher", "tab:blue"),
        ("oracle", "oracle (positive control)", "tab:green"),
    ]
    fig, ax = new_figure(
        title,
        subtitle(note, "micro-average over (image, category) decisions on the scoring images, pooled over runs"),
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
        return no_data(out_stem, title, "no baseline, brain or oracle students", note)
    n = int(students["n_categories"].iloc[0])
    ax.axhline(1 / n, color="0.5", ls=":", lw=1, label=f"chance (1/{n})")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper right", frameon=False)
    return save(fig, out_stem)


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
        check_tables_from_run(tables_dir, run)
    students = read_or_empty(tables_dir / "students.tsv")
    others = [read_table(p) for p in compare]
    return [
        *accuracy_vs_size([students, *others], out_dir / "accuracy_vs_size", note),
        *confusion_matrices(students, out_dir / "confusion_matrices", ground_truth, note),
        *pr_curves(students, out_dir / "pr_curves", note),
    ]
