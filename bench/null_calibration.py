"""False-positive rate and power of the primary test on the real pipeline (a benchmark, not a test).

Each run is the workflow itself (simulate -> decode -> cohorts of ResNet-18 KD students ->
aggregate), on the quick preset (or ``--preset quick-pessimistic``: GOD's noise model at the
quick size) with the null dial ``data.image_signal`` set, and the default config's design with 2
seeds instead of 3: 4 splits x 2 seeds, 3 shuffle draws per brain student
(each one pairing of targets with images, the same in every seed), the 1D-ResNet18 teacher.
Only the students the primary test needs are trained (brain-mean and its shuffle draws), over
every single ROI, so one run gives 7 tests. Each run uses its own simulated dataset
(``data.seed``), so the tests of different runs are independent; the 7 ROIs of one run share the
student seeds. The rate is read from the summary's own ``p_randomization`` (top-1 and NLL, one-sided,
before Holm) at ``--alpha``; its interval is Clopper-Pearson. Each test row also keeps its ROI's
teacher decoder accuracy (``decoder_top1``: out-of-fold top-1 pooled over subjects and splits,
``calibration.tsv``), so power can be read against decoder accuracy.

    .venv/bin/python bench/null_calibration.py --signals 0 --datasets 0-29    # the null: 210 tests
    .venv/bin/python bench/null_calibration.py --signals 0.25 0.5 1 --datasets 0-9   # the power curve
    .venv/bin/python bench/null_calibration.py --signals 1 --noise-scales 1.5 2 --datasets 0-9   # along the noise dial
    .venv/bin/python bench/null_calibration.py --preset quick-pessimistic --signals 1 --noise-scales 0.25 0.5 1

Each run takes 8 to 15 minutes on 2 CPU cores. Results are appended to
``bench/out/null_calibration/tests.tsv`` as runs finish (a rerun skips runs already there), and
the rates to ``bench/out/null_calibration/rates.tsv``. Student checkpoints are deleted after each
run (about 700 MB); everything else stays in ``results/null-*``.
"""

from __future__ import annotations

import argparse
import itertools
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import yaml

from brainteacher.runs import simulated_dataset
from docs import clopper_pearson, read_tests, rejected  # bench/docs.py, beside this script

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "out" / "null_calibration"
SINGLE_ROIS = ["V1", "V2", "V3", "V4", "LOC", "FFA", "PPA"]
TRAINING_RULES = ["decode", "network_teacher", "distill"]  # the workflow's rules that train models


def parse_datasets(text: str) -> list[int]:
    """``0-29`` or ``3`` -> the dataset seeds."""
    low, _, high = text.partition("-")
    return list(range(int(low), int(high or low) + 1))


def run_name(dataset: int, signal: float, noise: float = 1.0, preset: str = "quick") -> str:
    """``null-`` and the dataset's own name (``runs.simulated_dataset``), e.g. ``null-quick-seed3-image0``."""
    return "null-" + simulated_dataset(
        {"preset": preset, "seed": dataset, "image_signal": signal, "noise_scale": noise}
    )


def write_config(dataset: int, signal: float, decoder: str, noise: float = 1.0, preset: str = "quick") -> Path:
    """The overlay on config/config.yaml for one run."""
    run = run_name(dataset, signal, noise, preset)
    config = {
        "run": run,
        "data": {"source": "simulate", "preset": preset, "seed": dataset}
        | {"image_signal": signal, "noise_scale": noise},
        "rois": SINGLE_ROIS,
        "decoders": [decoder],
        # 2 seeds, not the default's 3: every dataset of the calibration has the same design (the
        # test's validity rests on the draws' exchangeability within a split, not on the seeds).
        "students": {"teachers": ["brain-mean", "shuffled-brain"], "teacher_decoder": decoder, "seeds": [0, 1]},
    }
    path = OUT / "configs" / f"{run}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def run_workflow(config: Path, run: str, cores: int, threads: int = 1) -> Path:
    """Run the workflow up to the summary, its training jobs on ``threads`` threads each (the
    workflow's own: 1); returns the summary table."""
    summary = REPO / "results" / run / "tables" / "summary.tsv"
    # The target first: --configfile and --quiet each take every word after them.
    command = [str(REPO / ".venv" / "bin" / "snakemake"), str(summary.relative_to(REPO))]
    command += ["--workflow-profile", "workflow/profiles/default", "--cores", str(cores), "--quiet", "rules"]
    if threads != 1:  # another float summation order in every trained model
        command += ["--set-threads", *(f"{rule}={threads}" for rule in TRAINING_RULES)]
    command += ["--configfile", "config/config.yaml", str(config)]
    subprocess.run(command, cwd=REPO, check=True)
    return summary


def free_space(run: str) -> None:
    """Delete a finished run's student checkpoints and image cache (about 700 MB); its tables,
    metrics and predictions stay."""
    for model in (REPO / "results" / run / "distill").rglob("model.pt"):
        model.unlink()
    shutil.rmtree(REPO / "results" / run / "images", ignore_errors=True)


def primary_tests(summary: Path, dataset: int, signal: float, noise: float, preset: str, decoder: str) -> pd.DataFrame:
    """The brain-mean rows' randomization tests (top-1 and NLL), one per ROI, with the ROI's pooled
    out-of-fold top-1 of the teacher ``decoder`` (``calibration.tsv``, beside the summary)."""
    table = pd.read_csv(summary, sep="\t", keep_default_na=False, na_values=["NA"])
    rows = table[(table["teacher"] == "brain-mean") & table["metric"].isin(["top1", "nll"])]
    columns = ["roi", "metric", "n_seeds", "n_shuffle_draws", "n_test_units", "effect", "p_randomization"]
    calibration = pd.read_csv(summary.with_name("calibration.tsv"), sep="\t")
    decoders = calibration[calibration["decoder"] == decoder].set_index("roi")["top1"]
    return rows[columns].assign(
        dataset=dataset, image_signal=signal, noise_scale=noise, preset=preset, decoder_top1=rows["roi"].map(decoders)
    )


def _has_run(done: pd.DataFrame, dataset: int, signal: float, noise: float, preset: str) -> bool:
    """Whether ``done`` (tests.tsv) already holds the run of this dataset, preset and dial setting."""
    rows = (done["dataset"] == dataset) & (done["image_signal"] == signal) & (done["noise_scale"] == noise)
    return bool((rows & (done["preset"] == preset)).any())


def rejection_rates(tests: pd.DataFrame, alpha: float) -> pd.DataFrame:
    """Per dial setting, metric (and ROI): rejections at ``alpha`` with a Clopper-Pearson 95% interval."""
    rows = []
    dial = ["preset", "image_signal", "noise_scale", "metric"]
    for by in (dial, [*dial, "roi"]):
        for key, cell in tests.groupby(by):
            n, k = len(cell), rejected(cell, alpha)
            low, high = clopper_pearson(k, n)
            rows.append(
                dict(zip(by, key))
                | {"roi": cell["roi"].iloc[0] if "roi" in by else "all", "n_tests": n}
                | {"rejected": k, "rate": k / n, "ci_low": low, "ci_high": high, "alpha": alpha}
            )
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--signals", type=float, nargs="+", default=[0.0], help="data.image_signal values")
    parser.add_argument("--noise-scales", type=float, nargs="+", default=[1.0], help="data.noise_scale values")
    parser.add_argument("--preset", default="quick", choices=["quick", "quick-pessimistic"], help="data.preset")
    parser.add_argument("--datasets", type=parse_datasets, default="0-29", help="simulator seeds, e.g. 0-29")
    parser.add_argument("--decoder", default="resnet1d", help="the teacher decoder (the default's: resnet1d)")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--alpha", type=float, default=0.05)
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    table_path = OUT / "tests.tsv"
    done = read_tests(table_path)
    for signal, noise, dataset in itertools.product(args.signals, args.noise_scales, args.datasets):
        run = run_name(dataset, signal, noise, args.preset)
        if not done.empty and _has_run(done, dataset, signal, noise, args.preset):
            continue
        print(f"[null_calibration] {run}", file=sys.stderr, flush=True)
        summary = run_workflow(write_config(dataset, signal, args.decoder, noise, args.preset), run, args.cores)
        done = pd.concat(
            [done, primary_tests(summary, dataset, signal, noise, args.preset, args.decoder)], ignore_index=True
        )
        done.to_csv(table_path, sep="\t", index=False, float_format="%.6g")
        free_space(run)
    rates = rejection_rates(done, args.alpha)
    rates.to_csv(OUT / "rates.tsv", sep="\t", index=False, float_format="%.4g")
    print(rates[rates["roi"] == "all"].to_string(index=False))


if __name__ == "__main__":
    main()
