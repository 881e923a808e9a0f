"""Configs the workflow cannot run stop at parse time with one line naming the fix
(``brainteacher.config_checks``, called from ``workflow/rules/common.smk``)."""

from __future__ import annotations

import copy
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from brainteacher.config_checks import (
    ConfigError,
    check_config,
    check_gld_terms,
    check_real_data_present,
    check_splits,
    check_subjects,
    check_teachers,
    schema_message,
    unknown_key_message,
)
from brainteacher.runs import layered_config

REPO = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((REPO / "config/config.yaml").read_text())
SCHEMA = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
TRACEBACK_LINE = re.compile(r'Traceback|File ".*", line \d+')


def _with(**sections: dict) -> dict:
    """The default config with some sections' keys replaced (a layered --configfile overlay)."""
    config = copy.deepcopy(CONFIG)
    for section, values in sections.items():
        config[section] = {**config[section], **values} if isinstance(values, dict) else values
    return config


def _real(root: Path, subjects: list[str], download: bool = False) -> dict:
    config = _with(subjects=subjects)
    config["data"] = {"source": "path", "root": str(root), "download": download}
    return config


def _schema_error(config: dict) -> jsonschema.ValidationError:
    return next(jsonschema.Draft202012Validator(SCHEMA).iter_errors(config))


# --- splits --------------------------------------------------------------------------------------


def test_splits_use_beyond_n_splits_names_the_valid_indices():
    check_splits(CONFIG)
    with pytest.raises(ConfigError) as err:
        check_splits(_with(splits={"use": [0, 5, 4]}))
    assert str(err.value) == "config: splits.use has 5, 4, but splits.n_splits is 4: use indices 0-3"


# --- subjects ------------------------------------------------------------------------------------


def test_a_subject_the_preset_does_not_simulate_is_refused():
    check_subjects(CONFIG)
    with pytest.raises(ConfigError) as err:
        check_subjects(_with(subjects=["Subject1", "Subject7"]))
    quick = "data.preset quick simulates Subject1, Subject2"
    assert str(err.value) == f"config: subjects has Subject7, but {quick}: use those"
    # A preset with enough subjects is named.
    with pytest.raises(ConfigError, match=r"or a data.preset with more \(god: 5, god-pessimistic: 5\)$"):
        check_subjects(_with(subjects=["Subject3"]))
    check_subjects(_with(data={"preset": "god"}, subjects=["Subject5"]))


def test_real_subjects_are_the_files_in_data_root(tmp_path):
    for name in ("Subject1.h5", "Subject2.h5", "Subject9_a.h5"):
        (tmp_path / name).touch()
    check_subjects(_real(tmp_path, ["Subject1", "Subject2"]))
    with pytest.raises(ConfigError) as err:
        check_subjects(_real(tmp_path, ["Subject3"]))
    assert str(err.value) == (
        f"config: subjects has Subject3, but data.root {tmp_path} holds Subject1, Subject2: use those, "
        f"or place {tmp_path / 'Subject3.h5'} there; data.download: true fetches it"
    )
    # The workflow reads <subject>.h5 only: a session file does not make a subject.
    with pytest.raises(ConfigError, match="has Subject9, "):
        check_subjects(_real(tmp_path, ["Subject9"]))


def test_real_subjects_with_download_are_those_figshare_has(tmp_path):
    check_subjects(_real(tmp_path / "absent", ["Subject5"], download=True))
    with pytest.raises(ConfigError, match=r"^config: subjects has Subject7, but data.download fetches Subject1, "):
        check_subjects(_real(tmp_path / "absent", ["Subject7"], download=True))
    (tmp_path / "Subject7.h5").touch()
    check_subjects(_real(tmp_path, ["Subject7"], download=True))


def test_real_subjects_without_a_release_are_left_to_the_missing_data_check(tmp_path):
    """No folder, or one without subject files: the workflow's missing-data check names the files."""
    check_subjects(_real(tmp_path / "absent", ["Subject7"]))
    check_subjects(_real(tmp_path, ["Subject7"]))


def test_missing_real_data_is_named_file_by_file(tmp_path):
    config = _real(tmp_path, ["Subject1", "Subject2"])
    (tmp_path / "Subject1.h5").write_bytes(b"")
    with pytest.raises(ConfigError, match=r"missing .*stimulus_ImageNetTraining.tsv, .*Subject2.h5; place the GOD"):
        check_real_data_present(config)
    (tmp_path / "stimulus_ImageNetTraining.tsv").write_text("")
    check_real_data_present(_real(tmp_path, ["Subject1", "Subject2"], download=True))  # the download fetches it
    check_real_data_present(_with())  # simulated: nothing to place


# --- teachers and the shipped configs ------------------------------------------------------------


def test_gld_local_terms_need_the_network_teacher():
    config = _with()
    config["students"] |= {"loss": "gld", "gld_terms": ["global", "local"], "teachers": ["none", "brain-mean"]}
    with pytest.raises(ConfigError, match=r"teacher\(s\) brain-mean have global logits only.*gld_terms: \[global\]"):
        check_gld_terms(config)
    config["students"]["gld_terms"] = ["global"]
    check_gld_terms(config)


def test_the_oracle_on_real_data_is_one_config_line(tmp_path):
    config = _real(tmp_path, ["Subject1"])
    with pytest.raises(ConfigError, match=r"^config students.teachers: 'oracle' needs simulated data"):
        check_teachers(config)


@pytest.mark.parametrize("path", sorted((REPO / "config").glob("*.yaml")), ids=lambda p: p.name)
def test_the_shipped_configs_pass(path, monkeypatch):
    monkeypatch.chdir(REPO)  # data.root is relative to the workflow's folder
    config = layered_config([REPO / "config/config.yaml", path])
    assert list(jsonschema.Draft202012Validator(SCHEMA).iter_errors(config)) == []
    check_config(config)


# --- schema errors -------------------------------------------------------------------------------


def test_an_unknown_key_names_the_closest_valid_one():
    config = _with(students={"seedz": [0]})
    assert schema_message(_schema_error(config)) == (
        "config: unknown key 'students.seedz'; did you mean 'students.seeds'? (keys are documented in config/README.md)"
    )
    top = {**CONFIG, "subjectz": ["Subject1"]}
    assert "unknown key 'subjectz'; did you mean 'subjects'?" in schema_message(_schema_error(top))


def test_an_unknown_key_without_a_close_one_lists_the_valid_keys():
    message = unknown_key_message(["network"], ["zzzz"], ["depth", "folds", "seed"])
    assert message.startswith("config: unknown key 'network.zzzz'; valid keys under 'network': depth, folds, seed ")


def test_a_dotted_key_says_how_to_nest_it():
    message = schema_message(_schema_error({**CONFIG, "data.root": "/x"}))
    assert message.startswith("config: unknown key 'data.root'; nest it: `data: {root: ...}`")


def test_a_bad_value_names_its_path_and_a_text_number_names_configfile():
    assert schema_message(_schema_error(_with(students={"steps": -3}))) == (
        "config: bad value at 'students.steps': -3 is less than the minimum of 1 "
        "(keys are documented in config/README.md)"
    )
    # What `--config 'students={steps: 10}'` gives: Snakemake reads the mapping's values as text.
    message = schema_message(_schema_error(_with(students={"steps": "10"})))
    assert "'10' is not of type 'integer'; --config passes a mapping's values as text" in message
    assert "--configfile" in schema_message(_schema_error(_with(splits={"use": ["0"]})))
    assert "--configfile" not in schema_message(_schema_error(_with(students={"steps": "ten"})))


# --- the workflow: one line at parse time, no traceback -------------------------------------------


def _dry_run(tmp_path: Path, overlay: dict) -> subprocess.CompletedProcess:
    path = tmp_path / "overlay.yaml"
    path.write_text(yaml.safe_dump(overlay))
    command = [sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--configfile", "config/config.yaml", str(path)]
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)


@pytest.mark.slow  # Snakemake parses the workflow: seconds each
@pytest.mark.parametrize(
    "overlay, line",
    [
        ({"splits": {"use": [5]}}, "config: splits.use has 5, but splits.n_splits is 4: use indices 0-3"),
        (
            {"subjects": ["Subject7"]},
            "config: subjects has Subject7, but data.preset quick simulates Subject1, Subject2: use those",
        ),
        (
            {"students": {"seedz": [0]}},
            "config: unknown key 'students.seedz'; did you mean 'students.seeds'? "
            "(keys are documented in config/README.md)",
        ),
        (
            {"decode": {"epochs": 0}},
            "config: bad value at 'decode.epochs': 0 is less than the minimum of 1 "
            "(keys are documented in config/README.md)",
        ),
    ],
    ids=["split", "subject", "unknown-key", "bad-value"],
)
def test_a_bad_config_stops_the_dry_run_with_one_line(tmp_path, overlay, line):
    proc = _dry_run(tmp_path, overlay)
    assert proc.returncode != 0
    assert line in proc.stderr.splitlines(), proc.stderr
    assert not TRACEBACK_LINE.search(proc.stdout + proc.stderr), proc.stderr


# --- pretrained weights ------------------------------------------------------------------------------


def test_pretrained_weights_on_real_data_are_refused_unless_the_leak_is_accepted(tmp_path):
    from brainteacher.config_checks import check_weights

    check_weights(_with(students={"weights": "resnet18.pth"}))  # simulated data: nothing to leak
    real = _real(tmp_path, ["Subject1"])
    check_weights(real)  # real data without weights
    real["students"] = {**real["students"], "weights": "resnet18.pth"}
    with pytest.raises(
        ConfigError, match=r"^config: students.weights resnet18.pth on real data: .*accept_weights_leak"
    ):
        check_weights(real)
    real["students"]["accept_weights_leak"] = True
    check_weights(real)
