"""Teachers: soft targets for a student's training images, and the controls that make them honest.

A teacher is named by a spec string:

- ``none``: the baseline, cross-entropy on the labels only;
- ``network``: a ResNet (18 by default) cross-fitted on the split's training images (``network-teacher``);
- ``oracle``: on simulated data, each training image's category posterior under the simulator's
  generative model (``ground_truth.json``, ``image_posterior``): image-specific and useful by
  construction, the positive control;
- ``{kind}/{source}/{roi}`` for the brain-derived kinds below, where ``source`` is a subject
  (``Subject1``) or ``mean`` (the mean over subjects; ``brain-mean/{roi}`` is accepted as an alias
  of ``brain/mean/{roi}``):

  - ``brain``: the decoder's out-of-fold logits;
  - ``label-smoothing``: one-hot smoothed so the true class gets the brain teacher's mean
    tempered probability;
  - ``shuffled-brain``: each image gets the brain target of *another* image of its category
    (class-level information kept, image-specific information destroyed); ``students.shuffle_draws``
    draws, each from its own stream (``.../draw{k}``);
  - ``class-mean-brain``: each image gets its category's mean brain target;
  - ``random``: random targets whose mean entropy and mean true-class probability match the
    brain teacher's: its softness without its information (uniform smoothing cannot match the
    entropy, which the brain's targets lower by putting their off-class mass on a few categories).

Every teacher returns *logits* z and the student sees softmax(z / T): brain and network teachers
give their calibrated out-of-fold logits, the oracle its log-posterior, and every control is
built so that its softmax(z / T) matches the brain teacher's tempered targets. The controls'
random streams are keyed by the teacher's name (kind, source, ROI), the split and the seed.
Teacher files are matched to the student's images by name, and a teacher that holds any of the
split's test images is refused: nothing from a student's test images may reach its teacher.

The kinds are listed in ``brainteacher.registry`` (``TEACHER_KINDS``); a brain-derived kind's
target function is registered here with ``@control_target(<its entry's target>)``.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from brainteacher.errors import DataError
from brainteacher.formats import teacher_dir
from brainteacher.kd import (
    entropy,
    epsilon_matching_true_class_prob,
    label_smoothing_targets,
    log_probs_from_probs,
    random_targets_matching,
)
from brainteacher.metrics import softmax
from brainteacher.outputs import read_json

# Kind names, specs and their grammar are torch-free, in the registry; re-exported here.
from brainteacher.registry import MEAN_SOURCE, TeacherSpec, parse_teacher, teacher_kind

__all__ = [
    "CONTROL_TARGETS",
    "control_target",
    "TeacherSpec",
    "parse_teacher",
    "teacher_logits",
    "target_stats",
    "read_teacher_dir",
]

# --- reading teacher files ------------------------------------------------------------------------


def read_teacher_dir(
    folder: str | Path, train_ids: Sequence[str], labels: np.ndarray, test_ids: Sequence[str] = ()
) -> np.ndarray:
    """(n_train, C) float64 logits of a decode or network-teacher folder, rows in ``train_ids`` order.

    The folder's format: ``brainteacher.formats.teacher_dir``. Rows are matched by image name,
    never by position; the folder's labels must agree with ``labels``. Raises DataError if the
    folder is of another format version, misses a training image or holds any of ``test_ids``.
    """
    folder = Path(folder)
    rows = teacher_dir.read(folder)
    logits, ids, their_labels = rows.logits, rows.image_ids, rows.labels
    leaked = set(ids) & set(test_ids)
    if leaked:
        raise DataError(
            folder,
            (
                f"teacher holds {len(leaked)} of this split's test images (e.g. "
                f"{sorted(leaked)[0]}); it must be fitted on the split's training images only"
            ),
        )
    row = {name: i for i, name in enumerate(ids)}
    missing = [i for i in train_ids if i not in row]
    if missing:
        raise DataError(
            folder,
            (
                f"teacher has no target for {len(missing)} training image(s), e.g. {missing[0]}; "
                "was it made for another split?"
            ),
        )
    order = np.array([row[i] for i in train_ids])
    if not np.array_equal(their_labels[order], labels):
        raise DataError(
            folder / teacher_dir.LABELS, "teacher labels disagree with the dataset's labels for the same images"
        )
    return logits[order].astype(np.float64)


def _source_logits(folders: Sequence[Path], spec: TeacherSpec, train_ids, labels, test_ids) -> np.ndarray:
    """The brain source: one subject's logits, or for ``mean`` the mean of subjects' log-probabilities
    (the normalised geometric mean of their soft labels, so it is the same at every temperature)."""
    expected = "one decode folder" if spec.source != MEAN_SOURCE else "one decode folder per subject"
    if not folders or (spec.source != MEAN_SOURCE and len(folders) != 1):
        raise ValueError(f"teacher {spec.name} needs {expected}, got {len(folders)}")
    per_subject = [read_teacher_dir(f, train_ids, labels, test_ids) for f in folders]
    if len(per_subject) == 1:
        return per_subject[0]
    return np.mean([np.log(softmax(z, axis=1)) for z in per_subject], axis=0)


# --- controls -----------------------------------------------------------------------------------


def _logits_of(probs: np.ndarray, temperature: float) -> np.ndarray:
    """Logits whose softmax at ``temperature`` is ``probs``: T * log p (clipped, renormalised)."""
    return temperature * log_probs_from_probs(probs)


def _shuffle_within_category(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(n,) donor row per row: another image of the same category (a cyclic shift of a random
    order, so no image keeps its own target when its category has two or more images)."""
    donor = np.arange(len(labels))
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        donor[members] = np.roll(members, -1)
    return donor


def _class_mean(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    out = np.empty_like(probs)
    for c in np.unique(labels):
        out[labels == c] = probs[labels == c].mean(axis=0)
    return out


# Target functions of the brain-derived kinds, keyed by their registry entry's ``target``: the
# brain teacher's logits (n, C), labels (n,), temperature and the control's random stream in,
# (n, C) teacher logits out, built so that softmax(logits / T) matches the brain teacher's
# tempered targets where the control says so.
ControlTarget = Callable[[np.ndarray, np.ndarray, float, np.random.Generator], np.ndarray]
CONTROL_TARGETS: dict[str, ControlTarget] = {}


def control_target(name: str) -> Callable[[ControlTarget], ControlTarget]:
    """Register a target function under ``name`` (a registry entry's ``target``)."""

    def register(fn: ControlTarget) -> ControlTarget:
        CONTROL_TARGETS[name] = fn
        return fn

    return register


def _tempered(brain: np.ndarray, temperature: float) -> np.ndarray:
    return softmax(brain / temperature, axis=1)


@control_target("brain")
def _brain(brain: np.ndarray, labels: np.ndarray, temperature: float, rng: np.random.Generator) -> np.ndarray:
    return brain


@control_target("shuffled-brain")
def _shuffled_brain(brain: np.ndarray, labels: np.ndarray, temperature: float, rng: np.random.Generator) -> np.ndarray:
    return brain[_shuffle_within_category(labels, rng)]


@control_target("class-mean-brain")
def _class_mean_brain(
    brain: np.ndarray, labels: np.ndarray, temperature: float, rng: np.random.Generator
) -> np.ndarray:
    return _logits_of(_class_mean(_tempered(brain, temperature), labels), temperature)


def _softness(brain: np.ndarray, labels: np.ndarray, temperature: float) -> tuple[int, float, float]:
    """(classes, mean true-class probability, mean entropy in nats) of the tempered brain targets."""
    tempered = _tempered(brain, temperature)
    return tempered.shape[1], float(tempered[np.arange(len(labels)), labels].mean()), float(entropy(tempered).mean())


@control_target("label-smoothing")
def _label_smoothing(brain: np.ndarray, labels: np.ndarray, temperature: float, rng: np.random.Generator) -> np.ndarray:
    n_classes, p_true, _ = _softness(brain, labels, temperature)
    eps = epsilon_matching_true_class_prob(p_true, n_classes)
    return _logits_of(label_smoothing_targets(labels, n_classes, eps), temperature)


@control_target("random")
def _random(brain: np.ndarray, labels: np.ndarray, temperature: float, rng: np.random.Generator) -> np.ndarray:
    n_classes, p_true, h = _softness(brain, labels, temperature)
    return _logits_of(random_targets_matching(labels, n_classes, p_true, h, rng), temperature)


def _control_logits(
    kind: str, brain: np.ndarray, labels: np.ndarray, temperature: float, rng: np.random.Generator
) -> np.ndarray:
    """A brain-derived kind's logits built from the brain teacher's logits (n, C), matched at ``temperature``."""
    entry = teacher_kind(kind)
    if not entry.brain_derived:
        raise ValueError(f"not a brain-derived kind: {kind}")
    if entry.target not in CONTROL_TARGETS:
        raise ValueError(f"teacher kind {kind}: no target function {entry.target!r} in teachers.CONTROL_TARGETS")
    return CONTROL_TARGETS[entry.target](brain, labels, temperature, rng)


# --- oracle ---------------------------------------------------------------------------------------


def _oracle_logits(ground_truth: Path, train_ids: Sequence[str], category_synsets: Sequence[str]) -> np.ndarray:
    """(n_train, C) log-posteriors of the training images ``train_ids`` from a simulated dataset's
    ``ground_truth.json`` (``image_posterior.training``: per image name, the posterior over the
    training categories in the order of its ``categories``). Categories are matched by synset."""
    gt = read_json(ground_truth)
    posterior = gt.get("image_posterior", {}).get("training") if isinstance(gt, dict) else None
    if not posterior:
        raise DataError(
            ground_truth, "no 'image_posterior': the oracle teacher needs a simulated dataset's ground truth"
        )
    synsets = [c["synset"] for c in gt["categories"]]
    if sorted(synsets) != sorted(category_synsets):
        raise DataError(ground_truth, "its categories are not the dataset's categories")
    missing = [i for i in train_ids if i not in posterior]
    if missing:
        raise DataError(ground_truth, f"no posterior for {len(missing)} training image(s), e.g. {missing[0]}")
    order = [synsets.index(s) for s in category_synsets]
    probs = np.asarray([posterior[i] for i in train_ids], np.float64)[:, order]
    return log_probs_from_probs(probs)


def _stream(spec: TeacherSpec, split: str, seed: int) -> np.random.Generator:
    """A control's random stream, keyed by its name, the split and the seed: adding a teacher kind
    or an ROI changes no other control's draws (CRC-32 is stable across runs and platforms)."""
    return np.random.default_rng([seed, zlib.crc32(spec.name.encode()), zlib.crc32(split.encode())])


# --- entry point ----------------------------------------------------------------------------------


def teacher_logits(
    spec: TeacherSpec,
    inputs: Sequence[str | Path],
    train_ids: Sequence[str],
    labels: np.ndarray,
    category_synsets: Sequence[str],
    temperature: float,
    *,
    test_ids: Sequence[str] = (),
    seed: int = 0,
    split: str = "",
) -> np.ndarray | None:
    """(n_train, C) teacher logits for the training images ``train_ids`` (labels (n_train,) in 0..C-1),
    or None for ``none``. softmax(logits / temperature) is the tempered target.

    ``inputs``: decode folders (one, or one per subject for ``mean``) for the brain-derived kinds,
    the network-teacher folder for ``network``, the dataset's ``ground_truth.json`` for ``oracle``.
    ``seed`` and ``split`` (a name, e.g. ``split0``) key the shuffled and random controls' draws.
    """
    inputs = [Path(p) for p in inputs]
    if spec.kind == "none":
        return None
    if spec.kind == "oracle":
        if len(inputs) != 1:
            raise ValueError("the oracle teacher needs the dataset's ground_truth.json")
        return _oracle_logits(inputs[0], train_ids, category_synsets)
    if spec.kind == "network":
        if len(inputs) != 1:
            raise ValueError("the network teacher needs one network-teacher folder")
        return read_teacher_dir(inputs[0], train_ids, labels, test_ids)
    brain = _source_logits(inputs, spec, train_ids, labels, test_ids)
    return _control_logits(spec.kind, brain, labels, temperature, _stream(spec, split, seed))


def target_stats(logits: np.ndarray | None, labels: np.ndarray, temperature: float) -> dict[str, float] | None:
    """Mean true-class probability, mean entropy (nats) and top-1 of the tempered targets."""
    if logits is None:
        return None
    probs = softmax(np.asarray(logits, np.float64) / temperature, axis=1)
    return {
        "true_class_prob": float(probs[np.arange(len(labels)), labels].mean()),
        "entropy": float(entropy(probs).mean()),
        "top1": float((probs.argmax(axis=1) == labels).mean()),
    }
