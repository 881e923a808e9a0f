"""One source of truth for configuration: the config dataclasses (``brainteacher.configs``) against
``config/config.yaml``, the workflow's JSON schema and ``config/README.md``'s tables, and the
commands' options and the workflow's command lines generated from them."""

from __future__ import annotations

import copy
import dataclasses
import re
import shlex
import typing
from pathlib import Path

import pytest
import yaml

from brainteacher import cli, configs, registry
from brainteacher.options import default_text, from_args, leaves, option, type_text

ROOT = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / "config/config.yaml").read_text())
SCHEMA = yaml.safe_load((ROOT / "workflow/schemas/config.schema.yaml").read_text())
README = (ROOT / "config/README.md").read_text()


def _readme_rows(text: str) -> dict[str, dict[str, str]]:
    """``section.key`` -> {type, default} from every README table with a default column."""
    rows, header = {}, None
    for line in text.splitlines():
        if not line.startswith("|"):
            header = None
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[0] == "key":
            header = cells
        elif header and "default" in header and not set(cells[0]) <= {"-", " "}:
            key = cells[0].strip("`")
            rows[key] = {"type": cells[header.index("type")], "default": cells[header.index("default")]}
    return rows


def disagreements(sections: dict, config: dict, schema: dict, readme: str) -> list[str]:
    """Every way the config classes of ``sections`` and the three files differ (empty: they agree)."""
    problems = []
    rows = _readme_rows(readme)
    old_sections = configs.SECTIONS
    try:
        configs.SECTIONS = sections  # render_schema reads the module's table
        generated = configs.render_schema(schema)
    finally:
        configs.SECTIONS = old_sections
    for section, classes in sections.items():
        fields = {leaf.key: leaf for cls in classes for leaf in leaves(cls, in_config=True)}
        expected = set(fields) | set(configs.WORKFLOW_KEYS.get(section, ()))
        for where, keys in (
            ("config.yaml", set(config[section])),
            ("schema", set(schema["properties"][section]["properties"])),
        ):
            problems += [f"{where}: {section}.{k} is not an option" for k in keys - expected]
            problems += [f"{where}: {section}.{k} is missing" for k in expected - keys]
        documented = {k.split(".", 1)[1] for k in rows if k.startswith(f"{section}.")}
        problems += [f"README: {section}.{k} is missing" for k in expected - documented]
        problems += [f"README: {section}.{k} is not an option" for k in documented - expected]
        for key, leaf in fields.items():
            default = list(leaf.default) if isinstance(leaf.default, tuple) else leaf.default
            if config[section].get(key, default) != default:
                problems.append(
                    f"config.yaml: {section}.{key} is {config[section][key]!r}, the dataclass default {default!r}"
                )
            row = rows.get(f"{section}.{key}")
            if row and row["default"] != default_text(leaf.default):
                problems.append(f"README: {section}.{key} default {row['default']} is not {default_text(leaf.default)}")
            if row and row["type"] != type_text(leaf):
                problems.append(f"README: {section}.{key} type {row['type']!r} is not {type_text(leaf)!r}")
        if schema["properties"][section] != generated["properties"][section]:
            problems.append(
                f"schema: section {section} differs from the generated one (python -m brainteacher.configs ...)"
            )
    for path, names in configs._registry_enums().items():
        node = schema
        for key in path:
            node = node["items"] if key == "[]" else node["properties"][key]
        if node.get("enum") != list(names):
            problems.append(f"schema: the enum of {'.'.join(path)} is not the registry's {list(names)}")
    return problems


def test_a_registry_name_added_alone_is_caught(monkeypatch):
    # A new decoder in the registry, schema not regenerated: the schema's enums lag behind.
    monkeypatch.setattr(registry, "DECODERS", (*registry.DECODERS, "ridge"))
    problems = disagreements(configs.SECTIONS, CONFIG, SCHEMA, README)
    assert any("enum of decoders.[] is not the registry's" in p for p in problems), problems


def test_dataclasses_schema_readme_and_config_agree():
    assert disagreements(configs.SECTIONS, CONFIG, SCHEMA, README) == []


def _changed_default(cls: type, name: str, value) -> type:
    """``cls`` with one field's default changed (as an edit of the dataclass alone would)."""
    hints = typing.get_type_hints(cls)
    f = next(f for f in dataclasses.fields(cls) if f.name == name)
    new = dataclasses.field(default=value, metadata=f.metadata)
    return dataclasses.make_dataclass(
        cls.__name__,
        [(f.name, hints[f.name], new if f.name == name else f) for f in dataclasses.fields(cls)],
        frozen=True,
    )


def _with_new_field(cls: type) -> type:
    """``cls`` plus one option that no file knows yet."""
    return dataclasses.make_dataclass(
        cls.__name__, [("shiny", int, option(3, "new", low=0))], bases=(cls,), frozen=True
    )


def _schema_with(section: str, key: str, **change) -> dict:
    schema = copy.deepcopy(SCHEMA)
    schema["properties"][section]["properties"][key].update(change)
    return schema


def _readme_without(key: str) -> str:
    return "\n".join(line for line in README.splitlines() if not line.startswith(f"| `{key}` |"))


@pytest.mark.parametrize(
    "sections, config, schema, readme, problem",
    [
        (
            {**configs.SECTIONS, "decode": (_changed_default(configs.DecoderConfig, "n_folds", 4),)},
            CONFIG,
            SCHEMA,
            README,
            "decode.folds is 5",
        ),
        (
            {**configs.SECTIONS, "network": (_with_new_field(configs.NetworkConfig),)},
            CONFIG,
            SCHEMA,
            README,
            "network.shiny is missing",
        ),
        (
            configs.SECTIONS,
            {**CONFIG, "decode": {**CONFIG["decode"], "epochs": 60}},
            SCHEMA,
            README,
            "decode.epochs is 60",
        ),
        (
            configs.SECTIONS,
            {**CONFIG, "simclr": {k: v for k, v in CONFIG["simclr"].items() if k != "seed"}},
            SCHEMA,
            README,
            "config.yaml: simclr.seed is missing",
        ),
        (
            configs.SECTIONS,
            CONFIG,
            _schema_with("decode", "within_run", default=False),
            README,
            "schema: section decode differs",
        ),
        (
            configs.SECTIONS,
            CONFIG,
            _schema_with("students", "steps", minimum=2),
            README,
            "schema: section students differs",
        ),
        (
            configs.SECTIONS,
            CONFIG,
            SCHEMA,
            _readme_without("students.gld_beta"),
            "README: students.gld_beta is missing",
        ),
        (
            configs.SECTIONS,
            CONFIG,
            SCHEMA,
            README.replace("| `network.folds` | int >= 2 | 3 |", "| `network.folds` | int >= 2 | 4 |"),
            "network.folds default 4",
        ),
        (
            configs.SECTIONS,
            CONFIG,
            SCHEMA,
            README.replace("| `decode.width` | int 1..1024 |", "| `decode.width` | int |"),
            "decode.width type",
        ),
    ],
    ids=[
        "dataclass default",
        "dataclass field",
        "config value",
        "config key",
        "schema default",
        "schema bound",
        "README row",
        "README default",
        "README type",
    ],
)
def test_a_change_to_one_place_alone_is_caught(sections, config, schema, readme, problem):
    assert any(problem in p for p in disagreements(sections, config, schema, readme))


def _parse(command: str, options: str):
    """Parse ``command`` with the workflow's rendered options plus the paths a rule adds."""
    required = {
        "decode": "--subject Subject1 --roi V1 --split all",
        "distill": "--split S --teacher none",
        "make-splits": "",
    }
    argv = [command, "--root", "D", "--out", "O", *shlex.split(f"{required.get(command, '--split S')} {options}")]
    return cli.build_parser().parse_args(argv)


@pytest.mark.parametrize("command", sorted(configs.COMMANDS))
def test_the_workflow_options_parse_to_the_config_it_renders(command):
    """Every rendered option is one the command takes, and the config default gives the dataclass default."""
    args = _parse(command, configs.workflow_options(command, CONFIG))
    bare = _parse(command, "")
    for cls, _, keep in configs.COMMANDS[command]:
        for leaf in leaves(cls, only=keep):
            assert getattr(args, leaf.key) == getattr(bare, leaf.key), leaf.key


def test_the_commands_build_their_config_by_keyword_with_the_dataclass_defaults():
    args = _parse("decode", "")
    assert from_args(configs.DecoderConfig, args) == configs.DecoderConfig()
    args = _parse("distill", "")
    assert from_args(configs.StudentConfig, args) == configs.StudentConfig()
    args = _parse("pretrain-simclr", "")
    assert from_args(configs.SimCLRConfig, args) == configs.SimCLRConfig()


def test_keep_repeats_is_set_from_the_config():
    options = configs.workflow_options("decode", {**CONFIG, "decode": {**CONFIG["decode"], "keep_repeats": True}})
    assert "--keep-repeats" in shlex.split(options)
    assert from_args(configs.DecoderConfig, _parse("decode", options)).keep_repeats
    assert "--no-keep-repeats" in shlex.split(configs.workflow_options("decode", CONFIG))


def test_a_null_option_is_left_to_the_command_and_values_are_quoted():
    students = {**CONFIG["students"], "weights": "my weights/r18.pth"}
    rendered = configs.workflow_options("distill", {**CONFIG, "students": students})
    assert "--weights 'my weights/r18.pth'" in rendered and "--n-voxels" not in configs.workflow_options(
        "decode", CONFIG
    )
    assert re.search(r"--gld-terms global local relation( |$)", rendered)


def test_the_workflow_renders_options_without_torch():
    """common.smk imports brainteacher.configs at parse time: it must not pull in torch."""
    import subprocess
    import sys

    code = (
        "import sys, yaml; from brainteacher.configs import COMMANDS, workflow_options; "
        "c = yaml.safe_load(open('config/config.yaml')); [workflow_options(k, c) for k in COMMANDS]; "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
