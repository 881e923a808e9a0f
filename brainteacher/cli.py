"""Command line: ``python -m brainteacher <command> ...`` (also installed as ``brainteacher``).

Every command exits non-zero with ``brainteacher: error: <file>: <problem>`` on bad input, and
writes its outputs atomically, so a failed or interrupted command leaves nothing half-written.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from brainteacher import __version__
from brainteacher.errors import DataError
from brainteacher.options import add_options, from_args
from brainteacher.options import nonempty as _nonempty
from brainteacher.options import path as _path
from brainteacher.options import whole as _int
from brainteacher.registry import ROI_PLOTS

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


_SEED = _int(0, 2**32 - 1)  # numpy's default_rng refuses negative seeds
_PIXELS = _int(1, 2048)  # an upper bound, so a typo cannot decode every image at a gigapixel


def _dataset_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--root",
        "--data",
        dest="root",
        type=_path,
        required=True,
        help="GOD-format dataset folder (Subject<N>.h5, stimulus TSV, images/)",
    )


# --- simulate -------------------------------------------------------------------------------


def _simulate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=_path, required=True, help="folder to write (replaced atomically)")
    from brainteacher.registry import PRESETS

    p.add_argument(
        "--preset", default="quick", choices=PRESETS, help="quick (minutes on 2 CPU cores) or god (GOD-sized)"
    )
    p.add_argument("--seed", type=_SEED, default=0)
    p.add_argument(
        "--image-signal",
        type=float,
        default=1.0,
        help="share of the voxels' image-specific signal kept, 0-1 (0 = the null: category information only)",
    )


@_command("simulate", "write a simulated GOD-format dataset with planted structure", _simulate_args)
def _simulate(args: argparse.Namespace) -> None:
    from brainteacher.simulate import get_preset, simulate

    preset = get_preset(args.preset, image_signal=args.image_signal)
    log.info(
        "simulating preset %s (seed %d, image signal %g) into %s", preset.name, args.seed, args.image_signal, args.out
    )
    simulate(args.out, preset, seed=args.seed)


# --- download-god -------------------------------------------------------------------------------


def _download_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=_path, required=True, help="the dataset folder to put Subject<N>.h5 in")
    p.add_argument("--subjects", nargs="+", required=True, help="e.g. Subject1 Subject2")
    p.add_argument(
        "--md5", nargs="*", default=[], metavar="NAME=MD5", help="pinned checksums (default: figshare's computed_md5)"
    )


@_command(
    "download-god", "opt-in: fetch GOD subject files from figshare and verify their MD5 checksums", _download_args
)
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


@_command(
    "inspect-data",
    "check a dataset and print subject, roi, n_voxels, n_train_trials, n_images, n_categories",
    _inspect_args,
)
def _inspect(args: argparse.Namespace) -> None:
    from brainteacher.god import GODLayout
    from brainteacher.inspection import inspect_dataset
    from brainteacher.outputs import write_text

    table = inspect_dataset(GODLayout.from_root(args.root), args.rois, check_images=not args.skip_image_check)
    text = table.to_csv(sep="\t", index=False)
    if args.out is not None:
        write_text(args.out, text)
    sys.stdout.write(text)


# --- make-splits --------------------------------------------------------------------------------


def _splits_args(p: argparse.ArgumentParser) -> None:
    _dataset_arg(p)
    p.add_argument("--out", type=_path, required=True, help="folder for split0.json ... split<K-1>.json")
    from brainteacher.configs import SplitsConfig

    add_options(p, SplitsConfig)


@_command("make-splits", "write K stratified train/test splits of the training images", _splits_args)
def _make_splits(args: argparse.Namespace) -> None:
    from brainteacher import god
    from brainteacher.outputs import atomic_dir, provenance
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
    from brainteacher.configs import DecoderConfig
    from brainteacher.registry import ROIS

    _dataset_arg(p)
    p.add_argument("--subject", required=True)
    p.add_argument("--roi", required=True, choices=ROIS)
    p.add_argument("--split", type=_nonempty, required=True, help="a split file (see make-splits) or 'all'")
    p.add_argument("--out", type=_path, required=True, help="output folder (replaced atomically)")
    add_options(p, DecoderConfig)


@_command(
    "decode", "cross-fit a decoder for one subject x ROI and write out-of-fold logits and soft labels", _decode_args
)
def _decode(args: argparse.Namespace) -> None:
    from brainteacher.configs import DecoderConfig
    from brainteacher.decode import run_decode

    run_decode(args.root, args.subject, args.roi, args.split, args.out, from_args(DecoderConfig, args))


# --- images, network teacher, distill -------------------------------------------------------------


def _split_args(p: argparse.ArgumentParser, split_help: str = "a split file (see make-splits)") -> None:
    """The dataset, a split and the image cache: what every image command reads."""
    _dataset_arg(p)
    p.add_argument("--split", type=_nonempty, required=True, help=split_help)
    p.add_argument(
        "--image-cache",
        type=_path,
        default=None,
        help="a .npy of every training image at --image-size (see cache-images)",
    )


def _image_args(p: argparse.ArgumentParser) -> None:
    """The options of every image-classifier command that no config section holds."""
    _split_args(p)
    p.add_argument("--out", type=_path, required=True, help="output folder (replaced atomically)")


def _cache_args(p: argparse.ArgumentParser) -> None:
    _dataset_arg(p)
    p.add_argument("--size", type=_PIXELS, required=True, help="pixels per side")
    p.add_argument(
        "--out", type=_path, required=True, help="the .npy to write: (n_images, 3, size, size) uint8 in TSV order"
    )


@_command("cache-images", "decode every training image once into a uint8 .npy at one resolution", _cache_args)
def _cache_images(args: argparse.Namespace) -> None:
    from brainteacher.images import load_training_images

    load_training_images(args.root, args.size, args.out)


def _network_args(p: argparse.ArgumentParser) -> None:
    from brainteacher.configs import NETWORK_SHARES, NetworkConfig, StudentConfig

    _image_args(p)
    add_options(p, StudentConfig, only=NETWORK_SHARES)
    add_options(p, NetworkConfig)


@_command(
    "network-teacher",
    "cross-fit a ResNet (18 by default) on a split's training images and write out-of-fold logits",
    _network_args,
)
def _network_teacher(args: argparse.Namespace) -> None:
    from brainteacher.configs import NETWORK_SHARES, NetworkConfig, StudentConfig
    from brainteacher.distill import run_network_teacher

    net = from_args(NetworkConfig, args)
    cfg = from_args(StudentConfig, args, only=NETWORK_SHARES, depth=net.depth)
    run_network_teacher(
        args.root, args.split, args.out, cfg, n_folds=net.folds, seed=net.seed, image_cache=args.image_cache
    )


def _distill_args(p: argparse.ArgumentParser) -> None:
    from brainteacher.configs import StudentConfig

    _image_args(p)
    seed_help = "initialisation, batches, augmentation and the random/shuffled controls"
    p.add_argument("--seed", type=_SEED, default=0, help=seed_help)
    p.add_argument(
        "--teacher",
        required=True,
        help="none, network, oracle, brain-mean/ROI or KIND/SOURCE/ROI (see brainteacher.teachers)",
    )
    p.add_argument(
        "--teacher-input",
        nargs="*",
        default=[],
        type=_path,
        help="decode folder(s), network-teacher folder or ground_truth.json",
    )
    p.add_argument("--decoder", default=None, help="label: the decoder a brain teacher's folders came from")
    add_options(p, StudentConfig)


@_command(
    "distill",
    "train a student (ResNet-18 or tiny) with one teacher on a split; test it on the held-out images",
    _distill_args,
)
def _distill(args: argparse.Namespace) -> None:
    from brainteacher.configs import StudentConfig
    from brainteacher.distill import run_distill

    cfg = from_args(StudentConfig, args)
    run_distill(
        args.root,
        args.split,
        args.teacher,
        args.teacher_input,
        args.seed,
        args.out,
        cfg,
        image_cache=args.image_cache,
        decoder=args.decoder,
    )


def _cohort_args(p: argparse.ArgumentParser) -> None:
    from brainteacher.configs import StudentConfig

    _split_args(p)
    p.add_argument(
        "--member",
        nargs="+",
        action="append",
        required=True,
        metavar="FIELD",
        help=(
            "one student: TEACHER SEED OUT [TEACHER_INPUT ...] (its teacher as for distill --teacher, its "
            "seed, its output folder, the folders or file its teacher is built from); repeat per student"
        ),
    )
    p.add_argument("--decoder", default=None, help="label: the decoder the brain teachers' folders came from")
    add_options(p, StudentConfig)


def _members(fields: list[list[str]]):
    """``--member`` values -> ``distill.Member``s; ValueError (exit 2) naming a malformed one."""
    from brainteacher.distill import Member

    members = []
    for f in fields:
        if len(f) < 3 or not f[1].isdigit() or int(f[1]) > 2**32 - 1:
            raise ValueError(f"--member needs TEACHER SEED OUT [TEACHER_INPUT ...], got {' '.join(f)!r}")
        members.append(Member(f[0], tuple(f[3:]), int(f[1]), f[2]))
    outs = [m.out for m in members]
    if len(set(outs)) != len(outs):
        raise ValueError(f"two --member share an output folder: {sorted(o for o in outs if outs.count(o) > 1)[0]}")
    return members


@_command(
    "distill-cohort",
    "train several students of one split together in one process (a cohort); each writes its own folder",
    _cohort_args,
)
def _distill_cohort(args: argparse.Namespace) -> None:
    from brainteacher.configs import StudentConfig
    from brainteacher.distill import run_cohort

    run_cohort(
        args.root,
        args.split,
        _members(args.member),
        from_args(StudentConfig, args),
        image_cache=args.image_cache,
        decoder=args.decoder,
    )


def _simclr_args(p: argparse.ArgumentParser) -> None:
    from brainteacher.configs import SimCLRConfig

    _split_args(p, "a split file: only its training images are used")
    p.add_argument(
        "--out",
        type=_path,
        required=True,
        help="output folder (replaced atomically): backbone.pt, image_ids.npy, metrics.json",
    )
    add_options(p, SimCLRConfig)


@_command(
    "pretrain-simclr",
    "SimCLR-pretrain a student backbone on a split's training images (+ simulated extra renders)",
    _simclr_args,
)
def _pretrain_simclr(args: argparse.Namespace) -> None:
    from brainteacher.configs import SimCLRConfig
    from brainteacher.simclr import pretrain_simclr

    pretrain_simclr(args.root, args.split, args.out, from_args(SimCLRConfig, args), image_cache=args.image_cache)


# --- runs: provenance, aggregate and plots ------------------------------------------------------


def _provenance_args(p: argparse.ArgumentParser) -> None:
    _dataset_arg(p)
    p.add_argument(
        "--subjects", nargs="+", default=None, help="the subjects the run reads (default: every subject file)"
    )
    # dest: `run` is the parsed command's function (set_defaults in build_parser).
    p.add_argument(
        "--run", dest="run_name", type=_nonempty, required=True, help="the run's name (its folder under results/)"
    )
    p.add_argument(
        "--config", type=_nonempty, required=True, help="the run's resolved config as JSON text (hashed and recorded)"
    )
    p.add_argument("--config-name", type=_nonempty, required=True, help="the config's name, e.g. its file's stem")
    p.add_argument("--out", type=_path, required=True, help="the provenance.json to write")


@_command(
    "provenance", "record a run's dataset (folder and content fingerprint) and config (name and hash)", _provenance_args
)
def _provenance(args: argparse.Namespace) -> None:
    from brainteacher.outputs import write_json
    from brainteacher.runs import run_provenance

    write_json(
        args.out, run_provenance(args.root, args.subjects, args.run_name, _config_json(args.config), args.config_name)
    )


def _run_name_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "configfiles", nargs="*", type=_path, help="the files given to snakemake --configfile (none: the default)"
    )
    p.add_argument(
        "--base", type=_path, default=Path("config/config.yaml"), help="the workflow's default config, loaded first"
    )


@_command("run-name", "print the run folder name the workflow uses for these config files", _run_name_args)
def _run_name(args: argparse.Namespace) -> None:
    from brainteacher.runs import layered_config, run_name

    config = layered_config([args.base, *args.configfiles])
    print(run_name(config, args.configfiles or [args.base]))


def _columns_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=_path, help="write the Markdown here (default: print it)")


@_command("columns", "the column reference of every result table, as Markdown (docs/columns.md)", _columns_args)
def _columns(args: argparse.Namespace) -> None:
    from brainteacher.columns import markdown
    from brainteacher.outputs import write_text

    if args.out is None:
        print(markdown(), end="")
    else:
        write_text(args.out, markdown())


def _captions_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=_path, required=True, help="the report's caption folder (workflow/report)")
    p.add_argument("--check", action="store_true", help="write nothing; fail naming each caption that is out of date")


@_command("captions", "write the report's captions from the method texts (brainteacher.methods)", _captions_args)
def _captions(args: argparse.Namespace) -> None:
    from brainteacher.captions import stale_captions, write_captions

    if not args.check:
        for path in write_captions(args.out):
            log.info("wrote %s", path)
        return
    stale = stale_captions(args.out)
    if stale:
        raise DataError(args.out, f"out of date: {', '.join(stale)}; run `brainteacher captions --out {args.out}`")


def _run_summary_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", type=_path, help="the run folder, results/<run>")


@_command(
    "run-summary", "print a finished run's positive control, conclusion and where its outputs are", _run_summary_args
)
def _run_summary(args: argparse.Namespace) -> None:
    from brainteacher.runs import end_of_run_summary

    print(end_of_run_summary(args.run_dir))


def _plan_args(p: argparse.ArgumentParser) -> None:
    _run_name_args(p)
    p.add_argument("--cores", type=_int(1), default=2, help="jobs side by side on this CPU (snakemake --cores)")
    p.add_argument("--no-measure", action="store_true", help="skip timing a few training steps here (no CPU estimate)")


@_command(
    "plan",
    "print what a config runs: jobs, students, decoders, FLOPs, time on this CPU and on one H200 (estimates)",
    _plan_args,
)
def _plan(args: argparse.Namespace) -> None:
    from brainteacher.plan import format_plan, plan
    from brainteacher.runs import layered_config

    config = layered_config([args.base, *args.configfiles])
    print(format_plan(plan(config, cores=args.cores, measure=not args.no_measure), args.cores))


def _run_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--provenance",
        type=_path,
        required=True,
        help="the run's provenance.json (see provenance): inputs of another run are refused",
    )
    p.add_argument(
        "--config", default=None, help="the run's resolved config as JSON text; the provenance must record it"
    )


def _expected_run(args: argparse.Namespace) -> dict:
    """The identity of the run being drawn, from --provenance, checked against --config if given."""
    from brainteacher.runs import read_run_provenance

    return read_run_provenance(args.provenance, None if args.config is None else _config_json(args.config))


def _aggregate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--decode", nargs="+", type=_path, required=True, help="decoder metrics.json files")
    p.add_argument("--students", nargs="*", type=_path, default=[], help="student metrics.json files")
    p.add_argument(
        "--out", type=_path, required=True, help="folder for the four tables (decoders, calibration, students, summary)"
    )
    _run_arg(p)
    p.add_argument(
        "--primary",
        nargs=3,
        default=["brain-mean", "shuffled_brain", "top1"],
        metavar=("TEACHER", "REFERENCE", "METRIC"),
        help="the pre-registered primary contrast (Holm over its ROIs)",
    )


@_command(
    "aggregate", "collect decoder and student metrics into result tables with CIs and paired tests", _aggregate_args
)
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
    p.add_argument("--plots", nargs="+", choices=ROI_PLOTS, default=list(ROI_PLOTS), help="the figures to draw")


@_command("plot", "ROI comparison, decoder accuracy and decoder-vs-gain plots (PNG and SVG)", _plot_args)
def _plot(args: argparse.Namespace) -> None:
    from brainteacher.plots import write_plots

    write_plots(args.tables, args.out, args.rois, note=args.note, run=_expected_run(args), plots=args.plots)


def _evaluation_plot_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--tables",
        type=_path,
        required=True,
        help="folder holding students.tsv (its folder column locates the predictions)",
    )
    p.add_argument("--out", type=_path, required=True, help="folder for the PNG and SVG plots")
    p.add_argument(
        "--ground-truth",
        type=_path,
        default=None,
        help="the simulator's ground_truth.json: orders categories by superordinate group",
    )
    p.add_argument(
        "--compare",
        nargs="*",
        type=_path,
        default=[],
        help="other runs' students.tsv for the size plot (e.g. the tiny student's)",
    )
    p.add_argument("--note", default="", help="subtitle, e.g. that the data are simulated")
    _run_arg(p)


@_command(
    "plot-evaluation",
    "accuracy-vs-size, confusion-matrix and precision-recall plots (PNG and SVG)",
    _evaluation_plot_args,
)
def _plot_evaluation(args: argparse.Namespace) -> None:
    from brainteacher.evaluation_plots import write_evaluation_plots

    write_evaluation_plots(
        args.tables,
        args.out,
        ground_truth=args.ground_truth,
        compare=args.compare,
        note=args.note,
        run=_expected_run(args),
    )


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
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(asctime)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
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
