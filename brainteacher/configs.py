"""The typed configuration: the one place each option's default, help text and bounds live.

One frozen dataclass per workflow config section (or part of one). The commands' options
(``cli``), the workflow's command lines (``common.smk``) and the JSON schema's properties are
generated from these fields by ``brainteacher.options``; ``tests/test_configs.py`` checks that
``config/config.yaml``, ``workflow/schemas/config.schema.yaml`` and ``config/README.md`` agree
with them. To add an option: one field here, its line in ``config.yaml`` and the README's table,
then ``python -m brainteacher.configs workflow/schemas/config.schema.yaml`` to regenerate the schema.

Torch-free (the workflow imports it): names held by torch modules are named lazily (``options``).
"""

from __future__ import annotations

import copy
import dataclasses
import math
import sys
from collections.abc import Mapping
from typing import Any

from brainteacher.options import check_choices, command_options, leaves, option, schema_properties

__all__ = [
    "TrainConfig",
    "DecoderConfig",
    "GLDConfig",
    "StudentConfig",
    "NetworkConfig",
    "SimCLRConfig",
    "SplitsConfig",
    "LOSSES",
    "GLD_TERMS",
    "FEATURE_MAP_TERMS",
    "INITS",
    "HEAD_WEIGHTS",
    "COHORT_LAYOUTS",
    "COHORTS",
    "SECTIONS",
    "WORKFLOW_KEYS",
    "COMMANDS",
    "workflow_options",
    "render_schema",
]

LOSSES = ("hinton", "gld")
GLD_TERMS = ("global", "local", "relation")
FEATURE_MAP_TERMS = ("local", "relation")  # GLD terms that need the teacher's feature maps
INITS = ("random", "weights", "simclr")
# How a cohort's students, or a decoder's inner folds, share one process (``distill.train_cohort``,
# ``decode.decoders.fold_layout``): ``separate`` networks, each running its own kernels (on the CPU a
# member's numbers are its solo run's, whatever its cohort), or one ``grouped`` network (one kernel
# launch per layer for all members: what a GPU needs); ``auto`` is grouped on CUDA, else separate.
COHORT_LAYOUTS = ("auto", "separate", "grouped")
# Which students one distill job trains together: every student of a split, of a split and seed, or one.
COHORTS = ("split", "seed", "student")
# How much of the 1D ResNet's residual head enters its logits: chosen per inner fold on the other
# folds' out-of-fold logits (``decode.cross_fitted_head_weights``), or all of it (the ablation).
HEAD_WEIGHTS = ("cross-fitted", "one")

_STEMS = "brainteacher.registry:STEMS"
SEED_MAX = 2**32 - 1  # numpy's default_rng refuses negative seeds; torch's, seeds past 64 bits
_WIDTH_MAX = 1024  # torchvision's ResNets use 64
IMAGE_SIZE_MIN = 16  # pixels per side: a ResNet stem needs this much to keep a spatial map
IMAGE_SIZE_MAX = 2048  # an upper bound, so a typo cannot decode every image at a gigapixel


def _seed(help: str = "seed") -> Any:
    return option(0, help, low=0, high=SEED_MAX)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings. ``lr`` follows a linear warm-up then a cosine decay to ``lr * min_lr_ratio``.

    The schedule's length is ``steps`` optimizer steps when set (students: the same number of
    updates whatever the training-set size), else ``epochs`` passes over the data (decoders).
    Warm-up is ``warmup_epochs`` passes, at most a fifth of the schedule."""

    epochs: int = option(40, "passes over the training rows (the schedule's length)", low=1)
    steps: int | None = option(None, "optimizer steps (the schedule's length)", low=1)
    batch_size: int = option(32, "rows (decoders) or images (students) per optimizer step", low=2)
    lr: float = option(1e-3, "AdamW's peak learning rate", low=0, low_open=True)
    weight_decay: float = option(1e-2, "AdamW's decoupled weight decay", low=0)
    warmup_epochs: int = 2
    min_lr_ratio: float = 0.01
    log_every: int = 10  # epochs between progress lines (every epoch is logged at DEBUG)


_TRAIN_BY_EPOCHS = ("epochs", "batch_size", "lr", "weight_decay")
_TRAIN_BY_STEPS = ("steps", "batch_size", "lr", "weight_decay")


@dataclasses.dataclass(frozen=True)
class DecoderConfig:
    """How to decode. ``n_voxels`` None is GOD's count for the ROI (500, or 1000 for LVC/HVC/VC;
    ``run_decode`` resolves it) and 0 keeps every voxel; ``within_run`` z-scores within each run;
    ``input_noise`` is the SD of Gaussian noise added to the z-scored voxels of every training batch
    (an augmentation: without it the 1D ResNet memorises ~100 trials). ``voxel_order`` (a key of
    ``voxelorder.VOXEL_ORDERS``) sets the 1D axis; ``stem`` and ``linear_shortcut`` shape the
    1D ResNet (the ablation switches; the linear decoder ignores them), and ``head_weight`` (a key
    of ``HEAD_WEIGHTS``) how much of its residual head enters the logits. ``keep_repeats`` trains on
    every presentation of an image instead of their average."""

    decoder: str = option("resnet1d", "the decoder", choices="brainteacher.registry:DECODERS", in_config=False)
    n_folds: int = option(5, "inner stratified folds for out-of-fold soft labels", key="folds", low=2)
    n_voxels: int | None = option(
        None, "top-N voxels by ANOVA F (null: 500, or 1000 for LVC/HVC/VC; 0 keeps all)", low=0
    )
    within_run: bool = option(True, "z-score each voxel within each run (training rows' statistics)")
    width: int = option(8, "ResNet base width (64 = torchvision's)", low=1, high=_WIDTH_MAX)
    input_noise: float = option(1.0, "SD of Gaussian noise added to training batches", low=0)
    voxel_order: str = option(
        "spatial",
        "the 1D axis: spatial (3D Hilbert curve over voxel_x/y/z) or file",
        choices="brainteacher.decode.voxelorder:VOXEL_ORDERS",
    )
    stem: str = option("imagenet", "resnet1d stem (how much the first layers downsample)", choices=_STEMS)
    linear_shortcut: bool = option(True, "resnet1d: add a linear read-out of every voxel to the residual stages")
    head_weight: str = option(
        "cross-fitted",
        "resnet1d with a shortcut: the residual head's weight, cross-fitted per inner fold on the other folds, or one",
        choices=HEAD_WEIGHTS,
    )
    keep_repeats: bool = option(False, "train on every presentation instead of averaging an image's repeats")
    cohort_layout: str = option(
        "auto",
        "the inner folds' models as separate networks (on CPU each equals its own run to the bit), one grouped "
        "resnet1d (one kernel launch per layer for all folds: for GPUs) or auto (grouped on CUDA, else separate)",
        choices=COHORT_LAYOUTS,
    )
    seed: int = _seed("seed of inner folds, initialisation and batches")
    device: str = option("auto", "auto (CUDA if available), cpu or cuda[:N]", kind="device")
    train: TrainConfig = option(default_factory=TrainConfig, expose=_TRAIN_BY_EPOCHS)

    def __post_init__(self) -> None:
        check_choices(self, "decoder", "voxel_order", "stem", "head_weight", "cohort_layout")


@dataclasses.dataclass(frozen=True)
class GLDConfig:
    """GLD's weights (the paper's defaults). ``alpha`` weighs the global term and ``1 - alpha`` the
    cross-entropy; the local term's weight is the number of regions R = regions^d; ``beta`` weighs
    the relation term; ``regions`` cells per spatial side; ``terms`` which distillation terms to use
    (kept in GLD_TERMS' order, duplicates dropped)."""

    alpha: float = option(0.7, "GLD: weight of the global term (CE gets 1 - it)", low=0, high=1)
    beta: float = option(500.0, "GLD: weight of the relation term", low=0)
    regions: int = option(2, "GLD: regions per side of the last feature map", low=1, high=8)
    terms: tuple[str, ...] = option(GLD_TERMS, "GLD terms; a brain teacher allows only global", choices=GLD_TERMS)

    def __post_init__(self) -> None:
        if not 0.0 <= self.alpha <= 1.0:  # also rejects NaN
            raise ValueError(f"alpha must be in [0, 1], got {self.alpha}")
        unknown = [t for t in self.terms if t not in GLD_TERMS]
        if unknown or not self.terms:
            raise ValueError(f"GLD terms must be a non-empty subset of {', '.join(GLD_TERMS)}; got {list(self.terms)}")
        if self.regions < 1 or not (math.isfinite(self.beta) and self.beta >= 0):
            raise ValueError(f"GLD needs regions >= 1 and beta >= 0, got regions={self.regions}, beta={self.beta}")
        object.__setattr__(self, "terms", tuple(t for t in GLD_TERMS if t in self.terms))

    @property
    def needs_feature_maps(self) -> bool:
        """Whether a term needs the teacher's feature maps (local, relation): a network teacher."""
        return any(t in FEATURE_MAP_TERMS for t in self.terms)


def _student_train_config() -> TrainConfig:
    # 200 steps of 32 images: ~53 passes over a quick split's 120 images, enough to fit them.
    return TrainConfig(steps=200, batch_size=32, lr=2e-3, weight_decay=5e-4, log_every=20)


@dataclasses.dataclass(frozen=True)
class StudentConfig:
    """An image classifier and its distillation. ``width`` 64 is torchvision's ResNet; ``image_size``
    is pixels per side of the cached images; ``alpha`` weighs the KD term and ``temperature`` is
    Hinton's T; ``stem`` a key of ``resnet.STEMS`` (``imagenet`` is torchvision's and the fastest
    per accuracy at 32 px on CPU); ``weights`` is an optional torchvision-format state_dict file to
    start from (its ``fc`` is skipped; needs the ``imagenet`` stem). ``arch`` is ``resnet18`` (the
    ResNet of ``depth``, ``width``, ``stem``) or ``tiny`` (``archs.TinyNet``); ``loss`` is ``hinton``
    or ``gld`` (weights in ``gld``); ``init`` is ``random``, ``weights`` (needs ``weights``) or
    ``simclr`` (needs ``init_checkpoint``, a ``pretrain-simclr`` backbone)."""

    arch: str = option(
        "resnet18",
        "resnet18 (the ResNet of --depth/--width/--stem) or tiny (2 conv blocks + classifier, ~12k parameters)",
        choices="brainteacher.registry:ARCHS",
    )
    depth: int = option(18, "ResNet depth", choices=(18, 34))
    width: int = option(16, "ResNet base width (64 = torchvision's)", low=1, high=_WIDTH_MAX)
    image_size: int = option(32, "pixels per side of the cached images", low=IMAGE_SIZE_MIN, high=IMAGE_SIZE_MAX)
    stem: str = option("imagenet", "imagenet (7x7/2 + maxpool), small (3x3/1) or small-s2 (3x3/2)", choices=_STEMS)
    alpha: float = option(0.9, "weight of the KD term (0 = cross-entropy only)", low=0, high=1)
    temperature: float = option(2.0, "Hinton's T", low=0, low_open=True)
    weights: str | None = option(
        None, "torchvision-format state_dict to start from (fc skipped; never downloaded)", kind="path"
    )
    device: str = option("auto", "auto (CUDA if available), cpu or cuda[:N]", kind="device")
    train: TrainConfig = option(default_factory=_student_train_config, expose=_TRAIN_BY_STEPS)
    loss: str = option(
        "hinton",
        "hinton (KD at --temperature, weight --alpha) or gld (global + local logits + relations)",
        choices=LOSSES,
    )
    gld: GLDConfig = option(default_factory=GLDConfig, expose=("alpha", "beta", "regions", "terms"), prefix="gld_")
    init: str = option("random", "random, weights (--weights) or simclr (--init-checkpoint)", choices=INITS)
    init_checkpoint: str | None = option(None, "a pretrain-simclr backbone (its fc-less state_dict)", in_config=False)
    cohort_layout: str = option(
        "auto",
        "a cohort's students as separate networks (on CPU each equals its solo run to the bit), one grouped "
        "network (one kernel launch per layer for all: for GPUs) or auto (grouped on CUDA, else separate)",
        choices=COHORT_LAYOUTS,
    )
    cohort_chunk: int = option(
        0, "at most this many students of a cohort job train at once (device memory); 0 = all", low=0
    )

    def __post_init__(self) -> None:
        if self.weights and self.init == "random":
            object.__setattr__(self, "init", "weights")  # a weights file given is a weights init (as before)
        check_choices(self, "init", "loss", "cohort_layout")
        if self.init == "weights" and not self.weights:
            raise ValueError("init 'weights' needs a weights file (--weights)")
        if self.init == "simclr" and not self.init_checkpoint:
            raise ValueError("init 'simclr' needs a pretrain-simclr checkpoint (--init-checkpoint)")


@dataclasses.dataclass(frozen=True)
class NetworkConfig:
    """The cross-fitted network teacher: a ResNet of ``depth`` trained like a student (the students'
    width, image size and optimiser) in ``folds`` inner folds of a split's training images."""

    depth: int = option(18, "ResNet depth of the network teacher", choices=(18, 34))
    folds: int = option(3, "inner folds: each image's target comes from a model that never saw it", low=2)
    seed: int = _seed("its folds and initialisation")


@dataclasses.dataclass(frozen=True)
class SimCLRConfig:
    """The backbone (``arch``, ``depth``, ``width``, ``stem``, ``image_size``: the students', so not
    keys of the ``simclr`` section) and its pretraining: ``steps`` AdamW steps of ``batch_size``
    images (2 views each), NT-Xent ``temperature``, projection to ``projection_dim``,
    ``extra_per_category`` simulated renders."""

    arch: str = option("resnet18", "the student architecture", choices="brainteacher.registry:ARCHS", in_config=False)
    depth: int = option(18, "ResNet depth", choices=(18, 34), in_config=False)
    width: int = option(16, "ResNet base width", low=1, high=_WIDTH_MAX, in_config=False)
    stem: str = option("imagenet", "ResNet stem", choices=_STEMS, in_config=False)
    image_size: int = option(32, "pixels per side", low=IMAGE_SIZE_MIN, high=IMAGE_SIZE_MAX, in_config=False)
    steps: int = option(300, "NT-Xent steps of batch_size images, two augmented views each", low=1)
    batch_size: int = option(64, "images per step (2 views each)", low=2)
    lr: float = option(2e-3, "AdamW's peak learning rate (one-cycle schedule)", low=0, low_open=True)
    weight_decay: float = option(1e-4, "AdamW's decoupled weight decay", low=0)
    temperature: float = option(0.5, "NT-Xent temperature", low=0, low_open=True)
    projection_dim: int = option(64, "projection head output (dropped after pretraining)", low=1)
    extra_per_category: int = option(8, "extra unlabelled renders per category (simulated data only)", low=0)
    seed: int = _seed("initialisation, batches, augmentation and the renders")
    device: str = option("auto", "auto (CUDA if available), cpu or cuda[:N]", kind="device", in_config=False)


@dataclasses.dataclass(frozen=True)
class SplitsConfig:
    """K stratified train/test splits of the training images (``splits.make_splits``)."""

    n_splits: int = option(4, "K: split k tests on fold k of each category (4: 6 train / 2 test of 8)", low=2)
    seed: int = _seed("seed of the split assignment")


# Workflow config section -> the config classes whose keys it holds (the simclr section holds
# SimCLRConfig's pretraining keys; its backbone keys are the students').
SECTIONS: dict[str, tuple[type, ...]] = {
    "splits": (SplitsConfig,),
    "decode": (DecoderConfig,),
    "students": (StudentConfig,),
    "network": (NetworkConfig,),
    "simclr": (SimCLRConfig,),
}

# Keys of those sections that only the workflow reads (which jobs to run), not a command option.
WORKFLOW_KEYS: dict[str, tuple[str, ...]] = {
    "splits": ("use",),
    "students": (
        "teachers",
        "control_sources",
        "teacher_decoder",
        "seeds",
        "shuffle_draws",
        "cohort",
        "accept_weights_leak",
    ),
}

# The students' options the network teacher takes (its depth, folds and seed are its own).
NETWORK_SHARES = ("width", "image_size", "stem", "weights", "steps", "batch_size", "lr", "weight_decay", "device")
# SimCLR pretrains the students' backbone: these keys come from the students section.
SIMCLR_SHARES = tuple(leaf.key for leaf in leaves(SimCLRConfig, in_config=False))

# Command -> the (config class, workflow section, options kept) whose options the workflow
# passes it; ``None`` keeps every config key of the class. The network teacher shares the
# students' options (it trains like one); SimCLR pretrains the students' backbone.
COMMANDS: dict[str, tuple[tuple[type, str, tuple[str, ...] | None], ...]] = {
    "make-splits": ((SplitsConfig, "splits", None),),
    "decode": ((DecoderConfig, "decode", None),),
    "distill": ((StudentConfig, "students", None),),
    "network-teacher": ((StudentConfig, "students", NETWORK_SHARES), (NetworkConfig, "network", None)),
    "pretrain-simclr": ((StudentConfig, "students", SIMCLR_SHARES), (SimCLRConfig, "simclr", None)),
}


def workflow_options(command: str, config: Mapping[str, Any]) -> str:
    """The config options of ``command`` as the workflow passes them: ``--flag value`` from the
    config's sections (see ``COMMANDS``); what a rule adds itself (paths, wildcards) is not here."""
    parts = [command_options(cls, config[section], only=keep) for cls, section, keep in COMMANDS[command]]
    return " ".join(p for p in parts if p)


def _registry_enums() -> dict[tuple[str, ...], tuple]:
    """The schema's enums that list registry names, by their path of property names (``[]``: an
    array's items): a new teacher kind, decoder, ROI or preset reaches the schema by regeneration."""
    from brainteacher import registry

    return {
        ("students", "teachers", "[]"): registry.config_teacher_names(),
        ("students", "teacher_decoder"): registry.DECODERS,
        ("decoders", "[]"): registry.DECODERS,
        ("rois", "[]"): registry.ROIS,
        ("data", "preset"): registry.PRESETS,
    }


def _set_enum(schema: dict[str, Any], path: tuple[str, ...], names: tuple) -> None:
    node = schema
    for key in path:
        node = node["items"] if key == "[]" else node["properties"][key]
    node["enum"] = list(names)


def render_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` (the workflow's JSON schema, as loaded) with each config section's properties and
    required keys generated from the config classes, and the registry's names as the enums of the
    workflow-only keys (which are otherwise kept as written)."""
    out = copy.deepcopy(schema)
    for section, classes in SECTIONS.items():
        old = schema["properties"][section]
        kept = {k: old["properties"][k] for k in WORKFLOW_KEYS.get(section, ())}
        generated = {k: v for cls in classes for k, v in schema_properties(cls).items()}
        out["properties"][section] = {**old, "properties": {**kept, **generated}, "required": [*kept, *generated]}
    for path, names in _registry_enums().items():
        _set_enum(out, path, names)
    return out


def _write_schema(path: str) -> None:
    import yaml

    with open(path) as f:
        schema = yaml.safe_load(f)
    text = yaml.safe_dump(
        render_schema(schema), sort_keys=False, default_flow_style=None, width=float("inf"), allow_unicode=True
    )
    with open(path, "w") as f:
        f.write(text)


if __name__ == "__main__":  # python -m brainteacher.configs workflow/schemas/config.schema.yaml
    _write_schema(sys.argv[1])
