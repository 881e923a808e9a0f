"""The workflow through SLURM for real: a one-node cluster on this machine (tests/slurm/cluster.sh).

Skipped, with the reason, where the machine cannot start one (not root, no apt); CI's machines can.
Every snakemake call has a timeout: a run that hangs (for example on a status command that never
answers) fails here instead of stalling CI.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from tests.test_workflow import RUN, SNAKEMAKE, TINY, _copy_workflow, _run_dir, _write_config

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
CLUSTER = REPO / "tests" / "slurm" / "cluster.sh"
# Columns that may differ between two runs of the same jobs: times, latencies, paths, hashes.
VOLATILE = re.compile(r"time|latency|hash|folder|revision|wall")
FAST_POLLING = ("--slurm-init-seconds-before-status-checks", "2")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A running one-node cluster: the environment that reaches it."""
    if os.geteuid() != 0:
        pytest.skip("starting a SLURM cluster needs root")
    if not (shutil.which("slurmctld") or shutil.which("apt-get")):
        pytest.skip("no SLURM and no apt-get to install it")
    state = tmp_path_factory.mktemp("slurm")
    try:
        proc = subprocess.run(["bash", str(CLUSTER), "start", str(state)], capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        pytest.skip("the one-node SLURM cluster did not start in 10 minutes")
    if proc.returncode != 0:
        pytest.skip(f"could not start a one-node SLURM cluster: {proc.stderr.strip()[-400:]}")
    yield dict(os.environ)
    subprocess.run(["bash", str(CLUSTER), "stop", str(state)], timeout=60)


def _snakemake(folder: Path, env: dict, *args: str, timeout: int) -> subprocess.CompletedProcess:
    """snakemake in ``folder``; on timeout its process group and every job it queued are killed
    and TimeoutError is raised."""
    proc = subprocess.Popen(
        [*SNAKEMAKE, *args],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        subprocess.run(["scancel", "--user", "root"], env=env, timeout=30)
        raise TimeoutError(f"snakemake {' '.join(args)} did not finish in {timeout} s") from None
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, "")


def _metric_columns(table: pd.DataFrame) -> pd.DataFrame:
    return table[[c for c in table.columns if not VOLATILE.search(c)]]


@pytest.fixture(scope="module")
def runs(cluster, tmp_path_factory):
    """The tiny config run locally and through workflow/profiles/slurm: (local folder, slurm folder, log)."""
    local = _copy_workflow(tmp_path_factory.mktemp("local"))
    config = _write_config(local, TINY)
    proc = _snakemake(local, cluster, "--cores", "2", "--configfile", str(config), timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:]
    slurm = _copy_workflow(tmp_path_factory.mktemp("slurm-run"))
    config = _write_config(slurm, TINY)
    profile = ("--workflow-profile", "workflow/profiles/slurm", *FAST_POLLING)
    proc = _snakemake(slurm, cluster, *profile, "--configfile", str(config), timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:]
    return local, slurm, proc.stdout


def test_the_workflow_runs_through_slurm_with_the_local_run_s_numbers(runs):
    local, slurm, log = runs
    assert re.search(r"submitted with SLURM jobid", log, re.IGNORECASE), log[-2000:]
    for name in ("decoders", "students", "summary", "calibration"):
        a = pd.read_csv(_run_dir(local) / "tables" / f"{name}.tsv", sep="\t")
        b = pd.read_csv(_run_dir(slurm) / "tables" / f"{name}.tsv", sep="\t")
        pd.testing.assert_frame_equal(_metric_columns(a), _metric_columns(b), obj=name)


def test_the_cpu_profile_asks_slurm_for_no_gpu(runs, cluster):
    """Every job the run left in slurmctld's memory (MinJobAge 300 s) asked for no GPU."""
    shown = subprocess.run(["scontrol", "show", "job"], env=cluster, capture_output=True, text=True, timeout=30)
    jobs = [j for j in shown.stdout.split("\n\n") if "JobId=" in j]
    rules = {m.group(1) for j in jobs for m in [re.search(r"slurm_logs/rule_(\w+)/", j)] if m}
    assert {"decode", "network_teacher", "distill"} <= rules, rules
    assert not [j for j in jobs if re.search(r"gres/gpu|TresPerJob=\S*gpu|TresPerNode=\S*gpu", j)]


def test_the_gpu_profile_asks_for_a_gpu_on_training_rules(runs, cluster):
    """workflow/profiles/slurm-gpu submits decode with a GPU request, which this GPU-less node refuses."""
    _, slurm, _ = runs
    config = _run_dir(slurm).parent.parent / "tiny.yaml"
    target = f"results/{RUN}/decode/resnet1d/Subject1/V1/split0/metrics.json"
    profile = ("--workflow-profile", "workflow/profiles/slurm-gpu", *FAST_POLLING)
    proc = _snakemake(slurm, cluster, *profile, "--configfile", str(config), "--forcerun", target, target, timeout=300)
    assert proc.returncode != 0
    assert re.search(r"gres|gpu", proc.stdout, re.IGNORECASE), proc.stdout[-2000:]


def test_a_status_command_that_never_answers_fails_within_the_timeout(runs, cluster):
    """sacct without an accounting daemon: the plugin waits for ever, and the timeout ends it."""
    _, slurm, _ = runs
    config = _run_dir(slurm).parent.parent / "tiny.yaml"
    target = f"results/{RUN}/splits/split0.json"
    profile = ("--workflow-profile", "workflow/profiles/slurm", *FAST_POLLING, "--slurm-status-command", "sacct")
    with pytest.raises(TimeoutError):
        _snakemake(slurm, cluster, *profile, "--configfile", str(config), "--forcerun", target, target, timeout=90)
