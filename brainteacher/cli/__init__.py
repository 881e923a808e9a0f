"""Command line: ``python -m brainteacher <command> ...`` (also installed as ``brainteacher``).

Every command exits non-zero with ``brainteacher: error: <file>: <problem>`` on bad input, and
writes its outputs atomically, so a failed or interrupted command leaves nothing half-written.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from brainteacher import __version__
from brainteacher.cli import base, data, models, results  # noqa: F401  (importing a module registers its commands)
from brainteacher.errors import DataError

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = base.Parser(
        prog="brainteacher", description="Human fMRI (GOD) decoders as teachers for an image classifier."
    )
    parser.add_argument("--version", action="version", version=f"brainteacher {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors on stderr")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (help_text, add_arguments, run) in base.COMMANDS.items():
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
