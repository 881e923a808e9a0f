"""False-positive rate and power of the summary's comparison (a benchmark script, not a test).

At least 200 null comparisons of seed-only students on the simulated quick preset (see
``brainteacher.nullsim``), with planted top-1 effects of 3, 5 and 10 pp for power. Writes
``bench/out/null_calibration.tsv``. Usage (about 2 minutes on one CPU core):

    .venv/bin/python bench/null_calibration.py [--comparisons 200]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
import torch

from brainteacher import god
from brainteacher.nullsim import run_null_simulation
from brainteacher.simulate import simulate
from brainteacher.splits import make_splits, write_split

OUT = Path(__file__).resolve().parent / "out"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--comparisons", type=int, default=200)
    args = parser.parse_args()
    torch.set_num_threads(1)
    root = OUT / "null_calibration" / "data"
    if not (root / "ground_truth.json").is_file():
        simulate(root, "quick", seed=0)
    table = god.read_stimulus_tsv(root / god.TRAINING_TSV)
    split = root.parent / "split0.json"
    write_split(split, make_splits(table.names, table.labels, 4, seed=0)[0])
    result = run_null_simulation(root, split, n_comparisons=args.comparisons)
    rows = [
        {
            "quantity": "false_positive_rate",
            "value": result.false_positive_rate,
            "ci_low": result.fpr_ci[0],
            "ci_high": result.fpr_ci[1],
        }
    ]
    rows += [
        {"quantity": f"power_at_{100 * e:g}pp", "value": p, "ci_low": None, "ci_high": None}
        for e, p in result.power.items()
    ]
    rows += [
        {
            "quantity": "mean_abs_seed_difference_top1",
            "value": result.mean_seed_difference,
            "ci_low": None,
            "ci_high": None,
        }
    ]
    frame = pd.DataFrame(rows).assign(n_comparisons=result.n_comparisons, alpha=result.alpha)
    frame.to_csv(OUT / "null_calibration.tsv", sep="\t", index=False, float_format="%.4g")
    print(frame.to_string(index=False))


if __name__ == "__main__":
    main()
