"""Runs: results are keyed by what produced them, so one dataset's numbers never appear under another's name.

Every workflow run writes under ``results/<run>/``. The run's name is the config's ``run`` key, or
the dataset's name and the config file's stem (:func:`run_name`), so two configs never share a
folder. ``provenance.json`` beside the run's tables names the dataset (its folder and a content
fingerprint, :func:`dataset_fingerprint`) and the config (its name and hash); ``aggregate`` copies
that record into every table's sidecar, and ``aggregate`` and ``plot`` refuse inputs whose record
differs from the run they are asked to draw (:func:`check_same_run`, :func:`check_dataset_root`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from brainteacher.data.god import GODLayout
from brainteacher.data.presets import is_simulated
from brainteacher.errors import DataError
from brainteacher.outputs import config_hash, git_revision, package_versions, read_json

__all__ = [
    "SHARED_DATA",
    "PROVENANCE_FILE",
    "run_name",
    "dataset_name",
    "simulated_dataset",
    "dial_values",
    "DIAL_SUFFIX",
    "config_name",
    "layered_config",
    "dataset_fingerprint",
    "run_provenance",
    "read_run_provenance",
    "check_same_run",
    "check_dataset_root",
    "end_of_run_summary",
]

# results/data/ holds the simulated datasets, shared by every run that simulates the same preset
# and seed (the simulator is deterministic); no run may be named like it.
SHARED_DATA = "data"
PROVENANCE_FILE = "provenance.json"
# Subject files are GBs: their first and last MiB (HDF5 superblock, BData metadata written last)
# identify a file without reading it all; the file size catches most other edits.
HEAD_TAIL_BYTES = 1 << 20
_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")
# The fields of a run record that say which run made a file (the full record adds the file list).
_IDENTITY = ("run", "dataset_root", "dataset_fingerprint", "config_name", "config_hash")


# --- names ----------------------------------------------------------------------------------------


def _safe(name: str) -> str:
    """``name`` as one path component of letters, digits and ``._+-`` (others become ``_``), so a
    run folder never needs quoting and never holds a Snakemake wildcard brace; no leading dot
    (a hidden folder) and no stray ``_`` at either end."""
    return _UNSAFE.sub("_", name).strip("._") or "_"


# The simulator's dials, as they name a dataset: suffix, config key (under data:), value at rest.
DIALS = (("image", "image_signal", 1.0), ("noise", "noise_scale", 1.0))
DIAL_SUFFIX = "".join(rf"(-{tag}[0-9.]+)?" for tag, _, _ in DIALS)  # the regex of the suffix


def _plain(value: float) -> str:
    """``value`` in digits and at most one point, never an exponent: 0.5 -> 0.5, 2.0 -> 2, 1e-05 -> 0.00001."""
    return format(Decimal(repr(value)).normalize(), "f")


def simulated_dataset(data: Mapping[str, Any]) -> str:
    """A simulated dataset's name: ``<preset>-seed<N>``, plus ``-image<share>`` when the null dial
    ``data.image_signal`` is not 1 (``quick-seed0-image0``: the null) and ``-noise<scale>`` when the
    noise dial ``data.noise_scale`` is not 1 (``god-pessimistic-seed0-noise0.5``)."""
    suffix = ""
    for tag, key, rest in DIALS:
        value = float(data.get(key, rest))
        suffix += "" if value == rest else f"-{tag}{_plain(value)}"
    return f"{data['preset']}-seed{data['seed']}{suffix}"


def dial_values(suffix: str) -> dict[str, float]:
    """The dials named by a dataset suffix (``-image0-noise2`` -> image_signal 0, noise_scale 2),
    the others at rest: the inverse of :func:`simulated_dataset`'s suffix."""
    values = {key: rest for _, key, rest in DIALS}
    for tag, number in re.findall(r"-([a-z]+)([0-9.]+)", suffix):
        values[next(key for t, key, _ in DIALS if t == tag)] = float(number)
    return values


def dataset_name(data: Mapping[str, Any]) -> str:
    """The dataset's part of a run name: ``sim-<preset>-seed<N>[-image<share>]`` for simulated
    data, else the data folder's own name (``resources/god`` -> ``god``)."""
    if is_simulated(data):
        return f"sim-{simulated_dataset(data)}"
    # abspath, not resolve: "." still has a name, and a symlinked folder keeps the name it was given.
    return _safe(Path(os.path.abspath(data["root"])).name)


def config_name(config_files: Sequence[str | Path]) -> str:
    """The config's part of a run name: the stems of the config files given, joined by ``+``."""
    if not config_files:
        raise ValueError("no config file: a run is named after its config file (or set `run:` in it)")
    return "+".join(Path(f).stem for f in config_files)


def run_name(config: Mapping[str, Any], config_files: Sequence[str | Path]) -> str:
    """The run's folder name under ``results/``: ``config['run']`` if set, else
    ``<dataset>_<config>``, e.g. ``sim-quick-seed0_config`` or ``god_god``."""
    if config.get("run"):
        return str(config["run"])
    return _safe(f"{dataset_name(config['data'])}_{config_name(config_files)}")


def _merge(base: dict, update: Mapping) -> dict:
    """Snakemake's layering of config files: mappings merged key by key, anything else replaced."""
    for key, value in update.items():
        base[key] = (
            _merge(dict(base.get(key) or {}), value)
            if isinstance(value, Mapping) and isinstance(base.get(key), Mapping)
            else value
        )
    return base


def layered_config(paths: Iterable[str | Path]) -> dict:
    """The config Snakemake builds from YAML files loaded in order (each on top of the last)."""
    import yaml

    config: dict = {}
    for path in paths:
        try:
            layer = yaml.safe_load(Path(path).read_text()) or {}
        except yaml.YAMLError as err:
            raise DataError(path, f"not valid YAML ({err})") from None
        if not isinstance(layer, Mapping):
            raise DataError(path, "a config file must hold a mapping of keys")
        _merge(config, layer)
    return config


# --- the dataset's fingerprint ----------------------------------------------------------------------


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _sha256_head_tail(path: Path, size: int) -> str:
    """SHA-256 of the file's first and last ``HEAD_TAIL_BYTES`` (the whole file if it is smaller)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        digest.update(f.read(HEAD_TAIL_BYTES))
        if size > 2 * HEAD_TAIL_BYTES:
            f.seek(size - HEAD_TAIL_BYTES)
        digest.update(f.read())
    return digest.hexdigest()


def _whole_file(path: Path) -> dict[str, Any]:
    return {"bytes": path.stat().st_size, "sha256": _sha256_file(path)}


def _subject_file(path: Path) -> dict[str, Any]:
    size = path.stat().st_size
    return {"bytes": size, "sha256_head_tail": _sha256_head_tail(path, size)}


def _image_listing(image_dir: Path) -> dict[str, Any]:
    """The images by name and size (hashing 1,200 JPEGs is the image cache's job, not this one's)."""
    files = sorted((p.name, p.stat().st_size) for p in image_dir.iterdir() if p.is_file()) if image_dir.is_dir() else []
    listing = json.dumps(files).encode()
    return {
        "n_files": len(files),
        "bytes": sum(size for _, size in files),
        "sha256_names_sizes": hashlib.sha256(listing).hexdigest(),
    }


def dataset_fingerprint(root: str | Path, subjects: Sequence[str] | None = None) -> dict[str, Any]:
    """What identifies a GOD-format dataset's content, cheaply: the stimulus TSV's size and SHA-256,
    each subject file's size and head-and-tail SHA-256 (``subjects``, default all), the simulator's
    ``ground_truth.json`` if present, and the training images' names and sizes.

    Returns ``{"files": {relative path: record}, "fingerprint": short SHA-256 over them}``.
    Raises DataError for a missing folder, TSV or subject.
    """
    root = Path(root)
    layout = GODLayout.from_root(root)
    if not layout.training_tsv.is_file():
        raise DataError(layout.training_tsv, "stimulus TSV not found")
    unknown = [s for s in subjects or () if s not in layout.subjects]
    if unknown:
        raise DataError(
            root, f"no subject file for {', '.join(unknown)}; this dataset has {', '.join(layout.subjects)}"
        )
    files = {layout.training_tsv.name: _whole_file(layout.training_tsv)}
    for subject in subjects or layout.subjects:
        files |= {p.name: _subject_file(p) for p in layout.subjects[subject]}
    if (root / "ground_truth.json").is_file():
        files["ground_truth.json"] = _whole_file(root / "ground_truth.json")
    files[layout.image_dir.relative_to(root).as_posix()] = _image_listing(layout.image_dir)
    return {"files": files, "fingerprint": config_hash(files)}


# --- the run record ---------------------------------------------------------------------------------


def run_provenance(
    root: str | Path, subjects: Sequence[str] | None, run: str, config: Mapping[str, Any], config_label: str
) -> dict[str, Any]:
    """The content of a run's ``provenance.json``: its name, the dataset (folder, fingerprint and
    the fingerprinted files), the config (name, hash, the resolved config) and the code's versions."""
    data = dataset_fingerprint(root, subjects)
    return {
        "run": run,
        "dataset_root": str(root),
        "dataset_fingerprint": data["fingerprint"],
        "config_name": config_label,
        "config_hash": config_hash(config),
        "dataset_files": data["files"],
        "config": config,
        "package_versions": package_versions(),
        "git_revision": git_revision(),
    }


def read_run_provenance(path: str | Path, config: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The identity of the run recorded in ``path`` (a ``provenance.json``): run, dataset root and
    fingerprint, config name and hash. With ``config``, refuse a record made for another config."""
    path = Path(path)
    try:
        record = read_json(path)
    except (OSError, json.JSONDecodeError) as err:
        raise DataError(
            path, f"cannot read the run's provenance ({err}); run `brainteacher provenance` first"
        ) from None
    missing = [k for k in _IDENTITY if not isinstance(record, dict) or k not in record]
    if missing:
        raise DataError(path, f"not a run provenance record: missing {', '.join(missing)}")
    if config is not None and record["config_hash"] != config_hash(config):
        raise DataError(
            path,
            f"records config {record['config_name']} (hash {record['config_hash']}), not the config given "
            f"(hash {config_hash(config)}); rerun `brainteacher provenance` with this config",
        )
    return {k: record[k] for k in _IDENTITY}


def check_same_run(path: str | Path, recorded: Mapping[str, Any] | None, expected: Mapping[str, Any]) -> None:
    """Refuse a file (a table's sidecar) whose recorded run differs from ``expected`` in dataset
    content or config; the run's name and the data folder may differ (a renamed or moved copy)."""
    if not isinstance(recorded, Mapping) or any(k not in recorded for k in _IDENTITY):
        raise DataError(path, "records no run provenance (written by an older aggregate, or by hand); rerun aggregate")
    if recorded["dataset_fingerprint"] != expected["dataset_fingerprint"]:
        raise DataError(
            path,
            f"made from dataset {recorded['dataset_root']} (fingerprint {recorded['dataset_fingerprint']}), "
            f"not run {expected['run']}'s dataset {expected['dataset_root']} (fingerprint "
            f"{expected['dataset_fingerprint']})",
        )
    if recorded["config_hash"] != expected["config_hash"]:
        raise DataError(
            path,
            f"made with config {recorded['config_name']} (hash {recorded['config_hash']}), "
            f"not run {expected['run']}'s config {expected['config_name']} (hash {expected['config_hash']})",
        )


def check_dataset_root(path: str | Path, recorded_root: Any, expected: Mapping[str, Any]) -> None:
    """Refuse a job's result (a metrics.json) made from another data folder than the run's."""
    if not isinstance(recorded_root, str):
        raise DataError(path, "records no dataset root (config.root); cannot tell which dataset it came from")
    if os.path.abspath(recorded_root) != os.path.abspath(expected["dataset_root"]):
        raise DataError(
            path, f"made from dataset {recorded_root}, not run {expected['run']}'s dataset {expected['dataset_root']}"
        )


def end_of_run_summary(run_dir: str | Path, report: str | Path | None = None) -> str:
    """What a finished run says last: its positive-control verdict, its conclusion sentence and where
    its tables, plots and report are. Read from ``tables/summary.provenance.json``; a run without a
    summary yet says so."""
    run_dir = Path(run_dir)
    sidecar = run_dir / "tables" / "summary.provenance.json"
    if not sidecar.is_file():
        return f"brainteacher: {run_dir}: no summary yet ({sidecar} is absent)"
    notes = read_json(sidecar)
    report = Path(report) if report is not None else run_dir / "report.html"
    report_line = str(report) if report.is_file() else f"not built (make report, or snakemake --report {report})"
    return "\n".join(
        [
            f"brainteacher: run {run_dir.name} finished",
            f"  {notes.get('positive_control') or 'no positive-control verdict recorded'}",
            f"  conclusion: {notes.get('conclusion') or 'no primary contrast in this run (stats.primary_teacher)'}",
            f"  tables: {run_dir / 'tables'}/",
            f"  plots:  {run_dir / 'plots'}/",
            f"  report: {report_line}",
        ]
    )
