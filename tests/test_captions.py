"""The report's captions and the tables' sidecars say the same thing: both come from ``methods``.

Regenerate the captions with ``python -m brainteacher captions --out workflow/report``.
"""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import jinja2
import pandas as pd
import pytest
from docutils.core import publish_doctree

from brainteacher.analysis.aggregate import _sidecar
from brainteacher.analysis.captions import CAPTION_NAMES, caption, rst_escape, stale_captions
from brainteacher.analysis.columns import COLUMNS
from brainteacher.analysis.methods import FIGURE_METHODS, METHODS, TABLE_METHODS
from brainteacher.cli import main
from brainteacher.registry import EVALUATION_PLOTS, ROI_PLOTS

REPO = Path(__file__).resolve().parents[1]
REPORT = REPO / "workflow" / "report"
# What Snakemake gives a caption's Jinja: the job's outputs and the config.
SNAKEMAKE = SimpleNamespace(
    output=SimpleNamespace(**{name: f"results/run/tables/{name}.tsv" for name in COLUMNS}),
    config={"data": {"source": "simulate"}},
)


def _words(text: str) -> str:
    return " ".join(text.split())


def _shown(rst_with_jinja: str) -> str:
    """The text a caption shows: Jinja rendered as Snakemake does, then RST parsed, failing on
    any RST warning (a stray ``*`` or ``name_`` in a method text would be one)."""
    rst = jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(rst_with_jinja).render(snakemake=SNAKEMAKE)
    doctree = publish_doctree(rst, settings_overrides={"halt_level": 2, "report_level": 5})
    return _words(doctree.astext())


def test_one_method_per_table_and_figure():
    assert set(TABLE_METHODS) == set(COLUMNS)
    assert set(FIGURE_METHODS) == {*ROI_PLOTS, *EVALUATION_PLOTS}


@pytest.mark.parametrize("name", sorted(TABLE_METHODS))
def test_sidecar_method_is_the_caption_method(name):
    sidecar = _sidecar(name, pd.DataFrame(columns=list(COLUMNS[name])), 0, {}, None, {})
    assert sidecar["method"] == METHODS[name]
    assert _words(METHODS[name]) in _shown(caption(name))


def test_committed_captions_are_generated():
    assert sorted(p.stem for p in REPORT.glob("*.rst")) == sorted(CAPTION_NAMES)
    assert stale_captions(REPORT) == [], "run: python -m brainteacher captions --out workflow/report"


@pytest.mark.parametrize("name", CAPTION_NAMES)
def test_caption_shows_its_method_verbatim(name):
    assert _words(METHODS[name]) in _shown(caption(name))


def test_rules_name_existing_captions():
    rules = "\n".join(p.read_text() for p in (REPO / "workflow" / "rules").glob("*.smk"))
    literal = re.findall(r'caption="\.\./report/([\w-]+)\.rst"', rules)
    assert set(literal) <= set(CAPTION_NAMES)


def test_rst_escape_shows_markup_characters_verbatim():
    text = "diff_vs_* and eval_*, *a* `b` |c| d_ e\\f test_reference"
    assert _shown(rst_escape(text)) == text


def test_captions_command_writes_and_checks(tmp_path):
    assert main(["-q", "captions", "--out", str(tmp_path), "--check"]) == 2
    assert main(["-q", "captions", "--out", str(tmp_path)]) == 0
    assert {p.read_text() for p in tmp_path.glob("*.rst")} == {caption(n) for n in CAPTION_NAMES}
    assert main(["-q", "captions", "--out", str(tmp_path), "--check"]) == 0
