"""resnet1d vs linear on the quick preset's LOC, over decoder seeds. A benchmark, not a test (~8 min).

One decode job's out-of-fold top-1 rests on 120 images, so a difference of one image (0.8 pp) is
noise. This script repeats the workflow's decode step (``decode.run_decode``, the config's decoder
settings) for both decoders on every subject x split of the quick preset (2 x 4 folders) and
decoder seeds 0..4 (the seed sets the inner folds, the initialisation and the batches), pairs the
two decoders by subject x split x seed, and reports the mean paired difference with a 95%
t-interval over the 40 pairs (folders share images, so the interval is optimistic), a
non-inferiority test (one-sided, margin ``--margin``, 1 pp by default as at GOD scale) over the pairs
and over the 8 subject x split folders, and the pooled
calibration (the workflow's ``calibration.tsv`` row: ECE beside its sampling floor), and resnet1d's
mean residual-head weight with the gap it would have at weight 1 (the same models). Writes
``bench/out/decoder_seeds/decoder_seeds.tsv`` (one row per job). Usage:

    .venv/bin/python bench/decoder_seeds.py [--roi LOC] [--seeds 0,1,2,3,4] [--jobs 2]

Each job runs with 1 torch thread, ``--jobs`` at a time; folders already written are reused.
"""

from __future__ import annotations

import argparse
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

OUT = Path(__file__).resolve().parent / "out" / "decoder_seeds"
SUBJECTS = ("Subject1", "Subject2")
N_SPLITS = 4
DECODERS = ("resnet1d", "linear")


def _dataset_and_splits() -> tuple[Path, list[Path]]:
    from brainteacher.data import god
    from brainteacher.data.simulate import simulate
    from brainteacher.data.splits import make_splits, write_split

    root = OUT / "quick-seed0"
    if not (root / "ground_truth.json").exists():
        simulate(root, "quick", 0)
    table = god.read_stimulus_tsv(root / god.TRAINING_TSV)
    paths = []
    for k, split in enumerate(make_splits(table.names, table.labels, N_SPLITS, 0)):
        paths.append(OUT / f"split{k}.json")
        if not paths[-1].exists():
            write_split(paths[-1], split)
    return root, paths


def _decode(job: tuple[str, str, str, int, int, str, Path]) -> dict:
    decoder, subject, roi, k, seed, root, split = job
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)
    from brainteacher.analysis.tables import mean_head_weight
    from brainteacher.configs import DecoderConfig
    from brainteacher.decode.decoders import run_decode
    from brainteacher.formats import teacher_dir

    out = OUT / "runs" / decoder / subject / roi / f"split{k}" / f"seed{seed}"
    metrics = teacher_dir.read_metrics(out)
    if metrics is None:
        metrics = run_decode(root, subject, roi, split, out, DecoderConfig(decoder=decoder, seed=seed, device="cpu"))
    row = {"decoder": decoder, "subject": subject, "roi": roi, "split": k, "seed": seed}
    return row | {
        "top1": metrics["out_of_fold"]["top1"],
        # resnet1d: the residual head's mean cross-fitted weight, and the top-1 at weight 1
        "head_weight": mean_head_weight(metrics),
        "top1_weight_one": metrics.get("residual_head", {}).get("top1_weight_one", np.nan),
        "wall_time_s": metrics["wall_time_s"],
        "folder": str(out),
    }


def _cross_fitted(folder) -> tuple[np.ndarray, np.ndarray]:
    """(n, C) probabilities whose temperature never saw the image's label, and the (n,) labels: the
    images of inner fold k are scaled by a temperature fitted on the other folds' raw out-of-fold logits."""
    from brainteacher.decode.calibration import fit_temperature
    from brainteacher.formats import teacher_dir
    from brainteacher.metrics import softmax

    raw = np.load(Path(folder) / teacher_dir.RAW_LOGITS).astype(np.float64)
    labels, folds = (np.load(Path(folder) / name) for name in (teacher_dir.LABELS, teacher_dir.FOLDS))
    probs = np.zeros_like(raw)
    for k in np.unique(folds):
        rest = folds != k
        probs[~rest] = softmax(raw[~rest] / fit_temperature(raw[rest], labels[rest]), axis=1)
    return probs, labels


def _pooled_calibration(table: pd.DataFrame) -> pd.DataFrame:
    """Per decoder x seed, over its folders: the workflow's ``calibration.tsv`` row
    (``tables.calibration_table``: temperature fitted on each folder's own images), and the ECE
    when the temperature is cross-fitted over the inner folds (``ece_cross_fitted``: what the
    in-sample fit may flatter)."""
    from brainteacher.analysis.tables import calibration_table
    from brainteacher.formats import teacher_dir
    from brainteacher.metrics import expected_calibration_error

    rows = []
    for (decoder, seed), group in table.groupby(["decoder", "seed"]):
        pooled = calibration_table([Path(f) / teacher_dir.METRICS for f in group["folder"]])
        crossed, labels = (np.concatenate(parts) for parts in zip(*map(_cross_fitted, group["folder"])))
        rows.append(
            {"decoder": decoder, "seed": seed}
            | pooled.iloc[0].drop(["decoder", "roi", "n_folders"]).to_dict()
            | {"ece_cross_fitted": expected_calibration_error(crossed, labels)}
        )
    return pd.DataFrame(rows)


def _print_non_inferiority(diff: pd.Series, margin: float) -> None:
    """Is resnet1d at least as good as linear up to ``margin``? Over the pairs, and over the 8
    subject x split folders (seeds averaged: seeds of one folder share its images, so the folders
    are the more honest units)."""
    from brainteacher.analysis.stats import non_inferiority

    for units, values in (("pairs", diff), ("subject x split folders", diff.groupby(["subject", "split"]).mean())):
        r = non_inferiority(values.to_numpy(), margin)
        verdict = "non-inferior" if r["non_inferior"] else "not shown non-inferior"
        print(
            f"non-inferiority at a {100 * margin:.1f} pp margin over {r['n']} {units}: one-sided 95% lower "
            f"bound {r['lower']:+.4f}, p = {r['p_value']:.3g} ({verdict})"
        )


def main() -> None:
    from brainteacher.analysis.stats import paired_difference

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--roi", default="LOC")
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--margin", type=float, default=0.01, help="non-inferiority margin (0.01 = 1 pp, GOD scale's)")
    args = parser.parse_args()

    OUT.mkdir(parents=True, exist_ok=True)
    root, splits = _dataset_and_splits()
    seeds = [int(s) for s in args.seeds.split(",")]
    jobs = [
        (d, s, args.roi, k, seed, root, splits[k])
        for seed in seeds
        for s in SUBJECTS
        for k in range(N_SPLITS)
        for d in DECODERS
    ]
    with ProcessPoolExecutor(args.jobs) as pool:
        table = pd.DataFrame(list(pool.map(_decode, jobs)))
    table.to_csv(OUT / "decoder_seeds.tsv", sep="\t", index=False, float_format="%.4f")

    wide = table.pivot_table(index=["seed", "subject", "split"], columns="decoder", values="top1")
    diff = wide["resnet1d"] - wide["linear"]
    print(f"{args.roi} out-of-fold top-1, mean over {N_SPLITS} splits x {len(SUBJECTS)} subjects per seed:")
    print(wide.groupby("seed").mean().assign(diff=diff.groupby("seed").mean()).to_string(float_format="%.4f"))
    d = paired_difference(wide["resnet1d"], wide["linear"])
    print(
        f"resnet1d - linear over {d['n']} pairs: {d['mean_diff']:+.4f} [{d['ci_low']:+.4f}, {d['ci_high']:+.4f}], "
        f"p = {d['p_value']:.2f}"
    )
    _print_non_inferiority(diff, args.margin)
    resnet = table[table.decoder == "resnet1d"].set_index(["seed", "subject", "split"])
    one = paired_difference(resnet["top1_weight_one"], wide["linear"].loc[resnet.index])
    print(
        f"resnet1d's residual head: mean cross-fitted weight {resnet['head_weight'].mean():.3f}; at weight 1 "
        f"resnet1d - linear {one['mean_diff']:+.4f} [{one['ci_low']:+.4f}, {one['ci_high']:+.4f}]"
    )
    print("pooled calibration per seed (each over 8 folders):")
    print(_pooled_calibration(table).to_string(index=False, float_format="%.4f"))
    print(f"wrote {OUT / 'decoder_seeds.tsv'}")


if __name__ == "__main__":
    main()
