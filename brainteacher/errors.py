"""The one exception users see for bad input: it names the file and the problem."""

from __future__ import annotations

from pathlib import Path

__all__ = ["DataError"]


class DataError(Exception):
    """Bad input data. ``str(err)`` is ``"<path>: <problem>"`` so the CLI can print it as is."""

    def __init__(self, path: str | Path | None, problem: str) -> None:
        self.path = None if path is None else Path(path)
        self.problem = problem
        super().__init__(problem if path is None else f"{path}: {problem}")
