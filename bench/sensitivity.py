"""How sensitive is the simulated experiment? A benchmark script, not a test (CPU, ~15 minutes).

On the quick simulated preset it measures, per number of training images per category (4 and 6;
GOD has 8 per category, so 12 cannot be drawn from one dataset), with the default student recipe:

- oracle - baseline and, per ROI, brain-mean - shuffled-brain-mean top-1 on the evaluation set,
  with the summary's per-image test (categories as units) and the spread over splits;
- a dose-response: students taught by the oracle mixed with its label-smoothing match,
  ``lam * oracle + (1 - lam) * smoothing`` for lam in 0, 0.5, 1 (the gain should rise with lam);
- the number of replicate runs (splits) a 3 pp top-1 effect needs for 80% power, from the
  observed run-to-run SD of each contrast.

Writes ``bench/out/sensitivity/sensitivity.tsv`` and ``sensitivity.png``. Usage:

    .venv/bin/python bench/sensitivity.py [--splits 4] [--jobs 2] [--steps 200]
"""

from __future__ import annotations

import argparse
import math
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from brainteacher.data import god
from brainteacher.data.splits import Split, make_splits, write_split
from brainteacher.distill.targets import epsilon_matching_true_class_prob, label_smoothing_targets, log_probs_from_probs

OUT = Path(__file__).resolve().parent / "out" / "sensitivity"
ROIS = ("V1", "LOC")
SUBJECTS = ("Subject1", "Subject2")
DOSES = (0.0, 0.5, 1.0)
EFFECT, ALPHA, POWER = 0.03, 0.05, 0.80


def _fewer_training_images(split: Split, labels_of: dict[str, int], per_category: int) -> Split:
    """The split with only the first ``per_category`` training images of each category."""
    kept, count = [], {}
    for name in split.train:
        c = labels_of[name]
        if count.get(c, 0) < per_category:
            kept.append(name)
            count[c] = count.get(c, 0) + 1
    return Split(split.name, tuple(kept), split.test)


def _decode(job: tuple) -> None:
    from brainteacher.decode.decoders import DecoderConfig, run_decode
    from brainteacher.nn.train import TrainConfig

    root, subject, roi, split_file, out, folds = job
    cfg = DecoderConfig(
        decoder="linear",
        n_folds=folds,
        n_voxels=500,
        within_run=True,
        device="cpu",
        train=TrainConfig(epochs=40, batch_size=32, lr=1e-3, weight_decay=1e-2),
    )
    run_decode(root, subject, roi, split_file, out, cfg)


def _distill(job: tuple) -> None:
    from brainteacher.configs import StudentConfig
    from brainteacher.distill.student import run_distill
    from brainteacher.nn.train import TrainConfig

    root, split_file, teacher, inputs, out, steps = job
    cfg = StudentConfig(
        train=TrainConfig(steps=steps, batch_size=32, lr=2e-3, weight_decay=5e-4, log_every=10**6), device="cpu"
    )
    run_distill(root, split_file, teacher, inputs, 0, out, cfg, image_cache=Path(root).parent / "images32.npy")


def _one_thread() -> None:
    import torch

    torch.set_num_threads(1)


def _dose_teacher(folder: Path, root: Path, split: Split, lam: float, temperature: float) -> Path:
    """A teacher folder (the network layout, read as-is, no calibration) holding
    ``log(lam * oracle + (1 - lam) * smoothing)``, the smoothing matched to the oracle's tempered
    true-class probability, for the split's training images."""
    from brainteacher.distill.teachers import parse_teacher, teacher_logits
    from brainteacher.metrics import softmax

    table = god.read_stimulus_tsv(root / god.TRAINING_TSV)
    rows = np.flatnonzero(np.isin(table.names, split.train))
    ids, labels = [table.names[i] for i in rows], table.labels[rows]
    oracle = teacher_logits(
        parse_teacher("oracle"), [root / "ground_truth.json"], ids, labels, table.category_synsets, temperature
    )
    tempered = softmax(oracle / temperature, axis=1)
    eps = epsilon_matching_true_class_prob(tempered[np.arange(len(labels)), labels].mean(), tempered.shape[1])
    smooth = label_smoothing_targets(labels, tempered.shape[1], eps)
    # Mixed at the KD temperature, then written as logits whose softmax(z / T) is the mixture.
    mix = lam * tempered + (1 - lam) * smooth
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "logits.npy", (temperature * log_probs_from_probs(mix)).astype(np.float32))
    np.save(folder / "image_ids.npy", np.asarray(ids))
    np.save(folder / "labels.npy", labels)
    return folder


def _students(root: Path, work: Path, split_file: Path, split: Split, steps: int, temperature: float) -> list[tuple]:
    dec = lambda s, r: work / "decode" / s / r  # noqa: E731
    jobs = [("none", [])] + [
        (f"{k}/mean/{r}", [dec(s, r) for s in SUBJECTS]) for r in ROIS for k in ("brain", "shuffled-brain")
    ]
    jobs += [(f"dose{lam}", [_dose_teacher(work / f"dose{lam}", root, split, lam, temperature)]) for lam in DOSES]
    return [
        (
            str(root),
            str(split_file),
            "network" if name.startswith("dose") else name,
            [str(p) for p in inputs],
            str(work / "students" / name.replace("/", "_")),
            steps,
        )
        for name, inputs in jobs
    ]


def _scored(work: Path, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    folder = work / "students" / name.replace("/", "_")
    logits, ids, labels = (np.load(folder / f) for f in ("eval_logits.npy", "eval_image_ids.npy", "eval_labels.npy"))
    return ids.astype(str), labels, (logits.argmax(1) == labels).astype(float)


def _contrasts() -> dict[str, tuple[str, str]]:
    pairs = {f"dose {lam:g} - baseline": (f"dose{lam}", "none") for lam in DOSES}
    pairs |= {
        f"brain-mean {r} - shuffled-brain-mean {r}": (f"brain/mean/{r}", f"shuffled-brain/mean/{r}") for r in ROIS
    }
    return pairs


def _summarise(works: list[Path], per_category: int) -> list[dict]:
    from scipy import stats as sps

    from brainteacher.analysis.stats import category_paired_test

    rows = []
    for contrast, (a, b) in _contrasts().items():
        per_run, diffs = [], []
        for work in works:
            ids, labels, ca = _scored(work, a)
            _, _, cb = _scored(work, b)
            per_run.append((ca - cb).mean())
            diffs.append(ca - cb)
        test = category_paired_test(np.mean(diffs, axis=0), labels)
        sd_run = float(np.std(per_run, ddof=1)) if len(per_run) > 1 else math.nan
        z = sps.norm.ppf(1 - ALPHA / 2) + sps.norm.ppf(POWER)
        needed = math.ceil((z * sd_run / EFFECT) ** 2) if np.isfinite(sd_run) else None
        rows.append(
            {
                "train_per_category": per_category,
                "contrast": contrast,
                "n_runs": len(works),
                "diff_top1": test["mean_diff"],
                "ci_low": test["ci_low"],
                "ci_high": test["ci_high"],
                "p": test["p_value"],
                "n_units": test["n_units"],
                "per_run_sd": sd_run,
                "runs_for_3pp_at_80pct": needed,
            }
        )
    return rows


def _plot(table: pd.DataFrame, path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4.5))
    FigureCanvasAgg(fig)
    left, right = fig.subplots(1, 2)
    for i, (n, cell) in enumerate(table.groupby("train_per_category")):
        dose = cell[cell["contrast"].str.startswith("dose")]
        lam = [float(c.split()[1]) for c in dose["contrast"]]
        err = np.vstack([dose["diff_top1"] - dose["ci_low"], dose["ci_high"] - dose["diff_top1"]]) * 100
        left.errorbar(
            np.array(lam) + 0.02 * i,
            dose["diff_top1"] * 100,
            yerr=err,
            marker="o",
            capsize=3,
            label=f"{n} training images / category",
        )
        brain = cell[cell["contrast"].str.startswith("brain")]
        err = np.vstack([brain["diff_top1"] - brain["ci_low"], brain["ci_high"] - brain["diff_top1"]]) * 100
        right.errorbar(
            np.arange(len(brain)) + 0.1 * i,
            brain["diff_top1"] * 100,
            yerr=err,
            marker="s",
            capsize=3,
            ls="none",
            label=f"{n} training images / category",
        )
        right.set_xticks(range(len(brain)), [c.split(" - ")[0] for c in brain["contrast"]])
    left.set_xlabel("oracle share in the teacher (0 = its label-smoothing match, 1 = the oracle)")
    left.set_ylabel("top-1 gain over the baseline (pp), evaluation set")
    left.set_title("dose-response of the positive control", fontsize=10)
    right.set_ylabel("top-1: brain-mean minus its shuffled-brain control (pp)")
    right.set_title("image-specific brain information, per ROI", fontsize=10)
    for ax in (left, right):
        ax.axhline(0, color="black", lw=1)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(
        "SIMULATED quick preset: sensitivity of the distillation experiment (95% CIs, categories as units)", fontsize=11
    )
    fig.savefig(path, dpi=130, bbox_inches="tight")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", type=int, default=4, help="how many of the K=4 splits to run")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--temperature", type=float, default=2.0)
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    t0 = time.time()
    from brainteacher.data.images import load_training_images
    from brainteacher.data.simulate import simulate

    OUT.mkdir(parents=True, exist_ok=True)
    root = OUT / "data"
    if not (root / "ground_truth.json").is_file():
        simulate(root, "quick", seed=0)
    load_training_images(root, 32, OUT / "images32.npy")
    table = god.read_stimulus_tsv(root / god.TRAINING_TSV)
    labels_of = dict(zip(table.names, table.labels.tolist()))
    runs: dict[int, list[Path]] = {}
    decode_jobs, student_jobs = [], []
    splits: dict[Path, Split] = {}
    for per_category in (4, 6):
        for split in make_splits(table.names, table.labels, 4, seed=0)[: args.splits]:
            work = OUT / f"train{per_category}" / split.name
            work.mkdir(parents=True, exist_ok=True)
            split = _fewer_training_images(split, labels_of, per_category)
            write_split(work / "split.json", split)
            splits[work] = split
            runs.setdefault(per_category, []).append(work)
            # Inner folds need an image of each category per fold: 4 folds for 4 images per category.
            folds = min(5, per_category)
            decode_jobs += [
                (str(root), s, r, str(work / "split.json"), str(work / "decode" / s / r), folds)
                for s in SUBJECTS
                for r in ROIS
            ]
    with ProcessPoolExecutor(args.jobs, initializer=_one_thread) as pool:
        list(pool.map(_decode, decode_jobs))
        for work, split in splits.items():
            student_jobs += _students(root, work, work / "split.json", split, args.steps, args.temperature)
        list(pool.map(_distill, student_jobs))
    result = pd.DataFrame([row for n, works in runs.items() for row in _summarise(works, n)])
    result.to_csv(OUT / "sensitivity.tsv", sep="\t", index=False, float_format="%.4g")
    _plot(result, OUT / "sensitivity.png")
    print(result.to_string(index=False))
    print(f"{len(decode_jobs)} decoders, {len(student_jobs)} students in {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
