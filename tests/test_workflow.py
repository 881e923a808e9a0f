"""The Snakemake workflow end to end on a tiny config, in a temporary copy of the workflow."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from brainteacher.analysis.columns import COLUMNS
from brainteacher.analysis.tables import read_table
from tests.conftest import mini_preset

pytestmark = pytest.mark.slow  # every test runs snakemake on a simulated dataset

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]
PLOTS = ("roi_comparison", "decoder_accuracy", "decoder_vs_gain", "accuracy_vs_size", "confusion_matrices", "pr_curves")
# The tiny config's run folder: the simulated dataset's name and the config file's stem (tiny.yaml).
RUN = "sim-quick-seed0_tiny"

TINY = {
    "subjects": ["Subject1"],
    "rois": ["V1", "LOC"],
    "decoders": ["resnet1d"],
    "splits": {"n_splits": 4, "seed": 0, "use": [0]},
    "decode": {"folds": 2, "epochs": 5, "width": 4},
    "students": {
        "teachers": ["none", "network", "oracle", "brain", "brain-mean", "label-smoothing", "shuffled-brain"],
        "seeds": [0, 1],
        "shuffle_draws": 2,
        "width": 4,
        "image_size": 16,
        "steps": 4,
        "batch_size": 32,
    },
    "network": {"folds": 2},
}


def _copy_workflow(dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "Snakefile", dest)
    for folder in ("workflow", "config"):
        shutil.copytree(REPO / folder, dest / folder, dirs_exist_ok=True)
    return dest


def _write_config(folder: Path, overrides: dict) -> Path:
    path = folder / "tiny.yaml"
    path.write_text(yaml.safe_dump(overrides))
    return path


def _run_dir(folder: Path, run: str = RUN) -> Path:
    return folder / "results" / run


def _snapshot(folder: Path) -> dict[str, tuple[int, int, str]]:
    """Every file under ``folder``: relative path -> (size, mtime in ns, SHA-256)."""
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _snakemake(folder: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([*SNAKEMAKE, *args], cwd=folder, capture_output=True, text=True, timeout=900)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return proc


def _planned_jobs(folder: Path, *args: str) -> dict[str, int]:
    """rule -> job count of a dry run (empty when nothing is to be done)."""
    out = _snakemake(folder, "-n", "--cores", "1", *args).stdout
    counts = {}
    for line in out.split("Job stats:")[-1].splitlines()[3:] if "Job stats:" in out else []:
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit() and parts[0] != "total":
            counts[parts[0]] = int(parts[1])
    return counts


PROFILE = ("--workflow-profile", "workflow/profiles/default")


def _students_done(folder: Path) -> dict[Path, int]:
    """Finished students, metrics.json path -> its mtime in ns. A cohort job's students count as
    finished once snakemake wrote its benchmark, i.e. after the job's process ended (its outputs
    appear a moment before: an interruption then still finds the job running, and snakemake
    rightly redoes it). A job's benchmark is ``benchmarks/distill/<job>.tsv``; its students are
    the folders ``distill/**/<job>/`` (job: ``split0/seed1`` with the default cohort)."""
    results = _run_dir(folder)
    done = {}
    for bench in (results / "benchmarks" / "distill").rglob("*.tsv"):
        job = bench.relative_to(results / "benchmarks" / "distill").with_suffix("").as_posix()
        for metrics in (results / "distill").rglob("metrics.json"):
            if metrics.parent.as_posix().endswith(job):
                done[metrics] = metrics.stat().st_mtime_ns
    return done


def _cohort_process_runs(group: int) -> bool:
    """Whether a ``distill-cohort`` process runs in process group ``group`` (Linux /proc)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
            if b"distill-cohort" in args and os.getpgid(int(entry.name)) == group:
                return True
        except OSError:  # ProcessLookupError among them: the process ended while we looked
            continue
    return False


def _second_cohort_running(folder: Path, group: int) -> bool:
    """True once one cohort job has finished (its benchmark exists, written after its process
    ended) and the next job's own process runs. Not its log file: snakemake may create that before
    the job's process starts, and a Ctrl-C in that gap interrupts nothing."""
    finished = any((_run_dir(folder) / "benchmarks").glob("distill/**/*.tsv"))
    return finished and _cohort_process_runs(group)


def _take_ctrl_c() -> None:
    """In the child, before snakemake starts: SIGINT back to its default. A shell started without
    job control (``cmd &`` in a script, nohup) starts its background commands with SIGINT ignored,
    and an ignored signal stays ignored across exec: snakemake and its jobs would then sleep through
    the Ctrl-C and the run would end uninterrupted."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _interrupt_after_first_cohort(folder: Path, config: Path) -> None:
    """Start the workflow and interrupt it, as Ctrl-C would, while its second cohort job runs.

    Not as soon as the first has finished: snakemake lets a job it has handed to its thread pool
    but not yet started run to the end, so a Ctrl-C in that gap would interrupt nothing."""
    proc = subprocess.Popen(
        # One core: the two cohort jobs run one after the other, so the first can end alone.
        [*SNAKEMAKE, *PROFILE, "--cores", "1", "--configfile", str(config)],
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=_take_ctrl_c,
    )
    deadline = time.monotonic() + 600
    while not _second_cohort_running(folder, proc.pid) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: snakemake and its running jobs
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """The tiny workflow, interrupted (SIGINT) after its first student, then resumed to the end."""
    folder = _copy_workflow(tmp_path_factory.mktemp("workflow"))
    config = _write_config(folder, TINY)
    _interrupt_after_first_cohort(folder, config)
    before = _students_done(folder)
    planned = _planned_jobs(folder, *PROFILE, "--configfile", str(config))
    _snakemake(folder, *PROFILE, "--cores", "2", "--configfile", str(config))
    folder.joinpath("interruption.json").write_text(
        json.dumps({"before": {str(k): v for k, v in before.items()}, "planned": planned})
    )
    return folder, config


def test_an_interrupted_run_resumes_without_redoing_finished_jobs(run):
    folder, _ = run
    record = json.loads((folder / "interruption.json").read_text())
    before, planned = record["before"], record["planned"]
    # Two cohort jobs (split 0 x seeds 0 and 1) of 13 students each: interrupted after the first.
    assert len(before) == 13, "the run was not interrupted between its two cohorts"
    assert planned["distill"] == 1
    after = _students_done(folder)
    assert len(after) == 26
    assert all(after[Path(p)] == mtime for p, mtime in before.items())


def test_tables_have_documented_columns_and_sane_values(run):
    folder, _ = run
    tables = {
        name: read_table(_run_dir(folder) / "tables" / f"{name}.tsv")
        for name in ("decoders", "calibration", "students", "summary")
    }
    for name, table in tables.items():
        assert list(table.columns) == list(COLUMNS[name]), name
        assert (_run_dir(folder) / "tables" / f"{name}.provenance.json").is_file()
    decoders, students, summary = tables["decoders"], tables["students"], tables["summary"]
    assert len(decoders) == 2 and set(decoders["roi"]) == {"V1", "LOC"}
    # One subject x one split: each decoder x ROI pools one folder, so it repeats decoders.tsv's ECE.
    calibration = tables["calibration"].set_index("roi")
    assert calibration.loc[list(decoders["roi"]), "ece"].to_numpy() == pytest.approx(decoders["ece_calibrated"])
    assert calibration["ece_floor"].between(0, 1).all() and (calibration["n_folders"] == 1).all()
    # 3 global teachers + brain (1 subject x 2 ROIs) + brain-mean and label smoothing (2 ROIs each)
    # + 2 shuffle draws per ROI, x 2 seeds
    assert len(students) == (3 + 2 + 2 + 2 + 4) * 2
    assert sorted(set(students["draw"])) == [0, 1]
    for table in (decoders, students):
        assert table[["top1", "top5", "ece"]].apply(lambda c: c.between(0, 1)).all().all()
        assert (table["top1"] <= table["top5"]).all() and (table["nll"] > 0).all()
    top1 = summary[summary["metric"] == "top1"]
    assert {"none", "network", "oracle", "brain", "brain-mean", "label-smoothing-mean", "shuffled-brain-mean"} <= set(
        top1["teacher"]
    )
    with_ci = top1.dropna(subset=["ci_low", "ci_high"])
    assert ((with_ci["ci_low"] <= with_ci["mean"]) & (with_ci["mean"] <= with_ci["ci_high"])).all()
    p = summary["p_vs_baseline"].dropna()
    assert len(p) and p.between(0, 1).all()
    brain_mean = top1[top1["teacher"] == "brain-mean"]
    assert (brain_mean["n_units_vs_label_smoothing"] > 0).all() and brain_mean["diff_vs_label_smoothing"].notna().all()
    # The primary test: students as units, 1 split x 2 seeds, each brain student against 2 draws. The
    # split is the unit (seeds are replicates of a pairing), and one unit gives no p-value.
    assert (brain_mean["family"] == "primary").all() and (brain_mean["n_shuffle_draws"] == 2).all()
    assert (brain_mean["n_seeds"] == 2).all() and (brain_mean["n_test_units"] == 1).all()
    assert brain_mean["p_randomization"].isna().all() and brain_mean["p_holm"].isna().all()
    sidecar = json.loads((_run_dir(folder) / "tables" / "summary.provenance.json").read_text())
    assert sidecar["conclusion"].startswith("V1: brain-mean targets")
    assert "conclusion: V1: brain-mean targets" in (_run_dir(folder) / "logs" / "aggregate.log").read_text()


def test_plots_exist_and_are_drawn(run):
    from brainteacher.plots.figures import NO_DATA_ID

    folder, _ = run
    for plot in PLOTS:
        for ext in ("png", "svg"):
            assert (_run_dir(folder) / "plots" / f"{plot}.{ext}").stat().st_size > 1000
        assert f'id="{NO_DATA_ID}"' not in (_run_dir(folder) / "plots" / f"{plot}.svg").read_text(), plot


def test_report_collects_plots_and_tables(run):
    folder, config = run
    _snakemake(folder, "--configfile", str(config), "--report", "report.html")
    html = (folder / "report.html").read_text(errors="replace")
    assert "roi_comparison" in html and "summary.tsv" in html


def test_a_real_data_config_without_its_files_stops_before_touching_results(run):
    """After the default run, config/god.yaml without the GOD files must not redraw the default's
    results under the GOD title: the workflow stops at once, naming the missing files."""
    folder, _ = run
    before = _snapshot(folder / "results")
    proc = _snakemake(folder, "--cores", "1", "--configfile", "config/god.yaml", check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "missing" in out and "Subject1.h5" in out and "data.download" in out
    assert _snapshot(folder / "results") == before


def test_a_real_layout_run_after_the_default_keeps_to_its_own_folder(run, tmp_path):
    """A GOD-layout dataset (simulated, read as real data, its ground truth removed) with another
    subject and ROI: its tables hold only those, in its own run folder, its positive control comes
    from network-matched targets, and not one file of the default run changes."""
    from brainteacher.data.simulate import simulate

    folder, _ = run
    before = _snapshot(folder / "results")
    data = tmp_path / "god-copy"
    simulate(
        data,
        mini_preset(n_subjects=2, n_evaluation_per_category=2),
        seed=1,
    )
    (data / "ground_truth.json").unlink()  # as the real release: nothing says what was planted
    real = {
        **TINY,
        "data": {"source": "path", "root": str(data)},
        "subjects": ["Subject2"],
        "rois": ["V4"],
        "students": {
            **TINY["students"],
            "teachers": ["none", "brain", "network-matched", "shuffled-network-matched"],
            "seeds": [0, 1],
        },
    }
    config = folder / "real.yaml"
    config.write_text(yaml.safe_dump(real))
    _snakemake(folder, *PROFILE, "--cores", "2", "--configfile", str(config))
    own = _run_dir(folder, "god-copy_real")
    decoders, students = (read_table(own / "tables" / f"{name}.tsv") for name in ("decoders", "students"))
    assert set(decoders["subject"]) == {"Subject2"} and set(decoders["roi"]) == {"V4"}
    matched = {"network-matched/mean/V4", "shuffled-network-matched/mean/V4", "shuffled-network-matched/mean/V4/draw1"}
    assert set(students["teacher"]) == {"none", "brain/Subject2/V4", *matched}
    summary = json.loads((own / "tables" / "summary.provenance.json").read_text())
    assert "network-matched targets" in summary["positive_control"]
    assert "network-matched targets" in (own / "logs" / "aggregate.log").read_text()
    record, default = (json.loads((d / "tables" / "provenance.json").read_text()) for d in (own, _run_dir(folder)))
    assert (record["run"], record["dataset_root"], record["config_name"]) == ("god-copy_real", str(data), "real")
    assert (
        default["dataset_root"] == "results/data/simulated-quick-seed0"
        and default["dataset_fingerprint"] != record["dataset_fingerprint"]
    )
    sidecar = json.loads((own / "tables" / "decoders.provenance.json").read_text())
    assert sidecar["run"]["dataset_fingerprint"] == record["dataset_fingerprint"]
    after = _snapshot(folder / "results")
    assert {path: after.get(path) for path in before} == before, "a file of the default run changed"
    assert all(path.startswith("god-copy_real/") for path in set(after) - set(before))


def test_rerun_does_only_what_is_missing_or_changed(run, tmp_path):
    # On a copy (mtimes and snakemake's records kept): this test deletes outputs and rewrites the
    # config, which the tests sharing the fixture's folder must not see, whatever their order.
    folder = tmp_path / "copy"
    shutil.copytree(run[0], folder, symlinks=True)
    config = folder / run[1].name
    assert _planned_jobs(folder, "--configfile", str(config)) == {}
    # After an interruption one student and everything after it are missing: only they are redone.
    shutil.rmtree(_run_dir(folder) / "distill" / "brain" / "Subject1" / "LOC" / "split0" / "seed1")
    for table in (_run_dir(folder) / "tables").iterdir():
        if table.name != "provenance.json":  # the tables and their sidecars go; the run's record is unchanged
            table.unlink()
    shutil.rmtree(_run_dir(folder) / "plots")
    assert _planned_jobs(folder, "--configfile", str(config)) == {
        "distill": 1,  # the missing student's cohort (split 0, seed 1), rerun whole
        "aggregate": 1,
        "plots": 1,
        "evaluation_plots": 1,
        "all": 1,
    }
    # A student setting reruns the students (2 cohorts: one per seed) and the network teacher,
    # never the decoders.
    changed = _write_config(folder, {**TINY, "students": {**TINY["students"], "steps": 6}})
    planned = _planned_jobs(folder, "--configfile", str(changed))
    assert planned["distill"] == 2 and planned["network_teacher"] == 1 and "decode" not in planned


@pytest.mark.parametrize("cohort, jobs", [("split", 1), ("seed", 2), ("student", 26)])
def test_students_cohort_sets_how_many_students_one_job_trains(tmp_path, cohort, jobs):
    """TINY asks for 13 teachers (2 shuffle draws) x 2 seeds on one split: 26 students in 1, 2 or 26 jobs, each
    student with its own folder and every student's folder an output of exactly one job."""
    folder = _copy_workflow(tmp_path)
    config = _write_config(folder, {**TINY, "students": {**TINY["students"], "cohort": cohort}})
    assert _planned_jobs(folder, "--configfile", str(config))["distill"] == jobs
    shown = _snakemake(folder, "-n", "-p", "--cores", "1", "--configfile", str(config)).stdout
    members = [line.count("--member ") for line in shown.splitlines() if "distill-cohort" in line]
    assert len(members) == jobs and sum(members) == 26


def test_slurm_profile_dry_runs(tmp_path):
    folder = _copy_workflow(tmp_path)
    proc = _snakemake(folder, "-n", "--workflow-profile", "workflow/profiles/slurm")
    assert "distill" in proc.stdout and "decode" in proc.stdout


def test_the_simulator_dials_name_and_build_their_own_dataset(tmp_path):
    """data.image_signal and data.noise_scale reach the simulate command and name its folder and the run."""
    folder = _copy_workflow(tmp_path)
    config = _write_config(folder, {"data": {"image_signal": 0.5, "noise_scale": 2.0}})
    out = _snakemake(folder, "-n", "-p", "--cores", "1", "--configfile", str(config)).stdout
    assert "simulated-quick-seed0-image0.5-noise2 --preset quick --seed 0 --image-signal 0.5 --noise-scale 2.0" in out
    assert "results/sim-quick-seed0-image0.5-noise2_" in out


def test_bad_config_key_is_named(tmp_path):
    folder = _copy_workflow(tmp_path)
    config = _write_config(folder, {"students": {"epochz": 3}})
    proc = _snakemake(folder, "-n", "--configfile", str(config), check=False)
    assert proc.returncode != 0
    # decode has epochs; students train for steps: the message lists the students' keys.
    assert (
        "config: unknown key 'students.epochz'; valid keys under 'students': accept_weights_leak, alpha, "
        in proc.stdout + proc.stderr
    )
    config.write_text(yaml.safe_dump({"students": {"steps": -3}}))
    proc = _snakemake(folder, "-n", "--configfile", str(config), check=False)
    assert proc.returncode != 0 and "'students.steps': -3 is less than the minimum of 1" in proc.stdout + proc.stderr
    # results/data/ holds the shared simulated datasets: no run may be named like it.
    config.write_text(yaml.safe_dump({"run": "data"}))
    proc = _snakemake(folder, "-n", "--configfile", str(config), check=False)
    assert proc.returncode != 0 and "config: bad value at 'run'" in proc.stdout + proc.stderr


def test_lint_is_clean(tmp_path):
    folder = _copy_workflow(tmp_path)
    proc = _snakemake(folder, "--lint", check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Lints for" not in proc.stdout + proc.stderr


def test_student_outputs_are_aligned_numpy(run):
    folder, _ = run
    student = _run_dir(folder) / "distill" / "oracle" / "split0" / "seed0"
    logits, ids = np.load(student / "test_logits.npy"), np.load(student / "test_image_ids.npy")
    assert logits.shape[0] == len(ids) == 40


def test_real_data_download_is_opt_in(tmp_path):
    folder = _copy_workflow(tmp_path / "wf")
    root = tmp_path / "god"
    root.mkdir()
    shutil.copy(REPO / "brainteacher" / "resources" / "god" / "stimulus_ImageNetTraining.tsv", root)
    real = {
        "data": {"source": "path", "root": str(root)},
        "subjects": ["Subject1", "Subject2"],
        "students": {"teachers": ["none", "brain"]},
    }
    # By default nothing is fetched: the missing subject file is named.
    proc = _snakemake(folder, "-n", "--configfile", str(_write_config(folder, real)), check=False)
    assert proc.returncode != 0 and str(root / "Subject1.h5") in proc.stdout + proc.stderr
    # Opted in, one download job per missing subject file.
    real["data"]["download"] = True
    assert _planned_jobs(folder, "--configfile", str(_write_config(folder, real)))["download_god"] == 2
    # The oracle needs simulated data and says so.
    real["students"]["teachers"] = ["none", "oracle"]
    proc = _snakemake(folder, "-n", "--configfile", str(_write_config(folder, real)), check=False)
    assert proc.returncode != 0 and "'oracle' needs simulated data" in proc.stdout + proc.stderr


def test_a_data_path_with_a_space_and_a_quote_runs(tmp_path):
    """Every path reaching a shell command is quoted: a dataset folder named ``god data's``."""
    from brainteacher.data.simulate import simulate

    folder = _copy_workflow(tmp_path / "wf")
    data = tmp_path / "god data's"
    simulate(
        data,
        mini_preset(n_subjects=1, n_evaluation_per_category=2),
        seed=0,
    )
    config = {
        **TINY,
        "data": {"source": "path", "root": str(data)},
        "students": {
            **TINY["students"],
            "teachers": ["none", "brain", "network-matched", "shuffled-network-matched"],
            "seeds": [0, 1],
        },
    }
    run = "results/god_data_s_tiny"  # the folder's name made safe, and the config's stem
    targets = [f"{run}/inspection.tsv", f"{run}/distill/brain/Subject1/V1/split0/seed0/metrics.json"]
    _snakemake(folder, *targets, "--cores", "2", "--configfile", str(_write_config(folder, config)))
    for target in targets:
        assert (folder / target).is_file()
    assert json.loads((folder / targets[1]).read_text())["teacher"] == "brain/Subject1/V1"


# --- issue 14: the tiny student with GLD and the network teacher, end to end ------------------------

TOOLBOX = {
    **TINY,
    "rois": ["V1"],
    "students": {
        **TINY["students"],
        "teachers": ["none", "network"],
        "seeds": [0],
        "stem": "small",
        "arch": "tiny",
        "loss": "gld",
    },
}


def test_tiny_student_with_gld_and_the_network_teacher_runs_end_to_end(tmp_path):
    folder = _copy_workflow(tmp_path / "wf")
    config = _write_config(folder, TOOLBOX)
    _snakemake(folder, *PROFILE, "--cores", "2", "--configfile", str(config))
    students = read_table(_run_dir(folder) / "tables" / "students.tsv")
    assert list(students["teacher"]) == ["none", "network"]
    assert set(students["arch"]) == {"tiny"} and list(students["loss"]) == ["ce", "gld"]
    assert (students["n_parameters"] < 13_000).all() and (students["size_mb"] < 0.1).all()
    assert (
        (students["latency_ms_batch1"] > 0).all()
        and (students["latency_ms_batch64"] > 0).all()
        and (students["latency_threads"] == 1).all()
    )
    assert students[["roc_auc", "pr_auc", "eval_roc_auc", "eval_pr_auc"]].apply(lambda c: c.between(0, 1)).all().all()
    summary = read_table(_run_dir(folder) / "tables" / "summary.tsv")
    assert {"roc_auc", "pr_auc"} <= set(summary["metric"])
    for k in range(TINY["network"]["folds"]):
        assert (_run_dir(folder) / "network" / "split0" / f"fold{k}.pt").is_file()
    for plot in ("accuracy_vs_size", "confusion_matrices", "pr_curves"):
        assert (_run_dir(folder) / "plots" / f"{plot}.png").stat().st_size > 1000
    _snakemake(folder, "--configfile", str(config), "--report", "report.html")
    html = (folder / "report.html").read_text(errors="replace")
    assert "confusion_matrices" in html and "pr_curves" in html and "accuracy_vs_size" in html


def test_gld_local_terms_with_a_brain_teacher_are_refused_before_any_job(tmp_path):
    folder = _copy_workflow(tmp_path / "wf")
    bad = {**TOOLBOX, "students": {**TOOLBOX["students"], "teachers": ["none", "brain-mean"]}}
    proc = _snakemake(folder, "-n", "--configfile", str(_write_config(folder, bad)), check=False)
    out = proc.stdout + proc.stderr
    assert (
        proc.returncode != 0 and "teacher(s) brain-mean have global logits only" in out and "gld_terms: [global]" in out
    )
    ok = {**bad, "students": {**bad["students"], "gld_terms": ["global"]}}
    # none + brain-mean V1, one cohort job
    assert _planned_jobs(folder, "--configfile", str(_write_config(folder, ok)))["distill"] == 1


def test_simclr_initialisation_runs_one_backbone_per_split_for_every_student(tmp_path):
    folder = _copy_workflow(tmp_path / "wf")
    config = {
        **TINY,
        "rois": ["V1"],
        "splits": {"n_splits": 4, "seed": 0, "use": [0, 1]},
        "students": {**TINY["students"], "teachers": ["none"], "seeds": [0], "init": "simclr"},
        "simclr": {
            "steps": 3,
            "batch_size": 16,
            "lr": 0.002,
            "temperature": 0.5,
            "projection_dim": 8,
            "extra_per_category": 1,
            "seed": 0,
        },
    }
    path = _write_config(folder, config)
    planned = _planned_jobs(folder, "--configfile", str(path))
    assert planned["pretrain_simclr"] == 2 and planned["distill"] == 2
    targets = [f"results/{RUN}/distill/none/split{s}/seed0/metrics.json" for s in (0, 1)]
    _snakemake(folder, *PROFILE, *targets, "--cores", "2", "--configfile", str(path))
    for target in targets:
        assert json.loads((folder / target).read_text())["init"] == "simclr"
    simclr = json.loads((_run_dir(folder) / "simclr" / "split0" / "metrics.json").read_text())
    assert simclr["n_split_training_images"] == 120 and simclr["n_extra_renders"] == 20
