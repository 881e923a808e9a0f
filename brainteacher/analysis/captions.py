"""The Snakemake report's captions (``workflow/report/<name>.rst``), generated from ``methods``.

A caption is a lead saying what the file is, the output's method text from
:mod:`brainteacher.analysis.methods` (for a table, the very text of its sidecar's ``method`` field), and for
a table a closing paragraph on its sidecar and the data source. Snakemake renders a caption as a
Jinja template (``snakemake.output``, ``snakemake.config``) and then as RST, so the method text is
escaped for RST and must hold no Jinja syntax. Regenerate the files with
``brainteacher captions --out workflow/report``; ``tests/test_captions.py`` fails when the
committed ones differ.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

from brainteacher.analysis.methods import METHODS, TABLE_METHODS
from brainteacher.outputs import atomic_path

__all__ = ["CAPTION_NAMES", "rst_escape", "caption", "write_captions", "stale_captions"]

CAPTION_NAMES = tuple(METHODS)
_WIDTH = 100  # the captions' line length, as the rest of the repository's text
_JINJA = ("{{", "{%", "{#")

# What each table file is, before its method. Jinja without spaces, so that wrapping never splits
# an expression.
_LEADS: dict[str, str] = {
    "decoders": (
        "Brain decoders, one row per subject x ROI x decoder x split (``{{snakemake.output.decoders}}``; the "
        "run's dataset and config are named in ``provenance.json`` beside it)."
    ),
    "calibration": "Decoder calibration, one row per decoder x ROI (``{{snakemake.output.calibration}}``).",
    "students": "Students, one row per teacher x split x seed (``{{snakemake.output.students}}``).",
    "summary": ("The students compared, one row per teacher group x ROI x metric (``{{snakemake.output.summary}}``)."),
}


def _table_tail(name: str) -> str:
    """A table caption's last paragraph: where its columns are documented, and the data source."""
    return (
        f"Every column is documented in ``{name}.provenance.json``, whose ``method`` field holds the "
        'paragraph above. Data source: {{snakemake.config["data"]["source"]}} (``simulate`` means '
        "simulated data: a demo, not a finding about the brain)."
    )


def rst_escape(text: str) -> str:
    """``text`` as RST shows it verbatim: a backslash before each character RST would read as markup.

    Asterisks, backquotes and vertical bars open emphasis, literals and substitutions; a word that
    ends in an underscore (diff_vs_*) is a hyperlink reference; a backslash itself escapes."""
    text = re.sub(r"([\\*`|])", r"\\\1", text)
    return re.sub(r"_(?!\w)", r"\\_", text)


def _wrap(paragraph: str) -> str:
    # Never inside a word: an escape stays with its character, a Jinja expression stays whole.
    return textwrap.fill(paragraph, _WIDTH, break_long_words=False, break_on_hyphens=False)


def caption(name: str) -> str:
    """The caption file of output ``name`` (a key of ``methods.METHODS``), as RST with Jinja.

    Raises KeyError for an unknown name and ValueError if its method text holds Jinja syntax
    (Snakemake would evaluate it)."""
    method = METHODS[name]
    if any(mark in method for mark in _JINJA):
        raise ValueError(f"the method text of {name} holds Jinja syntax ({', '.join(_JINJA)})")
    paragraphs = [_LEADS.get(name, ""), rst_escape(method), _table_tail(name) if name in TABLE_METHODS else ""]
    return "\n\n".join(_wrap(p) for p in paragraphs if p) + "\n"


def write_captions(out_dir: str | Path) -> list[Path]:
    """Write ``<name>.rst`` for every output into ``out_dir``, each atomically; returns the paths."""
    written = []
    for name in CAPTION_NAMES:
        path = Path(out_dir) / f"{name}.rst"
        with atomic_path(path) as tmp:
            tmp.write_text(caption(name), encoding="utf-8")
        written.append(path)
    return written


def stale_captions(out_dir: str | Path) -> list[str]:
    """The outputs whose caption in ``out_dir`` is missing or differs from :func:`caption`."""
    stale = []
    for name in CAPTION_NAMES:
        path = Path(out_dir) / f"{name}.rst"
        if not path.is_file() or path.read_text(encoding="utf-8") != caption(name):
            stale.append(name)
    return stale
