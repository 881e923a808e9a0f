"""jobs.RunFiles: the files the workflow's rules read and write, tested without Snakemake."""

from __future__ import annotations

import copy
import shlex
from pathlib import Path

import pytest
from snakemake.io import expand as snakemake_expand

from brainteacher.formats import teacher_dir
from brainteacher.jobs import RunFiles, expand
from brainteacher.registry import EVALUATION_PLOTS, expand_teachers
from brainteacher.runs import layered_config

REPO = Path(__file__).resolve().parents[1]


def _files(cohort: str = "seed", **students) -> RunFiles:
    config = copy.deepcopy(layered_config([REPO / "config" / "config.yaml"]))
    config["students"].update(cohort=cohort, **students)
    return RunFiles(config, "run")


def test_expand_keeps_snakemakes_order_and_leaves_other_wildcards():
    pattern = "d/{teacher}/split{split}/seed{seed}/{name}"
    ours = expand(pattern, teacher=["a", "b/mean/LOC"], seed=[0, 1], name=["x", "y"])
    escaped = "d/{teacher}/split{{split}}/seed{seed}/{name}"
    assert ours == snakemake_expand(escaped, teacher=["a", "b/mean/LOC"], seed=[0, 1], name=["x", "y"])
    assert all("{split}" in path for path in ours)


@pytest.mark.parametrize(
    ("cohort", "wildcards", "n_members"),
    [
        ("split", {"split": "2"}, 3),
        ("seed", {"split": "2", "seed": "1"}, 1),
        ("student", {"split": "2", "seed": "1"}, 1),
    ],
)
def test_a_cohort_job_trains_its_split_seed_or_student(cohort, wildcards, n_members):
    files = _files(cohort)
    teachers = expand_teachers(files.config)
    if cohort == "student":
        wildcards = {**wildcards, "teacher": teachers[3]}
    members = files.cohort_members(wildcards)
    per_seed = 1 if cohort == "student" else len(teachers)
    assert len(members) == n_members * per_seed == files.cohort_size(wildcards)
    assert {split for _, split, _ in members} == {"2"}
    # Seed-major: students that share a seed (and so their batches) sit together.
    seeds = [seed for _, _, seed in members]
    assert seeds == sorted(seeds)


def test_cohort_outputs_keep_the_jobs_wildcards_and_name_every_student():
    by_cohort = {c: _files(c).cohort_outputs("metrics.json") for c in ("split", "seed", "student")}
    n_teachers = len(expand_teachers(_files().config))
    assert by_cohort["student"] == ["results/run/distill/{teacher}/split{split}/seed{seed}/metrics.json"]
    assert len(by_cohort["seed"]) == n_teachers
    assert all("split{split}/seed{seed}/" in p and "{teacher}" not in p for p in by_cohort["seed"])
    assert len(by_cohort["split"]) == n_teachers * 3
    assert all("split{split}/" in p and "{seed}" not in p for p in by_cohort["split"])


def test_member_options_give_each_student_its_folder_and_teacher_inputs():
    files = _files("seed")
    wildcards = {"split": "0", "seed": "2"}
    words = shlex.split(files.member_options(wildcards))
    starts = [i for i, word in enumerate(words) if word == "--member"]
    assert len(starts) == files.cohort_size(wildcards)
    first = words[starts[0] + 1 : starts[1]]
    teacher = first[0]
    assert first[1:3] == ["2", f"results/run/distill/{teacher}/split0/seed2"]
    assert first[3:] == files.teacher_dirs(teacher, "0")


def test_teacher_files_read_the_decoders_and_the_network_models_only_for_gld_maps():
    plain = _files("seed", teachers=["network"])
    wildcards = {"split": "1", "seed": "0"}
    assert plain.teacher_files(wildcards) == sorted(f"results/run/network/split1/{n}" for n in teacher_dir.READ_FILES)
    gld = _files("seed", teachers=["network"], loss="gld", gld_terms=["global", "local"])
    models = {f"results/run/network/split1/{n}" for n in gld.network_model_files}
    assert models and models <= set(gld.teacher_files(wildcards))


def test_brain_teacher_files_come_from_the_teacher_decoder_of_every_subject():
    files = _files("student")
    dirs = files.teacher_dirs("brain/mean/LOC", 3)
    decoder = files.config["students"]["teacher_decoder"]
    assert dirs == [f"results/run/decode/{decoder}/{s}/LOC/split3" for s in files.config["subjects"]]


def test_the_dataset_is_shared_when_simulated_and_the_release_otherwise(tmp_path):
    simulated = _files()
    assert simulated.data_root.startswith("results/data/simulated-")
    assert simulated.data_input() == simulated.data_root
    assert simulated.ground_truth_option().startswith("--ground-truth ")
    real = copy.deepcopy(simulated.config)
    real["data"].update(source="path", root=str(tmp_path))
    files = RunFiles(real, "run")
    assert files.data_root == str(tmp_path) and files.ground_truth_option() == ""
    assert f"{tmp_path}/Subject1.h5" in files.data_input()
    assert len(files.prediction_names) < len(simulated.prediction_names)  # no evaluation set


def test_the_targets_are_the_runs_tables_and_every_figure_it_can_fill():
    files = _files()
    targets = files.all_targets()
    assert all(t.startswith("results/run/") for t in targets)
    for plot in [*files.roi_plots, *EVALUATION_PLOTS]:
        assert f"results/run/plots/{plot}.png" in targets
    assert "results/run/tables/summary.tsv" in targets and files.provenance in targets
