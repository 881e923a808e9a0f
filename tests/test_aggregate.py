"""Result tables and figures from hand-made metrics.json files with known numbers."""

from __future__ import annotations

import json
import math
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from brainteacher import aggregate
from brainteacher.aggregate import COLUMNS, SUMMARY_COLUMNS, decoder_table, read_table, student_table, summary_table, write_tables
from brainteacher.errors import DataError
from brainteacher.plots import write_plots
from brainteacher.stats import holm, mean_ci, paired_difference

SUBJECTS = ("Subject1", "Subject2")
ROIS = ("V1", "LOC")
SPLITS = ("split0", "split1")
SEEDS = (0, 1)
DECODER = "linear"
REFS = ("baseline", "label_smoothing", "shuffled_brain")


def _noise(*key) -> float:
    """Deterministic pseudo-random number in [0, 1) from a key, so pairing mistakes change results."""
    return zlib.crc32(repr(key).encode()) / 2**32


def student_value(teacher: str, split: str, seed: int, metric: str = "top1") -> float:
    """The known test metric of a synthetic student run."""
    effect = {"none": 0.0, "network": 0.06, "brain": 0.04, "label-smoothing": 0.02, "shuffled-brain": 0.01}[teacher.split("/")[0]]
    run = 0.02 * _noise(split, seed)  # shared by every teacher of one split x seed: pairing removes it
    value = 0.30 + effect + run + 0.01 * _noise(teacher, split, seed, metric)
    return 2.0 - value if metric == "nll" else value


def teachers() -> list[str]:
    names = ["none", "network"]
    for kind in ("brain", "label-smoothing", "shuffled-brain"):
        names += [f"{kind}/{source}/{roi}" for source in (*SUBJECTS, "mean") for roi in ROIS]
    return names


def _summary_metrics(value: float) -> dict[str, float]:
    return {"top1": value, "top1_chance": 0.02, "top5": value + 0.2, "top5_chance": 0.1, "mean_normalised_rank": 0.8,
            "rank_chance": 0.5, "nll": 2.0 - value, "nll_chance": math.log(50), "ece": 0.05}  # fmt: skip


def write_student(root: Path, teacher: str, split: str, seed: int) -> Path:
    kind, source, roi = (teacher.split("/") + [None, None])[:3]
    metrics = _summary_metrics(student_value(teacher, split, seed))
    metrics["nll"] = student_value(teacher, split, seed, "nll")
    data = {
        "teacher": teacher, "teacher_kind": kind, "teacher_source": source, "roi": roi,
        "decoder": DECODER if source else None, "split": split, "seed": seed,
        "n_train": 1000, "n_test": 200, "n_categories": 50, "test": metrics,
        "teacher_stats": None if kind == "none" else {"true_class_prob": 0.3, "entropy": 2.5, "top1": 0.4},
        "train_time_s": 12.5, "device": "cpu", "n_parameters": 11_000_000, "size_mb": 44.0,
        "config_hash": "abc", "git_revision": "deadbeef", "per_category_accuracy": {"x": 1.0},
    }  # fmt: skip
    path = root / "distill" / teacher / split / f"seed{seed}" / "metrics.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def write_decoder(root: Path, subject: str, roi: str, split: str) -> Path:
    data = {
        "subject": subject, "roi": roi, "decoder": DECODER, "split": split, "n_images": 1000, "n_categories": 50,
        "n_voxels_roi": 900, "n_voxels": 500, "n_folds": 5, "epochs": 30,
        "out_of_fold": _summary_metrics(0.1 + 0.05 * ROIS.index(roi) + 0.02 * _noise(subject, roi, split)),
        "wall_time_s": 3.0, "device": "cpu", "config_hash": "abc", "git_revision": "deadbeef", "seed": 0,
    }  # fmt: skip
    path = root / "decode" / DECODER / subject / roi / split / "metrics.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> tuple[list[Path], list[Path]]:
    root = tmp_path_factory.mktemp("results")
    decode = [write_decoder(root, s, r, sp) for s in SUBJECTS for r in ROIS for sp in SPLITS]
    students = [write_student(root, t, sp, sd) for t in teachers() for sp in SPLITS for sd in SEEDS]
    return decode, students


@pytest.fixture(scope="module")
def students(files) -> pd.DataFrame:
    return student_table(files[1])


@pytest.fixture(scope="module")
def summary(students) -> pd.DataFrame:
    return summary_table(students)


def _row(summary: pd.DataFrame, teacher: str, roi: str, metric: str = "top1") -> pd.Series:
    rows = summary[(summary["teacher"] == teacher) & (summary["roi"] == roi) & (summary["metric"] == metric)]
    assert len(rows) == 1
    return rows.iloc[0]


def test_tables_have_one_row_per_run_and_the_documented_columns(files, students, summary):
    decoders = decoder_table(files[0])
    assert len(decoders) == len(SUBJECTS) * len(ROIS) * len(SPLITS)
    assert tuple(decoders.columns) == tuple(COLUMNS["decoders"])
    assert len(students) == len(teachers()) * len(SPLITS) * len(SEEDS)
    assert tuple(students.columns) == tuple(COLUMNS["students"])
    assert tuple(summary.columns) == SUMMARY_COLUMNS
    # Groups: none, network, brain, brain-mean, label-smoothing(-mean), shuffled-brain(-mean).
    groups = {"none": 1, "network": 1, "brain": 2, "brain-mean": 2, "label-smoothing": 2, "label-smoothing-mean": 2, "shuffled-brain": 2, "shuffled-brain-mean": 2}
    assert len(summary) == 3 * sum(groups.values())
    assert summary.groupby("teacher").size().to_dict() == {g: 3 * n for g, n in groups.items()}
    assert set(summary.loc[summary["teacher"] == "none", "roi"]) == {"all"}
    none = students[students["teacher"] == "none"].iloc[0]
    assert math.isnan(none["teacher_entropy"]) and pd.isna(none["source"]) and none["seed"] in SEEDS


def test_pooled_mean_and_ci_are_mean_ci_of_the_units(summary):
    units = [student_value(f"brain/{s}/LOC", sp, sd) for s in SUBJECTS for sp in SPLITS for sd in SEEDS]
    row = _row(summary, "brain", "LOC")
    assert row["n"] == len(units) == 8
    assert (row["mean"], row["ci_low"], row["ci_high"]) == pytest.approx(mean_ci(units))
    mean_units = [student_value("brain/mean/V1", sp, sd, "nll") for sp in SPLITS for sd in SEEDS]
    row = _row(summary, "brain-mean", "V1", "nll")
    assert row["n"] == 4 and (row["mean"], row["ci_low"], row["ci_high"]) == pytest.approx(mean_ci(mean_units))


def test_differences_are_paired_on_split_seed_and_source(summary):
    runs = [(s, sp, sd) for s in SUBJECTS for sp in SPLITS for sd in SEEDS]
    brain = [student_value(f"brain/{s}/V1", sp, sd) for s, sp, sd in runs]
    baseline = [student_value("none", sp, sd) for _, sp, sd in runs]
    control = [student_value(f"label-smoothing/{s}/V1", sp, sd) for s, sp, sd in runs]
    row = _row(summary, "brain", "V1")
    for ref, other in (("baseline", baseline), ("label_smoothing", control)):
        want = paired_difference(brain, other)
        assert row[f"diff_vs_{ref}"] == pytest.approx(np.mean(np.subtract(brain, other)))
        got = (row[f"diff_vs_{ref}_ci_low"], row[f"diff_vs_{ref}_ci_high"], row[f"p_vs_{ref}"])
        assert got == pytest.approx((want["ci_low"], want["ci_high"], want["p_value"]))
        assert row[f"n_pairs_vs_{ref}"] == 8
    # The mean teacher pairs with the mean control.
    mean_row = _row(summary, "brain-mean", "LOC")
    pairs = [(student_value("brain/mean/LOC", sp, sd), student_value("shuffled-brain/mean/LOC", sp, sd)) for sp in SPLITS for sd in SEEDS]
    assert mean_row["diff_vs_shuffled_brain"] == pytest.approx(np.mean([a - b for a, b in pairs]))
    assert mean_row["n_pairs_vs_shuffled_brain"] == 4


def test_holm_is_applied_across_rois(summary):
    for ref in REFS:
        p, adjusted = summary[f"p_vs_{ref}"], summary[f"p_holm_vs_{ref}"]
        present = p.notna()
        assert (adjusted[present] >= p[present] - 1e-15).all()
        for _, cell in summary.groupby(["teacher", "metric"]):
            np.testing.assert_allclose(cell[f"p_holm_vs_{ref}"], holm(cell[f"p_vs_{ref}"].to_numpy()))
    brain = summary[(summary["teacher"] == "brain") & (summary["metric"] == "top1")]
    assert len(brain) == len(ROIS)
    np.testing.assert_allclose(brain["p_holm_vs_baseline"], holm(brain["p_vs_baseline"].to_numpy()))


def test_results_do_not_depend_on_file_or_row_order(files, students, summary):
    shuffled = [files[1][i] for i in np.random.default_rng(0).permutation(len(files[1]))]
    pd.testing.assert_frame_equal(student_table(shuffled), students)
    rows = students.sample(frac=1.0, random_state=1).reset_index(drop=True)
    pd.testing.assert_frame_equal(summary_table(rows), summary)


def test_missing_or_self_reference_gives_nan(students):
    summary = summary_table(students[students["kind"] != "shuffled-brain"])
    row = _row(summary, "brain", "V1")
    assert math.isnan(row["diff_vs_shuffled_brain"]) and math.isnan(row["p_holm_vs_shuffled_brain"])
    assert row["n_pairs_vs_shuffled_brain"] == 0 and not math.isnan(row["diff_vs_baseline"])
    ls = _row(summary, "label-smoothing-mean", "LOC")
    assert math.isnan(ls["diff_vs_label_smoothing"]) and ls["n_pairs_vs_label_smoothing"] == 0
    for col in ("diff_vs_baseline", "diff_vs_label_smoothing", "p_vs_baseline"):
        assert math.isnan(_row(summary, "none", "all")[col])
    network = _row(summary, "network", "all")
    assert network["n_pairs_vs_baseline"] == 8 // len(SUBJECTS) and math.isnan(network["diff_vs_label_smoothing"])
    # Without any baseline run the table still builds.
    no_baseline = summary_table(students[students["kind"] != "none"])
    assert no_baseline["diff_vs_baseline"].isna().all() and (no_baseline["n_pairs_vs_baseline"] == 0).all()


def test_write_tables_with_provenance_and_plots(files, tmp_path):
    decode, student = files
    written = write_tables(decode, student, tmp_path / "tables", {"experiment": "test"})
    assert sorted(written) == sorted(f"{n}{s}" for n in ("decoders", "students", "summary") for s in (".tsv", ".provenance.json"))
    for name in ("decoders", "students", "summary"):
        table = read_table(written[f"{name}.tsv"])
        sidecar = json.loads(written[f"{name}.provenance.json"].read_text())
        assert set(sidecar["columns"]) == set(table.columns) == set(COLUMNS[name])
        assert all(isinstance(d, str) and d for d in sidecar["columns"].values())
        assert sidecar["config"] == {"experiment": "test"} and sidecar["n_rows"] == len(table)
    back = read_table(written["students.tsv"])
    assert set(back.loc[back["kind"] == "none", "teacher"]) == {"none"}  # not read as missing
    pd.testing.assert_frame_equal(summary_table(back), read_table(written["summary.tsv"]), check_exact=False, rtol=0, atol=1e-6, check_dtype=False)
    plots = write_plots(tmp_path / "tables", tmp_path / "plots", ["V1", "V2", "LOC"], note="SIMULATED data")
    _check_figures(plots)


def test_no_students_give_header_only_tables_and_no_data_plots(files, tmp_path):
    written = write_tables(files[0], [], tmp_path / "tables", {})
    assert read_table(written["students.tsv"]).empty and read_table(written["summary.tsv"]).empty
    assert list(read_table(written["summary.tsv"]).columns) == list(SUMMARY_COLUMNS)
    _check_figures(write_plots(tmp_path / "tables", tmp_path / "plots", list(ROIS)))
    _check_figures(write_plots(tmp_path / "nothing", tmp_path / "empty-plots", list(ROIS)))


def _check_figures(paths: list[Path]) -> None:
    names = sorted(p.name for p in paths)
    assert names == sorted(f"{n}.{ext}" for n in ("roi_comparison", "decoder_accuracy", "decoder_vs_gain") for ext in ("png", "svg"))
    for p in paths:
        head = p.read_bytes()[:2000]
        assert head.startswith(b"\x89PNG") if p.suffix == ".png" else b"<svg" in head
    assert not [p for p in paths[0].parent.iterdir() if ".tmp-" in p.name]


def test_bad_inputs_are_refused_with_a_clear_message(files, tmp_path):
    with pytest.raises(ValueError, match="no decoder metrics"):
        write_tables([], files[1], tmp_path, {})
    broken = tmp_path / "metrics.json"
    data = json.loads(files[1][0].read_text())
    del data["test"]["nll"]
    broken.write_text(json.dumps(data))
    with pytest.raises(DataError, match=r"test\.nll"):
        student_table([broken])
    with pytest.raises(DataError, match="same teacher x split x seed"):
        student_table([files[1][0], files[1][0]])


def test_kind_constants_match_the_teachers_module():
    teachers_module = pytest.importorskip("brainteacher.teachers")
    assert aggregate.GLOBAL_KINDS == teachers_module.GLOBAL_KINDS
    assert aggregate.BRAIN_KINDS == teachers_module.BRAIN_KINDS
    assert aggregate.MEAN_SOURCE == teachers_module.MEAN_SOURCE


def _with_oracle(students: pd.DataFrame, gains: dict[tuple[str, int], float]) -> pd.DataFrame:
    """``students`` plus oracle runs whose top-1 is the baseline's plus the given gain per split x seed."""
    none = students[students["kind"] == "none"].copy()
    none["teacher"] = none["kind"] = "oracle"
    none["top1"] = [row.top1 + gains[(row.split, row.seed)] for row in none.itertuples()]
    return pd.concat([students, none], ignore_index=True)


def test_positive_control_verdict_says_when_the_setting_cannot_detect_an_effect(tmp_path):
    students = student_table([write_student(tmp_path, t, sp, sd) for t in ("none", "network") for sp in SPLITS for sd in SEEDS])
    assert aggregate.positive_control_verdict(students) is None
    clear = _with_oracle(students, {(sp, sd): 0.05 + 0.001 * i for i, (sp, sd) in enumerate((sp, sd) for sp in SPLITS for sd in SEEDS)})
    assert aggregate.positive_control_verdict(clear).startswith("positive control: the oracle teacher beats the baseline (+5.")
    noisy = _with_oracle(students, {(sp, sd): g for (sp, sd), g in zip(((sp, sd) for sp in SPLITS for sd in SEEDS), (0.05, -0.04, 0.0, 0.01))})
    assert "positive control FAILED" in aggregate.positive_control_verdict(noisy)
