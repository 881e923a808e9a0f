"""Do a config's verdicts hold on another float summation order and other student seeds?

Runs the embedded default (config/config.yaml, plus an optional overlay such as
config/powered.yaml) three times, each in its own run folder:

- ``base``: as shipped (every job on 1 thread);
- ``threads2``: decoders and students on 2 threads each (another float summation order, so other
  decoders and other students: what another CPU gives);
- ``seeds10``: every student seed plus 10 (the default's 0-2 become 10-12).

and tabulates, per variant, the positive control and the primary contrast per ROI (effect with
its interval, Holm p, verdict at 0.05) and the workflow's wall time, then the mean and SD of each
figure over the variants. These are the numbers the README quotes. About 5 minutes per variant of
the default on 2 CPU cores:

    .venv/bin/python bench/verdicts.py                                 # bench/out/verdicts.tsv
    .venv/bin/python bench/verdicts.py --overlay config/powered.yaml   # bench/out/verdicts-powered.tsv

A variant whose run folder is complete is not re-run (its wall time is then 0): delete
``results/verdict-*`` first to time them.
"""

from __future__ import annotations

import argparse
import subprocess
import time
from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "out"
VARIANTS = {"base": [], "threads2": ["--set-threads", "decode=2", "distill=2"], "seeds10": []}
SEED_SHIFT = {"seeds10": 10}


def _variant_config(name: str, overlay: Path | None, run: str) -> dict:
    """The overlay (if any) with the variant's run folder and, for a seed variant, shifted seeds."""
    config = yaml.safe_load(overlay.read_text()) if overlay else {}
    config["run"] = run
    if name in SEED_SHIFT:
        seeds = config.get("students", {}).get("seeds")
        if seeds is None:
            seeds = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["students"]["seeds"]
        config.setdefault("students", {})["seeds"] = [s + SEED_SHIFT[name] for s in seeds]
    return config


def run_variant(name: str, overlay: Path | None, cores: int) -> tuple[Path, float]:
    """One variant in run folder ``verdict[-<overlay>]-<name>``; returns its tables folder and the
    workflow's wall time in seconds."""
    run = "-".join(["verdict", *([overlay.stem] if overlay else []), name])
    config = OUT / "verdicts" / f"{run}.yaml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(yaml.safe_dump(_variant_config(name, overlay, run), sort_keys=False))
    tables = REPO / "results" / run / "tables"
    # The target first: --configfile, --set-threads and --quiet each take every word after them.
    command = [str(REPO / ".venv" / "bin" / "snakemake"), str((tables / "summary.tsv").relative_to(REPO))]
    command += ["--workflow-profile", "workflow/profiles/default", "--cores", str(cores), "--quiet", "rules"]
    start = time.perf_counter()
    command += [*VARIANTS[name], "--configfile", "config/config.yaml", str(config)]
    subprocess.run(command, cwd=REPO, check=True)
    return tables, time.perf_counter() - start


def verdict_rows(name: str, tables: Path, wall_s: float) -> pd.DataFrame:
    """The positive control (oracle vs baseline) and the primary rows of one run's summary."""
    summary = pd.read_csv(tables / "summary.tsv", sep="\t", keep_default_na=False, na_values=["NA"])
    top1 = summary[summary["metric"] == "top1"]
    rows = pd.concat([top1[top1["teacher"] == "oracle"], top1[top1["family"] == "primary"]])
    rows = rows.assign(variant=name, p=rows["p_holm"].fillna(rows["p_randomization"]), wall_s=round(wall_s))
    rows["significant"] = rows["p"] < 0.05
    columns = ["variant", "teacher", "roi", "n_seeds", "n_shuffle_draws", "n_test_units", "effect"]
    return rows[[*columns, "effect_ci_low", "effect_ci_high", "p", "significant", "wall_s"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--overlay", type=Path, help="a config overlay on config/config.yaml, e.g. config/powered.yaml")
    parser.add_argument("--cores", type=int, default=2)
    args = parser.parse_args()
    table = pd.concat([verdict_rows(v, *run_variant(v, args.overlay, args.cores)) for v in args.variants])
    name = "verdicts" + (f"-{args.overlay.stem}" if args.overlay else "")
    table.to_csv(OUT / f"{name}.tsv", sep="\t", index=False, float_format="%.4g")
    print(table.to_string(index=False))
    spread = table.groupby(["teacher", "roi"]).agg(
        effect_mean=("effect", "mean"),
        effect_sd=("effect", "std"),
        p_max=("p", "max"),
        verdicts=("significant", lambda s: "".join("+" if x else "-" for x in s)),
    )
    print(spread.to_string())


if __name__ == "__main__":
    main()
