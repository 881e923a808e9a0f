"""Command line: ``python -m brainteacher <command> ...`` (also installed as ``brainteacher``).

Every command exits non-zero with ``brainteacher: error: <file>: <problem>`` on bad input, and
writes its outputs atomically, so a failed or interrupted command leaves nothing half-written.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

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


def _dataset_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--root", "--data", dest="root", type=Path, required=True, help="GOD-format dataset folder (Subject<N>.h5, stimulus TSV, images/)")


# --- simulate -------------------------------------------------------------------------------


def _simulate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, required=True, help="folder to write (replaced atomically)")
    p.add_argument("--preset", default="quick", choices=["quick", "god"], help="quick (minutes on 2 CPU cores) or god (GOD-sized)")
    p.add_argument("--seed", type=int, default=0)


@_command("simulate", "write a simulated GOD-format dataset with planted structure", _simulate_args)
def _simulate(args: argparse.Namespace) -> None:
    from brainteacher.simulate import get_preset, simulate

    preset = get_preset(args.preset)
    log.info("simulating preset %s (seed %d) into %s", preset.name, args.seed, args.out)
    simulate(args.out, preset, seed=args.seed)


# --- inspect-data -----------------------------------------------------------------------------


def _inspect_args(p: argparse.ArgumentParser) -> None:
    _dataset_arg(p)
    p.add_argument("--rois", nargs="+", default=None, help="ROIs to tabulate (default: all in the files)")
    p.add_argument("--out", type=Path, default=None, help="also write the TSV here")
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


# --- entry point --------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="brainteacher", description="Human fMRI (GOD) decoders as teachers for an image classifier.")
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
    except DataError as err:
        print(f"brainteacher: error: {err}", file=sys.stderr)
        return 2
    return 0
