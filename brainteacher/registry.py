"""The names the package and the workflow choose by: teacher kinds, decoders, simulator presets and ROIs.

One home for each list, so Snakemake (``workflow/rules/common.smk``), the CLI, ``aggregate``,
``plots`` and ``teachers`` agree. Torch-free and pandas-free (standard library only): Snakemake
imports it while it parses the workflow. A lookup refuses an unknown name and lists the valid
ones (as himalaya's solver registry does): ``ValueError: unknown teacher kind 'x'; valid: ...``.

Teachers are named by a spec string (``TeacherSpec.name``):

- a global kind alone: ``none``, ``network``, ``oracle``;
- a brain-derived kind as ``{kind}/{source}/{roi}``, ``source`` a subject (``Subject1``) or
  ``mean`` (the mean over subjects); ``brain-mean/{roi}`` is accepted for ``brain/mean/{roi}``;
- a further draw of a randomly drawn control (``shuffled-brain``) as
  ``{kind}/{source}/{roi}/draw{k}``, k >= 1 (draw 0 is the name without the suffix).

Adding a control teacher kind takes one :class:`TeacherKind` entry in :data:`TEACHER_KINDS` plus
its target function, registered in ``brainteacher.distill.teachers.CONTROL_TARGETS`` under the entry's
``target``. The config's ``students.teachers`` then accepts it once the schema is regenerated
(``python -m brainteacher.configs workflow/schemas/config.schema.yaml`` writes the registry's names
into its enums; a test fails while they lag), the workflow expands it over
``students.control_sources`` x ``rois`` and the tables and plots pick it up.
"""

from __future__ import annotations

import contextlib
import importlib
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from brainteacher.data.presets import PRESETS as _PRESET_SIZES
from brainteacher.data.presets import is_simulated

__all__ = [
    "SINGLE_ROIS",
    "ROI_UNIONS",
    "ROIS",
    "DECODERS",
    "STEMS",
    "ARCHS",
    "PRESETS",
    "MEAN_SOURCE",
    "BRAIN_MEAN",
    "SUBJECT_RE",
    "TeacherKind",
    "TEACHER_KINDS",
    "TeacherSpec",
    "lookup",
    "roi",
    "decoder",
    "preset",
    "teacher_kind",
    "kind_names",
    "global_kinds",
    "brain_kinds",
    "drawn_kinds",
    "draws_of",
    "config_teacher_names",
    "parse_teacher",
    "teacher_inputs",
    "teacher_pattern",
    "expand_teachers",
    "temporary_teacher_kind",
    "ROI_PLOTS",
    "EVALUATION_PLOTS",
    "roi_plots_for",
]

# --- ROIs, decoders, presets ----------------------------------------------------------------------

SINGLE_ROIS = ("V1", "V2", "V3", "V4", "LOC", "FFA", "PPA")
# GOD's unions: lower (LVC), higher (HVC) and the whole visual cortex (VC).
ROI_UNIONS = {"LVC": ("V1", "V2", "V3"), "HVC": ("LOC", "FFA", "PPA"), "VC": SINGLE_ROIS}
ROIS = SINGLE_ROIS + tuple(ROI_UNIONS)

# Brain decoders -> their builders, as "module:function" references (:func:`resolve`): named here,
# torch-free, so that building the command line or a config does not import torch (a slow import,
# paid at every small job's start).
DECODERS = {
    "resnet1d": "brainteacher.decode.decoders:resnet1d_decoder",
    "linear": "brainteacher.decode.decoders:linear_decoder",
}

# ResNet stems -> (first kernel, its stride, whether a 3x3/2 max-pool follows): ``imagenet`` is
# torchvision's; the small ones keep more resolution for small inputs. Student architectures are
# built by brainteacher.nn.archs.
STEMS = {"imagenet": (7, 2, True), "small": (3, 1, False), "small-s2": (3, 2, False)}
ARCHS = ("resnet18", "tiny")

# Simulator presets, named by their definitions (a dataclass module: no numpy, no torch).
PRESETS = tuple(_PRESET_SIZES)

MEAN_SOURCE = "mean"  # the source of a teacher built from every subject's decoder
BRAIN_MEAN = "brain-mean"  # config and spec alias: brain teachers of the mean source
SUBJECT_RE = re.compile(r"Subject\d+")  # a subject's name, as in the release's file names


def resolve(reference: str) -> Any:
    """The object a ``"module:NAME"`` reference names, importing its module."""
    module, _, name = reference.partition(":")
    return getattr(importlib.import_module(module), name)


def lookup(what: str, name: str, valid: Sequence[str]) -> str:
    """``name`` if it is one of ``valid``, else ValueError naming ``what`` and listing the valid names."""
    if name not in valid:
        raise ValueError(f"unknown {what} {name!r}; valid: {', '.join(map(str, valid))}")
    return name


def roi(name: str) -> str:
    return lookup("ROI", name, ROIS)


def decoder(name: str) -> str:
    return lookup("decoder", name, DECODERS)


def preset(name: str) -> str:
    return lookup("preset", name, PRESETS)


# --- teacher kinds --------------------------------------------------------------------------------


@dataclass(frozen=True)
class TeacherKind:
    """What the code needs to know about one teacher kind.

    ``brain_derived``: built from brain decoders, so its spec names a source and an ROI
    (``{kind}/{source}/{roi}``) and its inputs are decode folders; otherwise the spec is the kind
    alone. ``control``: a brain-derived control, expanded over the config's
    ``students.control_sources`` and compared with the brain teacher in the summary; not a control:
    ``brain`` itself, expanded over the config's subjects (``brain-mean`` gives its mean source).
    ``target``: for brain-derived kinds, the key of its target function in
    ``brainteacher.distill.teachers.CONTROL_TARGETS`` (brain logits -> teacher logits).
    ``needs_simulated``: only simulated data can give it (the oracle's ground truth).
    ``drawn``: a random draw (a within-category shuffle): the config's ``students.shuffle_draws``
    draws are trained against every brain student, each from its own random stream.
    ``shuffle_of``: for a drawn kind, the kind whose targets it shuffles; that kind's students are
    tested against its draws.
    ``from_network``: built from the split's network teacher, whose folder comes first in its
    inputs. For a brain-derived kind, the target function is applied to the network teacher matched
    to the brain teacher's quality (``brainteacher.distill.teachers.match_to_brain``), not to the
    brain teacher; the decode folders follow. :func:`teacher_inputs` lists a teacher's inputs.
    """

    name: str
    doc: str
    brain_derived: bool = False
    control: bool = False
    target: str | None = None
    needs_simulated: bool = False
    drawn: bool = False
    shuffle_of: str | None = None
    from_network: bool = False

    def __post_init__(self) -> None:
        if self.control and not self.brain_derived:
            raise ValueError(f"teacher kind {self.name}: a control is built from a brain teacher (brain_derived)")
        if self.brain_derived != (self.target is not None):
            raise ValueError(f"teacher kind {self.name}: a brain-derived kind, and only one, names its target function")
        if self.drawn != (self.shuffle_of is not None):
            raise ValueError(f"teacher kind {self.name}: a drawn kind, and only one, names the kind it shuffles")


def _kinds(*entries: TeacherKind) -> dict[str, TeacherKind]:
    return {k.name: k for k in entries}


# Order matters: it is the display order of the tables (students.tsv, summary.tsv) and the
# schema's enum. Global kinds first, then brain and its controls.
TEACHER_KINDS: dict[str, TeacherKind] = _kinds(
    TeacherKind("none", "the baseline: cross-entropy on the labels only"),
    TeacherKind("network", "a ResNet cross-fitted on the split's training images (network-teacher)", from_network=True),
    TeacherKind(
        "oracle",
        "each image's category posterior under the simulator's model: the positive control",
        needs_simulated=True,
    ),
    TeacherKind("brain", "the decoder's calibrated out-of-fold logits", brain_derived=True, target="brain"),
    TeacherKind(
        "label-smoothing",
        "one-hot smoothed so the true class gets the brain teacher's mean tempered probability",
        brain_derived=True,
        control=True,
        target="label-smoothing",
    ),
    TeacherKind(
        "shuffled-brain",
        "the brain targets permuted uniformly within each category, the same pairing in every seed of a split "
        "(image-specific information destroyed)",
        brain_derived=True,
        control=True,
        target="shuffled-brain",
        drawn=True,
        shuffle_of="brain",
    ),
    TeacherKind(
        "class-mean-brain",
        "each image gets its category's mean brain target",
        brain_derived=True,
        control=True,
        target="class-mean-brain",
    ),
    TeacherKind(
        "random",
        "random targets whose mean entropy and true-class probability match the brain teacher's",
        brain_derived=True,
        control=True,
        target="random",
    ),
    TeacherKind(
        "network-matched",
        "the network teacher's targets given the brain teacher's quality: per category, its images ranked by the "
        "network's confidence get the brain targets' true-class probabilities and entropies; the positive control "
        "where there is no oracle",
        brain_derived=True,
        control=True,
        target="brain",
        from_network=True,
    ),
    TeacherKind(
        "shuffled-network-matched",
        "network-matched targets shuffled within category, as shuffled-brain shuffles the brain's",
        brain_derived=True,
        control=True,
        target="shuffled-brain",
        drawn=True,
        shuffle_of="network-matched",
        from_network=True,
    ),
)


def teacher_kind(name: str) -> TeacherKind:
    """The entry of teacher kind ``name``; ValueError listing the valid kinds if there is none."""
    return TEACHER_KINDS[lookup("teacher kind", name, tuple(TEACHER_KINDS))]


def kind_names() -> tuple[str, ...]:
    """Every teacher kind, in display order."""
    return tuple(TEACHER_KINDS)


def global_kinds() -> tuple[str, ...]:
    """Kinds named alone, without a source or ROI: none, network, oracle."""
    return tuple(k.name for k in TEACHER_KINDS.values() if not k.brain_derived)


def brain_kinds() -> tuple[str, ...]:
    """Kinds named ``{kind}/{source}/{roi}``: brain and its controls."""
    return tuple(k.name for k in TEACHER_KINDS.values() if k.brain_derived)


def config_teacher_names() -> tuple[str, ...]:
    """What the config's ``students.teachers`` accepts: every kind, and ``brain-mean`` after ``brain``."""
    return tuple(n for k in TEACHER_KINDS for n in ((k, BRAIN_MEAN) if k == "brain" else (k,)))


@contextlib.contextmanager
def temporary_teacher_kind(entry: TeacherKind) -> Iterator[TeacherKind]:
    """Register ``entry`` for the duration of the block (tests; a plug-in trying a kind out)."""
    if entry.name in TEACHER_KINDS or entry.name == BRAIN_MEAN:
        raise ValueError(f"teacher kind {entry.name!r} exists already")
    TEACHER_KINDS[entry.name] = entry
    try:
        yield entry
    finally:
        del TEACHER_KINDS[entry.name]


# --- teacher specs ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TeacherSpec:
    """A parsed teacher name; ``source`` and ``roi`` are set for the brain-derived kinds only."""

    kind: str
    source: str | None = None
    roi: str | None = None
    draw: int = 0  # which draw of a drawn control; 0 for every other kind

    @property
    def name(self) -> str:
        if self.source is None:
            return self.kind
        return f"{self.kind}/{self.source}/{self.roi}" + (f"/draw{self.draw}" if self.draw else "")

    @property
    def is_brain_derived(self) -> bool:
        return self.kind in TEACHER_KINDS and TEACHER_KINDS[self.kind].brain_derived


_DRAW_RE = re.compile(r"draw([1-9]\d*)")


def draws_of(kind: str) -> str | None:
    """The drawn kind that shuffles ``kind``'s targets (shuffled-brain for brain), or None."""
    return next((k.name for k in TEACHER_KINDS.values() if k.shuffle_of == kind), None)


def drawn_kinds() -> tuple[str, ...]:
    """Kinds trained as several random draws (``students.shuffle_draws``): the within-category shuffles."""
    return tuple(k.name for k in TEACHER_KINDS.values() if k.drawn)


def _draw(kind: str, parts: list[str]) -> int | None:
    """The draw a spec's optional 4th part names (0 without one); None if it names none."""
    if not parts:
        return 0
    match = _DRAW_RE.fullmatch(parts[0])
    return int(match.group(1)) if len(parts) == 1 and match and kind in drawn_kinds() else None


def parse_teacher(text: str) -> TeacherSpec:
    """``none``, ``network``, ``oracle``, ``brain-mean/{roi}``, ``{kind}/{Subject<N>|mean}/{roi}``
    or, for a drawn control, ``{kind}/{Subject<N>|mean}/{roi}/draw{k}``."""
    parts = text.strip().split("/")
    if len(parts) == 2 and parts[0] == BRAIN_MEAN:
        parts = ["brain", MEAN_SOURCE, parts[1]]
    if len(parts) == 1 and parts[0] in global_kinds():
        return TeacherSpec(parts[0])
    if len(parts) in (3, 4) and parts[0] in brain_kinds():
        kind, source, roi_name = parts[:3]
        draw = _draw(kind, parts[3:])
        if (source == MEAN_SOURCE or SUBJECT_RE.fullmatch(source)) and roi_name in ROIS and draw is not None:
            return TeacherSpec(kind, source, roi_name, draw)
    raise ValueError(
        f"unknown teacher {text!r}; use one of {', '.join(global_kinds())}, or KIND/SOURCE/ROI with KIND in "
        f"{', '.join(brain_kinds())}, SOURCE Subject<N> or mean, ROI in {', '.join(ROIS)} (brain-mean/ROI also works), "
        f"and /draw<k> after it for a further draw of {', '.join(drawn_kinds())}"
    )


def teacher_inputs(
    name: str, subjects: Sequence[str], *, network: str, ground_truth: str, decode_dir: Callable[[str, str], str]
) -> list[str]:
    """What teacher ``name`` is built from, for one split, in the order ``teachers.teacher_logits``
    reads them: the split's ``network`` teacher folder for the kinds built from it, the simulator's
    ``ground_truth`` file for the oracle, and ``decode_dir(subject, roi)`` of each of its sources for
    the brain-derived kinds (``subjects`` for the mean). Empty for ``none``."""
    spec = parse_teacher(name)
    kind = TEACHER_KINDS[spec.kind]
    inputs = [network] if kind.from_network else []
    inputs += [ground_truth] if kind.needs_simulated else []
    if kind.brain_derived:
        sources = subjects if spec.source == MEAN_SOURCE else [spec.source]
        inputs += [decode_dir(source, spec.roi) for source in sources]
    return inputs


def teacher_pattern(rois: Sequence[str] = ROIS) -> str:
    """A regular expression matching every teacher spec over ``rois`` (the workflow's wildcard)."""
    roi_pattern = "|".join(rois)
    brain = rf"(?:{'|'.join(brain_kinds())})/(?:Subject\d+|mean)/(?:{roi_pattern})"
    drawn = rf"(?:{'|'.join(drawn_kinds())})/(?:Subject\d+|mean)/(?:{roi_pattern})/draw[1-9]\d*"
    return rf"{'|'.join(global_kinds())}|{drawn}|{brain}"


def _sources(name: str, config: Mapping[str, Any]) -> tuple[str, list[str] | None]:
    """(kind, sources) of a ``students.teachers`` entry; sources None for a global kind."""
    if name == BRAIN_MEAN:
        return "brain", [MEAN_SOURCE]
    kind = teacher_kind(name)
    if not kind.brain_derived:
        return kind.name, None
    if not kind.control:
        return kind.name, list(config["subjects"])
    wanted = config["students"]["control_sources"]
    subjects = list(config["subjects"]) if "subjects" in wanted else []
    return kind.name, ([MEAN_SOURCE] if MEAN_SOURCE in wanted else []) + subjects


def expand_teachers(config: Mapping[str, Any]) -> list[str]:
    """Every teacher spec the workflow trains students with, in the config's order.

    From the resolved config: ``students.teachers`` (kinds, plus ``brain-mean``), ``subjects``,
    ``rois``, ``students.control_sources`` (``mean``, ``subjects``), ``students.shuffle_draws``
    and ``data.source``. A global kind is itself; ``brain`` is every subject x ROI; ``brain-mean``
    the mean source x ROI; a control every control source x ROI (mean first, then the subjects),
    and a drawn control each of its draws there. ValueError for an unknown kind, or a kind that
    needs simulated data on real data.
    """
    names: list[str] = []
    for name in config["students"]["teachers"]:
        kind, sources = _sources(name, config)
        if TEACHER_KINDS[kind].needs_simulated and not is_simulated(config["data"]):
            raise ValueError(f"config students.teachers: {kind!r} needs simulated data (data.source: simulate)")
        draws = range(config["students"].get("shuffle_draws", 1) if TEACHER_KINDS[kind].drawn else 1)
        if sources is None:
            names.append(kind)
        else:
            names += [TeacherSpec(kind, s, r, d).name for s in sources for r in config["rois"] for d in draws]
    return names


# --- figures ---------------------------------------------------------------------------------------

# The ROI figures `plot` can draw (brainteacher.plots.rois.write_plots), in report order.
ROI_PLOTS = ("roi_comparison", "decoder_accuracy", "decoder_vs_gain")
# The figures `plot-evaluation` draws (brainteacher.plots.evaluation.write_evaluation_plots).
EVALUATION_PLOTS = ("accuracy_vs_size", "confusion_matrices", "pr_curves")


def roi_plots_for(teachers: Sequence[str]) -> list[str]:
    """The ROI figures a run with these teachers can fill: decoder_vs_gain plots a per-subject brain
    teacher's gain against its own decoder, so it needs a ``brain/{subject}/{roi}`` teacher."""
    specs = [parse_teacher(name) for name in teachers]
    per_subject = any(s.kind == "brain" and s.source not in (None, MEAN_SOURCE) for s in specs)
    return [plot for plot in ROI_PLOTS if plot != "decoder_vs_gain" or per_subject]
