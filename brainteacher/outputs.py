"""Atomic writes and provenance: every result file is complete or absent, and says where it came from.

A writer first writes ``<name>.tmp-<pid>`` in the target folder, then renames it over the target
(``os.replace`` is atomic on one file system), so an interrupted job never leaves a half-written
file that Snakemake or a reader could mistake for a result.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "atomic_path",
    "atomic_dir",
    "write_json",
    "read_json",
    "save_npy",
    "write_text",
    "provenance",
    "config_hash",
    "package_versions",
    "git_revision",
    "machine",
]

_TRACKED_PACKAGES = (
    "brainteacher",
    "torch",
    "numpy",
    "scipy",
    "bdpy",
    "h5py",
    "pandas",
    "matplotlib",
    "pillow",
    "snakemake",
)


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; rename it to ``target`` only if the block succeeds."""
    target = Path(target)
    if target.is_dir():
        # Checked first: os.replace would fail only after the work, naming the temporary file.
        raise IsADirectoryError(errno.EISDIR, "a folder is in the way of the output file", str(target))
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def atomic_dir(target: str | Path) -> Iterator[Path]:
    """Like :func:`atomic_path` for a whole folder: build it aside, then swap it in."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        yield tmp
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON-serialisable: {type(obj).__name__}")


def write_json(path: str | Path, obj: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text())


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def save_npy(path: str | Path, array: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, array)


def config_hash(config: Any) -> str:
    """Short SHA-256 of the canonical JSON of ``config`` (a dict or a dataclass turned dict)."""
    blob = json.dumps(config, sort_keys=True, default=_json_default).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in _TRACKED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def git_revision() -> str:
    """The source tree's commit, with ``-dirty`` if it has uncommitted changes; ``unknown`` outside git."""
    root = Path(__file__).resolve().parent.parent
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return rev + ("-dirty" if dirty else "")


def machine() -> dict[str, Any]:
    """What a CPU result also depends on: the CPU model and torch's thread count (``None`` if torch
    is not loaded). The same code, config and seed sum floats in another order on another CPU or
    thread count, and trained models then differ by training noise."""
    torch = sys.modules.get("torch")
    return {
        "cpu": _cpu_model(),
        "torch_threads": torch.get_num_threads() if torch is not None else None,
    }


@functools.cache  # one CPU per process; a cohort job writes a provenance per student
def _cpu_model() -> str:
    """The CPU's model name (Linux: /proc/cpuinfo), else the platform's processor string."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def provenance(config: Any, seed: int | None = None) -> dict[str, Any]:
    """What every result file carries: the config, its hash, the seed, versions, git revision and
    the machine."""
    return {
        "config": config,
        "config_hash": config_hash(config),
        "seed": seed,
        "package_versions": package_versions(),
        "git_revision": git_revision(),
        "machine": machine(),
        "command": " ".join(sys.argv),
    }
