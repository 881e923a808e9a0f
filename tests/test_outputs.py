"""Atomic writes: a reader sees the old file or the new one, never half of one, and a failed
write leaves nothing behind."""

from __future__ import annotations

import numpy as np
import pytest

from brainteacher.outputs import atomic_dir, atomic_path, read_json, save_npy, write_json, write_text


def _leftovers(folder) -> list[str]:
    return [p.name for p in folder.iterdir() if ".tmp-" in p.name]


def test_a_write_that_fails_keeps_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "metrics.json"
    write_json(target, {"top1": 0.5})
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text('{"top1": 0.')  # half written, then the job dies
            raise RuntimeError("killed")
    assert read_json(target) == {"top1": 0.5}
    assert _leftovers(tmp_path) == []


def test_writers_replace_whole_files_and_make_parent_folders(tmp_path):
    write_json(tmp_path / "a" / "x.json", {"values": np.arange(3), "p": np.float32(0.25), "path": tmp_path})
    assert read_json(tmp_path / "a" / "x.json") == {"values": [0, 1, 2], "p": 0.25, "path": str(tmp_path)}
    write_text(tmp_path / "a" / "t.txt", "one")
    write_text(tmp_path / "a" / "t.txt", "two")
    save_npy(tmp_path / "a" / "y.npy", np.eye(2, dtype=np.float32))
    assert (tmp_path / "a" / "t.txt").read_text() == "two"
    np.testing.assert_array_equal(np.load(tmp_path / "a" / "y.npy"), np.eye(2))
    assert _leftovers(tmp_path / "a") == []
    with pytest.raises(TypeError, match="not JSON-serialisable: set"):
        write_json(tmp_path / "bad.json", {"s": {1}})
    assert not (tmp_path / "bad.json").exists() and _leftovers(tmp_path) == []


def test_a_folder_in_the_way_is_named_before_any_work(tmp_path):
    (tmp_path / "out.json").mkdir()
    with pytest.raises(IsADirectoryError, match="a folder is in the way"):
        with atomic_path(tmp_path / "out.json"):
            raise AssertionError("the block must not run")


def test_a_folder_is_swapped_in_whole_or_not_at_all(tmp_path):
    target = tmp_path / "dataset"
    with atomic_dir(target) as tmp:
        (tmp / "old.txt").write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_dir(target) as tmp:
            (tmp / "new.txt").write_text("new")
            raise RuntimeError("killed")
    assert sorted(p.name for p in target.iterdir()) == ["old.txt"]
    with atomic_dir(target) as tmp:
        (tmp / "new.txt").write_text("new")
    assert sorted(p.name for p in target.iterdir()) == ["new.txt"]  # replaced, not merged
    assert _leftovers(tmp_path) == []


def test_provenance_names_the_machine_a_cpu_result_depends_on():
    """Another CPU model or thread count sums floats in another order, so a job records both."""
    import torch

    from brainteacher.outputs import provenance

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert provenance({"a": 1}, seed=0)["machine"]["torch_threads"] == 1
        torch.set_num_threads(2)
        record = provenance({"a": 1}, seed=0)
    finally:
        torch.set_num_threads(before)
    assert record["machine"]["torch_threads"] == 2
    assert isinstance(record["machine"]["cpu"], str) and record["machine"]["cpu"]
