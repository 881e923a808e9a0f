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
  - ``shuffled-brain``: the brain targets permuted uniformly within each category (class-level
    information kept, image-specific information destroyed); ``students.shuffle_draws`` draws, each
    from its own stream (``.../draw{k}``), the same pairing in every seed of a split;
  - ``class-mean-brain``: each image gets its category's mean brain target;
  - ``random``: random targets whose mean entropy and mean true-class probability match the
    brain teacher's: its softness without its information (uniform smoothing cannot match the
    entropy, which the brain's targets lower by putting their off-class mass on a few categories);
  - ``network-matched``: the network teacher given the brain teacher's quality
    (:func:`match_to_brain`): image-consistent targets as confident, as soft and as often right
    as the brain's, per category. Against its own shuffle draws (``shuffled-network-matched``) it
    is the positive control where there is no oracle; against it, the brain teacher shows whether
    its image-specific information is more than an image model's of the same quality.

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

from brainteacher.distill.targets import (
    entropy,
    epsilon_matching_true_class_prob,
    label_smoothing_targets,
    log_probs_from_probs,
    random_targets_matching,
)
from brainteacher.errors import DataError
from brainteacher.formats import teacher_dir
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
    "match_to_brain",
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


def _permute_within_category(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(n,) donor row per row: a uniformly random permutation of each category's images.

    Uniform, so some images keep their own target: the brain's pairing (the identity) and the
    draws are then exchangeable under the null, which the randomization test needs. A derangement
    (no image keeping its own) would make every draw differ from the brain in every image while
    the draws share pairs among themselves, putting the brain at the extremes more often."""
    donor = np.arange(len(labels))
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        donor[members] = rng.permutation(members)
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
    return brain[_permute_within_category(labels, rng)]


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


# --- network-matched --------------------------------------------------------------------------------


def _off_class_entropy(log_off: np.ndarray, gamma: np.ndarray) -> np.ndarray:
    """(n,) entropy (nats) of softmax(gamma * log_off) per row; log_off (n, C-1), gamma (n,)."""
    return entropy(softmax(gamma[:, None] * log_off, axis=1))


def _power_for_entropy(log_off: np.ndarray, target: np.ndarray, steps: int = 60) -> np.ndarray:
    """(n,) powers gamma >= 0 with entropy(softmax(gamma * log_off)) = target, by bisection.

    The entropy falls monotonically from log(C-1) at gamma 0 (uniform) towards that of the row's
    largest entries; a target outside that range gets the nearest end."""
    low, high = np.zeros(len(target)), np.full(len(target), 1.0)
    while np.any(grow := _off_class_entropy(log_off, high) > target) and high.max() < 1e4:
        high = np.where(grow, high * 4.0, high)
    for _ in range(steps):
        mid = (low + high) / 2
        above = _off_class_entropy(log_off, mid) > target
        low, high = np.where(above, mid, low), np.where(above, high, mid)
    return (low + high) / 2


def _with_true_prob_and_entropy(probs: np.ndarray, labels: np.ndarray, p_true: np.ndarray, h: np.ndarray) -> np.ndarray:
    """(n, C) rows whose true class has ``p_true`` and whose entropy is ``h`` (nats), the off-class
    mass spread in the shape of ``probs``'s off-class row raised to a power (sharper or flatter).

    With o the off-class part, H = h_b(p) + (1 - p) H(o / (1 - p)), h_b the binary entropy; so the
    off-class shape must have entropy (h - h_b(p)) / (1 - p)."""
    n, n_classes = probs.shape
    rows = np.arange(n)
    off_mask = np.ones_like(probs, dtype=bool)
    off_mask[rows, labels] = False
    log_off = np.log(np.clip(probs[off_mask].reshape(n, n_classes - 1), 1e-30, None))
    p = np.clip(p_true, 1e-12, 1 - 1e-12)
    binary = -(p * np.log(p) + (1 - p) * np.log(1 - p))
    shape = softmax(_power_for_entropy(log_off, (h - binary) / (1 - p))[:, None] * log_off, axis=1)
    out = np.empty_like(probs)
    out[rows, labels] = p
    out[off_mask] = ((1 - p)[:, None] * shape).ravel()
    return out


def match_to_brain(network: np.ndarray, brain: np.ndarray, labels: np.ndarray, temperature: float) -> np.ndarray:
    """(n, C) logits: the network teacher's targets given the brain teacher's quality, at ``temperature``.

    Within each category, the images ranked by the network's tempered true-class probability take
    the brain's tempered true-class probabilities in the same rank order, and each takes the
    entropy of the brain target it was ranked against; the off-class mass keeps the network's
    shape (its row raised to the power that gives that entropy). So per category the targets have
    the brain's distribution of true-class probability exactly and of entropy to bisection
    precision, and top-1 follows from both; what stays the network's is which images are
    confident and which other categories each resembles: image-specific, image-computable.

    Args: network, brain: (n, C) logits of the same training images; labels: (n,) in 0..C-1.
    """
    net, ref = _tempered(network, temperature), _tempered(brain, temperature)
    p_true, h = np.empty(len(labels)), np.empty(len(labels))
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        by_network = members[np.argsort(net[members, c], kind="stable")]
        by_brain = members[np.argsort(ref[members, c], kind="stable")]
        p_true[by_network] = ref[by_brain, c]
        h[by_network] = entropy(ref[by_brain])
    return _logits_of(_with_true_prob_and_entropy(net, labels, p_true, h), temperature)


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
    or an ROI changes no other control's draws (CRC-32 is stable across runs and platforms).

    A shuffle draw's stream leaves the seed out: draw k pairs targets with images the same way in
    every seed of a split, as the brain's own pairing is the same in every seed. Its students are
    then replicates of one pairing, and the test compares pairings, not seeds."""
    key = [zlib.crc32(spec.name.encode()), zlib.crc32(split.encode())]
    return np.random.default_rng(key if teacher_kind(spec.kind).drawn else [seed, *key])


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
    preceded by the network-teacher folder for the kinds built from the network (``network-matched``);
    the network-teacher folder for ``network``; the dataset's ``ground_truth.json`` for ``oracle``.
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
    if teacher_kind(spec.kind).from_network:
        if len(inputs) < 2:
            raise ValueError(f"teacher {spec.name} needs the network-teacher folder, then the decode folders")
        network = read_teacher_dir(inputs[0], train_ids, labels, test_ids)
        brain = _source_logits(inputs[1:], spec, train_ids, labels, test_ids)
        base = match_to_brain(network, brain, labels, temperature)
    else:
        base = _source_logits(inputs, spec, train_ids, labels, test_ids)
    return _control_logits(spec.kind, base, labels, temperature, _stream(spec, split, seed))


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
