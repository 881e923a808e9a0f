"""Do the default's verdicts hold on another float summation order and another base seed?

Runs the embedded default (config/config.yaml) three times, each in its own run folder:

- ``base``: as shipped (every job on 1 thread);
- ``threads2``: decoders and students on 2 threads each (another float summation order, so other
  decoders and other students: what another CPU gives);
- ``seeds10``: student seeds 10-11 instead of the default's 0-1.

and tabulates, per variant, the positive control and the primary contrast per ROI (effect with
its interval, Holm p, verdict at 0.05), then the mean and SD of each figure over the variants.
These are the numbers the README quotes. About 4 minutes per variant on 2 CPU cores:

    .venv/bin/python bench/verdicts.py            # writes bench/out/verdicts.tsv
"""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "out"
VARIANTS: dict[str, tuple[dict, list[str]]] = {
    "base": ({}, []),
    "threads2": ({}, ["--set-threads", "decode=2", "distill=2"]),
    "seeds10": ({"students": {"seeds": [10, 11]}}, []),
}


def run_variant(name: str, overlay: dict, extra: list[str], cores: int) -> Path:
    """The default with ``overlay`` in run folder ``verdict-<name>``; returns its tables folder."""
    config = OUT / "verdicts" / f"{name}.yaml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(yaml.safe_dump({"run": f"verdict-{name}", **overlay}, sort_keys=False))
    tables = REPO / "results" / f"verdict-{name}" / "tables"
    # The target first: --configfile, --set-threads and --quiet each take every word after them.
    command = [str(REPO / ".venv" / "bin" / "snakemake"), str((tables / "summary.tsv").relative_to(REPO))]
    command += ["--workflow-profile", "workflow/profiles/default", "--cores", str(cores), "--quiet", "rules"]
    subprocess.run([*command, *extra, "--configfile", "config/config.yaml", str(config)], cwd=REPO, check=True)
    return tables


def verdict_rows(name: str, tables: Path) -> pd.DataFrame:
    """The positive control (oracle vs baseline) and the primary rows of one run's summary."""
    summary = pd.read_csv(tables / "summary.tsv", sep="\t", keep_default_na=False, na_values=["NA"])
    top1 = summary[summary["metric"] == "top1"]
    rows = pd.concat([top1[top1["teacher"] == "oracle"], top1[top1["family"] == "primary"]])
    rows = rows.assign(variant=name, p=rows["p_holm"].fillna(rows["p_randomization"]))
    rows["significant"] = rows["p"] < 0.05
    columns = ["variant", "teacher", "roi", "n_test_units", "effect", "effect_ci_low", "effect_ci_high", "p"]
    return rows[[*columns, "significant"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--cores", type=int, default=2)
    args = parser.parse_args()
    table = pd.concat([verdict_rows(v, run_variant(v, *VARIANTS[v], args.cores)) for v in args.variants])
    table.to_csv(OUT / "verdicts.tsv", sep="\t", index=False, float_format="%.4g")
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
