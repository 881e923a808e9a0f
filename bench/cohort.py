"""Cohorts against one student per process, and the GPU path. A benchmark script, not a test.

Three measurements, each printed as a table (and written as TSV under ``bench/out/cohort/``):

``jobs`` (CPU, the workflow's own commands): the default recipe (``config/config.yaml``: ResNet-18,
width 16, 32 px, 200 steps) on the quick simulated dataset. N students of one split trained as
one ``distill`` process each, two at a time (``--cores 2``), against the same N students as two
``distill-cohort`` processes run side by side. Reports students per minute, wall seconds and
the peak resident memory of one process (MB). With the ``separate`` layout (the CPU default) each
cohort member's predictions equal its solo run's; the script checks that and prints it.

``throughput`` (any device, in-process): training images per second of ``distill.train_cohort``
on synthetic images (GOD's 900 training images of a split, 150 categories) for cohort sizes
and layouts, after an untimed warm-up; peak device memory (CUDA) or resident memory (CPU).

``decode`` (any device): one GOD-scale decode job's cross-fitting (``decode.out_of_fold_logits``:
5 inner folds of the 1D-ResNet18 over 900 images x 500 voxels, 150 categories, the workflow's
recipe) on synthetic voxels, wall seconds, for each fold layout (``decode.cohort_layout``: the
folds as separate networks or one grouped network); with ``separate``, each fold's model is the
one it trains alone.

    .venv/bin/python bench/cohort.py jobs [--students 12] [--layout separate|grouped]
    python bench/cohort.py throughput [--device cuda] [--size 64] [--width 64] [--members 1,8,32]
    python bench/cohort.py decode [--device cuda] [--threads 1] [--layouts separate,grouped]

Run it alone: another torch process on 2 cores doubles every wall time.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out" / "cohort"
PY = [sys.executable, "-m", "brainteacher"]


def _run(cmds: list[list[str]], parallel: int, env: dict) -> tuple[float, float]:
    """Run ``cmds`` at most ``parallel`` at a time; (wall seconds, peak RSS MB of any one process)."""
    t0, peak, pending, running = time.perf_counter(), 0.0, list(cmds), {}
    while pending or running:
        while pending and len(running) < parallel:
            proc = subprocess.Popen(pending.pop(0), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            running[proc.pid] = proc
        pid, status, usage = os.wait4(-1, 0)
        proc = running.pop(pid)
        if status != 0:
            raise SystemExit(f"failed: {' '.join(proc.args)}\n{proc.stderr.read().decode()}")
        peak = max(peak, usage.ru_maxrss / 1024)
    return time.perf_counter() - t0, peak


def _dataset(work: Path) -> tuple[Path, Path, Path]:
    data, splits, cache = work / "data", work / "splits", work / "32px.npy"
    if not (data / "ground_truth.json").exists():
        subprocess.run([*PY, "-q", "simulate", "--out", str(data), "--preset", "quick"], check=True)
    if not (splits / "split0.json").exists():
        subprocess.run([*PY, "-q", "make-splits", "--root", str(data), "--out", str(splits)], check=True)
    if not cache.exists():
        subprocess.run(
            [*PY, "-q", "cache-images", "--root", str(data), "--size", "32", "--out", str(cache)], check=True
        )
    return data, splits / "split0.json", cache


def jobs(args: argparse.Namespace) -> pd.DataFrame:
    """N students one per process (two at a time) against two cohorts of N/2, on 2 cores."""
    work = OUT / "jobs"
    data, split, cache = _dataset(work)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    common = ["--root", str(data), "--split", str(split), "--image-cache", str(cache), "--device", "cpu"]
    # Students as the default's cohort holds them: teachers that need no decoder, over seeds.
    gt = str(data / "ground_truth.json")
    students = [(t, s) for s in range(args.students) for t in ("none", "oracle")][: args.students]

    def out(mode: str, teacher: str, seed: int) -> str:
        return str(work / mode / f"{teacher}-seed{seed}")

    solo = [
        [*PY, "-q", "distill", *common, "--teacher", t, "--seed", str(s), "--out", out("solo", t, s)]
        + (["--teacher-input", gt] if t == "oracle" else [])
        for t, s in students
    ]
    halves = [students[: len(students) // 2], students[len(students) // 2 :]]
    cohorts = [
        [*PY, "-q", "distill-cohort", *common, "--cohort-layout", args.layout]
        + [a for t, s in half for a in ["--member", t, str(s), out("cohort", t, s), *([gt] if t == "oracle" else [])]]
        for half in halves
    ]
    rows = []
    for repeat in range(args.repeats):  # alternating, so a slow spell of the machine hits both
        for mode, cmds in (("one per process", solo), (f"two cohorts ({args.layout})", cohorts)):
            wall, peak = _run(cmds, 2, env)
            rows.append(
                {
                    "repeat": repeat,
                    "mode": mode,
                    "students": len(students),
                    "processes": len(cmds),
                    "wall_s": round(wall, 1),
                    "students_per_min": round(60 * len(students) / wall, 1),
                    "peak_rss_mb_per_process": round(peak),
                }
            )
            print(rows[-1], flush=True)
    same = [
        bool(
            np.array_equal(
                np.load(Path(out("solo", t, s)) / "eval_logits.npy"),
                np.load(Path(out("cohort", t, s)) / "eval_logits.npy"),
            )
        )
        for t, s in students
    ]
    print(f"cohort members whose evaluation logits equal their solo run's to the bit: {sum(same)}/{len(same)}")
    table = pd.DataFrame(rows)
    per_repeat = table.pivot(index="repeat", columns="mode", values="students_per_min")
    speedup = per_repeat[f"two cohorts ({args.layout})"] / per_repeat["one per process"]
    spread = speedup.std(ddof=1) if len(speedup) > 1 else float("nan")
    print(f"speedup per repeat: {', '.join(f'{v:.2f}' for v in speedup)}; mean {speedup.mean():.2f}, SD {spread:.2f}")
    table["bitwise_equal_members"] = f"{sum(same)}/{len(same)}"
    return table


def _synthetic_split(n: int, n_classes: int, size: int):
    from brainteacher.distill.classifier import SplitImages

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, 3, size, size), dtype=np.uint8)
    labels = (np.arange(n) % n_classes).astype(np.int64)
    return SplitImages(images, labels, tuple(f"img{i}" for i in range(n)))


def throughput(args: argparse.Namespace) -> pd.DataFrame:
    """Training images per second of cohorts of each size and layout, in-process."""
    import torch

    from brainteacher.configs import StudentConfig
    from brainteacher.distill.student import train_cohort
    from brainteacher.nn.train import pick_device

    torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    train = _synthetic_split(900, 150, args.size)
    base = StudentConfig(width=args.width, image_size=args.size, device=str(device))
    rows = []
    for k in [int(m) for m in args.members.split(",")]:
        for layout in args.layouts.split(","):
            if k == 1 and layout == "separate":
                continue
            warm = dataclasses.replace(base, train=dataclasses.replace(base.train, steps=5, batch_size=args.batch))
            timed = dataclasses.replace(
                base, train=dataclasses.replace(base.train, steps=args.steps, batch_size=args.batch)
            )
            seeds = list(range(k))
            train_cohort(train, 150, [None] * k, seeds, warm, device, grouped=layout == "grouped")
            if device.type == "cuda":
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
            t0 = time.perf_counter()
            train_cohort(train, 150, [None] * k, seeds, timed, device, grouped=layout == "grouped")
            if device.type == "cuda":
                torch.cuda.synchronize()
            wall = time.perf_counter() - t0
            memory = (
                torch.cuda.max_memory_allocated() / 2**20
                if device.type == "cuda"
                else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            )
            rows.append(
                {
                    "device": torch.cuda.get_device_name() if device.type == "cuda" else f"cpu x{args.threads}",
                    "members": k,
                    "layout": layout if k > 1 else "solo",
                    "image_size": args.size,
                    "width": args.width,
                    "batch": args.batch,
                    "steps": args.steps,
                    "wall_s": round(wall, 2),
                    "images_per_s": round(k * args.batch * args.steps / wall),
                    "students_per_min_at_200_steps": round(60 * k / (wall * 200 / args.steps), 1),
                    "peak_memory_mb": round(memory),
                }
            )
            print(rows[-1], flush=True)
    return pd.DataFrame(rows)


def decode(args: argparse.Namespace) -> pd.DataFrame:
    """One GOD-scale resnet1d decode job's cross-fitting on synthetic voxels."""
    import torch

    from brainteacher.configs import DecoderConfig, TrainConfig
    from brainteacher.decode.decoders import out_of_fold_logits
    from brainteacher.nn.train import pick_device

    torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    rng = np.random.default_rng(0)
    n, n_voxels, n_classes = 900, 2000, 150
    y = (np.arange(n) % n_classes).astype(np.int64)
    X = (rng.normal(size=(n, n_voxels)) + 0.5 * rng.normal(size=(n_classes, n_voxels))[y]).astype(np.float32)
    runs = np.arange(n) // 75
    train = TrainConfig(epochs=40, batch_size=32, lr=1e-3, weight_decay=1e-2, log_every=10**6)
    rows = []
    for layout in args.layouts.split(","):
        cfg = DecoderConfig(
            n_folds=5,
            n_voxels=500,
            within_run=True,
            width=8,
            input_noise=1.0,
            seed=0,
            train=train,
            cohort_layout=layout,
        )
        t0 = time.perf_counter()
        oof = out_of_fold_logits(X, y, runs, n_classes, cfg, device)
        if device.type == "cuda":
            torch.cuda.synchronize()
        wall = time.perf_counter() - t0
        top1 = float((oof.logits.argmax(1) == y).mean())
        rows.append(
            {
                "device": str(device),
                "threads": args.threads,
                "layout": layout,
                "wall_s": round(wall, 1),
                "oof_top1": round(top1, 3),
            }
        )
        print(rows[-1], flush=True)
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("jobs")
    p.add_argument("--students", type=int, default=12)
    p.add_argument("--layout", default="separate", choices=("separate", "grouped"))
    p.add_argument("--repeats", type=int, default=3)
    p = sub.add_parser("throughput")
    p.add_argument("--device", default="auto")
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--members", default="1,6,12")
    p.add_argument("--layouts", default="separate,grouped")
    p.add_argument("--threads", type=int, default=1)
    p = sub.add_parser("decode")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--layouts", default="separate,grouped")
    args = parser.parse_args()
    table = {"jobs": jobs, "throughput": throughput, "decode": decode}[args.what](args)
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{args.what}-{getattr(args, 'device', getattr(args, 'layout', 'cpu'))}.tsv"
    table.to_csv(path, sep="\t", index=False)
    print(table.to_string(index=False))
    print(f"wrote {path}")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
