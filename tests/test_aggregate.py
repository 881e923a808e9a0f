"""Result tables and figures from hand-made metrics.json files with known numbers."""

from __future__ import annotations

import json
import math
import shutil
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from brainteacher.analysis.aggregate import write_tables
from brainteacher.analysis.columns import COLUMNS, SUMMARY_COLUMNS
from brainteacher.analysis.stats import holm, mean_ci, sign_flip_p_value
from brainteacher.analysis.summary import RUN_LEVEL_METRICS, summary_table
from brainteacher.analysis.tables import calibration_table, decoder_table, read_table, student_table
from brainteacher.analysis.verdicts import positive_control_verdict
from brainteacher.cli import main
from brainteacher.errors import DataError
from brainteacher.formats import student_dir
from brainteacher.metrics import ece_floor, expected_calibration_error, softmax
from brainteacher.outputs import config_hash
from brainteacher.plots.rois import write_plots

SUBJECTS = ("Subject1", "Subject2")
ROIS = ("V1", "LOC")
SPLITS = ("split0", "split1")
# The students-as-units test against shuffle draws takes the splits as units: 4 of them, as the
# default runs, let 3 draws reach p = 1 / 4**4.
ALL_SPLITS = ("split0", "split1", "split2", "split3")
SEEDS = (0, 1)
DECODER = "linear"
REFS = ("baseline", "label_smoothing", "shuffled_brain")
N_CATEGORIES = 10
N_HELDOUT = 30  # held-out images per split: 3 per category
DATA_ROOT = "DATA"  # the dataset folder every hand-made metrics file records (as decode and distill do)


def _noise(*key) -> float:
    """Deterministic pseudo-random number in [0, 1) from a key, so pairing mistakes change results."""
    return zlib.crc32(repr(key).encode()) / 2**32


EFFECTS = {
    "none": 0.0,
    "network": 0.06,
    "brain": 0.04,
    "label-smoothing": 0.02,
    "random": 0.02,
    "shuffled-brain": 0.01,
    "oracle": 0.3,
}


def student_value(teacher: str, split: str, seed: int, metric: str = "top1") -> float:
    """The known test metric of a synthetic student run."""
    effect = EFFECTS[teacher.split("/")[0]]
    run = 0.02 * _noise(split, seed)  # shared by every teacher of one split x seed: pairing removes it
    value = 0.30 + effect + run + 0.01 * _noise(teacher, split, seed, metric)
    return 2.0 - value if metric == "nll" else value


def teachers() -> list[str]:
    names = ["none", "network"]
    for kind in ("brain", "label-smoothing", "shuffled-brain"):
        names += [f"{kind}/{source}/{roi}" for source in (*SUBJECTS, "mean") for roi in ROIS]
    return names


def _summary_metrics(value: float) -> dict[str, float]:
    return {
        "top1": value,
        "top1_chance": 0.02,
        "top5": value + 0.2,
        "top5_chance": 0.1,
        "mean_normalised_rank": 0.8,
        "nll": 2.0 - value,
        "nll_chance": math.log(50),
        "ece": 0.05,
    }


def heldout(split: str) -> tuple[list[str], np.ndarray]:
    """A split's held-out image names and labels (each split holds out different images)."""
    names = [f"{split}_img{i}" for i in range(N_HELDOUT)]
    return names, np.arange(N_HELDOUT) % N_CATEGORIES


def correct(teacher: str, split: str, seed: int) -> np.ndarray:
    """(N_HELDOUT,) whether the synthetic student gets each held-out image right: image i is
    right when its pseudo-random draw falls below the student's accuracy."""
    names, _ = heldout(split)
    return np.array([_noise(name, teacher, split, seed) < student_value(teacher, split, seed) for name in names], float)


def _write_predictions(folder: Path, teacher: str, split: str, seed: int) -> None:
    names, labels = heldout(split)
    logits = np.zeros((N_HELDOUT, N_CATEGORIES), np.float32)
    predicted = np.where(correct(teacher, split, seed) > 0, labels, (labels + 1) % N_CATEGORIES)
    logits[np.arange(N_HELDOUT), predicted] = 3.0
    np.save(folder / "test_logits.npy", logits)
    np.save(folder / "test_image_ids.npy", np.array(names))
    np.save(folder / "test_labels.npy", labels)


def write_student(root: Path, teacher: str, split: str, seed: int) -> Path:
    kind, source, roi = (teacher.split("/") + [None, None])[:3]
    metrics = _summary_metrics(student_value(teacher, split, seed))
    metrics["nll"] = student_value(teacher, split, seed, "nll")
    data = {
        "teacher": teacher,
        "format_version": student_dir.FORMAT_VERSION,
        "teacher_kind": kind,
        "teacher_source": source,
        "roi": roi,
        "decoder": DECODER if source else None,
        "split": split,
        "seed": seed,
        "n_train": 1000,
        "n_test": 200,
        "n_categories": 50,
        "test": metrics,
        "teacher_stats": None if kind == "none" else {"true_class_prob": 0.3, "entropy": 2.5, "top1": 0.4},
        "train_time_s": 12.5,
        "device": "cpu",
        "n_parameters": 11_000_000,
        "size_mb": 44.0,
        "config_hash": "abc",
        "git_revision": "deadbeef",
        "per_category_accuracy": {"x": 1.0},
        "config": {"root": DATA_ROOT},
    }
    path = root / "distill" / teacher / split / f"seed{seed}" / "metrics.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    _write_predictions(path.parent, teacher, split, seed)
    return path


def write_decoder(root: Path, subject: str, roi: str, split: str) -> Path:
    data = {
        "subject": subject,
        "roi": roi,
        "decoder": DECODER,
        "split": split,
        "n_images": 1000,
        "n_categories": 50,
        "n_voxels": 500,
        "n_folds": 5,
        "epochs": 30,
        "out_of_fold": _summary_metrics(0.1 + 0.05 * ROIS.index(roi) + 0.02 * _noise(subject, roi, split)),
        "wall_time_s": 3.0,
        "device": "cpu",
        "config_hash": "abc",
        "git_revision": "deadbeef",
        "seed": 0,
        "config": {"root": DATA_ROOT},
    }
    path = root / "decode" / DECODER / subject / roi / split / "metrics.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    _write_teacher_rows(path.parent, subject, roi, split)
    return path


N_DECODED = 4 * N_CATEGORIES  # training images per hand-made decoder folder


def _write_teacher_rows(folder: Path, subject: str, roi: str, split: str) -> None:
    """Calibrated logits whose labels are drawn from their own probabilities, LOC sharper than V1."""
    rng = np.random.default_rng(zlib.crc32(f"{subject}/{roi}/{split}".encode()))
    logits = rng.standard_normal((N_DECODED, N_CATEGORIES)) * (1.0 + ROIS.index(roi))
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = np.minimum((probs.cumsum(axis=1) < rng.random((N_DECODED, 1))).sum(axis=1), N_CATEGORIES - 1)
    np.save(folder / "logits.npy", logits.astype(np.float32))
    np.save(folder / "labels.npy", labels.astype(np.int64))
    np.save(folder / "image_ids.npy", np.array([f"{split}_img{i}" for i in range(N_DECODED)]))


# Slow (conftest.SLOW_FIXTURES): 48 student folders with saved predictions, paired image by image.
@pytest.fixture(scope="module")
def result_files(tmp_path_factory) -> tuple[list[Path], list[Path]]:
    root = tmp_path_factory.mktemp("results")
    decode = [write_decoder(root, s, r, sp) for s in SUBJECTS for r in ROIS for sp in SPLITS]
    students = [write_student(root, t, sp, sd) for t in teachers() for sp in SPLITS for sd in SEEDS]
    return decode, students


@pytest.fixture(scope="module")
def students(result_files) -> pd.DataFrame:
    return student_table(result_files[1])


@pytest.fixture(scope="module")
def summary(students) -> pd.DataFrame:
    return summary_table(students)


def _row(summary: pd.DataFrame, teacher: str, roi: str, metric: str = "top1") -> pd.Series:
    rows = summary[(summary["teacher"] == teacher) & (summary["roi"] == roi) & (summary["metric"] == metric)]
    assert len(rows) == 1
    return rows.iloc[0]


def test_tables_have_one_row_per_run_and_the_documented_columns(result_files, students, summary):
    decoders = decoder_table(result_files[0])
    assert len(decoders) == len(SUBJECTS) * len(ROIS) * len(SPLITS)
    assert tuple(decoders.columns) == tuple(COLUMNS["decoders"])
    assert len(students) == len(teachers()) * len(SPLITS) * len(SEEDS)
    assert tuple(students.columns) == tuple(COLUMNS["students"])
    assert tuple(summary.columns) == SUMMARY_COLUMNS
    # Groups: none, network, brain, brain-mean, label-smoothing(-mean), shuffled-brain(-mean).
    groups = {
        "none": 1,
        "network": 1,
        "brain": 2,
        "brain-mean": 2,
        "label-smoothing": 2,
        "label-smoothing-mean": 2,
        "shuffled-brain": 2,
        "shuffled-brain-mean": 2,
    }
    assert len(summary) == (3 + len(RUN_LEVEL_METRICS)) * sum(groups.values())  # + run-level roc_auc, pr_auc
    assert summary.groupby("teacher").size().to_dict() == {
        g: (3 + len(RUN_LEVEL_METRICS)) * n for g, n in groups.items()
    }
    assert set(summary.loc[summary["teacher"] == "none", "roi"]) == {"all"}
    none = students[students["teacher"] == "none"].iloc[0]
    assert math.isnan(none["teacher_entropy"]) and pd.isna(none["source"]) and none["seed"] in SEEDS


def test_run_level_mean_averages_subjects_within_a_run_and_gives_no_interval_under_3_runs(summary, students):
    per_run = [np.mean([student_value(f"brain/{s}/LOC", sp, sd) for s in SUBJECTS]) for sp in SPLITS for sd in SEEDS]
    row = _row(summary, "brain", "LOC")
    assert row["n"] == len(per_run) == 4
    assert (row["mean"], row["ci_low"], row["ci_high"]) == pytest.approx(mean_ci(per_run))
    two_runs = summary_table(students[students["seed"] == 0])
    row = _row(two_runs, "brain", "LOC")
    assert row["n"] == 2 and math.isnan(row["ci_low"]) and math.isnan(row["ci_high"])


def _by_hand(teacher: str, reference: str, subjects=(None,)) -> np.ndarray:
    """Per-category mean of the per-image difference, averaged over subjects within a run, then over
    the runs that scored the image (each split's images are scored by its 2 seeds)."""
    diffs, labels = [], []
    for sp in SPLITS:
        per_seed = []
        for sd in SEEDS:
            a = np.mean([correct(teacher.format(s=s), sp, sd) for s in subjects], axis=0)
            b = np.mean([correct(reference.format(s=s), sp, sd) for s in subjects], axis=0)
            per_seed.append(a - b)
        diffs.append(np.mean(per_seed, axis=0))
        labels.append(heldout(sp)[1])
    d, y = np.concatenate(diffs), np.concatenate(labels)
    return np.array([d[y == c].mean() for c in range(N_CATEGORIES)])


def test_differences_are_per_image_paired_with_categories_as_units(summary):
    row = _row(summary, "brain", "V1")
    for ref, reference in (("baseline", "none"), ("label_smoothing", "label-smoothing/{s}/V1")):
        units = _by_hand("brain/{s}/V1", reference, SUBJECTS)
        assert row[f"diff_vs_{ref}"] == pytest.approx(units.mean())
        assert (row[f"diff_vs_{ref}_ci_low"], row[f"diff_vs_{ref}_ci_high"]) == pytest.approx(mean_ci(units)[1:])
        assert row[f"p_vs_{ref}"] == pytest.approx(sign_flip_p_value(units))
        assert row[f"n_units_vs_{ref}"] == N_CATEGORIES and row[f"n_images_vs_{ref}"] == N_HELDOUT * len(SPLITS)
    # The mean teacher pairs with the mean control of its ROI.
    mean_row = _row(summary, "brain-mean", "LOC")
    assert mean_row["diff_vs_shuffled_brain"] == pytest.approx(
        _by_hand("brain/mean/LOC", "shuffled-brain/mean/LOC").mean()
    )


def test_holm_runs_over_the_primary_family_only(summary):
    primary = summary[summary["family"] == "primary"]
    assert (
        set(primary["teacher"]) == {"brain-mean"} and set(primary["metric"]) == {"top1"} and len(primary) == len(ROIS)
    )
    np.testing.assert_allclose(primary["p_holm"], holm(primary["p_randomization"].to_numpy()))
    assert (primary["test_reference"] == "shuffled_brain").all()
    assert summary.loc[summary["family"] != "primary", "p_holm"].isna().all()
    assert set(summary["family"]) == {"primary", "exploratory"}


def test_results_do_not_depend_on_file_or_row_order(result_files, students, summary):
    shuffled = [result_files[1][i] for i in np.random.default_rng(0).permutation(len(result_files[1]))]
    pd.testing.assert_frame_equal(student_table(shuffled), students)
    rows = students.sample(frac=1.0, random_state=1).reset_index(drop=True)
    pd.testing.assert_frame_equal(summary_table(rows), summary)


def test_missing_or_self_reference_gives_nan(students):
    summary = summary_table(students[students["kind"] != "shuffled-brain"])
    row = _row(summary, "brain", "V1")
    assert math.isnan(row["diff_vs_shuffled_brain"]) and math.isnan(row["p_randomization"])
    assert row["test_reference"] == "shuffled_brain" and row["n_test_units"] == 0
    assert row["n_units_vs_shuffled_brain"] == 0 and not math.isnan(row["diff_vs_baseline"])
    ls = _row(summary, "label-smoothing-mean", "LOC")
    assert math.isnan(ls["diff_vs_label_smoothing"]) and ls["n_units_vs_label_smoothing"] == 0
    for col in ("diff_vs_baseline", "diff_vs_label_smoothing", "p_vs_baseline"):
        assert math.isnan(_row(summary, "none", "all")[col])
    network = _row(summary, "network", "all")
    assert network["n_units_vs_baseline"] == N_CATEGORIES and math.isnan(network["diff_vs_label_smoothing"])
    # Without any baseline run the table still builds.
    no_baseline = summary_table(students[students["kind"] != "none"])
    assert no_baseline["diff_vs_baseline"].isna().all() and (no_baseline["n_units_vs_baseline"] == 0).all()


def test_calibration_table_pools_subjects_and_splits(result_files):
    decode, _ = result_files
    table = calibration_table(decode)
    assert list(table.columns) == list(COLUMNS["calibration"])
    assert list(zip(table["decoder"], table["roi"], strict=True)) == [(DECODER, "V1"), (DECODER, "LOC")]
    for _, row in table.iterrows():
        folders = [p.parent for p in decode if p.parent.parent.name == row["roi"]]
        logits = np.concatenate([np.load(f / "logits.npy") for f in folders]).astype(np.float64)
        labels = np.concatenate([np.load(f / "labels.npy") for f in folders])
        probs = softmax(logits, axis=1)
        assert row["n_folders"] == len(SUBJECTS) * len(SPLITS) and row["n_images"] == len(labels)
        assert row["ece"] == pytest.approx(expected_calibration_error(probs, labels))
        assert row["ece_floor"] == pytest.approx(ece_floor(probs))
        assert row["ece_excess"] == pytest.approx(row["ece"] - row["ece_floor"])
        assert 0 < row["ece_p"] <= 1
        assert row["true_class_prob_chance"] == pytest.approx(1 / N_CATEGORIES)
        assert row["top1"] == pytest.approx((probs.argmax(axis=1) == labels).mean())
    # Labels drawn from the probabilities: calibrated, so the ECE is about its floor.
    assert (table["ece_excess"].abs() < 0.05).all()
    loc = table[table["roi"] == "LOC"].iloc[0]
    assert loc["mean_confidence"] > table[table["roi"] == "V1"].iloc[0]["mean_confidence"]


def test_calibration_table_refuses_a_folder_without_logits(result_files, tmp_path):
    decode, _ = result_files
    folder = tmp_path / "copy"
    shutil.copytree(decode[0].parent, folder)
    (folder / "logits.npy").unlink()
    with pytest.raises(DataError, match="logits.npy"):
        calibration_table([folder / "metrics.json"])


def test_write_tables_with_provenance_and_plots(result_files, tmp_path):
    decode, student = result_files
    written = write_tables(decode, student, tmp_path / "tables", {"experiment": "test"})
    assert sorted(written) == sorted(f"{n}{s}" for n in COLUMNS for s in (".tsv", ".provenance.json"))
    for name in COLUMNS:
        table = read_table(written[f"{name}.tsv"])
        sidecar = json.loads(written[f"{name}.provenance.json"].read_text())
        assert set(sidecar["columns"]) == set(table.columns) == set(COLUMNS[name])
        assert all(isinstance(d, str) and d for d in sidecar["columns"].values())
        assert sidecar["config"] == {"experiment": "test"} and sidecar["n_rows"] == len(table)
    back = read_table(written["students.tsv"])
    assert set(back.loc[back["kind"] == "none", "teacher"]) == {"none"}  # not read as missing
    pd.testing.assert_frame_equal(
        summary_table(back), read_table(written["summary.tsv"]), check_exact=False, rtol=0, atol=1e-6, check_dtype=False
    )
    plots = write_plots(tmp_path / "tables", tmp_path / "plots", ["V1", "V2", "LOC"], note="SIMULATED data")
    _check_figures(plots)


def test_no_students_give_header_only_tables_and_no_data_plots(result_files, tmp_path):
    written = write_tables(result_files[0], [], tmp_path / "tables", {})
    assert read_table(written["students.tsv"]).empty and read_table(written["summary.tsv"]).empty
    assert list(read_table(written["summary.tsv"]).columns) == list(SUMMARY_COLUMNS)
    _check_figures(
        write_plots(tmp_path / "tables", tmp_path / "plots", list(ROIS)), {"roi_comparison", "decoder_vs_gain"}
    )
    everything = {"roi_comparison", "decoder_accuracy", "decoder_vs_gain"}
    _check_figures(write_plots(tmp_path / "nothing", tmp_path / "empty-plots", list(ROIS)), everything)


def _check_figures(paths: list[Path], empty: set[str] = frozenset()) -> None:
    """The three ROI figures, whole and atomically written; those in ``empty`` say "no data", the
    others are drawn (a figure's SVG marks its "no data" message with figures.NO_DATA_ID)."""
    from brainteacher.plots.figures import NO_DATA_ID

    names = sorted(p.name for p in paths)
    assert names == sorted(
        f"{n}.{ext}" for n in ("roi_comparison", "decoder_accuracy", "decoder_vs_gain") for ext in ("png", "svg")
    )
    for p in paths:
        head = p.read_bytes()[:2000]
        assert head.startswith(b"\x89PNG") if p.suffix == ".png" else b"<svg" in head
        if p.suffix == ".svg":
            assert (f'id="{NO_DATA_ID}"' in p.read_text()) == (p.stem in empty), p.name
    assert not [p for p in paths[0].parent.iterdir() if ".tmp-" in p.name]


def test_bad_inputs_are_refused_with_a_clear_message(result_files, tmp_path):
    with pytest.raises(ValueError, match="no decoder metrics"):
        write_tables([], result_files[1], tmp_path, {})
    broken = tmp_path / "metrics.json"
    data = json.loads(result_files[1][0].read_text())
    del data["test"]["nll"]
    broken.write_text(json.dumps(data))
    with pytest.raises(DataError, match=r"test\.nll"):
        student_table([broken])
    with pytest.raises(DataError, match="same teacher x split x seed"):
        student_table([result_files[1][0], result_files[1][0]])


def _run_record(folder: Path, name: str, config: dict, root: str = DATA_ROOT, fingerprint: str = "f0") -> Path:
    """A run's provenance.json as `brainteacher provenance` writes it (the fields that identify the run)."""
    path = folder / f"{name}.provenance.json"
    path.write_text(
        json.dumps(
            {
                "run": name,
                "dataset_root": root,
                "dataset_fingerprint": fingerprint,
                "config_name": name,
                "config_hash": config_hash(config),
            }
        )
    )
    return path


def _refused(capsys, argv: list[str], message: str) -> None:
    """``main(argv)`` exits 2 with the one-line error ``message`` (a prefix)."""
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"brainteacher: error: {message}") and "Traceback" not in err, err


def test_plot_and_aggregate_refuse_inputs_of_another_dataset_or_config(result_files, tmp_path, capsys):
    decode, student = result_files
    config = {"rois": ["V1", "LOC"], "report": {"note": "SIMULATED"}}
    own = _run_record(tmp_path, "own", config)
    tables = tmp_path / "tables"
    aggregate_cmd = [
        "aggregate",
        "--decode",
        *map(str, decode),
        "--students",
        *map(str, student),
        "--config",
        json.dumps(config),
    ]
    assert main([*aggregate_cmd, "--out", str(tables), "--provenance", str(own)]) == 0
    assert json.loads((tables / "summary.provenance.json").read_text())["run"]["config_hash"] == config_hash(config)
    plot_cmd = ["plot", "--tables", str(tables), "--rois", "V1", "LOC"]
    assert main([*plot_cmd, "--out", str(tmp_path / "plots"), "--provenance", str(own)]) == 0
    # The same tables asked to be drawn as another config's, or as another dataset's: refused, nothing drawn.
    other_config = _run_record(tmp_path, "other", {**config, "report": {"note": "GOD fMRI"}})
    other_data = _run_record(tmp_path, "real", config, fingerprint="f1")
    sidecar = tables / "decoders.provenance.json"
    _refused(
        capsys,
        [*plot_cmd, "--out", str(tmp_path / "p1"), "--provenance", str(other_config)],
        f"{sidecar}: made with config own (hash {config_hash(config)}), not run other's config",
    )
    _refused(
        capsys,
        [*plot_cmd, "--out", str(tmp_path / "p2"), "--provenance", str(other_data)],
        f"{sidecar}: made from dataset DATA (fingerprint f0), not run real's dataset",
    )
    assert not (tmp_path / "p1").exists() and not (tmp_path / "p2").exists()
    # A provenance record of another config than the one given, and metrics of another data folder.
    _refused(
        capsys,
        [*aggregate_cmd, "--out", str(tmp_path / "t1"), "--provenance", str(other_config)],
        f"{other_config}: records config other",
    )
    moved = _run_record(tmp_path, "moved", config, root="ELSEWHERE")
    _refused(
        capsys,
        [*aggregate_cmd, "--out", str(tmp_path / "t2"), "--provenance", str(moved)],
        f"{decode[0]}: made from dataset DATA, not run moved's dataset ELSEWHERE",
    )
    assert not (tmp_path / "t1").exists() and not (tmp_path / "t2").exists()
    # Tables without a run record (written before runs were recorded) are refused too.
    write_tables(decode, [], tmp_path / "unrecorded", {})
    _refused(
        capsys,
        [
            "plot",
            "--tables",
            str(tmp_path / "unrecorded"),
            "--out",
            str(tmp_path / "p3"),
            "--rois",
            "V1",
            "--provenance",
            str(own),
        ],
        f"{tmp_path / 'unrecorded' / 'decoders.provenance.json'}: records no run provenance",
    )


def test_positive_control_verdict_states_top1_and_nll(tmp_path, monkeypatch):
    # Runs are the units: 10 of them, so a one-sided p can reach 1 / 2**10.
    runs = [(sp, sd) for sp in SPLITS for sd in range(5)]
    plain = student_table([write_student(tmp_path / "a", t, sp, sd) for t in ("none", "network") for sp, sd in runs])
    assert positive_control_verdict(summary_table(plain)).startswith("no positive control")
    # An oracle far better than the baseline: every image right.
    monkeypatch.setitem(EFFECTS, "oracle", 0.69)
    clear = student_table([write_student(tmp_path / "b", t, sp, sd) for t in ("none", "oracle") for sp, sd in runs])
    verdict = positive_control_verdict(summary_table(clear))
    assert verdict.startswith("positive control passed") and "top1 +" in verdict and "nll" in verdict
    # An oracle no better than the baseline.
    monkeypatch.setitem(EFFECTS, "oracle", 0.0)
    same = student_table([write_student(tmp_path / "c", t, sp, sd) for t in ("none", "oracle") for sp, sd in runs])
    failed = positive_control_verdict(summary_table(same))
    # A failed control makes a null unreadable; it does not void a significant result.
    assert "positive control FAILED" in failed and "a brain-teacher null cannot tell" in failed
    assert "a significant brain result stands" in failed


def test_students_table_has_aucs_from_saved_logits_and_edge_columns(tmp_path):
    from brainteacher.metrics import macro_pr_auc, macro_roc_auc, softmax

    path = write_student(tmp_path, "none", "split0", 0)
    folder = path.parent
    table = student_table([path])
    logits, labels = np.load(folder / "test_logits.npy"), np.load(folder / "test_labels.npy")
    assert table.loc[0, "roc_auc"] == pytest.approx(macro_roc_auc(softmax(logits, axis=1), labels))
    assert table.loc[0, "pr_auc"] == pytest.approx(macro_pr_auc(softmax(logits, axis=1), labels))
    for column in (
        "arch",
        "loss",
        "init",
        "latency_ms_batch1",
        "latency_ms_batch64",
        "latency_threads",
        "eval_roc_auc",
        "eval_pr_auc",
    ):
        assert column in table.columns
    summary = summary_table(table)
    auc = summary[summary["metric"] == "roc_auc"]
    assert (
        len(auc) == 1
        and auc["mean"].iloc[0] == pytest.approx(table.loc[0, "roc_auc"])
        and auc["diff_vs_baseline"].isna().all()
    )


def _draws_table(tmp_path: Path, brain_effect: float, monkeypatch) -> pd.DataFrame:
    """brain-mean students and 3 shuffle draws each, per ROI, over 4 splits x 2 seeds, plus the
    baseline and the softness-matched random targets: the design of the students-as-units test."""
    monkeypatch.setitem(EFFECTS, "brain", brain_effect)
    names = ["none"]
    for roi in ROIS:
        names += [f"brain/mean/{roi}", f"random/mean/{roi}", f"shuffled-brain/mean/{roi}"]
        names += [f"shuffled-brain/mean/{roi}/draw{k}" for k in (1, 2)]
    return student_table([write_student(tmp_path, t, sp, sd) for t in names for sp in ALL_SPLITS for sd in range(2)])


def test_the_primary_test_takes_the_students_as_units(tmp_path, monkeypatch):
    from brainteacher.analysis.stats import randomization_test

    students = _draws_table(tmp_path, 0.04, monkeypatch)
    assert sorted(set(students["draw"])) == [0, 1, 2]
    summary = summary_table(students)
    row = _row(summary, "brain-mean", "LOC")
    assert row["family"] == "primary" and row["n_seeds"] == 2 and row["n_shuffle_draws"] == 3
    # The splits are the units: a pairing (the brain's, or a draw's) is the same in every seed, so
    # its seeds are replicates, averaged.
    assert row["n_test_units"] == len(ALL_SPLITS)
    brain = np.array([np.mean([student_value("brain/mean/LOC", sp, sd) for sd in range(2)]) for sp in ALL_SPLITS])
    draws = [f"shuffled-brain/mean/LOC{d}" for d in ("", "/draw1", "/draw2")]
    shuffles = np.array([[np.mean([student_value(t, sp, sd) for sd in range(2)]) for t in draws] for sp in ALL_SPLITS])
    expected = randomization_test(brain, shuffles)
    assert row["effect"] == pytest.approx(expected["effect"])
    assert row["p_randomization"] == pytest.approx(expected["p_value"])
    assert expected["p_value"] == pytest.approx(1 / 4**4)  # every split's brain students beat its draws
    assert np.isfinite(row["diff_vs_shuffled_brain"])  # the category-unit description pools the draws


def test_the_conclusion_says_which_contrasts_hold(tmp_path, monkeypatch):
    from brainteacher.analysis.verdicts import conclusion

    helps = conclusion(_draws_table(tmp_path / "a", 0.04, monkeypatch))
    assert set(helps["tests"]) == set(ROIS)
    assert "LOC: brain-mean targets carry image-specific information (+" in helps["text"]
    assert "help beyond their softness" in helps["text"] and "beat no teacher" in helps["text"]
    assert "not shown" not in helps["text"]
    # Brain targets no better than their shuffles (the same effect) and worse than random targets.
    null = conclusion(_draws_table(tmp_path / "b", 0.01, monkeypatch))
    assert "are not shown to carry image-specific information" in null["text"]
    assert "are not shown to help beyond their softness" in null["text"]
    assert null["tests"]["V1"]["baseline"]["n_test_units"] == 8  # against no teacher: (split, seed) runs


def _matched_table(tmp_path: Path, matched_effect: float, monkeypatch) -> pd.DataFrame:
    """A run on real data (no oracle): brain-mean and network-matched students, each with 3 shuffle
    draws per ROI, over 4 splits x 2 seeds, plus the baseline."""
    monkeypatch.setitem(EFFECTS, "brain", 0.04)
    monkeypatch.setitem(EFFECTS, "network-matched", matched_effect)
    monkeypatch.setitem(EFFECTS, "shuffled-network-matched", 0.01)
    names = ["none"]
    for roi in ROIS:
        for kind in ("brain", "network-matched"):
            shuffled = "shuffled-brain" if kind == "brain" else "shuffled-network-matched"
            names += [f"{kind}/mean/{roi}", f"{shuffled}/mean/{roi}"]
            names += [f"{shuffled}/mean/{roi}/draw{k}" for k in (1, 2)]
    return student_table([write_student(tmp_path, t, sp, sd) for t in names for sp in ALL_SPLITS for sd in range(2)])


@pytest.mark.slow  # writes a whole run of student folders: the fast loop's slowest test (`--durations`, 2026-12-06)
def test_without_an_oracle_network_matched_is_the_positive_control(tmp_path, monkeypatch):
    from brainteacher.analysis.verdicts import conclusion

    detectable = _matched_table(tmp_path / "a", 0.04, monkeypatch)
    summary = summary_table(detectable)
    row = _row(summary, "network-matched-mean", "LOC")
    assert row["family"] == "positive-control" and row["test_reference"] == "shuffled_network_matched"
    assert row["n_shuffle_draws"] == 3 and row["p_randomization"] < 0.05
    verdict = positive_control_verdict(summary)
    assert verdict.startswith("positive control passed: network-matched targets") and "LOC +" in verdict
    # The brain teacher against an image model of its quality: the fourth contrast of the conclusion.
    answer = conclusion(detectable)
    assert answer["tests"]["LOC"]["network_matched"]["n_test_units"] == len(ALL_SPLITS) * 2
    assert "vs network-matched targets" in answer["text"]
    # Network-matched targets no better than their shuffles: the setting could not have detected them.
    blind = summary_table(_matched_table(tmp_path / "b", 0.01, monkeypatch))
    failed = positive_control_verdict(blind)
    assert failed.startswith("positive control FAILED in V1, LOC") and "a significant brain result stands" in failed
