"""What every command shares: the command table (:func:`command` registers one), the parser
whose usage errors read like bad data, and the options several commands take."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import NoReturn

from brainteacher.configs import IMAGE_SIZE_MAX, IMAGE_SIZE_MIN, SEED_MAX
from brainteacher.options import nonempty as _nonempty
from brainteacher.options import path as _path
from brainteacher.options import whole as _int

COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], None]]] = {}


def command(name: str, help: str, arguments: Callable[[argparse.ArgumentParser], None]):
    """Register the decorated ``run(args)`` as subcommand ``name``; ``arguments`` adds its options."""

    def register(run):
        COMMANDS[name] = (help, arguments, run)
        return run

    return register


class Parser(argparse.ArgumentParser):
    """argparse whose usage errors end like bad data: one ``brainteacher: error: ...`` line, exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"brainteacher: error: {message} (see {self.prog} --help)\n")


SEED = _int(0, SEED_MAX)
PIXELS = _int(IMAGE_SIZE_MIN, IMAGE_SIZE_MAX)


def dataset_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--root",
        "--data",
        dest="root",
        type=_path,
        required=True,
        help="GOD-format dataset folder (Subject<N>.h5, stimulus TSV, images/)",
    )


def split_args(p: argparse.ArgumentParser, split_help: str = "a split file (see make-splits)") -> None:
    """The dataset, a split and the image cache: what every image command reads."""
    dataset_arg(p)
    p.add_argument("--split", type=_nonempty, required=True, help=split_help)
    p.add_argument(
        "--image-cache",
        type=_path,
        default=None,
        help="a .npy of every training image at --image-size (see cache-images)",
    )


def image_args(p: argparse.ArgumentParser) -> None:
    """The options of every image-classifier command that no config section holds."""
    split_args(p)
    p.add_argument("--out", type=_path, required=True, help="output folder (replaced atomically)")
