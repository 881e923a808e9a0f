"""The version check every format shares."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from brainteacher.errors import DataError

VERSION_KEY = "format_version"
# Folders written before versions were recorded carry none; they are version 1, the format the
# version numbers start from.
UNRECORDED = 1


def check_version(record: Mapping[str, Any], path: str | Path, expected: int, what: str) -> None:
    """Refuse a ``record`` (a folder's metrics.json) of another format version than ``expected``.

    Raises DataError naming ``path`` and both versions.
    """
    found = record.get(VERSION_KEY, UNRECORDED)
    if found != expected:
        problem = f"{what} format version {found}, but this brainteacher reads version {expected}"
        raise DataError(path, f"{problem}; rerun the job that wrote it")
