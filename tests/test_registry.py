"""The registry of names: lookups that list the valid names, the workflow's teacher list, the schema's
enums and the builders kept equal to it, and a new control kind added by one entry + one function."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from brainteacher import registry
from brainteacher.registry import TeacherKind, TeacherSpec, expand_teachers, parse_teacher, temporary_teacher_kind

SCHEMA = Path(__file__).resolve().parent.parent / "workflow" / "schemas" / "config.schema.yaml"


def _config(teachers, control_sources=("mean",), source="simulate"):
    return {
        "data": {"source": source},
        "subjects": ["Subject1", "Subject2"],
        "rois": ["V1", "LOC"],
        "students": {"teachers": list(teachers), "control_sources": list(control_sources)},
    }


@pytest.mark.parametrize(
    "lookup, name, message",
    [
        (registry.teacher_kind, "x", "unknown teacher kind 'x'; valid: none, network, oracle, brain, label-smoothing"),
        (registry.decoder, "svm", "unknown decoder 'svm'; valid: resnet1d, linear"),
        (registry.preset, "huge", "unknown preset 'huge'; valid: quick, god"),
        (registry.roi, "MT", "unknown ROI 'MT'; valid: V1, V2, V3, V4, LOC, FFA, PPA, LVC, HVC, VC"),
    ],
)
def test_lookups_refuse_unknown_names_and_list_the_valid_ones(lookup, name, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        lookup(name)


def test_expand_teachers_lists_every_spec_in_the_configs_order():
    config = _config(["none", "oracle", "brain", "brain-mean", "shuffled-brain"], control_sources=["subjects", "mean"])
    assert expand_teachers(config) == [
        "none",
        "oracle",
        "brain/Subject1/V1",
        "brain/Subject1/LOC",
        "brain/Subject2/V1",
        "brain/Subject2/LOC",
        "brain/mean/V1",
        "brain/mean/LOC",
        # The mean source first, then the subjects, whatever the order of control_sources.
        "shuffled-brain/mean/V1",
        "shuffled-brain/mean/LOC",
        "shuffled-brain/Subject1/V1",
        "shuffled-brain/Subject1/LOC",
        "shuffled-brain/Subject2/V1",
        "shuffled-brain/Subject2/LOC",
    ]
    assert expand_teachers(_config(["random"], control_sources=["subjects"])) == [
        f"random/{s}/{r}" for s in ("Subject1", "Subject2") for r in ("V1", "LOC")
    ]
    # Every expanded name parses, round-trips and matches the workflow's wildcard.
    pattern = re.compile(registry.teacher_pattern())
    for name in expand_teachers(config):
        assert parse_teacher(name).name == name and pattern.fullmatch(name)


def test_expand_teachers_refuses_the_oracle_on_real_data_and_unknown_kinds():
    with pytest.raises(ValueError, match="'oracle' needs simulated data"):
        expand_teachers(_config(["none", "oracle"], source="path"))
    with pytest.raises(ValueError, match="unknown teacher kind 'teacher'; valid: "):
        expand_teachers(_config(["teacher"]))


def _schema():
    return yaml.safe_load(SCHEMA.read_text())["properties"]


@pytest.mark.parametrize(
    ("name", "inputs"),
    [
        ("none", []),
        ("network", ["net"]),
        ("oracle", ["truth.json"]),
        ("brain/Subject2/V4", ["dec/Subject2/V4"]),
        ("brain-mean/LOC", ["dec/Subject1/LOC", "dec/Subject2/LOC"]),
        ("shuffled-brain/mean/LOC/draw2", ["dec/Subject1/LOC", "dec/Subject2/LOC"]),
        ("network-matched/Subject1/V1", ["net", "dec/Subject1/V1"]),
        ("shuffled-network-matched/mean/V1", ["net", "dec/Subject1/V1", "dec/Subject2/V1"]),
    ],
)
def test_a_teachers_inputs_come_from_its_kind(name, inputs):
    """What the workflow hands a student for each teacher, in the order teachers.teacher_logits reads it."""
    got = registry.teacher_inputs(
        name,
        ["Subject1", "Subject2"],
        network="net",
        ground_truth="truth.json",
        decode_dir=lambda subject, roi: f"dec/{subject}/{roi}",
    )
    assert got == inputs


def test_the_schemas_enums_equal_the_registry():
    # The JSON schema cannot import Python, so it keeps copies; this keeps them equal.
    schema = _schema()
    students = schema["students"]["properties"]
    assert tuple(students["teachers"]["items"]["enum"]) == registry.config_teacher_names()
    assert set(students["teacher_decoder"]["enum"]) == set(registry.DECODERS)
    assert set(schema["decoders"]["items"]["enum"]) == set(registry.DECODERS)
    assert tuple(schema["rois"]["items"]["enum"]) == registry.ROIS
    assert tuple(schema["data"]["properties"]["preset"]["enum"]) == registry.PRESETS
    assert set(schema["stats"]["properties"]["primary_teacher"]["enum"]) <= set(registry.config_teacher_names())


def test_the_packages_builders_cover_the_registry():
    from brainteacher.distill import teachers

    for reference in registry.DECODERS.values():
        assert callable(registry.resolve(reference)), reference
    targets = {registry.teacher_kind(k).target for k in registry.brain_kinds()}
    assert targets == set(teachers.CONTROL_TARGETS)


def test_the_registry_imports_nothing_heavy():
    # Snakemake imports it while parsing the workflow: no torch, pandas or numpy.
    code = "import sys, brainteacher.registry; print(sorted({'torch', 'pandas', 'numpy', 'h5py'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_command_line_and_configs_build_without_torch():
    # Every job builds the whole parser, and the workflow builds configs: importing torch there
    # would add ~2.5 s to each small job (aggregate, plots, splits, ...).
    code = (
        "import sys\n"
        "from brainteacher.cli import build_parser\n"
        "from brainteacher.configs import DecoderConfig, StudentConfig\n"
        "build_parser(); DecoderConfig(); StudentConfig()\n"
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


# --- adding a control kind: one registry entry + its target function -------------------------------------

FLIPPED = TeacherKind(
    "flipped-brain", "the brain teacher's logits negated", brain_derived=True, control=True, target="flipped"
)


def _flipped(brain, labels, temperature, rng):
    return -brain


def test_a_new_control_kind_flows_through_the_target_list_parsing_and_dispatch(tmp_path, monkeypatch):
    from brainteacher.analysis import tables
    from brainteacher.distill import teachers

    monkeypatch.setitem(teachers.CONTROL_TARGETS, "flipped", _flipped)
    ids, labels = ("n01_1", "n01_2", "n02_1", "n02_2"), np.array([0, 0, 1, 1])
    brain = np.arange(8, dtype=np.float32).reshape(4, 2)
    folder = tmp_path / "decode"
    folder.mkdir()
    np.save(folder / "logits.npy", brain)
    np.save(folder / "image_ids.npy", np.asarray(ids))
    np.save(folder / "labels.npy", labels)
    config = _config(["none", "brain-mean", "flipped-brain"])
    with pytest.raises(ValueError, match="unknown teacher kind 'flipped-brain'"):
        expand_teachers(config)
    with temporary_teacher_kind(FLIPPED):
        # The workflow's target list and wildcard, and the spec grammar.
        expected = ["none", "brain/mean/V1", "brain/mean/LOC", "flipped-brain/mean/V1", "flipped-brain/mean/LOC"]
        assert expand_teachers(config) == expected
        assert re.fullmatch(registry.teacher_pattern(), "flipped-brain/Subject2/LOC")
        spec = parse_teacher("flipped-brain/Subject1/V1")
        assert spec == TeacherSpec("flipped-brain", "Subject1", "V1") and spec.is_brain_derived
        assert "flipped-brain" in registry.config_teacher_names()
        # The target-function dispatch: the student gets the control's logits.
        logits = teachers.teacher_logits(spec, [folder], ids, labels, ("n01", "n02"), 2.0)
        np.testing.assert_array_equal(logits, -brain.astype(np.float64))
        # The tables sort and group it after the kinds before it.
        assert tables.teacher_group("flipped-brain", "mean") == "flipped-brain-mean"
        assert registry.kind_names()[-1] == "flipped-brain"
    # Gone again after the block.
    with pytest.raises(ValueError, match="KIND/SOURCE/ROI"):
        parse_teacher("flipped-brain/Subject1/V1")


def test_a_kind_without_a_target_function_is_refused_when_used(tmp_path):
    from brainteacher.distill import teachers

    with temporary_teacher_kind(FLIPPED):
        with pytest.raises(ValueError, match="no target function 'flipped'"):
            teachers._control_logits("flipped-brain", np.zeros((2, 2)), np.array([0, 1]), 2.0, np.random.default_rng(0))


def test_teacher_kind_entries_are_consistent():
    with pytest.raises(ValueError, match="a control is built from a brain teacher"):
        TeacherKind("odd", "?", control=True)
    with pytest.raises(ValueError, match="names its target function"):
        TeacherKind("odd", "?", brain_derived=True)
    with pytest.raises(ValueError, match="exists already"):
        with temporary_teacher_kind(TeacherKind("brain-mean", "?")):
            pass


def test_only_the_simulator_source_counts_as_simulated():
    from brainteacher.data.presets import is_simulated

    assert is_simulated({"source": "simulate", "preset": "quick"})
    assert not is_simulated({"source": "god", "root": "resources/god"})
