"""Commands on a run's results: provenance, run-name, columns, captions, run-summary, plan,
aggregate, plot, plot-evaluation."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from brainteacher.cli.base import command, dataset_arg
from brainteacher.errors import DataError
from brainteacher.options import nonempty as _nonempty
from brainteacher.options import path as _path
from brainteacher.options import whole as _int
from brainteacher.registry import ROI_PLOTS

log = logging.getLogger(__name__)

# --- runs: provenance, aggregate and plots ------------------------------------------------------


def _provenance_args(p: argparse.ArgumentParser) -> None:
    dataset_arg(p)
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


@command(
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


@command("run-name", "print the run folder name the workflow uses for these config files", _run_name_args)
def _run_name(args: argparse.Namespace) -> None:
    from brainteacher.runs import layered_config, run_name

    config = layered_config([args.base, *args.configfiles])
    print(run_name(config, args.configfiles or [args.base]))


def _columns_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=_path, help="write the Markdown here (default: print it)")


@command("columns", "the column reference of every result table, as Markdown (docs/columns.md)", _columns_args)
def _columns(args: argparse.Namespace) -> None:
    from brainteacher.analysis.columns import markdown
    from brainteacher.outputs import write_text

    if args.out is None:
        print(markdown(), end="")
    else:
        write_text(args.out, markdown())


def _captions_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=_path, required=True, help="the report's caption folder (workflow/report)")
    p.add_argument("--check", action="store_true", help="write nothing; fail naming each caption that is out of date")


@command("captions", "write the report's captions from the method texts (analysis.methods)", _captions_args)
def _captions(args: argparse.Namespace) -> None:
    from brainteacher.analysis.captions import stale_captions, write_captions

    if not args.check:
        for path in write_captions(args.out):
            log.info("wrote %s", path)
        return
    stale = stale_captions(args.out)
    if stale:
        raise DataError(args.out, f"out of date: {', '.join(stale)}; run `brainteacher captions --out {args.out}`")


def _run_summary_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", type=_path, help="the run folder, results/<run>")


@command(
    "run-summary", "print a finished run's positive control, conclusion and where its outputs are", _run_summary_args
)
def _run_summary(args: argparse.Namespace) -> None:
    from brainteacher.runs import end_of_run_summary

    print(end_of_run_summary(args.run_dir))


def _plan_args(p: argparse.ArgumentParser) -> None:
    _run_name_args(p)
    p.add_argument("--cores", type=_int(1), default=2, help="jobs side by side on this CPU (snakemake --cores)")
    p.add_argument("--no-measure", action="store_true", help="skip timing a few training steps here (no CPU estimate)")


@command(
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


@command(
    "aggregate", "collect decoder and student metrics into result tables with CIs and paired tests", _aggregate_args
)
def _aggregate(args: argparse.Namespace) -> None:
    from brainteacher.analysis.aggregate import write_tables

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


@command("plot", "ROI comparison, decoder accuracy and decoder-vs-gain plots (PNG and SVG)", _plot_args)
def _plot(args: argparse.Namespace) -> None:
    from brainteacher.plots.rois import write_plots

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


@command(
    "plot-evaluation",
    "accuracy-vs-size, confusion-matrix and precision-recall plots (PNG and SVG)",
    _evaluation_plot_args,
)
def _plot_evaluation(args: argparse.Namespace) -> None:
    from brainteacher.plots.evaluation import write_evaluation_plots

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
