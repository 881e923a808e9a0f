"""Compare two workflow runs' students, teacher by teacher, paired image by image (not a test).

Two runs that differ in one student option (``students.loss: gld`` vs ``hinton``, ``students.init:
simclr`` vs ``random``, ``students.arch``) cannot share one ``students.tsv`` (one row per teacher x
split x seed), so this pairs them: for every teacher both runs have, run A minus run B on the
scoring images, per image and averaged over runs, with categories as the units (the summary's
method: ``comparisons.paired_image_test``), 95% Student-t interval and sign-flip p.

    python bench/compare_runs.py results/RUN_A/tables/students.tsv results/RUN_B/tables/students.tsv \
        --labels gld hinton [--metrics top1 nll]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from brainteacher.analysis.comparisons import paired_image_test, read_scored_images
from brainteacher.analysis.tables import read_table


def compare(a: pd.DataFrame, b: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    scored = {f: read_scored_images(f) for f in (*a["folder"], *b["folder"])}
    rows = []
    for teacher in [t for t in pd.unique(a["teacher"]) if t in set(b["teacher"])]:
        ga, gb = a[a["teacher"] == teacher], b[b["teacher"] == teacher]
        for metric in metrics:
            test = paired_image_test(ga, gb, scored, metric)
            score = f"eval_{metric}" if (ga["scoring_set"] == "evaluation").all() else metric
            rows.append(
                {
                    "teacher": teacher,
                    "metric": metric,
                    "mean_a": ga[score].mean(),
                    "mean_b": gb[score].mean(),
                    "diff": test["mean_diff"],
                    "ci_low": test["ci_low"],
                    "ci_high": test["ci_high"],
                    "p": test["p_value"],
                    "n_runs": test["n_runs"],
                    "n_units": test["n_units"],
                    "roc_auc_a": ga[f"{score[: -len(metric)]}roc_auc"].mean(),
                    "roc_auc_b": gb[f"{score[: -len(metric)]}roc_auc"].mean(),
                }
            )
    return pd.DataFrame(rows)


def _read(path: str) -> pd.DataFrame:
    """students.tsv with each student folder made absolute: the workflow writes them relative to
    its working directory, an ancestor of the table (WORKDIR/results/<run>/tables/students.tsv)."""
    table = read_table(path)
    table["folder"] = [str(_absolute(f, Path(path).resolve())) for f in table["folder"]]
    return table


def _absolute(folder: str, table: Path) -> Path:
    if Path(folder).is_absolute():
        return Path(folder)
    return next((p / folder for p in table.parents if (p / folder).exists()), Path(folder).resolve())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("a", help="run A's students.tsv")
    p.add_argument("b", help="run B's students.tsv")
    p.add_argument("--labels", nargs=2, default=["A", "B"])
    p.add_argument("--metrics", nargs="+", default=["top1", "nll"])
    args = p.parse_args()
    table = compare(_read(args.a), _read(args.b), args.metrics)
    print(
        f"# {args.labels[0]} minus {args.labels[1]}, paired per image on the scoring "
        "images, categories as units (95% t interval)"
    )
    print(table.to_csv(sep="\t", index=False, float_format="%.4f"))


if __name__ == "__main__":
    main()
