"""The README's commands work as shown: each one runs, or dry-runs, here.

`make` targets are dry-run with `make -n` (running `make run` or `make test` from a test would
recurse); snakemake commands are dry-run with `-n`; the package's commands run. Real-GOD commands
cannot dry-run without the release, so they must get as far as the check that asks for its files.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
MISSING_GOD = "place the GOD release there"


def readme_commands() -> list[str]:
    """Every command line in the README's ```bash blocks, comments dropped."""
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(), re.S)
    lines = [line.split(" #")[0].strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def test_readme_is_short_and_opens_with_the_two_commands():
    lines = README.read_text().splitlines()
    assert len(lines) <= 250
    assert readme_commands()[:2] == ["make run", "make test"]
    assert "make run" in "\n".join(lines[:40]) and "results/" in "\n".join(lines[:40])


def _dry(command: str) -> list[str]:
    words = shlex.split(command)
    if words[0] == "make":
        return ["make", "-n", *words[1:]]
    if words[0].endswith("snakemake"):
        return [*words, "-n"]
    return words


@pytest.mark.slow
@pytest.mark.parametrize("command", readme_commands())
def test_readme_command_runs_or_dry_runs(command):
    done = subprocess.run(_dry(command), cwd=REPO, capture_output=True, text=True, timeout=300)
    output = done.stdout + done.stderr
    if "config/god.yaml" in command and "brainteacher plan" not in command and "config/validate-" not in command:
        assert done.returncode != 0 and MISSING_GOD in output, output[-2000:]
    else:
        assert done.returncode == 0, output[-2000:]


def test_the_benchmarks_doc_is_what_its_measured_tables_give():
    """docs/benchmarks.md's generated sections are rewritten from bench/measured/ by bench/docs.py."""
    done = subprocess.run([sys.executable, "bench/docs.py", "--check"], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
