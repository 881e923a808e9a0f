"""Does the positive control without an oracle pass where a brain effect is planted? (a benchmark)

On real data the positive control is ``network-matched``: the network teacher's targets given
the brain teacher's quality, against their own within-category shuffle draws
(``brainteacher.analysis.verdicts.matched_control_verdict``). This runs the workflow with
config/god.yaml's teachers (the baseline, the network teacher, brain-mean and network-matched
with their shuffle draws) plus the oracle, at the default's design (4 splits x 3 seeds x 3
shuffle draws, the 1D-ResNet18 teacher, V1 and LOC) on simulated datasets, and tabulates per ROI:

- ``matched``: network-matched vs its shuffle draws (the positive control on real data);
- ``primary``: brain-mean vs its shuffle draws (the primary test);
- ``brain_vs_matched``: brain-mean vs network-matched (what a positive result means; Holm over
  the ROIs, as in the conclusion);
- ``oracle``: the oracle vs no teacher (the simulator's positive control, one row per run);

each with its effect (top-1, fraction), interval and one-sided p, and the ROI's decoder top-1.

    .venv/bin/python bench/matched_control.py --preset quick --datasets 0-2
    .venv/bin/python bench/matched_control.py --preset quick-pessimistic --datasets 0-2
    .venv/bin/python bench/matched_control.py --preset quick-pessimistic --noise-scales 0.25 --datasets 0-1
    .venv/bin/python bench/matched_control.py --preset quick --datasets 0-2 --threads 2   # another summation order

About 9 minutes per run on 2 CPU cores. Rows are appended to
``bench/out/matched_control/tests.tsv`` as runs finish (a rerun skips runs already there);
student checkpoints are deleted after each run.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import pandas as pd
import yaml
from null_calibration import free_space, parse_datasets, run_workflow  # bench/null_calibration.py, beside this script

from brainteacher.runs import simulated_dataset

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "out" / "matched_control"
GOD_TEACHERS = ["none", "network", "brain-mean", "shuffled-brain", "network-matched", "shuffled-network-matched"]
COLUMNS = ["effect", "effect_ci_low", "effect_ci_high", "p_randomization", "p_holm", "n_test_units"]


def write_config(preset: str, dataset: int, noise: float = 1.0, threads: int = 1) -> tuple[Path, str]:
    """The overlay on config/config.yaml for one run, and the run's name."""
    data = {"source": "simulate", "preset": preset, "seed": dataset, "noise_scale": noise}
    run = "matched-" + simulated_dataset(data) + (f"-threads{threads}" if threads != 1 else "")
    config = {
        "run": run,
        "data": data,
        "students": {"teachers": [*GOD_TEACHERS, "oracle"]},
    }
    path = OUT / "configs" / f"{run}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path, run


def run_rows(summary: Path, preset: str, dataset: int, noise: float = 1.0, threads: int = 1) -> pd.DataFrame:
    """One run's contrasts (top-1): the matched control, the primary test and the oracle from
    ``summary.tsv``, brain vs network-matched from its sidecar's conclusion tests."""
    table = pd.read_csv(summary, sep="\t", keep_default_na=False, na_values=["NA"])
    top1 = table[table["metric"] == "top1"]
    found = {
        "matched": top1[top1["teacher"] == "network-matched-mean"],
        "primary": top1[top1["family"] == "primary"],
        "oracle": top1[top1["teacher"] == "oracle"],
    }
    rows = [cell.assign(contrast=name)[["contrast", "roi", *COLUMNS]] for name, cell in found.items()]
    tests = json.loads(summary.with_name("summary.provenance.json").read_text())["conclusion_tests"]
    rows.append(
        pd.DataFrame(
            [
                {"contrast": "brain_vs_matched", "roi": roi} | {c: t["network_matched"][c] for c in COLUMNS}
                for roi, t in tests.items()
            ]
        )
    )
    calibration = pd.read_csv(summary.with_name("calibration.tsv"), sep="\t")
    decoders = calibration[calibration["decoder"] == "resnet1d"].set_index("roi")["top1"]
    out = pd.concat(rows, ignore_index=True)
    return out.assign(
        preset=preset, noise_scale=noise, dataset=dataset, threads=threads, decoder_top1=out["roi"].map(decoders)
    )


def _has_run(done: pd.DataFrame, preset: str, dataset: int, noise: float, threads: int) -> bool:
    """Whether ``done`` (tests.tsv) already holds the run of this preset, dataset, noise scale and
    thread count."""
    key = (done["preset"] == preset) & (done["dataset"] == dataset) & (done["noise_scale"] == noise)
    return bool((key & (done["threads"] == threads)).any())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="quick", choices=["quick", "quick-pessimistic"], help="data.preset")
    parser.add_argument("--datasets", type=parse_datasets, default="0-2", help="simulator seeds, e.g. 0-2")
    parser.add_argument("--noise-scales", type=float, nargs="+", default=[1.0], help="data.noise_scale values")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="threads per training job (the workflow's: 1)")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    table_path = OUT / "tests.tsv"
    done = pd.read_csv(table_path, sep="\t") if table_path.exists() else pd.DataFrame()
    if not done.empty and "threads" not in done:  # tables written before --threads: one thread per job
        done["threads"] = 1
    for noise, dataset in itertools.product(args.noise_scales, args.datasets):
        if not done.empty and _has_run(done, args.preset, dataset, noise, args.threads):
            continue
        config, run = write_config(args.preset, dataset, noise, args.threads)
        print(f"[matched_control] {run}", file=sys.stderr, flush=True)
        summary = run_workflow(config, run, args.cores, args.threads)
        done = pd.concat([done, run_rows(summary, args.preset, dataset, noise, args.threads)], ignore_index=True)
        done.to_csv(table_path, sep="\t", index=False, float_format="%.6g")
        free_space(run)
    print(done.to_string(index=False))


if __name__ == "__main__":
    main()
