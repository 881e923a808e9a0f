"""The GOD data layer: stimulus IDs, alignment by stimulus_id, sessions, repeats, bad input."""

from __future__ import annotations

import filecmp

import h5py
import numpy as np
import pytest

from brainteacher.cli import main
from brainteacher.data import god
from brainteacher.data.simulate import _packaged_table
from brainteacher.errors import DataError
from tests.conftest import SHARED_GOD

# --- stimulus IDs ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, tsv_text, key",
    [
        ("n01518878_5958", "1518878.005958", 1518878005958),
        ("n01518878_14910", "1518878.01491", 1518878014910),  # trailing zero dropped by the authors
        ("n01621127_19020", "1621127.01902", 1621127019020),
        ("n01518878_100000", "1518878.1", 1518878100000),
    ],
)
def test_stimulus_id_codec(name, tsv_text, key):
    assert god.stimulus_key_from_name(name) == key
    assert god.stimulus_key_from_tsv_text(tsv_text) == key
    assert god.stimulus_id_text(key) == tsv_text
    assert god.name_from_stimulus_key(key) == name
    assert god.stimulus_keys_from_ids(np.array([key / 1e6]))[0] == key


def test_real_training_tsv_parses_exactly():
    table = _packaged_table(god.TRAINING_TSV)
    assert len(table.names) == 1200 and len(table.categories) == 150
    assert (np.bincount(table.labels) == 8).all()
    # Every ID rebuilt from the authors' text agrees with the image name.
    assert all(god.stimulus_key_from_name(n) == k for n, k in zip(table.names, table.keys))
    assert len(table.category_synsets) == 150 and table.category_synsets[0] == "n01518878"


def test_test_categories_are_not_training_categories():
    train, test = _packaged_table(god.TRAINING_TSV), _packaged_table(god.TEST_TSV)
    assert len(test.names) == 50
    assert not set(train.category_synsets) & set(test.category_synsets)


@pytest.mark.skipif(not SHARED_GOD.is_dir(), reason="no ../shared/god beside this checkout")
@pytest.mark.parametrize("name", [god.TRAINING_TSV, god.TEST_TSV, "category_GODImagery.tsv"])
def test_packaged_tsvs_are_the_real_ones(name):
    assert filecmp.cmp(_packaged_table(god.TRAINING_TSV).path.parent / name, SHARED_GOD / name, shallow=False)


# --- alignment ------------------------------------------------------------------------------


def test_rows_are_aligned_by_stimulus_id_not_position(handmade):
    data = god.GODLayout.from_root(handmade.root).load("Subject1", "V1")
    table = god.read_stimulus_tsv(handmade.root / god.TRAINING_TSV)
    # Output rows follow the TSV; voxel 0 carries the TSV row each trial showed.
    np.testing.assert_array_equal(data.X[:, 0], np.arange(6))
    assert data.image_ids == table.names
    np.testing.assert_array_equal(data.labels, [0, 0, 0, 1, 1, 1])
    np.testing.assert_array_equal(data.stimulus_keys, handmade.keys)
    assert data.image_paths[1].name == "n01518878_14910.JPEG"
    # Runs follow the trial, not the image: image i was shown at position where(order == i).
    presented_at = np.argsort(handmade.order)
    np.testing.assert_array_equal(data.runs, 1 + presented_at // 3)


def test_sessions_concatenate_and_repeats_average_or_stay(handmade):
    (handmade.root / "Subject1.h5").unlink()
    order = handmade.order
    n = len(order)
    a = handmade.write(np.column_stack([order * 1.0, np.zeros(n)]), name="Subject1_ses1.h5")
    b = handmade.write(np.column_stack([order * 1.0, np.full(n, 2.0)]), name="Subject1_ses2.h5")
    layout = god.GODLayout.from_root(handmade.root)
    assert layout.subjects == {"Subject1": (a, b)}
    avg = layout.load("Subject1", "V1")
    np.testing.assert_array_equal(avg.X, np.column_stack([np.arange(6), np.ones(6)]))
    kept = layout.load("Subject1", "V1", average_repeats=False)
    assert kept.X.shape == (12, 2)
    np.testing.assert_array_equal(kept.X[:, 0], np.repeat(np.arange(6), 2))
    np.testing.assert_array_equal(kept.X[:, 1], np.tile([0.0, 2.0], 6))  # session 1 first
    assert set(kept.runs) == {1, 2, 3, 4}  # runs of session 2 are renumbered after session 1's


def test_non_training_rows_are_ignored(handmade):
    n = len(handmade.order)
    keys = np.concatenate([handmade.keys[handmade.order], [1443537022563, 1443537000000]])
    voxels = np.column_stack([np.r_[handmade.order, 99, 99] * 1.0, np.zeros(n + 2)])
    handmade.write(voxels, datatype=np.r_[np.ones(n), 2, 3], stimulus_keys=keys)
    data = god.GODLayout.from_root(handmade.root).load("Subject1", "V1")
    np.testing.assert_array_equal(data.X[:, 0], np.arange(6))


# --- bad input --------------------------------------------------------------------------------


def _expect(root, match, subject="Subject1", roi="V1"):
    with pytest.raises(DataError, match=match):
        god.GODLayout.from_root(root).load(subject, roi)


def test_missing_subject_file(handmade):
    with pytest.raises(DataError, match="fMRI file not found"):
        god.read_subject(handmade.root / "Subject9.h5")


def test_file_that_is_not_hdf5(handmade):
    (handmade.root / "Subject1.h5").write_text("hello")
    _expect(handmade.root, r"Subject1\.h5: not a BData file: not HDF5")


def test_hdf5_that_is_not_bdata(handmade):
    with h5py.File(handmade.root / "Subject1.h5", "w") as f:
        f["x"] = np.zeros(3)
    _expect(handmade.root, r"Subject1\.h5: not a BData file: HDF5 without /dataset")


def test_absent_roi(handmade):
    _expect(handmade.root, r"Subject1\.h5: ROI key 'ROI_FFA' is absent \(ROIs present: V1\)", roi="FFA")


def test_no_training_rows(handmade):
    handmade.write(datatype=np.full(len(handmade.order), 2.0))
    _expect(handmade.root, r"Subject1\.h5: no training rows \(DataType == 1\)")


def test_fmri_id_missing_from_tsv(handmade):
    keys = handmade.keys[handmade.order].copy()
    keys[2] = 1518878999999
    handmade.write(stimulus_keys=keys)
    _expect(
        handmade.root,
        (
            r"Subject1\.h5: 1 training stimulus_id\(s\) are not in "
            r".*stimulus_ImageNetTraining\.tsv, e\.g\. 1518878\.999999"
        ),
    )


def test_tsv_id_missing_from_fmri(handmade):
    handmade.order = handmade.order[handmade.order != 4]
    handmade.write()
    _expect(
        handmade.root,
        (
            r"stimulus_ImageNetTraining\.tsv: 1 image\(s\) listed here have no training trial "
            r"in Subject1\.h5, e\.g\. n01639765_7110"
        ),
    )


def test_missing_image(handmade):
    (handmade.root / god.TRAINING_IMAGE_DIR / "n01518878_5958.JPEG").unlink()
    _expect(handmade.root, r"n01518878_5958\.JPEG: image not found")


def test_unreadable_image(handmade):
    (handmade.root / god.TRAINING_IMAGE_DIR / "n01518878_5958.JPEG").write_bytes(b"\xff\xd8 not a jpeg")
    with pytest.raises(DataError, match=r"n01518878_5958\.JPEG: unreadable image"):
        god.verify_images(god.GODLayout.from_root(handmade.root).load("Subject1", "V1").image_paths)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, 1e300])  # 1e300 is Inf as float32
def test_nan_or_inf_voxels(handmade, bad):
    n = len(handmade.order)
    voxels = np.column_stack([handmade.order * 1.0, np.zeros(n)])
    voxels[3, 1] = bad
    handmade.write(voxels)
    _expect(handmade.root, r"Subject1\.h5: 1 NaN or Inf voxel values in ROI_V1 on 1 training rows")


def test_duplicate_tsv_rows(handmade):
    tsv = handmade.root / god.TRAINING_TSV
    lines = tsv.read_text().splitlines(keepends=True)
    tsv.write_text("".join(lines + lines[1:2]))
    _expect(handmade.root, r"stimulus_ImageNetTraining\.tsv: duplicate rows: image n01518878_14910 on lines 2 and 7")


def test_tsv_id_that_contradicts_its_name(handmade):
    tsv = handmade.root / god.TRAINING_TSV
    tsv.write_text(tsv.read_text().replace("1518878.01491", "1518878.1491"))
    _expect(handmade.root, r"line 2: stimulus_id 1518878\.1491 does not encode image name n01518878_14910")


@pytest.mark.parametrize(
    "text, match",
    [
        (b"n01518878_10042\t1518878.010042\t1\t\xff\n", r"not a text file: byte 33 is not UTF-8"),
        (b"n01518878_10042\t1518878.010042\t1\tinf\n", r"line 1: cannot convert float infinity to integer"),
    ],
)
def test_tsv_that_is_not_text_or_has_an_infinite_index(handmade, text, match):
    (handmade.root / god.TRAINING_TSV).write_bytes(text)
    _expect(handmade.root, match)


def test_unknown_subject_names_the_dataset(handmade):
    _expect(
        handmade.root, f"{handmade.root}: unknown subject 'Subject7'; this dataset has Subject1", subject="Subject7"
    )


def test_cli_reports_bad_input_and_exits_nonzero(handmade, capsys):
    (handmade.root / "Subject1.h5").write_text("hello")
    assert main(["inspect-data", "--root", str(handmade.root)]) == 2
    err = capsys.readouterr().err
    assert "brainteacher: error:" in err and "Subject1.h5: not a BData file" in err


def test_inspect_data_prints_the_table(handmade, capsys, tmp_path):
    out = tmp_path / "inspection.tsv"
    assert main(["-q", "inspect-data", "--root", str(handmade.root), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed == out.read_text()
    assert printed.splitlines() == [
        "subject\troi\tn_voxels\tn_train_trials\tn_images\tn_categories",
        "Subject1\tV1\t4\t6\t6\t2",
    ]


# --- damaged subject files: refused by the loader and by inspect-data, naming the file ----------


def _rewrite(path, member, values):
    """Replace one member of an HDF5 file (``values`` None deletes it)."""
    with h5py.File(path, "r+") as f:
        del f[member]
        if values is not None:
            f[member] = values


def _keys(path):
    with h5py.File(path, "r") as f:
        return [k.decode() for k in f["metadata/key"][:]]


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _rename_key(path, old, new):
    _rewrite(path, "metadata/key", np.array([new if k == old else k for k in _keys(path)], dtype=h5py.string_dtype()))


def _set_column(path, key, row, value):
    col = int(np.flatnonzero(h5py.File(path, "r")["metadata/value"][_keys(path).index(key)] == 1)[0])
    with h5py.File(path, "r+") as f:
        f["dataset"][row, col] = value


_DAMAGE = {
    "truncated": (_truncate, r"damaged HDF5 file, e\.g\. truncated \(OSError"),
    "empty": (lambda p: p.write_bytes(b""), "not a BData file: the file is empty"),
    "not HDF5": (lambda p: p.write_bytes(b"\x89PNG" + bytes(100)), "not a BData file: not HDF5 at all"),
    "HDF5 without metadata": (lambda p: _rewrite(p, "metadata", None), r"not a BData file: HDF5 without /metadata$"),
    "dataset is a group": (
        lambda p: (_rewrite(p, "dataset", None), h5py.File(p, "r+").create_group("dataset")),
        "/dataset is a group",
    ),
    "metadata value missing": (
        lambda p: _rewrite(p, "metadata/value", None),
        r"/metadata lacks the dataset\(s\) value",
    ),
    "dataset of strings": (
        lambda p: _rewrite(p, "dataset", np.full((6, 8), b"x")),
        r"/dataset should be a 2-D numeric array \(rows x columns\), is 2-D \|S1",
    ),
    "dataset 1-D": (
        lambda p: _rewrite(p, "dataset", np.zeros(8)),
        "/dataset should be a 2-D numeric array .* is 1-D float64",
    ),
    "keys are numbers": (
        lambda p: _rewrite(p, "metadata/key", np.arange(9.0)),
        "/metadata/key should be a 1-D array of strings",
    ),
    "values are strings": (
        lambda p: _rewrite(p, "metadata/value", np.full((9, 8), b"1")),
        "/metadata/value should be a 2-D numeric array",
    ),
    "value lacks a column": (
        lambda p: _rewrite(p, "metadata/value", np.ones((9, 7))),
        r"/metadata/value has shape \(9, 7\); 9 keys x 8 dataset columns expected",
    ),
    "value lacks a key": (
        lambda p: _rewrite(p, "metadata/value", np.ones((8, 8))),
        r"/metadata/value has shape \(8, 8\); 9 keys x 8 dataset columns expected",
    ),
    "description too short": (
        lambda p: _rewrite(p, "metadata/description", np.array(["a"], dtype=h5py.string_dtype())),
        r"/metadata/description has \(1,\) entries for 9 metadata keys",
    ),
    "repeated key": (lambda p: _rename_key(p, "Block", "Run"), "metadata key 'Run' appears more than once"),
    "DataType absent": (lambda p: _rename_key(p, "DataType", "Kind"), "metadata key 'DataType' is absent"),
    "no known ROI": (
        lambda p: _rename_key(p, "ROI_V1", "ROI_XYZ"),
        "no ROI flags: none of ROI_V1, .* is present; it has only unknown ones: ROI_XYZ",
    ),
    "DataType NaN": (
        lambda p: _set_column(p, "DataType", 2, np.nan),
        r"column 'DataType' has 1 value\(s\) that are not whole numbers below 2\*\*31, e\.g\. nan",
    ),
    "Run fractional": (
        lambda p: _set_column(p, "Run", 0, 1.5),
        r"column 'Run' has 1 value\(s\) that are not whole numbers below 2\*\*31, e\.g\. 1\.5",
    ),
    "Block huge": (
        lambda p: _set_column(p, "Block", 1, 1e300),
        r"column 'Block' has 1 value\(s\) that are not whole numbers below 2\*\*31, e\.g\. 1e\+300",
    ),
    "stimulus_id Inf": (
        lambda p: _set_column(p, "stimulus_id", 4, np.inf),
        "column 'stimulus_id' has 1 NaN, Inf or out-of-range values on training rows",
    ),
    "no training rows": (
        lambda p: [_set_column(p, "DataType", r, 2) for r in range(6)],
        r"no training rows \(DataType == 1\)",
    ),
}


@pytest.mark.parametrize("damage", list(_DAMAGE))
def test_damaged_subject_file_is_refused_by_the_loader(handmade, damage):
    path = handmade.root / "Subject1.h5"
    _DAMAGE[damage][0](path)
    with pytest.raises(DataError, match=_DAMAGE[damage][1]) as err:
        god.GODLayout.from_root(handmade.root).load("Subject1", "V1", check_images=False)  # what decode reads
    assert err.value.path == path


@pytest.mark.parametrize("damage", list(_DAMAGE))
def test_damaged_subject_file_is_refused_by_inspect_data(handmade, damage, capsys, tmp_path):
    path, out = handmade.root / "Subject1.h5", tmp_path / "inspection.tsv"
    _DAMAGE[damage][0](path)
    assert main(["-q", "inspect-data", "--root", str(handmade.root), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"brainteacher: error: {path}: ") and err.count("\n") == 1
    assert "Traceback" not in err and not out.exists()
