"""Figure plumbing shared by ``plots`` and ``evaluation_plots``: PNG (150 dpi) and SVG written
atomically with fixed metadata (the same data give the same bytes), titles and subtitles, a
"no data" figure, ROI axes and interval bars, and reading a run's tables for drawing.

Figures are built on ``matplotlib.figure.Figure`` with the Agg canvas, never pyplot: no global
state, no display needed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from brainteacher.analysis.columns import COLUMNS
from brainteacher.analysis.tables import read_table
from brainteacher.errors import DataError
from brainteacher.outputs import atomic_path, read_json
from brainteacher.runs import check_same_run

__all__ = [
    "FORMATS",
    "DPI",
    "pp",
    "new_figure",
    "subtitle",
    "save",
    "no_data",
    "roi_axis",
    "offsets",
    "ci_yerr",
    "legend_outside",
    "roi_ticks",
    "read_or_empty",
    "check_tables_from_run",
]

FORMATS = ("png", "svg")
DPI = 150
# Fixed SVG ids and no date: the same data give the same SVG bytes.
_RC = {"svg.hashsalt": "brainteacher"}
_METADATA = {"png": {"Software": None}, "svg": {"Date": None}}


def pp(values: pd.Series | np.ndarray) -> np.ndarray:
    """Fractions -> percentage points."""
    return 100.0 * np.asarray(values, np.float64)


def new_figure(title: str, subtitle: str, width: float = 8.0, height: float = 5.0) -> tuple[Figure, Axes]:
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    fig.suptitle(title, fontsize=12, fontweight="bold")
    if subtitle:
        ax.set_title(subtitle, fontsize=8.5, color="0.25")
    return fig, ax


def subtitle(note: str, what: str) -> str:
    """The caller's note (e.g. 'SIMULATED data ...') on the first line, what is shown on the next."""
    return "\n".join(s for s in (note, what) if s)


def save(fig: Figure, out_stem: Path) -> list[Path]:
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


NO_DATA_ID = "no-data"  # the SVG id of a figure's "no data" message: how a check tells it from a drawn one


def no_data(out_stem: Path, title: str, reason: str, note: str) -> list[Path]:
    fig, ax = new_figure(title, subtitle(note, ""))
    ax.text(
        0.5,
        0.5,
        f"no data\n{reason}",
        ha="center",
        va="center",
        fontsize=13,
        color="0.3",
        transform=ax.transAxes,
        gid=NO_DATA_ID,
    )
    ax.set_xticks([])
    ax.set_yticks([])
    return save(fig, out_stem)


def roi_axis(roi_order: Sequence[str], present: Sequence[str]) -> list[str]:
    """ROIs to show, left to right: ``roi_order`` restricted to those with data, then any others."""
    present = [r for r in pd.unique(pd.Series(present)) if not pd.isna(r)]
    return [r for r in roi_order if r in present] + sorted(r for r in present if r not in roi_order)


def offsets(n: int, width: float) -> np.ndarray:
    """(n,) evenly spread x offsets within ``width`` centred on 0 (deterministic 'jitter')."""
    return np.zeros(1) if n == 1 else np.linspace(-width / 2, width / 2, n)


def ci_yerr(mean: float, low: float, high: float) -> np.ndarray:
    """(2, 1) asymmetric error-bar lengths; zero (no bar) where the CI is undefined (n = 1)."""
    if np.isnan(low):
        return np.zeros((2, 1))
    return np.array([[mean - low], [high - mean]])


def legend_outside(ax: Axes, handles=None, **kwargs) -> None:
    args = {} if handles is None else {"handles": handles}
    ax.legend(**args, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False, **kwargs)


def roi_ticks(ax: Axes, rois: Sequence[str], xlabel: str) -> None:
    ax.set_xticks(range(len(rois)), rois)
    ax.set_xlim(-0.6, len(rois) - 0.4)
    ax.set_xlabel(xlabel)
    ax.grid(axis="y", alpha=0.3)


def read_or_empty(path: Path) -> pd.DataFrame:
    """A result table, or an empty one if its file is missing (the figure then says 'no data')."""
    return read_table(path) if path.exists() else pd.DataFrame()


def check_tables_from_run(tables_dir: Path, run: Mapping[str, Any]) -> None:
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
