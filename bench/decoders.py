"""resnet1d vs linear decoders at GOD scale, and the noise dial. A benchmark, not a test (CPU: tens of minutes).

On a simulated GOD-sized preset (``god``, or ``god-pessimistic`` with ``--preset``; 150 categories x
8 images, GOD's ROI sizes; ``--preset quick-pessimistic`` maps its noise model at the quick size,
20 categories, with chance 1/20), for each subject, ROI, decoder and noise-dial setting
(``--noise-scales``, a factor on the preset's trial noise SD) and one split (split 0 of 4: 900
training images), it runs the workflow's own decode step (``decode.run_decode``, 5 inner folds)
and reports:

- out-of-fold top-1 and top-5 over the split's training images (chance 1/150);
- NLL and ECE after the per-folder temperature calibration;
- resnet1d's residual-head weight (``decode.cross_fitted_head_weights``, mean over the inner folds);
- wall time of the whole decode job (all inner folds), the device and the torch thread count;
- the Spearman correlation of each decoder's ROI ranking with the simulator's planted order.

With ``--ablation LOC,V1`` it also runs the 1D ResNet without its linear shortcut and with the
files' voxel order, on those ROIs. On ``god-pessimistic`` it checks LOC's mean top-1 against the
preset's stated band (``presets.PESSIMISTIC_TARGET``). Writes ``bench/out/decoders/decoders.tsv``
(or ``--out``). Usage:

    .venv/bin/python bench/decoders.py [--subjects Subject1,...] [--rois V1,...] [--ablation LOC,V1] \
        [--preset god|god-pessimistic|quick-pessimistic] [--noise-scales 1 ...] [--decoders linear,resnet1d] \
        [--device cpu|cuda] [--out FILE]
    # the pessimistic preset's band, and the dial:
    .venv/bin/python bench/decoders.py --preset god-pessimistic --rois LOC \
        --subjects Subject1,Subject2,Subject3,Subject4,Subject5 --noise-scales 0.5 0.7 1 1.4

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

from brainteacher import registry
from brainteacher.analysis.tables import mean_head_weight
from brainteacher.data import god
from brainteacher.data.presets import PESSIMISTIC_TARGET, get_preset, in_pessimistic_band
from brainteacher.data.simulate import simulate
from brainteacher.data.splits import make_splits, write_split
from brainteacher.decode.decoders import DecoderConfig, run_decode
from brainteacher.nn.train import TrainConfig
from brainteacher.runs import simulated_dataset

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


def _dataset(preset: str, seed: int, noise_scale: float) -> Path:
    root = OUT / simulated_dataset({"preset": preset, "seed": seed, "noise_scale": noise_scale})
    if not (root / "ground_truth.json").exists():
        print(f"simulating the {preset} preset into {root} (about 2 minutes) ...", flush=True)
        simulate(root, get_preset(preset, noise_scale=noise_scale), seed)
    return root


def _split_file(root: Path) -> Path:
    path = root.with_name(root.name + "-split0.json")
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
        "subject": metrics["subject"],
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
    parser.add_argument("--subjects", default="Subject1", help="comma-separated")
    parser.add_argument("--rois", default=",".join(god.SINGLE_ROIS))
    parser.add_argument("--preset", default="god", choices=registry.PRESETS)
    parser.add_argument("--noise-scales", type=float, nargs="+", default=[1.0], help="the noise dial's settings")
    parser.add_argument("--decoders", default=",".join(VARIANTS), help="comma-separated, of " + ",".join(VARIANTS))
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

    decoders = {name: VARIANTS[name] for name in args.decoders.split(",")}
    rows = []
    for scale in args.noise_scales:
        root = _dataset(args.preset, args.seed, scale)
        split = _split_file(root)
        for subject in args.subjects.split(","):
            for roi in args.rois.split(","):
                variants = decoders | (ABLATION if roi in args.ablation.split(",") else {})
                for name, cfg in variants.items():
                    t0 = time.perf_counter()
                    folder = OUT / "runs" / root.name / subject / name.replace(" ", "_") / roi
                    metrics = run_decode(root, subject, roi, split, folder, replace(cfg, device=args.device))
                    row = {"preset": args.preset, "noise_scale": scale} | _row(name, metrics, time.perf_counter() - t0)
                    rows.append(row)
                    print(pd.DataFrame(rows[-1:]).to_string(index=False, header=len(rows) == 1), flush=True)
                    # Rewritten after every row, so a run cut short still leaves what it measured.
                    table = pd.DataFrame(rows)
                    table.to_csv(args.out, sep="\t", index=False, float_format="%.4f")
    _report(table, decoders, planted=json.loads((root / "ground_truth.json").read_text())["planted_category_order"])
    print(f"wrote {args.out}")


def _report(table: pd.DataFrame, decoders: dict, planted: list[str]) -> None:
    """Top-1 per dial setting and ROI (mean over subjects); the band check; the planted order."""
    dial = table.groupby(["noise_scale", "roi", "decoder"])["top1"].agg(["mean", "min", "max", "count"])
    print("\nout-of-fold top-1, mean [min, max] over subjects:\n" + dial.to_string(float_format="%.4f"))
    if table["preset"].iloc[0] == "god-pessimistic" and (table["noise_scale"] == 1).any():
        loc = table[(table["noise_scale"] == 1) & (table["roi"] == "LOC")].groupby("decoder")["top1"].mean()
        for name, top1 in loc.items():
            verdict = "inside" if in_pessimistic_band(top1) else "OUTSIDE"
            print(f"god-pessimistic LOC {name}: mean top-1 {top1:.4f}, {verdict} the band {PESSIMISTIC_TARGET}")
    wide = table[table["noise_scale"] == table["noise_scale"].iloc[-1]]
    wide = wide.groupby(["roi", "decoder"])["top1"].mean().unstack()[list(decoders)]
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


if __name__ == "__main__":
    main()
