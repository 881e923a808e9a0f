"""docs/columns.md is the column reference users read: it must be what brainteacher.analysis.columns gives now."""

from __future__ import annotations

from pathlib import Path

from brainteacher.analysis.columns import TABLE_FILES, markdown

DOC = Path(__file__).resolve().parents[1] / "docs" / "columns.md"


def test_column_reference_is_current():
    assert DOC.read_text() == markdown(), (
        "docs/columns.md is stale: python -m brainteacher columns --out docs/columns.md"
    )


def test_column_reference_lists_every_column_of_every_table():
    text = DOC.read_text()
    for name, (path, _, docs) in TABLE_FILES.items():
        section = text.split(f"## {name}\n", 1)[1].split("\n## ", 1)[0]
        assert f"`{path}`" in section
        for column in docs:
            assert f"| `{column}` |" in section, (name, column)
