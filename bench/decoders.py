"""resnet1d vs linear decoders at GOD scale. A benchmark script, not a test (CPU: tens of minutes).

On the simulated ``god`` preset (150 categories x 8 images, GOD's ROI sizes), for one subject,
every single ROI and one split (split 0 of 4: 900 training images), it runs the workflow's own
decode step (``decode.run_decode``, 5 inner folds) for each decoder and reports:

- out-of-fold top-1 and top-5 over the split's training images (chance 1/150);
- NLL and ECE after the per-folder temperature calibration;
- resnet1d's residual-head weight (``decode.cross_fitted_head_weights``, mean over the inner folds);
- wall time of the whole decode job (all inner folds), the device and the torch thread count;
- the Spearman correlation of each decoder's ROI ranking with the simulator's planted order.

With ``--ablation LOC,V1`` it also runs the 1D ResNet without its linear shortcut and with the
files' voxel order, on those ROIs. Writes ``bench/out/decoders/decoders.tsv`` (or ``--out``). Usage:

    .venv/bin/python bench/decoders.py [--subject Subject1] [--rois V1,...] [--ablation LOC,V1] \
        [--device cpu|cuda] [--out FILE]

Run it alone: another torch process on 2 cores doubles every wall time.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd
import torch
from scipy.stats import spearmanr

from brainteacher.analysis.tables import mean_head_weight
from brainteacher.data import god
from brainteacher.data.simulate import simulate
from brainteacher.data.splits import make_splits, write_split
from brainteacher.decode.decoders import DecoderConfig, run_decode
from brainteacher.nn.train import TrainConfig

OUT = Path(__file__).resolve().parent / "out" / "decoders"
# The workflow's decode settings (config/config.yaml), so the bench times what users run.
TRAIN = TrainConfig(epochs=40, batch_size=32, lr=1e-3, weight_decay=1e-2, log_every=10**6)
BASE = DecoderConfig(n_folds=5, n_voxels=500, within_run=True, width=8, input_noise=1.0, seed=0, train=TRAIN)
VARIANTS = {
    "linear": replace(BASE, decoder="linear"),
    "resnet1d": replace(BASE, decoder="resnet1d"),
}
ABLATION = {
    "resnet1d no shortcut": replace(BASE, decoder="resnet1d", linear_shortcut=False),
    "resnet1d file order": replace(BASE, decoder="resnet1d", voxel_order="file"),
}


def _dataset(seed: int) -> Path:
    root = OUT / f"god-seed{seed}"
    if not (root / "ground_truth.json").exists():
        print(f"simulating the god preset into {root} (about 2 minutes) ...", flush=True)
        simulate(root, "god", seed)
    return root


def _split_file(root: Path) -> Path:
    path = OUT / "split0.json"
    if not path.exists():
        table = god.read_stimulus_tsv(root / god.TRAINING_TSV)
        write_split(path, make_splits(table.names, table.labels, 4, 0)[0])
    return path


def _device_name(device: str) -> str:
    """``cpu`` or the GPU's model name, e.g. ``cuda (NVIDIA H200)``, so timings name their hardware."""
    if device.startswith("cuda"):
        return f"{device} ({torch.cuda.get_device_name(torch.device(device))})"
    return device


def _row(name: str, metrics: dict, wall: float) -> dict:
    oof, cal = metrics["out_of_fold"], metrics["calibration"]
    return {
        "roi": metrics["roi"],
        "decoder": name,
        "top1": oof["top1"],
        "top5": oof["top5"],
        "chance": oof["top1_chance"],
        "nll_calibrated": cal["nll_after"],
        "ece_calibrated": cal["ece_after"],
        "temperature": cal["temperature"],
        "head_weight": mean_head_weight(metrics),
        "n_images": metrics["n_images"],
        "n_voxels": metrics["n_voxels"],
        "wall_s": round(wall, 1),
        "device": _device_name(metrics["device"]),
        "threads": torch.get_num_threads(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subject", default="Subject1")
    parser.add_argument("--rois", default=",".join(god.SINGLE_ROIS))
    parser.add_argument(
        "--ablation",
        default="",
        help="ROIs (comma-separated) on which to also run the 1D ResNet without shortcut and in file order",
    )
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--out", type=Path, default=OUT / "decoders.tsv", help="the TSV to write (rewritten after every row)"
    )
    args = parser.parse_args()

    root = _dataset(args.seed)
    split = _split_file(root)
    planted = json.loads((root / "ground_truth.json").read_text())["planted_category_order"]
    rows = []
    for roi in args.rois.split(","):
        variants = VARIANTS | (ABLATION if roi in args.ablation.split(",") else {})
        for name, cfg in variants.items():
            t0 = time.perf_counter()
            metrics = run_decode(
                root,
                args.subject,
                roi,
                split,
                OUT / "runs" / name.replace(" ", "_") / roi,
                replace(cfg, device=args.device),
            )
            rows.append(_row(name, metrics, time.perf_counter() - t0))
            print(pd.DataFrame(rows[-1:]).to_string(index=False, header=len(rows) == 1), flush=True)
            # Rewritten after every row, so a run cut short still leaves what it measured.
            table = pd.DataFrame(rows)
            table.to_csv(args.out, sep="\t", index=False, float_format="%.4f")

    wide = table.pivot(index="roi", columns="decoder", values="top1")[list(VARIANTS)]
    print("\nout-of-fold top-1 per ROI:\n" + wide.to_string(float_format="%.3f"))
    if "linear" in wide and "resnet1d" in wide:
        gap = wide["resnet1d"] - wide["linear"]
        print(f"resnet1d - linear: worst {gap.min():+.3f}, mean {gap.mean():+.3f} (target: every ROI >= -0.010)")
    rank = [planted.index(r) for r in wide.index]
    for name in wide:
        if len(wide) > 2:
            print(
                f"{name}: Spearman with the planted order {-spearmanr(rank, wide[name]).statistic:.3f} (target >= 0.9)"
            )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
