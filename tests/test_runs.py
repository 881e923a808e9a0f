"""Runs: every config gets its own results folder, and a run's record names its dataset and config."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from brainteacher.cli import main
from brainteacher.errors import DataError
from brainteacher.outputs import config_hash
from brainteacher.runs import (
    DIAL_SUFFIX,
    SHARED_DATA,
    dataset_fingerprint,
    dial_values,
    layered_config,
    read_run_provenance,
    run_name,
    simulated_dataset,
)

REPO = Path(__file__).resolve().parents[1]
SIMULATED = {"source": "simulate", "preset": "quick", "seed": 0}


def test_a_run_is_named_after_its_dataset_and_config_unless_named_in_it():
    assert run_name({"data": SIMULATED}, ["config/config.yaml"]) == "sim-quick-seed0_config"
    assert (
        run_name({"data": {**SIMULATED, "preset": "god", "seed": 3}}, ["/x/god-simulated.yaml"])
        == "sim-god-seed3_god-simulated"
    )
    assert run_name({"data": {"source": "path", "root": "resources/god"}}, ["config/god.yaml"]) == "god_god"
    assert run_name({"data": {"source": "path", "root": "resources/god/"}}, ["a.yaml", "b.yml"]) == "god_a+b"
    # Whatever the folder is called, the run is one safe path component (no spaces, quotes or braces).
    assert (
        run_name({"data": {"source": "path", "root": "/data/god data's {v2}"}}, ["tiny.yaml"]) == "god_data_s_v2_tiny"
    )
    assert run_name({"run": "pilot", "data": SIMULATED}, ["config/config.yaml"]) == "pilot"


@pytest.mark.parametrize(
    ("dials", "name"),
    [
        ({}, "quick-seed0"),
        ({"image_signal": 0.0}, "quick-seed0-image0"),
        ({"noise_scale": 2.5}, "quick-seed0-noise2.5"),
        ({"noise_scale": 1e-5}, "quick-seed0-noise0.00001"),  # never an exponent: the wildcard is digits
        ({"image_signal": 0.5, "noise_scale": 0.5}, "quick-seed0-image0.5-noise0.5"),
        ({"image_signal": 1.0, "noise_scale": 1.0}, "quick-seed0"),  # at rest: no suffix
    ],
)
def test_the_simulator_dials_name_the_dataset_and_are_read_back(dials, name):
    assert simulated_dataset({**SIMULATED, **dials}) == name
    suffix = name.removeprefix("quick-seed0")
    assert re.fullmatch(DIAL_SUFFIX, suffix)
    assert dial_values(suffix) == {"image_signal": 1.0, "noise_scale": 1.0} | dials


def test_no_two_configs_in_config_share_a_run_folder(capsys):
    """Each file is layered on config/config.yaml, as Snakemake does with --configfile."""
    base = REPO / "config" / "config.yaml"
    names = {}
    for path in sorted((REPO / "config").glob("*.yaml")):
        names[path.name] = run_name(layered_config([base, path]), [path])
        assert main(["run-name", "--base", str(base), str(path)]) == 0
        assert capsys.readouterr().out.strip() == names[path.name]
    assert len(set(names.values())) == len(names) >= 4, names
    assert SHARED_DATA not in names.values()
    assert names["config.yaml"] == "sim-quick-seed0_config" and names["god.yaml"] == "god_god"


def test_layered_config_merges_sections_and_replaces_lists(tmp_path):
    base, top = tmp_path / "base.yaml", tmp_path / "top.yaml"
    base.write_text("data: {source: simulate, preset: quick, seed: 0}\nrois: [V1, LOC]\n")
    top.write_text("data: {seed: 2}\nrois: [V4]\n")
    assert layered_config([base, top]) == {"data": {"source": "simulate", "preset": "quick", "seed": 2}, "rois": ["V4"]}
    top.write_text("- a list\n")
    with pytest.raises(DataError, match="must hold a mapping"):
        layered_config([base, top])


@pytest.fixture
def dataset(mini_dataset, tmp_path) -> Path:
    """A private copy of the mini simulated dataset, free to edit."""
    return Path(shutil.copytree(mini_dataset, tmp_path / "data"))


def test_the_fingerprint_follows_content_not_place(dataset, tmp_path):
    first = dataset_fingerprint(dataset)
    assert set(first["files"]) == {
        "stimulus_ImageNetTraining.tsv",
        "Subject1.h5",
        "ground_truth.json",
        "images/training",
    }
    assert first["files"]["images/training"]["n_files"] > 0
    moved = Path(shutil.copytree(dataset, tmp_path / "moved"))
    assert dataset_fingerprint(moved) == first
    edits = {
        "tsv": lambda: (dataset / "stimulus_ImageNetTraining.tsv").write_text(
            (dataset / "stimulus_ImageNetTraining.tsv").read_text()[:-2] + "9\n"
        ),
        "subject header": lambda: _flip_byte(dataset / "Subject1.h5", 100),
        "images": lambda: shutil.copy(
            next((dataset / "images" / "training").iterdir()), dataset / "images" / "training" / "extra.JPEG"
        ),
    }
    seen = {first["fingerprint"]}
    for what, edit in edits.items():
        edit()
        fingerprint = dataset_fingerprint(dataset)["fingerprint"]
        assert fingerprint not in seen, f"editing the {what} left the fingerprint unchanged"
        seen.add(fingerprint)


def _flip_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def test_the_fingerprint_refuses_what_it_cannot_identify(dataset, tmp_path):
    with pytest.raises(DataError, match="no subject file for Subject7"):
        dataset_fingerprint(dataset, ["Subject1", "Subject7"])
    (dataset / "stimulus_ImageNetTraining.tsv").unlink()
    with pytest.raises(DataError, match="stimulus TSV not found"):
        dataset_fingerprint(dataset)
    with pytest.raises(DataError, match="dataset folder not found"):
        dataset_fingerprint(tmp_path / "nowhere")


def test_the_provenance_command_records_the_dataset_and_the_config(dataset, tmp_path, capsys):
    config = {"data": {"source": "path", "root": str(dataset)}, "rois": ["V1"]}
    out = tmp_path / "run" / "tables" / "provenance.json"
    argv = [
        "provenance",
        "--root",
        str(dataset),
        "--subjects",
        "Subject1",
        "--run",
        "data_mine",
        "--config",
        json.dumps(config),
        "--config-name",
        "mine",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    record = json.loads(out.read_text())
    assert record["run"] == "data_mine" and record["dataset_root"] == str(dataset) and record["config"] == config
    assert record["config_name"] == "mine" and record["config_hash"] == config_hash(config)
    assert record["dataset_fingerprint"] == dataset_fingerprint(dataset, ["Subject1"])["fingerprint"]
    assert read_run_provenance(out, config)["dataset_fingerprint"] == record["dataset_fingerprint"]
    with pytest.raises(DataError, match=f"^{out}: records config mine .* not the config given"):
        read_run_provenance(out, {**config, "rois": ["LOC"]})
    # A missing dataset is one error line naming it.
    capsys.readouterr()
    assert main([*argv[:2], str(tmp_path / "absent"), *argv[3:]]) == 2
    assert capsys.readouterr().err.startswith(f"brainteacher: error: {tmp_path / 'absent'}: dataset folder not found")
