"""Does a run's report.html render in headless Chromium with every figure in it?

Snakemake's report is one self-contained page: a JavaScript app that draws itself from data
embedded in the file. So a report can be written and still show nothing (a script error, a figure
left out). This opens it in headless Chromium, lets the app run, and checks that

- the app drew its page (its visible text shows the results menu with the Plots and Tables
  categories), with no JavaScript error on the console;
- every PNG under the run's ``plots/`` folder is embedded in the page, byte for byte;
- every table under ``tables/`` is listed.

    .venv/bin/python bench/check_report.py results/sim-quick-seed0_config     # after make run

Needs a `chromium` (Debian: apt-get install chromium). Exit status 0 when every check passes.
"""

from __future__ import annotations

import argparse
import base64
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "chrome")


def chromium() -> str:
    for name in CHROMIUM_NAMES:
        if path := shutil.which(name):
            return path
    raise SystemExit(f"no Chromium found (tried {', '.join(CHROMIUM_NAMES)}); on Debian: apt-get install chromium")


def rendered_dom(report: Path, browser: str) -> tuple[str, str]:
    """The page's DOM after its scripts ran, and Chromium's console log."""
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [
                browser,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                f"--user-data-dir={profile}",
                "--enable-logging=stderr",
                "--v=0",
                "--virtual-time-budget=20000",
                "--dump-dom",
                report.resolve().as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=180,
        )
    if done.returncode != 0:
        raise SystemExit(f"{report}: Chromium exited with {done.returncode}: {done.stderr[-1000:]}")
    return done.stdout, done.stderr


def visible_text(dom: str) -> str:
    """The page's text as a reader sees it: scripts, styles and tags removed."""
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", dom, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body)).strip()


def console_errors(log: str) -> list[str]:
    """JavaScript errors the page logged (Chromium prints them as CONSOLE lines)."""
    return [line for line in log.splitlines() if "CONSOLE" in line and re.search(r"Uncaught|Error", line)]


def check(run_dir: Path, report: Path) -> list[str]:
    """Every problem found; empty when the report is whole."""
    problems = []
    html = report.read_text(errors="replace")
    dom, log = rendered_dom(report, chromium())
    shown = visible_text(dom)
    if "Results" not in shown:
        problems.append(f"{report}: the app drew no page (visible text: {shown[:200]!r})")
    problems += [f"{report}: JavaScript error: {line}" for line in console_errors(log)]
    for png in sorted((run_dir / "plots").glob("*.png")):
        if base64.b64encode(png.read_bytes()).decode() not in html:
            problems.append(f"{report}: figure {png.name} is not in the report")
    for table in sorted((run_dir / "tables").glob("*.tsv")):
        if table.name not in html:
            problems.append(f"{report}: table {table.name} is not listed in the report")
    for category in ("Plots", "Tables"):
        if category not in shown:
            problems.append(f"{report}: the rendered page shows no '{category}' category")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path, help="the run folder, results/<run>")
    parser.add_argument("--report", type=Path, help="the report (default: RUN_DIR/report.html)")
    args = parser.parse_args()
    report = args.report or args.run_dir / "report.html"
    if not report.is_file():
        raise SystemExit(f"{report}: no report (make report)")
    problems = check(args.run_dir, report)
    for problem in problems:
        print(problem, file=sys.stderr)
    figures = len(list((args.run_dir / "plots").glob("*.png")))
    print(f"{report}: {'FAILED' if problems else 'renders'}; {figures} figures checked")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
