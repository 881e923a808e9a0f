"""On-disk formats: each written and read by its one module, with a version checked on read."""

from __future__ import annotations

import json

import numpy as np
import pytest

from brainteacher.decode.calibration import calibrate_out_of_fold
from brainteacher.distill.teachers import read_teacher_dir
from brainteacher.errors import DataError
from brainteacher.formats import image_cache, student_dir, teacher_dir

IDS = ("n01_1", "n01_2", "n02_1", "n02_2")
LABELS = np.array([0, 0, 1, 1])


def _teacher(folder):
    logits = np.array([[2.0, 0.0], [1.0, 0.5], [0.0, 1.5], [0.2, 0.9]], np.float32)
    calibrated, metrics = calibrate_out_of_fold(logits, LABELS, {"n_images": 4})
    return teacher_dir.write(folder, logits, calibrated, IDS, LABELS, np.array([0, 1, 0, 1]), metrics)


def _set_version(path, version):
    record = json.loads(path.read_text())
    record["format_version"] = version
    path.write_text(json.dumps(record))


def test_a_teacher_folder_holds_its_documented_files_and_reads_back(tmp_path):
    metrics = _teacher(tmp_path / "t")
    assert sorted(p.name for p in (tmp_path / "t").iterdir()) == sorted(teacher_dir.FILES)
    written = json.loads((tmp_path / "t" / "metrics.json").read_text())
    assert metrics["format_version"] == written["format_version"] == teacher_dir.FORMAT_VERSION
    rows = teacher_dir.read(tmp_path / "t")
    assert rows.image_ids == list(IDS) and rows.logits.dtype == np.float32 and rows.logits.shape == (4, 2)
    np.testing.assert_array_equal(rows.labels, LABELS)
    soft = np.load(tmp_path / "t" / teacher_dir.SOFT_LABELS)
    np.testing.assert_allclose(soft.sum(axis=1), 1.0, rtol=1e-6)


def test_a_teacher_folder_of_another_version_is_refused_naming_its_metrics(tmp_path):
    _teacher(tmp_path / "t")
    _set_version(tmp_path / "t" / "metrics.json", 2)
    message = r"metrics\.json: teacher folder format version 2, but this brainteacher reads version 1"
    with pytest.raises(DataError, match=message):
        read_teacher_dir(tmp_path / "t", IDS, LABELS)
    # A folder from before the field (or hand-made, without metrics.json) is version 1.
    (tmp_path / "t" / "metrics.json").write_text("{}")
    assert read_teacher_dir(tmp_path / "t", IDS, LABELS).shape == (4, 2)
    (tmp_path / "t" / "metrics.json").unlink()
    assert read_teacher_dir(tmp_path / "t", IDS, LABELS).shape == (4, 2)


def test_a_student_folder_holds_its_documented_files_and_checks_its_version(tmp_path):
    logits = np.zeros((2, 3), np.float32)
    test = student_dir.Predictions(logits, np.array(["a", "b"]), np.array([0, 2]))

    def save_model(path):
        path.write_bytes(b"x" * 2**20)
        return 1.0

    metrics = student_dir.write(tmp_path / "s", {"wall_time_s": None}, test, None, save_model, started=0.0)
    names = {p.name for p in (tmp_path / "s").iterdir()}
    assert names == {student_dir.METRICS, student_dir.MODEL, *student_dir.prediction_files(student_dir.HELDOUT)}
    assert metrics["size_mb"] == 1.0 and metrics["wall_time_s"] > 0
    assert metrics["format_version"] == student_dir.FORMAT_VERSION
    student_dir.check(metrics, tmp_path / "s" / "metrics.json")
    with pytest.raises(DataError, match=r"s/metrics\.json: student folder format version 7"):
        student_dir.check({**metrics, "format_version": 7}, tmp_path / "s" / "metrics.json")


def test_student_predictions_read_back_and_damaged_ones_are_refused_naming_the_file(tmp_path):
    logits = np.arange(6, dtype=np.float32).reshape(2, 3)
    saved = student_dir.Predictions(logits, np.array(["a", "b"]), np.array([0, 2]))

    def save_model(path):
        path.write_bytes(b"")
        return 0.0

    student_dir.write(tmp_path / "s", {}, saved, None, save_model, started=0.0)
    assert student_dir.has_predictions(tmp_path / "s", student_dir.HELDOUT)
    assert not student_dir.has_predictions(tmp_path / "s", student_dir.EVALUATION)
    back = student_dir.read_predictions(tmp_path / "s", student_dir.HELDOUT)
    np.testing.assert_array_equal(back.logits, saved.logits)
    assert list(back.image_ids) == ["a", "b"] and back.labels.dtype == np.int64
    with pytest.raises(DataError, match=r"eval_logits\.npy: student prediction file not found"):
        student_dir.read_predictions(tmp_path / "s", student_dir.EVALUATION)
    np.save(tmp_path / "s" / "test_labels.npy", np.array([0, 2, 1]))
    mismatch = r"test_logits\.npy: logits \(2, 3\), ids \(2,\) and labels \(3,\) do not match"
    with pytest.raises(DataError, match=mismatch):
        student_dir.read_predictions(tmp_path / "s", student_dir.HELDOUT)


def test_aggregate_refuses_a_student_of_another_format_version(tmp_path):
    from brainteacher.analysis import tables

    path = tmp_path / "metrics.json"
    path.write_text(json.dumps({"format_version": 0}))
    with pytest.raises(DataError, match="student folder format version 0"):
        tables.student_table([path])
    with pytest.raises(DataError, match="teacher folder format version 0"):
        tables.decoder_table([path])


def test_an_image_cache_of_another_version_is_rebuilt_not_trusted(tmp_path):
    arr = np.zeros((1, 3, 2, 2), np.uint8)
    record = image_cache.record(["a.jpg"], 2, "abc")
    image_cache.write(tmp_path / "c.npy", arr, record)
    reused, _ = image_cache.read(tmp_path / "c.npy", record)
    np.testing.assert_array_equal(reused, arr)
    newer = {**record, "format": image_cache.FORMAT_VERSION + 1}
    assert image_cache.read(tmp_path / "c.npy", newer) == (None, "its format differ from the images' now")
    assert image_cache.sidecar(tmp_path / "c.npy").name == "c.npy.json" and image_cache.cache_name(32) == "32px.npy"
