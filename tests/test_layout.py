"""The package's layout: stage subpackages whose ``__init__`` loads nothing heavy, modules of a
readable size, and the parse-time imports of the workflow free of torch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "brainteacher"
STAGES = ("data", "decode", "nn", "distill", "analysis", "plots", "formats", "cli")
MAX_LINES = 500


def _loaded_after(statement: str) -> list[str]:
    """The heavy libraries a fresh interpreter has loaded after running ``statement``."""
    heavy = "{'torch', 'matplotlib'}"
    code = f"import sys, json; {statement}; print(json.dumps(sorted({heavy} & set(sys.modules))))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_every_stage_is_a_subpackage_with_a_docstring():
    for stage in STAGES:
        init = PACKAGE / stage / "__init__.py"
        assert init.is_file(), f"brainteacher/{stage}/ is not a package"
        assert init.read_text().lstrip().startswith('"""'), f"{init} says nowhere what lives there"


@pytest.mark.parametrize("stage", STAGES)
def test_importing_a_stage_loads_neither_torch_nor_matplotlib(stage):
    assert _loaded_after(f"import brainteacher.{stage}") == []


def test_the_workflows_parse_time_imports_load_no_torch():
    # What workflow/rules/*.smk import at the top, i.e. while Snakemake parses the workflow.
    imports = set()
    for rules in (ROOT / "workflow" / "rules").glob("*.smk"):
        for line in rules.read_text().splitlines():
            if line.startswith("from brainteacher") or line.startswith("import brainteacher"):
                imports.add(line.split()[1])
    assert {"brainteacher.registry", "brainteacher.configs"} <= imports
    assert _loaded_after("; ".join(f"import {module}" for module in sorted(imports))) == []


def test_no_module_is_over_500_lines():
    sizes = {p.relative_to(ROOT).as_posix(): len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py")}
    assert {path: n for path, n in sizes.items() if n > MAX_LINES} == {}
