"""Command line: ``python -m brainteacher <command> ...`` (also installed as ``brainteacher``).

Every command exits non-zero with ``brainteacher: error: <file>: <problem>`` on bad input, and
writes its outputs atomically, so a failed or interrupted command leaves nothing half-written.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from brainteacher import __version__
from brainteacher.errors import DataError

log = logging.getLogger("brainteacher")

_COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], None]]] = {}


def _command(name: str, help: str, arguments: Callable[[argparse.ArgumentParser], None]):
    """Register the decorated ``run(args)`` as subcommand ``name``; ``arguments`` adds its options."""

    def register(run):
        _COMMANDS[name] = (help, arguments, run)
        return run

    return register


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors end like bad data: one ``brainteacher: error: ...`` line, exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"brainteacher: error: {message} (see {self.prog} --help)\n")


def _int(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse type: a whole number in [low, high], refused at parse time with the range."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if value < low or (high is not None and value > high):
            bounds = f">= {low}" if high is None else f"in {low}..{high}"
            raise argparse.ArgumentTypeError(f"must be a whole number {bounds}, got {value}")
        return value

    return parse


def _float(low: float, high: float = math.inf, *, low_open: bool = False) -> Callable[[str], float]:
    """An argparse type: a finite number in [low, high] (or (low, high] with ``low_open``)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        # NaN fails every comparison, so it is refused by name rather than slipping through.
        if not math.isfinite(value) or value > high or value < low or (low_open and value == low):
            bounds = f"{'>' if low_open else '>='} {low}" if high == math.inf else f"in {'(' if low_open else '['}{low}, {high}]"
            raise argparse.ArgumentTypeError(f"must be a finite number {bounds}, got {text}")
        return value

    return parse


_SEED = _int(0, 2**32 - 1)  # numpy's default_rng refuses negative seeds
_PIXELS = _int(1, 2048)  # an upper bound, so a typo cannot decode every image at a gigapixel
_WIDTH = _int(1, 1024)  # torchvision's ResNets use 64


def _device(text: str) -> str:
    """An argparse type: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``; CUDA only where there is one."""
    if text in ("auto", "cpu"):
        return text
    kind, _, index = text.partition(":")
    if kind != "cuda" or not (index == "" or index.isdigit()):
        raise argparse.ArgumentTypeError(f"must be auto, cpu, cuda or cuda:N, got {text!r}")
    import torch

    if not torch.cuda.is_available() or int(index or 0) >= torch.cuda.device_count():
        raise argparse.ArgumentTypeError(f"{text} is not available on this machine ({torch.cuda.device_count()} CUDA devices)")
    return text


def _nonempty(text: str) -> str:
    """An argparse type for a name or path that must not be blank."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return text


def _path(text: str) -> Path:
    """An argparse type: a path, never blank (``Path("")`` would silently mean the current folder)."""
    return Path(_nonempty(text))


def _dataset_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--root", "--data", dest="root", type=_path, required=True, help="GOD-format dataset folder (Subject<N>.h5, stimulus TSV, images/)")


# --- simulate -------------------------------------------------------------------------------


def _simulate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=_path, required=True, help="folder to write (replaced atomically)")
    from brainteacher.registry import PRESETS

    p.add_argument("--preset", default="quick", choices=PRESETS, help="quick (minutes on 2 CPU cores) or god (GOD-sized)")
    p.add_argument("--seed", type=_SEED, default=0)


@_command("simulate", "write a simulated GOD-format dataset with planted structure", _simulate_args)
def _simulate(args: argparse.Namespace) -> None:
    from brainteacher.simulate import get_preset, simulate

    preset = get_preset(args.preset)
    log.info("simulating preset %s (seed %d) into %s", preset.name, args.seed, args.out)
    simulate(args.out, preset, seed=args.seed)


# --- download-god -------------------------------------------------------------------------------


def _download_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=_path, required=True, help="the dataset folder to put Subject<N>.h5 in")
    p.add_argument("--subjects", nargs="+", required=True, help="e.g. Subject1 Subject2")
    p.add_argument("--md5", nargs="*", default=[], metavar="NAME=MD5", help="pinned checksums (default: figshare's computed_md5)")


@_command("download-god", "opt-in: fetch GOD subject files from figshare and verify their MD5 checksums", _download_args)
def _download(args: argparse.Namespace) -> None:
    from brainteacher.download import download_subjects

    bad = [item for item in args.md5 if "=" not in item]
    if bad:
        raise ValueError(f"--md5 takes NAME=MD5 pairs (e.g. Subject1.h5=0123...), got {bad[0]!r}")
    pinned = dict(item.split("=", 1) for item in args.md5)
    download_subjects(args.out, args.subjects, pinned)


# --- inspect-data -----------------------------------------------------------------------------


def _inspect_args(p: argparse.ArgumentParser) -> None:
    _dataset_arg(p)
    from brainteacher.registry import ROIS

    p.add_argument("--rois", nargs="+", default=None, choices=ROIS, metavar="ROI", help=f"ROIs to tabulate, of {', '.join(ROIS)} (default: all in the files)")
    p.add_argument("--out", type=_path, default=None, help="also write the TSV here")
    p.add_argument("--skip-image-check", action="store_true", help="do not open every image")


@_command("inspect-data", "check a dataset and print subject, roi, n_voxels, n_train_trials, n_images, n_categories", _inspect_args)
def _inspect(args: argparse.Namespace) -> None:
    from brainteacher.god import GODLayout
    from brainteacher.inspect import inspect_dataset
    from brainteacher.io import write_text

    table = inspect_dataset(GODLayout.from_root(args.root), args.rois, check_images=not args.skip_image_check)
    text = table.to_csv(sep="\t", index=False)
    if args.out is not None:
        write_text(args.out, text)
    sys.stdout.write(text)


# --- make-splits --------------------------------------------------------------------------------


def _splits_args(p: argparse.ArgumentParser) -> None:
    _dataset_arg(p)
    p.add_argument("--out", type=_path, required=True, help="folder for split0.json ... split<K-1>.json")
    p.add_argument("--n-splits", type=_int(2), default=4, help="K: split k tests on fold k of each category (4: 6 train / 2 test of 8)")
    p.add_argument("--seed", type=_SEED, default=0)


@_command("make-splits", "write K stratified train/test splits of the training images", _splits_args)
def _make_splits(args: argparse.Namespace) -> None:
    from brainteacher import god
    from brainteacher.io import atomic_dir, provenance
    from brainteacher.splits import make_splits, write_split

    table = god.read_stimulus_tsv(god.GODLayout.from_root(args.root).training_tsv)
    prov = provenance({"n_splits": args.n_splits, "tsv": str(table.path)}, args.seed)
    try:
        splits = make_splits(table.names, table.labels, args.n_splits, args.seed)
    except ValueError as err:  # too many splits for the smallest category of this table
        raise DataError(table.path, f"--n-splits {args.n_splits}: {err}") from None
    with atomic_dir(args.out) as tmp:
        for split in splits:
            write_split(tmp / f"{split.name}.json", split, prov)


# --- decode -----------------------------------------------------------------------------------


def _decode_args(p: argparse.ArgumentParser) -> None:
    from brainteacher.decode import DecoderConfig
    from brainteacher.registry import DECODERS, ROIS
    from brainteacher.resnet import STEMS
    from brainteacher.voxelorder import VOXEL_ORDERS
    from brainteacher.train import TrainConfig

    d, t = DecoderConfig(), TrainConfig()
    _dataset_arg(p)
    p.add_argument("--subject", required=True)
    p.add_argument("--roi", required=True, choices=ROIS)
    p.add_argument("--split", type=_nonempty, required=True, help="a split file (see make-splits) or 'all'")
    p.add_argument("--out", type=_path, required=True, help="output folder (replaced atomically)")
    p.add_argument("--decoder", default=d.decoder, choices=sorted(DECODERS))
    p.add_argument("--folds", type=_int(2), default=d.n_folds, help="inner stratified folds for out-of-fold soft labels")
    p.add_argument("--n-voxels", type=_int(0), default=None, help="top-N voxels by ANOVA F (default: 500, or 1000 for LVC/HVC/VC; 0 keeps all)")
    p.add_argument("--within-run", action="store_true", help="z-score each voxel within each run")
    p.add_argument("--keep-repeats", action="store_true", help="train on every presentation instead of averaging repeats")
    p.add_argument("--width", type=_WIDTH, default=d.width, help="ResNet base width (64 = torchvision's)")
    p.add_argument("--input-noise", type=_float(0), default=d.input_noise, help="SD of Gaussian noise added to training batches")
    p.add_argument("--voxel-order", default=d.voxel_order, choices=VOXEL_ORDERS, help="the 1D axis: spatial (3D Hilbert curve over voxel_x/y/z) or file")
    p.add_argument("--stem", default=d.stem, choices=sorted(STEMS), help="resnet1d stem (how much the first layers downsample)")
    p.add_argument("--linear-shortcut", action=argparse.BooleanOptionalAction, default=d.linear_shortcut, help="resnet1d: add a linear read-out of every voxel to the residual stages")
    p.add_argument("--epochs", type=_int(1), default=t.epochs)
    p.add_argument("--batch-size", type=_int(1), default=t.batch_size)
    p.add_argument("--lr", type=_float(0, low_open=True), default=t.lr)
    p.add_argument("--weight-decay", type=_float(0), default=t.weight_decay)
    p.add_argument("--seed", type=_SEED, default=d.seed)
    p.add_argument("--device", type=_device, default=d.device, help="auto (CUDA if available), cpu or cuda[:N]")


@_command("decode", "cross-fit a decoder for one subject x ROI and write out-of-fold logits and soft labels", _decode_args)
def _decode(args: argparse.Namespace) -> None:
    from brainteacher.decode import DecoderConfig, default_n_voxels, run_decode
    from brainteacher.train import TrainConfig

    n_voxels = default_n_voxels(args.roi) if args.n_voxels is None else (args.n_voxels or None)
    train = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, weight_decay=args.weight_decay)
    cfg = DecoderConfig(
        decoder=args.decoder,
        n_folds=args.folds,
        n_voxels=n_voxels,
        within_run=args.within_run,
        width=args.width,
        input_noise=args.input_noise,
        voxel_order=args.voxel_order,
        stem=args.stem,
        linear_shortcut=args.linear_shortcut,
        seed=args.seed,
        device=args.device,
        train=train,
    )
    run_decode(args.root, args.subject, args.roi, args.split, args.out, cfg, average_repeats=not args.keep_repeats)


# --- images, network teacher, distill -------------------------------------------------------------


def _student_args(p: argparse.ArgumentParser, depth: int) -> None:
    """The image-classifier options shared by ``network-teacher`` and ``distill``."""
    from brainteacher.distill import StudentConfig
    from brainteacher.resnet import STEMS

    s = StudentConfig()
    _dataset_arg(p)
    p.add_argument("--split", type=_nonempty, required=True, help="a split file (see make-splits)")
    p.add_argument("--out", type=_path, required=True, help="output folder (replaced atomically)")
    p.add_argument("--seed", type=_SEED, default=0)
    p.add_argument("--image-cache", type=_path, default=None, help="a .npy of every training image at --image-size (see cache-images)")
    p.add_argument("--depth", type=int, default=depth, choices=[18, 34])
    p.add_argument("--width", type=_WIDTH, default=s.width, help="ResNet base width (64 = torchvision's)")
    p.add_argument("--image-size", type=_PIXELS, default=s.image_size, help="pixels per side")
    p.add_argument("--stem", default=s.stem, choices=sorted(STEMS), help="imagenet (7x7/2 + maxpool), small (3x3/1) or small-s2 (3x3/2)")
    p.add_argument("--weights", default=None, help="torchvision-format state_dict to start from (fc skipped; never downloaded)")
    p.add_argument("--steps", type=_int(1), default=s.train.steps, help="optimizer steps (the schedule's length)")
    p.add_argument("--batch-size", type=_int(1), default=s.train.batch_size)
    p.add_argument("--lr", type=_float(0, low_open=True), default=s.train.lr)
    p.add_argument("--weight-decay", type=_float(0), default=s.train.weight_decay)
    p.add_argument("--device", type=_device, default=s.device, help="auto (CUDA if available), cpu or cuda[:N]")


def _student_config(args: argparse.Namespace, **kd) -> "StudentConfig":  # noqa: F821
    from brainteacher.distill import StudentConfig
    from brainteacher.train import TrainConfig

    train = TrainConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr, weight_decay=args.weight_decay, log_every=20)
    return StudentConfig(depth=args.depth, width=args.width, image_size=args.image_size, stem=args.stem, weights=args.weights, device=args.device, train=train, **kd)


def _cache_args(p: argparse.ArgumentParser) -> None:
    _dataset_arg(p)
    p.add_argument("--size", type=_PIXELS, required=True, help="pixels per side")
    p.add_argument("--out", type=_path, required=True, help="the .npy to write: (n_images, 3, size, size) uint8 in TSV order")


@_command("cache-images", "decode every training image once into a uint8 .npy at one resolution", _cache_args)
def _cache_images(args: argparse.Namespace) -> None:
    from brainteacher.images import load_training_images

    load_training_images(args.root, args.size, args.out)


def _network_args(p: argparse.ArgumentParser) -> None:
    _student_args(p, depth=34)
    p.add_argument("--folds", type=_int(2), default=4, help="inner folds: each image's target comes from a model that never saw it")


@_command("network-teacher", "cross-fit a ResNet-34 on a split's training images and write out-of-fold logits", _network_args)
def _network_teacher(args: argparse.Namespace) -> None:
    from brainteacher.distill import run_network_teacher

    run_network_teacher(args.root, args.split, args.out, _student_config(args), n_folds=args.folds, seed=args.seed, image_cache=args.image_cache)


def _distill_args(p: argparse.ArgumentParser) -> None:
    from brainteacher.distill import StudentConfig

    s = StudentConfig()
    _student_args(p, depth=18)
    p.add_argument("--teacher", required=True, help="none, network, oracle, brain-mean/ROI or KIND/SOURCE/ROI (see brainteacher.teachers)")
    p.add_argument("--teacher-input", nargs="*", default=[], type=_path, help="decode folder(s), network-teacher folder or ground_truth.json")
    p.add_argument("--decoder", default=None, help="label: the decoder a brain teacher's folders came from")
    p.add_argument("--alpha", type=_float(0, 1), default=s.alpha, help="weight of the KD term (0 = cross-entropy only)")
    p.add_argument("--temperature", type=_float(0, low_open=True), default=s.temperature, help="Hinton's T")
    _toolbox_args(p, s)


def _toolbox_args(p: argparse.ArgumentParser, s) -> None:
    """Student architecture, KD loss family and initialisation (issue 14)."""
    from brainteacher.archs import ARCHS
    from brainteacher.distill import INITS
    from brainteacher.kd import GLD_TERMS, LOSSES

    p.add_argument("--arch", default=s.arch, choices=ARCHS, help="resnet18 (the ResNet of --depth/--width/--stem) or tiny (2 conv blocks + classifier, ~12k parameters)")
    p.add_argument("--loss", default=s.loss, choices=LOSSES, help="hinton (KD at --temperature, weight --alpha) or gld (global + local logits + relations)")
    p.add_argument("--gld-alpha", type=_float(0, 1), default=s.gld.alpha, help="GLD: weight of the global term (CE gets 1 - it)")
    p.add_argument("--gld-beta", type=_float(0), default=s.gld.beta, help="GLD: weight of the relation term")
    p.add_argument("--gld-regions", type=_int(1, 8), default=s.gld.regions, help="GLD: regions per side of the last feature map")
    p.add_argument("--gld-terms", nargs="+", default=list(s.gld.terms), choices=GLD_TERMS, help="GLD terms; a brain teacher allows only global")
    p.add_argument("--init", default=s.init, choices=INITS, help="random, weights (--weights) or simclr (--init-checkpoint)")
    p.add_argument("--init-checkpoint", default=None, help="a pretrain-simclr backbone (its fc-less state_dict)")


def _toolbox_config(args: argparse.Namespace) -> dict:
    from brainteacher.kd import GLDConfig, parse_gld_terms

    gld = GLDConfig(alpha=args.gld_alpha, beta=args.gld_beta, regions=args.gld_regions, terms=parse_gld_terms(args.gld_terms))
    return {"arch": args.arch, "loss": args.loss, "gld": gld, "init": args.init, "init_checkpoint": args.init_checkpoint}


@_command("distill", "train a student (ResNet-18 or tiny) with one teacher on a split; test it on the held-out images", _distill_args)
def _distill(args: argparse.Namespace) -> None:
    from brainteacher.distill import run_distill

    cfg = _student_config(args, alpha=args.alpha, temperature=args.temperature, **_toolbox_config(args))
    run_distill(args.root, args.split, args.teacher, args.teacher_input, args.seed, args.out, cfg, image_cache=args.image_cache, decoder=args.decoder)


def _simclr_args(p: argparse.ArgumentParser) -> None:
    from brainteacher.archs import ARCHS
    from brainteacher.resnet import STEMS
    from brainteacher.simclr import SimCLRConfig

    c = SimCLRConfig()
    _dataset_arg(p)
    p.add_argument("--split", type=_nonempty, required=True, help="a split file: only its training images are used")
    p.add_argument("--out", type=_path, required=True, help="output folder (replaced atomically): backbone.pt, image_ids.npy, metrics.json")
    p.add_argument("--image-cache", type=_path, default=None, help="a .npy of every training image at --image-size (see cache-images)")
    p.add_argument("--arch", default=c.arch, choices=ARCHS)
    p.add_argument("--depth", type=int, default=c.depth, choices=[18, 34])
    p.add_argument("--width", type=_WIDTH, default=c.width)
    p.add_argument("--stem", default=c.stem, choices=sorted(STEMS))
    p.add_argument("--image-size", type=_PIXELS, default=c.image_size)
    p.add_argument("--steps", type=_int(1), default=c.steps)
    p.add_argument("--batch-size", type=_int(2), default=c.batch_size)
    p.add_argument("--lr", type=_float(0, low_open=True), default=c.lr)
    p.add_argument("--weight-decay", type=_float(0), default=c.weight_decay)
    p.add_argument("--temperature", type=_float(0, low_open=True), default=c.temperature, help="NT-Xent temperature")
    p.add_argument("--projection-dim", type=_int(1), default=c.projection_dim, help="projection head output (dropped after pretraining)")
    p.add_argument("--extra-per-category", type=_int(0), default=c.extra_per_category, help="extra unlabelled renders per category (simulated data only)")
    p.add_argument("--seed", type=_SEED, default=c.seed)
    p.add_argument("--device", type=_device, default=c.device)


@_command("pretrain-simclr", "SimCLR-pretrain a student backbone on a split's training images (+ simulated extra renders)", _simclr_args)
def _pretrain_simclr(args: argparse.Namespace) -> None:
    from brainteacher.simclr import SimCLRConfig, pretrain_simclr

    keys = ("arch", "depth", "width", "stem", "image_size", "steps", "batch_size", "lr", "weight_decay", "temperature", "projection_dim", "extra_per_category", "seed", "device")
    pretrain_simclr(args.root, args.split, args.out, SimCLRConfig(**{k: getattr(args, k) for k in keys}), image_cache=args.image_cache)


# --- runs: provenance, aggregate and plots ------------------------------------------------------


def _provenance_args(p: argparse.ArgumentParser) -> None:
    _dataset_arg(p)
    p.add_argument("--subjects", nargs="+", default=None, help="the subjects the run reads (default: every subject file)")
    # dest: `run` is the parsed command's function (set_defaults in build_parser).
    p.add_argument("--run", dest="run_name", type=_nonempty, required=True, help="the run's name (its folder under results/)")
    p.add_argument("--config", type=_nonempty, required=True, help="the run's resolved config as JSON text (hashed and recorded)")
    p.add_argument("--config-name", type=_nonempty, required=True, help="the config's name, e.g. its file's stem")
    p.add_argument("--out", type=_path, required=True, help="the provenance.json to write")


@_command("provenance", "record a run's dataset (folder and content fingerprint) and config (name and hash)", _provenance_args)
def _provenance(args: argparse.Namespace) -> None:
    from brainteacher.io import write_json
    from brainteacher.runs import run_provenance

    write_json(args.out, run_provenance(args.root, args.subjects, args.run_name, _config_json(args.config), args.config_name))


def _run_name_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("configfiles", nargs="*", type=_path, help="the files given to snakemake --configfile (none: the default)")
    p.add_argument("--base", type=_path, default=Path("config/config.yaml"), help="the workflow's default config, loaded first")


@_command("run-name", "print the run folder name the workflow uses for these config files", _run_name_args)
def _run_name(args: argparse.Namespace) -> None:
    from brainteacher.runs import layered_config, run_name

    config = layered_config([args.base, *args.configfiles])
    print(run_name(config, args.configfiles or [args.base]))


def _run_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--provenance", type=_path, required=True, help="the run's provenance.json (see provenance): inputs of another run are refused")
    p.add_argument("--config", default=None, help="the run's resolved config as JSON text; the provenance must record it")


def _expected_run(args: argparse.Namespace) -> dict:
    """The identity of the run being drawn, from --provenance, checked against --config if given."""
    from brainteacher.runs import read_run_provenance

    return read_run_provenance(args.provenance, None if args.config is None else _config_json(args.config))


def _aggregate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--decode", nargs="+", type=_path, required=True, help="decoder metrics.json files")
    p.add_argument("--students", nargs="*", type=_path, default=[], help="student metrics.json files")
    p.add_argument("--out", type=_path, required=True, help="folder for decoders.tsv, students.tsv, summary.tsv")
    _run_arg(p)
    p.add_argument("--primary", nargs=3, default=["brain-mean", "shuffled_brain", "top1"], metavar=("TEACHER", "REFERENCE", "METRIC"), help="the pre-registered primary contrast (Holm over its ROIs)")


@_command("aggregate", "collect decoder and student metrics into result tables with CIs and paired tests", _aggregate_args)
def _aggregate(args: argparse.Namespace) -> None:
    from brainteacher.aggregate import write_tables

    run = _expected_run(args)
    primary = dict(zip(("teacher", "reference", "metric"), args.primary))
    record = {} if args.config is None else {"workflow_config": _config_json(args.config)}
    write_tables(args.decode, args.students, args.out, record, primary=primary, run=run)


def _plot_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tables", type=_path, required=True, help="folder holding decoders.tsv and students.tsv")
    p.add_argument("--out", type=_path, required=True, help="folder for the PNG and SVG plots")
    _run_arg(p)
    p.add_argument("--rois", nargs="+", required=True, help="ROI order on the x axes")
    p.add_argument("--note", default="", help="subtitle, e.g. that the data are simulated")


@_command("plot", "ROI comparison, decoder accuracy and decoder-vs-gain plots (PNG and SVG)", _plot_args)
def _plot(args: argparse.Namespace) -> None:
    from brainteacher.plots import write_plots

    write_plots(args.tables, args.out, args.rois, note=args.note, run=_expected_run(args))


def _evaluation_plot_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tables", type=_path, required=True, help="folder holding students.tsv (its folder column locates the predictions)")
    p.add_argument("--out", type=_path, required=True, help="folder for the PNG and SVG plots")
    p.add_argument("--ground-truth", type=_path, default=None, help="the simulator's ground_truth.json: orders categories by superordinate group")
    p.add_argument("--compare", nargs="*", type=_path, default=[], help="other runs' students.tsv for the size plot (e.g. the tiny student's)")
    p.add_argument("--note", default="", help="subtitle, e.g. that the data are simulated")
    _run_arg(p)


@_command("plot-evaluation", "accuracy-vs-size, confusion-matrix and precision-recall plots (PNG and SVG)", _evaluation_plot_args)
def _plot_evaluation(args: argparse.Namespace) -> None:
    from brainteacher.plots import write_evaluation_plots

    write_evaluation_plots(args.tables, args.out, ground_truth=args.ground_truth, compare=args.compare, note=args.note, run=_expected_run(args))


def _config_json(text: str) -> dict:
    """The workflow config given as JSON text; a clear error if it is not a JSON object."""
    try:
        config = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"--config is not valid JSON ({err})") from None
    if not isinstance(config, dict):
        raise ValueError("--config must be a JSON object (the workflow's config)")
    return config


# --- entry point --------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="brainteacher", description="Human fMRI (GOD) decoders as teachers for an image classifier.")
    parser.add_argument("--version", action="version", version=f"brainteacher {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors on stderr")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (help_text, add_arguments, run) in _COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        add_arguments(p)
        p.set_defaults(run=run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(asctime)s %(name)s: %(message)s", datefmt="%H:%M:%S", stream=sys.stderr)
    try:
        args.run(args)
    except (DataError, ValueError) as err:
        # Bad input (a file, a teacher name, an option value): one line naming it, no traceback.
        print(f"brainteacher: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        # The file system refused (a missing file, a folder where a file should go, permissions).
        where = f"{err.filename}: " if err.filename else ""
        print(f"brainteacher: error: {where}{err.strerror or err}", file=sys.stderr)
        return 2
    return 0
