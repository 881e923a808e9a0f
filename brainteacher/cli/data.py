"""Commands of the data stage: simulate, download-god, inspect-data, make-splits."""

from __future__ import annotations

import argparse
import logging
import sys

from brainteacher.cli.base import SEED, command, dataset_arg
from brainteacher.errors import DataError
from brainteacher.options import add_options
from brainteacher.options import path as _path

log = logging.getLogger(__name__)

# --- simulate -------------------------------------------------------------------------------


def _simulate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=_path, required=True, help="folder to write (replaced atomically)")
    from brainteacher.registry import PRESETS

    p.add_argument(
        "--preset",
        default="quick",
        choices=PRESETS,
        help="quick (minutes on 2 CPU cores), god (GOD-sized), god-pessimistic (GOD-sized, GOD-like noise) or "
        "quick-pessimistic (quick-sized, GOD-like noise)",
    )
    p.add_argument("--seed", type=SEED, default=0)
    p.add_argument(
        "--image-signal",
        type=float,
        default=1.0,
        help="share of the voxels' image-specific signal kept, 0-1 (0 = the null: category information only)",
    )
    p.add_argument(
        "--noise-scale",
        type=float,
        default=1.0,
        help="the noise dial: the preset's trial noise SD times this (> 0; 1 = the preset's own)",
    )


@command("simulate", "write a simulated GOD-format dataset with planted structure", _simulate_args)
def _simulate(args: argparse.Namespace) -> None:
    from brainteacher.data.presets import get_preset
    from brainteacher.data.simulate import simulate

    preset = get_preset(args.preset, image_signal=args.image_signal, noise_scale=args.noise_scale)
    log.info(
        "simulating preset %s (seed %d, image signal %g, noise SD %g) into %s",
        preset.name,
        args.seed,
        args.image_signal,
        preset.noise_sd,
        args.out,
    )
    simulate(args.out, preset, seed=args.seed)


# --- download-god -------------------------------------------------------------------------------


def _download_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=_path, required=True, help="the dataset folder to put Subject<N>.h5 in")
    p.add_argument("--subjects", nargs="+", required=True, help="e.g. Subject1 Subject2")
    p.add_argument(
        "--md5", nargs="*", default=[], metavar="NAME=MD5", help="pinned checksums (default: figshare's computed_md5)"
    )


@command("download-god", "opt-in: fetch GOD subject files from figshare and verify their MD5 checksums", _download_args)
def _download(args: argparse.Namespace) -> None:
    from brainteacher.data.download import download_subjects

    bad = [item for item in args.md5 if "=" not in item]
    if bad:
        raise ValueError(f"--md5 takes NAME=MD5 pairs (e.g. Subject1.h5=0123...), got {bad[0]!r}")
    pinned = dict(item.split("=", 1) for item in args.md5)
    download_subjects(args.out, args.subjects, pinned)


# --- inspect-data -----------------------------------------------------------------------------


def _inspect_args(p: argparse.ArgumentParser) -> None:
    dataset_arg(p)
    from brainteacher.registry import ROIS

    p.add_argument(
        "--rois",
        nargs="+",
        default=None,
        choices=ROIS,
        metavar="ROI",
        help=f"ROIs to tabulate, of {', '.join(ROIS)} (default: all in the files)",
    )
    p.add_argument("--out", type=_path, default=None, help="also write the TSV here")
    p.add_argument("--skip-image-check", action="store_true", help="do not open every image")


@command(
    "inspect-data",
    "check a dataset and print subject, roi, n_voxels, n_train_trials, n_images, n_categories",
    _inspect_args,
)
def _inspect(args: argparse.Namespace) -> None:
    from brainteacher.data.god import GODLayout
    from brainteacher.data.inspection import inspect_dataset
    from brainteacher.outputs import write_text

    table = inspect_dataset(GODLayout.from_root(args.root), args.rois, check_images=not args.skip_image_check)
    text = table.to_csv(sep="\t", index=False)
    if args.out is not None:
        write_text(args.out, text)
    sys.stdout.write(text)


# --- make-splits --------------------------------------------------------------------------------


def _splits_args(p: argparse.ArgumentParser) -> None:
    dataset_arg(p)
    p.add_argument("--out", type=_path, required=True, help="folder for split0.json ... split<K-1>.json")
    from brainteacher.configs import SplitsConfig

    add_options(p, SplitsConfig)


@command("make-splits", "write K stratified train/test splits of the training images", _splits_args)
def _make_splits(args: argparse.Namespace) -> None:
    from brainteacher.data import god
    from brainteacher.data.splits import make_splits, write_split
    from brainteacher.outputs import atomic_dir, provenance

    table = god.read_stimulus_tsv(god.GODLayout.from_root(args.root).training_tsv)
    prov = provenance({"n_splits": args.n_splits, "tsv": str(table.path)}, args.seed)
    try:
        splits = make_splits(table.names, table.labels, args.n_splits, args.seed)
    except ValueError as err:  # too many splits for the smallest category of this table
        raise DataError(table.path, f"--n-splits {args.n_splits}: {err}") from None
    with atomic_dir(args.out) as tmp:
        for split in splits:
            write_split(tmp / f"{split.name}.json", split, prov)
