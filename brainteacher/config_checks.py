"""Checks of the workflow's config that its JSON schema cannot make, each failing with one line.

The workflow (``workflow/rules/common.smk``) runs these while Snakemake parses it, so a config that
cannot run stops before any job: a misspelled key names the closest valid one
(:func:`schema_message`), and a split or subject the run cannot have names what it can have
(:func:`check_config`). Every message is one line that starts with ``config:`` and names the fix.

Torch-free (Snakemake imports it at parse time); the simulator's presets and the download list are
imported only when a check needs them.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from brainteacher.data.presets import is_simulated
from brainteacher.registry import SUBJECT_RE, expand_teachers

__all__ = [
    "ConfigError",
    "schema_message",
    "unknown_key_message",
    "check_config",
    "check_splits",
    "check_subjects",
    "check_teachers",
    "check_weights",
    "check_gld_terms",
    "real_data_files",
    "check_real_data_present",
]

README = "config/README.md"


class ConfigError(ValueError):
    """A config the workflow cannot run; ``str(err)`` is one line naming the fix."""


# --- schema errors ----------------------------------------------------------------------------------


def _dotted(path: Iterable[str | int], key: str | None = None) -> str:
    return ".".join([*(str(p) for p in path), *([key] if key is not None else [])])


def unknown_key_message(path: Sequence[str | int], found: Iterable[str], valid: Iterable[str]) -> str:
    """One line for the keys ``found`` in the mapping at ``path`` that are none of ``valid``: each
    with the closest valid key, or a dotted key (``data.root``) with how to nest it."""
    valid = sorted(valid)
    parts = []
    for key in sorted(set(found) - set(valid), key=str):
        key = str(key)
        head, _, rest = key.partition(".")
        close = difflib.get_close_matches(key, valid, n=1)
        if rest and head in valid:
            # A YAML key is not a path: `data.root: x` is one key named "data.root".
            parts.append(f"unknown key '{_dotted(path, key)}'; nest it: `{head}: {{{rest}: ...}}`")
        elif close:
            parts.append(f"unknown key '{_dotted(path, key)}'; did you mean '{_dotted(path, close[0])}'?")
        else:
            where = f"under '{_dotted(path)}'" if path else "at the top level"
            parts.append(f"unknown key '{_dotted(path, key)}'; valid keys {where}: {', '.join(valid)}")
    return "config: " + "; ".join(parts) + f" (keys are documented in {README})"


def _text_for_a_number(error: Any) -> bool:
    """A string where the schema wants a number, boolean or null, that YAML would read as one: what
    ``--config 'section={key: 1}'`` gives, as Snakemake reads such a mapping's values as text."""
    import yaml

    if error.validator != "type" or not isinstance(error.instance, str):
        return False
    try:
        return not isinstance(yaml.safe_load(error.instance), str)
    except yaml.YAMLError:
        return False


def schema_message(error: Any) -> str:
    """One line for a jsonschema ``ValidationError`` of the config: an unknown key with the closest
    valid one, else the bad value's path and the schema's complaint."""
    path = list(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
        return unknown_key_message(path, error.instance, error.schema.get("properties", {}))
    where = _dotted(path) or "top level"
    hint = ""
    if _text_for_a_number(error):
        hint = "; --config passes a mapping's values as text: set it in a YAML file given with --configfile"
    return f"config: bad value at '{where}': {error.message}{hint} (keys are documented in {README})"


# --- what the schema cannot check -------------------------------------------------------------------


def check_splits(config: Mapping[str, Any]) -> None:
    """Every index of ``splits.use`` is one of the ``splits.n_splits`` splits (0 to K-1)."""
    n_splits = config["splits"]["n_splits"]
    bad = [i for i in config["splits"]["use"] if i >= n_splits]
    if bad:
        raise ConfigError(
            f"config: splits.use has {', '.join(map(str, bad))}, but splits.n_splits is {n_splits}: "
            f"use indices 0-{n_splits - 1}"
        )


def _number(subject: str) -> int:
    return int(subject.removeprefix("Subject"))


def _names(subjects: Iterable[str]) -> str:
    return ", ".join(sorted(subjects, key=_number)) or "none"


def _simulated_subjects(preset: str) -> list[str]:
    """The subjects the simulator writes for ``preset``: Subject1 to Subject<n_subjects>."""
    from brainteacher.data.presets import get_preset

    return [f"Subject{s + 1}" for s in range(get_preset(preset).n_subjects)]


def _subject_files(root: Path) -> list[str]:
    """Subjects with a ``<subject>.h5`` in ``root``: the one file the workflow reads per subject
    (session files, ``Subject1_<session>.h5``, are for the CLI only)."""
    return [p.stem for p in root.glob("Subject*.h5") if SUBJECT_RE.fullmatch(p.stem)]


def _missing(config: Mapping[str, Any], have: Iterable[str]) -> list[str]:
    """The config's subjects that are not in ``have``, in the config's order."""
    have = set(have)
    return [s for s in config["subjects"] if s not in have]


def _check_simulated_subjects(config: Mapping[str, Any]) -> None:
    from brainteacher.data.presets import PRESETS

    preset = config["data"]["preset"]
    have = _simulated_subjects(preset)
    bad = _missing(config, have)
    if bad:
        needed = max(map(_number, bad))
        bigger = [f"{name}: {p.n_subjects}" for name, p in PRESETS.items() if p.n_subjects >= needed]
        other = f", or a data.preset with more ({', '.join(bigger)})" if bigger else ""
        raise ConfigError(
            f"config: subjects has {_names(bad)}, but data.preset {preset} simulates {_names(have)}: use those{other}"
        )


def _fetchable() -> list[str]:
    """The subjects ``data.download`` can fetch from figshare (GOD's Subject1 to Subject5)."""
    from brainteacher.data.download import SUBJECT_FILE_IDS

    return [Path(name).stem for name in SUBJECT_FILE_IDS]


def _check_real_subjects(config: Mapping[str, Any]) -> None:
    root = Path(config["data"]["root"])
    have = _subject_files(root) if root.is_dir() else []
    fetchable = _fetchable()
    if config["data"].get("download", False):
        bad = _missing(config, [*have, *fetchable])
        where = f"data.download fetches {_names(fetchable)} and data.root {root} holds {_names(have)}"
    elif have:
        bad = _missing(config, have)
        where = f"data.root {root} holds {_names(have)}"
    else:
        return  # no release there yet: the workflow's missing-data check names every file to place
    if bad:
        them = "it" if len(bad) == 1 else "them"
        also = f"; data.download: true fetches {them}" if set(bad) <= set(fetchable) else ""
        raise ConfigError(
            f"config: subjects has {_names(bad)}, but {where}: use those, or place {root / bad[0]}.h5 there{also}"
        )


def check_subjects(config: Mapping[str, Any]) -> None:
    """Every subject exists: in the simulator's preset (``data.source: simulate``), or as a
    ``<subject>.h5`` in ``data.root`` or on figshare with ``data.download`` (real data; no check
    while the folder holds no subject file and nothing is downloaded)."""
    if is_simulated(config["data"]):
        _check_simulated_subjects(config)
    else:
        _check_real_subjects(config)


def check_teachers(config: Mapping[str, Any]) -> None:
    """``students.teachers`` expands (``registry.expand_teachers``): the oracle needs simulated data."""
    try:
        expand_teachers(config)
    except ValueError as err:
        message = str(err)
        raise ConfigError(message if message.startswith("config") else f"config: {message}") from None


def check_weights(config: Mapping[str, Any]) -> None:
    """Pretrained weights on real data only when the config accepts the leak: GOD's stimuli are
    ImageNet photographs, so ImageNet-pretrained weights may have seen a student's held-out images."""
    students = config["students"]
    if not is_simulated(config["data"]) and students.get("weights") and not students["accept_weights_leak"]:
        raise ConfigError(
            f"config: students.weights {students['weights']} on real data: GOD's stimuli are ImageNet "
            "photographs, so pretrained weights may have seen the students' held-out images; remove it, or set "
            "students.accept_weights_leak: true to accept that"
        )


def check_gld_terms(config: Mapping[str, Any]) -> None:
    """GLD's local and relation terms need a teacher with feature maps (the network teacher): brain
    teachers, their controls and the oracle give global logits only, which every student would
    refuse; refused here, before any job."""
    from brainteacher.configs import GLDConfig

    students = config["students"]
    if students["loss"] != "gld" or not GLDConfig(terms=tuple(students["gld_terms"])).needs_feature_maps:
        return
    bad = [t for t in students["teachers"] if t not in ("none", "network")]
    if bad:
        raise ConfigError(
            f"config students.loss: gld with gld_terms {students['gld_terms']}: the local and relation terms need a "
            f"network teacher with feature maps; teacher(s) {', '.join(bad)} have global logits only. Use "
            "gld_terms: [global] for them, or teachers: [none, network]"
        )


def check_config(config: Mapping[str, Any]) -> None:
    """What the schema cannot check, on a config it has validated (its defaults filled in):
    ConfigError with one line naming the fix for the first problem."""
    check_splits(config)
    check_subjects(config)
    check_teachers(config)
    check_weights(config)
    check_gld_terms(config)


# --- the real release's files ------------------------------------------------------------------------


def real_data_files(config: Mapping[str, Any]) -> list[str]:
    """The files of the real release a run reads (``data.source: path``): the training stimulus
    TSV and each subject's ``.h5`` in ``data.root``."""
    from brainteacher.data import god

    root = Path(config["data"]["root"])
    return [str(root / god.TRAINING_TSV), *(str(root / f"{s}.h5") for s in config["subjects"])]


def check_real_data_present(config: Mapping[str, Any]) -> None:
    """A real-data config whose files are absent stops before any job, naming them (subject files
    that ``data.download`` will fetch excepted). Without this, Snakemake would accept outputs another
    config left behind and redraw them under this config's title: simulated numbers labelled GOD."""
    if is_simulated(config["data"]):
        return
    missing = [p for p in real_data_files(config) if not Path(p).exists()]
    if config["data"].get("download", False):
        missing = [p for p in missing if not p.endswith(".h5")]  # the download rule fetches these
    if missing:
        raise ConfigError(
            f"data.root {config['data']['root']}: missing {', '.join(missing)}; place the GOD release there "
            "(README, 'Real GOD in three steps') or set data.download: true to fetch the subject files from figshare"
        )
