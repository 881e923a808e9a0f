"""Result tables: decoder and student metrics.json files -> decoders.tsv, calibration.tsv,
students.tsv, summary.tsv.

Every table is written atomically next to a ``<name>.provenance.json`` sidecar that carries the
provenance of the aggregation, a description of every column (``columns.COLUMNS``) and the table's
``method`` (``methods.TABLE_METHODS``, also its report caption's text). The work is
split by job: ``tables`` reads the metrics files into rows, ``summary`` does the statistics,
``columns`` documents every column; this module writes.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from brainteacher.analysis.columns import COLUMNS, FLOAT_FORMAT, NA_REP, REFERENCES
from brainteacher.analysis.methods import TABLE_METHODS
from brainteacher.analysis.summary import DEFAULT_PRIMARY, summary_table
from brainteacher.analysis.tables import calibration_table, decoder_table, student_table
from brainteacher.analysis.verdicts import conclusion, control_passed, positive_control_verdict
from brainteacher.errors import DataError
from brainteacher.outputs import atomic_path, provenance, read_json, write_json
from brainteacher.runs import check_dataset_root

__all__ = ["write_tables"]

log = logging.getLogger(__name__)


def _write_tsv(path: Path, table: pd.DataFrame) -> Path:
    with atomic_path(path) as tmp:
        table.to_csv(tmp, sep="\t", index=False, float_format=FLOAT_FORMAT, na_rep=NA_REP)
    return path


def _sidecar(
    name: str,
    table: pd.DataFrame,
    n_inputs: int,
    provenance_config: dict,
    run: Mapping[str, Any] | None,
    extra: dict[str, Any],
) -> dict[str, Any]:
    return {
        **provenance(provenance_config),
        "run": None if run is None else dict(run),
        "table": f"{name}.tsv",
        "n_rows": len(table),
        "n_input_files": n_inputs,
        **extra,
        # The same text as the table's report caption (brainteacher.analysis.captions).
        "method": TABLE_METHODS[name],
        "columns": {c: COLUMNS[name][c] for c in table.columns},
    }


def _check_from_run(paths: Iterable[str | Path], run: Mapping[str, Any]) -> None:
    """Refuse a metrics file that a job ran on another dataset folder than the run's."""
    for path in paths:
        try:
            data = read_json(path)
        except (OSError, json.JSONDecodeError) as err:
            raise DataError(path, f"cannot read metrics: {err}") from err
        job_config = data.get("config") if isinstance(data, dict) else None
        check_dataset_root(path, job_config.get("root") if isinstance(job_config, dict) else None, run)


def write_tables(
    decode_paths: Iterable[str | Path],
    student_paths: Iterable[str | Path],
    out_dir: str | Path,
    provenance_config: dict,
    *,
    metrics: Sequence[str] = ("top1", "top5", "nll"),
    level: float = 0.95,
    primary: Mapping[str, str] | None = None,
    run: Mapping[str, Any] | None = None,
) -> dict[str, Path]:
    """Write ``decoders.tsv``, ``calibration.tsv`` (each decoder x ROI's folders pooled),
    ``students.tsv`` and ``summary.tsv`` (tab-separated, missing = NA)
    into ``out_dir``, each with a ``<name>.provenance.json`` sidecar documenting every column.

    ``run`` is the run's identity (:func:`brainteacher.runs.read_run_provenance`): every metrics
    file must come from its dataset folder, and each sidecar records it under ``run`` so that
    ``plot`` can refuse tables of another run.

    Returns {file name: path} for the eight files. Raises ValueError if there are no decoder
    files; no student files give students/summary tables with headers only.
    """
    decode_paths, student_paths = list(decode_paths), list(student_paths)
    if run is not None:
        _check_from_run([*decode_paths, *student_paths], run)
    out_dir = Path(out_dir)
    primary = dict(primary or DEFAULT_PRIMARY)
    students = student_table(student_paths)
    summary = summary_table(students, metrics, level, primary)
    verdict = positive_control_verdict(summary, primary["metric"])
    if verdict:
        log.log(logging.INFO if control_passed(verdict) else logging.WARNING, verdict)
    answer = conclusion(students, primary, level)
    if answer["text"]:
        log.info("conclusion: %s", answer["text"])
    summary_notes = {
        "level": level,
        "metrics": list(metrics),
        "references": REFERENCES,
        "primary": primary,
        "positive_control": verdict,
        "conclusion": answer["text"],
        "conclusion_tests": answer["tests"],
    }
    tables = {
        "decoders": (decoder_table(decode_paths), len(decode_paths), {}),
        "calibration": (calibration_table(decode_paths), len(decode_paths), {}),
        "students": (students, len(student_paths), {}),
        "summary": (summary, len(student_paths), summary_notes),
    }
    written: dict[str, Path] = {}
    for name, (table, n_inputs, extra) in tables.items():
        written[f"{name}.tsv"] = _write_tsv(out_dir / f"{name}.tsv", table)
        sidecar = out_dir / f"{name}.provenance.json"
        write_json(sidecar, _sidecar(name, table, n_inputs, provenance_config, run, extra))
        written[sidecar.name] = sidecar
    return written
