"""Config dataclass fields -> command-line options, workflow command lines and JSON schema.

A config dataclass declares each option once, as ``field = option(default, help, ...)``: its
default, help text, bounds or choices, and its config key when that differs from the field's name.
The key is also the flag (``n_folds`` with ``key="folds"`` is config ``folds`` and ``--folds``).
A nested config (``train: TrainConfig``) lends the parent some of its options (``expose``), under
a ``prefix`` (GLD's ``alpha`` is the student's ``gld_alpha``). From these declarations:

- :func:`add_options` adds a command's argparse options and :func:`from_args` builds the config
  by keyword from the parsed arguments;
- :func:`command_options` renders a workflow config section as those options (``common.smk``);
- :func:`schema_properties`, :func:`type_text` and :func:`default_text` give the JSON schema's
  properties and ``config/README.md``'s type and default columns (checked by the tests).

Torch-free: choices held by torch modules are named ``"module:NAME"`` and imported only when a
parser, a schema or a validation needs them, never when the workflow renders a command line.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import shlex
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from brainteacher.registry import lookup, resolve

__all__ = [
    "Spec",
    "Leaf",
    "option",
    "leaves",
    "choices_of",
    "add_options",
    "from_args",
    "command_options",
    "schema_properties",
    "type_text",
    "default_text",
    "whole",
    "number",
    "device_name",
    "nonempty",
    "path",
    "check_choices",
]

_META = "brainteacher.option"


@dataclasses.dataclass(frozen=True)
class Spec:
    """What a config field needs beyond its type and default to become an option.

    ``choices``: the valid values, or ``"module:NAME"`` of a collection whose keys/items are
    (imported lazily). ``low``/``high``: inclusive bounds (``low_open``: low excluded).
    ``kind``: ``device`` (auto, cpu, cuda[:N]) or ``path`` (a file name; not blank).
    ``in_config``: False for a command option that no config key sets (a file made by another job).
    ``expose``/``prefix``: for a nested config, which of its options the parent offers, and how."""

    help: str = ""
    key: str | None = None
    choices: tuple | str | None = None
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    kind: str | None = None
    in_config: bool = True
    expose: tuple[str, ...] = ()
    prefix: str = ""


def option(
    default: Any = dataclasses.MISSING, help: str = "", *, default_factory: Any = dataclasses.MISSING, **spec: Any
) -> Any:
    """A dataclass field that is also a command option and a config key (see :class:`Spec`)."""
    return dataclasses.field(default=default, default_factory=default_factory, metadata={_META: Spec(help, **spec)})


@dataclasses.dataclass(frozen=True)
class Leaf:
    """One option of a config class: ``path`` of attributes from the class (``("train", "lr")``),
    its config ``key`` (the flag with ``-`` for ``_``), ``spec``, resolved ``type`` and ``default``."""

    path: tuple[str, ...]
    key: str
    spec: Spec
    type: Any
    default: Any

    @property
    def flag(self) -> str:
        return "--" + self.key.replace("_", "-")


def _field_default(f: dataclasses.Field) -> Any:
    return f.default_factory() if f.default is dataclasses.MISSING else f.default


def _exposed(leaf: Leaf, parent: str, prefix: str, default: Any) -> Leaf:
    """A nested config's option as its parent offers it. Set by the parent's default (students'
    ``steps``), an optional option is required: null would not mean the nested default."""
    tp = leaf.type
    if default is not None and isinstance(tp, types.UnionType):
        tp = next(a for a in typing.get_args(tp) if a is not type(None))
    return dataclasses.replace(leaf, path=(parent, leaf.path[0]), key=prefix + leaf.key, type=tp, default=default)


def leaves(
    cls: type, *, only: Sequence[str] | None = None, skip: Sequence[str] = (), in_config: bool | None = None
) -> list[Leaf]:
    """The options of config class ``cls``, nested ones flattened, in field order; ``only``/``skip``
    select by key, ``in_config`` by whether a config key sets them."""
    hints = typing.get_type_hints(cls)
    found: list[Leaf] = []
    for f in dataclasses.fields(cls):
        spec = f.metadata.get(_META)
        if spec is None:
            continue
        default = _field_default(f)
        if spec.expose:
            inner = {leaf.path[0]: leaf for leaf in leaves(type(default))}
            found += [_exposed(inner[name], f.name, spec.prefix, getattr(default, name)) for name in spec.expose]
        else:
            found.append(Leaf((f.name,), spec.key or f.name, spec, hints[f.name], default))
    return [
        leaf
        for leaf in found
        if (only is None or leaf.key in only)
        and leaf.key not in skip
        and (in_config is None or leaf.spec.in_config == in_config)
    ]


def _shape(tp: Any) -> tuple[type, bool, bool]:
    """(scalar type, may be None, is a list) of an annotation such as ``int | None`` or ``tuple[str, ...]``."""
    args = typing.get_args(tp)
    optional = isinstance(tp, types.UnionType) and type(None) in args
    if optional:
        tp = next(a for a in args if a is not type(None))
    if typing.get_origin(tp) is tuple:
        return typing.get_args(tp)[0], optional, True
    return tp, optional, False


def choices_of(spec: Spec) -> tuple | None:
    """The valid values of an option, importing a ``"module:NAME"`` collection when named so."""
    if isinstance(spec.choices, str):
        return tuple(resolve(spec.choices))
    return spec.choices


def check_choices(config: Any, *names: str) -> None:
    """ValueError naming the valid values if a field ``names`` of ``config`` holds an unknown one."""
    specs = {f.name: f.metadata[_META] for f in dataclasses.fields(config) if _META in f.metadata}
    for name in names:
        lookup(name.replace("_", " "), getattr(config, name), choices_of(specs[name]))


# --- argparse types ---------------------------------------------------------------------------


def whole(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse type: a whole number in [low, high], refused at parse time with the range."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if value < low or (high is not None and value > high):
            bounds = f">= {low}" if high is None else f"in {low}..{high}"
            raise argparse.ArgumentTypeError(f"must be a whole number {bounds}, got {value}")
        return value

    return parse


def number(low: float, high: float = math.inf, *, low_open: bool = False) -> Callable[[str], float]:
    """An argparse type: a finite number in [low, high] (or (low, high] with ``low_open``)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        # NaN fails every comparison, so it is refused by name rather than slipping through.
        if not math.isfinite(value) or value > high or value < low or (low_open and value == low):
            if high == math.inf:
                bounds = f"{'>' if low_open else '>='} {low}"
            else:
                bounds = f"in {'(' if low_open else '['}{low}, {high}]"
            raise argparse.ArgumentTypeError(f"must be a finite number {bounds}, got {text}")
        return value

    return parse


def device_name(text: str) -> str:
    """An argparse type: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``; CUDA only where there is one."""
    if text in ("auto", "cpu"):
        return text
    kind, _, index = text.partition(":")
    if kind != "cuda" or not (index == "" or index.isdigit()):
        raise argparse.ArgumentTypeError(f"must be auto, cpu, cuda or cuda:N, got {text!r}")
    import torch

    if not torch.cuda.is_available() or int(index or 0) >= torch.cuda.device_count():
        n = torch.cuda.device_count()
        raise argparse.ArgumentTypeError(f"{text} is not available on this machine ({n} CUDA devices)")
    return text


def nonempty(text: str) -> str:
    """An argparse type for a name or path that must not be blank."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return text


def path(text: str) -> Path:
    """An argparse type: a path, never blank (``Path("")`` would silently mean the current folder)."""
    return Path(nonempty(text))


# --- command line -----------------------------------------------------------------------------


def _parse_type(leaf: Leaf, scalar: type) -> Callable[[str], Any]:
    spec = leaf.spec
    if spec.kind == "device":
        return device_name
    if spec.kind == "path":
        return nonempty  # kept a str: the configs record it as text
    if scalar is int and spec.low is not None:
        return whole(int(spec.low), None if spec.high is None else int(spec.high))
    if scalar is float and spec.low is not None:
        return number(spec.low, math.inf if spec.high is None else spec.high, low_open=spec.low_open)
    return scalar


def _argparse_kwargs(leaf: Leaf) -> dict[str, Any]:
    scalar, _, many = _shape(leaf.type)
    kwargs: dict[str, Any] = {"dest": leaf.key, "help": f"{leaf.spec.help} (default: %(default)s)"}
    if scalar is bool:
        return {**kwargs, "action": argparse.BooleanOptionalAction, "default": leaf.default}
    kwargs.update(type=_parse_type(leaf, scalar), default=list(leaf.default) if many else leaf.default)
    valid = choices_of(leaf.spec)
    if valid is not None:
        kwargs["choices"] = valid
    if many:
        kwargs["nargs"] = "+"
    return kwargs


def add_options(
    parser: argparse.ArgumentParser, cls: type, *, only: Sequence[str] | None = None, skip: Sequence[str] = ()
) -> None:
    """Add ``cls``'s options (see :func:`leaves` for ``only``/``skip``) to ``parser``, defaults from ``cls``."""
    for leaf in leaves(cls, only=only, skip=skip):
        parser.add_argument(leaf.flag, **_argparse_kwargs(leaf))


def from_args(
    cls: type, args: argparse.Namespace, *, only: Sequence[str] | None = None, skip: Sequence[str] = (), **given: Any
) -> Any:
    """``cls`` built by keyword from the ``args`` that :func:`add_options` defined (same ``only``/
    ``skip``); a nested config is its default with the exposed values replaced; ``given`` fields
    are set as they are."""
    values: dict[str, Any] = {}
    nested: dict[str, dict[str, Any]] = {}
    for leaf in leaves(cls, only=only, skip=skip):
        value = getattr(args, leaf.key)
        value = tuple(value) if _shape(leaf.type)[2] else value
        if len(leaf.path) == 1:
            values[leaf.path[0]] = value
        else:
            nested.setdefault(leaf.path[0], {})[leaf.path[1]] = value
    defaults = {f.name: f for f in dataclasses.fields(cls)}
    for name, inner in nested.items():
        values[name] = dataclasses.replace(_field_default(defaults[name]), **inner)
    return cls(**{**values, **given})


def command_options(
    cls: type, section: Mapping[str, Any], *, only: Sequence[str] | None = None, skip: Sequence[str] = ()
) -> str:
    """``--flag value`` for each config option of ``cls`` from a workflow config ``section``, each
    value shell-quoted (a path may hold spaces). A null value is left out: the command's default
    is null too. A bool is ``--flag`` or ``--no-flag``; a list, ``--flag a b``."""
    parts = []
    for leaf in leaves(cls, only=only, skip=skip, in_config=True):
        value = section[leaf.key]
        scalar, _, many = _shape(leaf.type)
        if value is None:
            continue
        if scalar is bool:
            parts.append(leaf.flag if value else "--no-" + leaf.flag[2:])
        elif many:
            parts.append(" ".join([leaf.flag, *(shlex.quote(str(v)) for v in value)]))
        else:
            parts.append(f"{leaf.flag} {shlex.quote(str(value))}")
    return " ".join(parts)


# --- schema and documentation -----------------------------------------------------------------

_JSON_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string"}
_DEVICE_PATTERN = "^(auto|cpu|cuda(:[0-9]+)?)$"


def _json_scalar(leaf: Leaf, scalar: type, optional: bool) -> dict[str, Any]:
    spec = leaf.spec
    prop: dict[str, Any] = {"type": [_JSON_TYPES[scalar], "null"] if optional else _JSON_TYPES[scalar]}
    valid = choices_of(spec)
    if valid is not None:
        prop["enum"] = list(valid)
    if spec.low is not None:
        prop["exclusiveMinimum" if spec.low_open else "minimum"] = spec.low
    if spec.high is not None:
        prop["maximum"] = spec.high
    if spec.kind == "device":
        prop["pattern"] = _DEVICE_PATTERN
    return prop


def schema_properties(
    cls: type, *, only: Sequence[str] | None = None, skip: Sequence[str] = ()
) -> dict[str, dict[str, Any]]:
    """The JSON-schema ``properties`` of ``cls``'s config keys: type, bounds or enum, default, description."""
    props = {}
    for leaf in leaves(cls, only=only, skip=skip, in_config=True):
        scalar, optional, many = _shape(leaf.type)
        if many:
            prop = {"type": "array", "items": _json_scalar(leaf, scalar, False), "minItems": 1, "uniqueItems": True}
        else:
            prop = _json_scalar(leaf, scalar, optional)
        default = list(leaf.default) if many else leaf.default
        props[leaf.key] = {**prop, "default": default, "description": leaf.spec.help}
    return props


def type_text(leaf: Leaf) -> str:
    """The type column of ``config/README.md`` for an option, e.g. ``int >= 2``, ``float 0..1``,
    ``list of `global`, `local```, ``int >= 0 or null``."""
    scalar, optional, many = _shape(leaf.type)
    spec = leaf.spec
    valid = choices_of(spec)
    if spec.kind == "device":
        text = "`auto`, `cpu`, `cuda[:N]`"
    elif spec.kind == "path":
        text = "path"
    elif valid is not None:
        text = ", ".join(f"`{v}`" for v in valid)
    else:
        text = {bool: "bool", int: "int", float: "float", str: "string"}[scalar]
        if spec.low is not None and spec.high is not None and spec.high < 2**31:  # not a seed's 2**32 - 1
            text += f" {_num(spec.low)}..{_num(spec.high)}"
        elif spec.low is not None:
            text += f" {'>' if spec.low_open else '>='} {_num(spec.low)}"
    if many:
        text = "list of " + text
    return text + (" or null" if optional else "")


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def default_text(value: Any) -> str:
    """A default as config YAML writes it: ``true``, ``null``, ``0.001``, ``[global, local]``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(default_text(v) for v in value) + "]"
    return str(value)
