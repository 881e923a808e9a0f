"""Teachers: names, alignment by image name, refusal of leaked test images, and matched controls."""

from __future__ import annotations

import json
import zlib

import numpy as np
import pytest

from brainteacher.data import god
from brainteacher.data.splits import make_splits, write_split
from brainteacher.decode.decoders import DecoderConfig, run_decode
from brainteacher.distill.targets import entropy
from brainteacher.distill.teachers import TeacherSpec, parse_teacher, read_teacher_dir, teacher_logits
from brainteacher.errors import DataError
from brainteacher.metrics import softmax
from brainteacher.nn.train import TrainConfig

T = 2.0
N_CLASSES = 4
IDS = tuple(f"n0000000{c}_{i}" for c in range(N_CLASSES) for i in range(3))
LABELS = np.repeat(np.arange(N_CLASSES), 3)
SYNSETS = tuple(f"n0000000{c}" for c in range(N_CLASSES))


def _write_dir(folder, ids, labels, logits):
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "logits.npy", np.asarray(logits, np.float32))
    np.save(folder / "image_ids.npy", np.asarray(ids))
    np.save(folder / "labels.npy", np.asarray(labels))
    return folder


def _brain_logits(seed=0):
    """(12, 4) logits, distinct per image, that favour the true class."""
    rng = np.random.default_rng(seed)
    return rng.normal(size=(len(IDS), N_CLASSES)) + 2.0 * np.eye(N_CLASSES)[LABELS]


@pytest.mark.parametrize(
    "text, spec",
    [
        ("none", TeacherSpec("none")),
        ("oracle", TeacherSpec("oracle")),
        ("brain/Subject3/LOC", TeacherSpec("brain", "Subject3", "LOC")),
        ("brain-mean/V1", TeacherSpec("brain", "mean", "V1")),
        ("shuffled-brain/mean/FFA", TeacherSpec("shuffled-brain", "mean", "FFA")),
    ],
)
def test_teacher_names_parse_and_round_trip(text, spec):
    assert parse_teacher(text) == spec
    assert parse_teacher(spec.name) == spec


@pytest.mark.parametrize(
    "text", ["brain", "brain/Subject1", "brain/S1/LOC", "brain/Subject1/MT", "teacher", "label-smoothing/LOC"]
)
def test_bad_teacher_names_say_what_is_valid(text):
    with pytest.raises(ValueError, match="KIND/SOURCE/ROI"):
        parse_teacher(text)


def test_rows_are_matched_by_name_not_position(tmp_path):
    logits = _brain_logits()
    perm = np.random.default_rng(1).permutation(len(IDS))
    folder = _write_dir(tmp_path / "t", np.asarray(IDS)[perm], LABELS[perm], logits[perm])
    np.testing.assert_allclose(read_teacher_dir(folder, IDS, LABELS), logits, rtol=1e-6)


def test_teacher_holding_a_test_image_is_refused(tmp_path):
    folder = _write_dir(tmp_path / "t", IDS, LABELS, _brain_logits())
    with pytest.raises(DataError, match="test images"):
        read_teacher_dir(folder, IDS[:-1], LABELS[:-1], test_ids=IDS[-1:])


def test_teacher_missing_a_training_image_is_refused(tmp_path):
    folder = _write_dir(tmp_path / "t", IDS[1:], LABELS[1:], _brain_logits()[1:])
    with pytest.raises(DataError, match="no target for 1 training image"):
        read_teacher_dir(folder, IDS, LABELS)


def test_teacher_with_other_labels_is_refused(tmp_path):
    folder = _write_dir(tmp_path / "t", IDS, np.roll(LABELS, 3), _brain_logits())
    with pytest.raises(DataError, match="labels disagree"):
        read_teacher_dir(folder, IDS, LABELS)


@pytest.fixture
def brain_dir(tmp_path):
    return _write_dir(tmp_path / "brain", IDS, LABELS, _brain_logits())


def _targets(kind, inputs, seed=0):
    z = teacher_logits(parse_teacher(f"{kind}/Subject1/LOC"), inputs, IDS, LABELS, SYNSETS, T, seed=seed)
    return softmax(z / T, axis=1)


def _donors(shuffled: np.ndarray, brain: np.ndarray) -> list[int]:
    """The image whose brain target each shuffled row holds (one each, or the test fails)."""
    donors = [[j for j in range(len(brain)) if np.allclose(row, brain[j])] for row in shuffled]
    assert all(len(d) == 1 for d in donors)
    return [d[0] for d in donors]


def test_shuffled_brain_permutes_targets_within_category_the_same_in_every_seed(brain_dir):
    brain, shuffled = _targets("brain", [brain_dir]), _targets("shuffled-brain", [brain_dir])
    donors = _donors(shuffled, brain)
    assert sorted(donors) == list(range(len(IDS))) and all(LABELS[d] == LABELS[i] for i, d in enumerate(donors))
    # A draw pairs targets with images the same way in every seed, as the brain's own pairing does.
    np.testing.assert_array_equal(shuffled, _targets("shuffled-brain", [brain_dir], seed=7))


def test_shuffle_draws_are_uniform_permutations_so_the_brain_is_exchangeable_with_them(brain_dir):
    # Uniform, not derangements: an image keeps its own target in 1 / 3 of draws (3 per category).
    brain = _targets("brain", [brain_dir])
    own = []
    for k in range(1, 301):
        z = teacher_logits(parse_teacher(f"shuffled-brain/Subject1/LOC/draw{k}"), [brain_dir], IDS, LABELS, SYNSETS, T)
        own.append(np.mean(np.array(_donors(softmax(z / T, axis=1), brain)) == np.arange(len(IDS))))
    assert np.mean(own) == pytest.approx(1 / 3, abs=0.03)


def test_class_mean_brain_is_constant_within_category(brain_dir):
    brain, class_mean = _targets("brain", [brain_dir]), _targets("class-mean-brain", [brain_dir])
    for c in range(N_CLASSES):
        np.testing.assert_allclose(class_mean[LABELS == c], np.tile(brain[LABELS == c].mean(0), (3, 1)), atol=1e-6)


def test_label_smoothing_matches_the_brain_true_class_probability(brain_dir):
    brain, smooth = _targets("brain", [brain_dir]), _targets("label-smoothing", [brain_dir])
    rows = np.arange(len(IDS))
    assert smooth[rows, LABELS].mean() == pytest.approx(brain[rows, LABELS].mean(), abs=1e-6)
    assert (smooth.argmax(1) == LABELS).all()


def test_shuffle_draws_are_different_permutations(brain_dir):
    # With 3 images a category has two 3-cycles, so two draws can coincide by chance; draw 2 does not.
    first = _targets("shuffled-brain", [brain_dir])
    z = teacher_logits(parse_teacher("shuffled-brain/Subject1/LOC/draw2"), [brain_dir], IDS, LABELS, SYNSETS, T)
    again = teacher_logits(parse_teacher("shuffled-brain/Subject1/LOC/draw2"), [brain_dir], IDS, LABELS, SYNSETS, T)
    np.testing.assert_array_equal(z, again)
    assert not np.allclose(softmax(z / T, axis=1), first)


def test_random_targets_match_the_brain_entropy_and_true_class_probability(brain_dir):
    brain, rand = _targets("brain", [brain_dir]), _targets("random", [brain_dir])
    assert entropy(rand).mean() == pytest.approx(entropy(brain).mean(), abs=1e-4)
    rows = np.arange(len(LABELS))
    assert rand[rows, LABELS].mean() == pytest.approx(brain[rows, LABELS].mean(), abs=1e-6)
    assert not np.allclose(_targets("random", [brain_dir], seed=1), rand)  # a new seed, new targets
    # Which other category gets the most mass says nothing about the brain's runner-up.
    masked_brain, masked_rand = brain.copy(), rand.copy()
    masked_brain[rows, LABELS] = masked_rand[rows, LABELS] = -1
    assert (masked_rand.argmax(1) == masked_brain.argmax(1)).mean() < 0.75


def test_control_streams_are_keyed_by_teacher_name_and_split(brain_dir):
    a = _targets("random", [brain_dir])
    spec = parse_teacher("random/mean/LOC")
    b = teacher_logits(spec, [brain_dir], IDS, LABELS, SYNSETS, T, split="split1")
    assert not np.allclose(softmax(b / T, axis=1), a)


def test_brain_mean_is_the_geometric_mean_of_subjects(tmp_path):
    a, b = _brain_logits(0), _brain_logits(1)
    dirs = [_write_dir(tmp_path / "a", IDS, LABELS, a), _write_dir(tmp_path / "b", IDS, LABELS, b)]
    z = teacher_logits(parse_teacher("brain-mean/LOC"), dirs, IDS, LABELS, SYNSETS, 1.0)
    expected = softmax(0.5 * (np.log(softmax(a, axis=1)) + np.log(softmax(b, axis=1))), axis=1)
    np.testing.assert_allclose(softmax(z, axis=1), expected, atol=1e-6)


def test_oracle_is_each_images_posterior_matched_by_name_and_synset(tmp_path):
    rng = np.random.default_rng(0)
    posterior = rng.dirichlet(np.ones(N_CLASSES), len(IDS))
    order = [2, 0, 3, 1]  # the ground truth lists categories in another order
    gt = {
        "categories": [{"synset": SYNSETS[c]} for c in order],
        "image_posterior": {"training": {i: p[order].tolist() for i, p in zip(IDS, posterior)}},
    }
    (tmp_path / "ground_truth.json").write_text(json.dumps(gt))
    ids = IDS[::-1]  # the student may list its images in any order
    z = teacher_logits(parse_teacher("oracle"), [tmp_path / "ground_truth.json"], ids, LABELS[::-1], SYNSETS, T)
    np.testing.assert_allclose(softmax(z, axis=1), posterior[::-1], atol=1e-6)
    # Image-specific: images of one category get different targets.
    assert not np.allclose(softmax(z, axis=1)[LABELS[::-1] == 0][0], softmax(z, axis=1)[LABELS[::-1] == 0][1])
    del gt["image_posterior"]
    (tmp_path / "ground_truth.json").write_text(json.dumps(gt))
    with pytest.raises(DataError, match="image_posterior"):
        teacher_logits(parse_teacher("oracle"), [tmp_path / "ground_truth.json"], IDS, LABELS, SYNSETS, T)


def test_decoder_targets_stay_aligned_with_their_images_under_a_permutation_test(quick_dataset, tmp_path):
    """Real decoder output: agreement of teacher and label beats every shuffled alignment."""
    table = god.read_stimulus_tsv(quick_dataset / god.TRAINING_TSV)
    split = make_splits(table.names, table.labels, 4, seed=0)[0]
    write_split(tmp_path / "split0.json", split)
    cfg = DecoderConfig(decoder="linear", n_folds=4, n_voxels=None, train=TrainConfig(epochs=40, log_every=1000))
    run_decode(quick_dataset, "Subject1", "LOC", tmp_path / "split0.json", tmp_path / "dec", cfg)
    train_ids = list(reversed(split.train))  # the student may list its images in any order
    labels = table.labels[[table.names.index(i) for i in train_ids]]
    z = teacher_logits(
        parse_teacher("brain/Subject1/LOC"),
        [tmp_path / "dec"],
        train_ids,
        labels,
        table.category_synsets,
        1.0,
        test_ids=split.test,
    )
    observed = (z.argmax(1) == labels).mean()
    rng = np.random.default_rng(0)
    null = [(z[rng.permutation(len(z))].argmax(1) == labels).mean() for _ in range(200)]
    assert observed > max(null)
    assert observed > 3 / len(table.categories)


def test_control_streams_are_keyed_by_the_teachers_name_not_the_kinds_position(tmp_path, monkeypatch):
    # Reordering the registry or adding a kind leaves every control's random draws as they were.
    from brainteacher import registry
    from brainteacher.distill import teachers

    folder = _write_dir(tmp_path / "b", IDS, LABELS, _brain_logits())
    spec = TeacherSpec("random", "Subject1", "V1")
    before = teacher_logits(spec, [folder], IDS, LABELS, SYNSETS, T, seed=3, split="split0")
    monkeypatch.setattr(registry, "TEACHER_KINDS", dict(reversed(registry.TEACHER_KINDS.items())))
    extra = registry.TeacherKind("extra-control", "?", brain_derived=True, control=True, target="random")
    with registry.temporary_teacher_kind(extra):
        after = teacher_logits(spec, [folder], IDS, LABELS, SYNSETS, T, seed=3, split="split0")
    np.testing.assert_array_equal(before, after)
    name_key = np.random.default_rng([3, zlib.crc32(b"random/Subject1/V1"), zlib.crc32(b"split0")])
    assert teachers._stream(spec, "split0", 3).bit_generator.state == name_key.bit_generator.state


# --- network-matched --------------------------------------------------------------------------------

# The stated tolerance of network-matched against its brain teacher, per category: the sorted
# true-class probabilities and entropies agree to bisection precision; top-1 follows from them and
# may differ by at most MATCHED_TOP1_IMAGES images of the category.
MATCHED_TOP1_IMAGES = 2


def matched_gaps(matched: np.ndarray, brain: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Largest per-category gap between two sets of tempered targets: sorted true-class probability,
    sorted entropy (nats), and the count of top-1-correct images."""
    gaps = {"p_true": 0.0, "entropy": 0.0, "top1_images": 0.0}
    for c in np.unique(labels):
        rows = labels == c
        gaps["p_true"] = max(gaps["p_true"], np.abs(np.sort(matched[rows, c]) - np.sort(brain[rows, c])).max())
        gaps["entropy"] = max(
            gaps["entropy"], np.abs(np.sort(entropy(matched[rows])) - np.sort(entropy(brain[rows]))).max()
        )
        correct = [(p[rows].argmax(1) == c).sum() for p in (matched, brain)]
        gaps["top1_images"] = max(gaps["top1_images"], abs(correct[0] - correct[1]))
    return gaps


def _gaussian_teachers(n_classes: int, per_class: int, seed: int = 0):
    """A weak brain teacher and a confident, differently shaped network teacher of the same images."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(n_classes), per_class)
    rows = np.arange(len(labels))
    brain = rng.normal(size=(len(labels), n_classes))
    brain[rows, labels] += rng.normal(1.0, 1.0, len(labels))
    network = rng.normal(0, 2, size=(len(labels), n_classes))
    network[rows, labels] += rng.normal(3.0, 1.0, len(labels))
    return network, brain, labels


@pytest.mark.parametrize("n_classes, per_class", [(20, 6), (150, 6)])
def test_network_matched_has_the_brain_quality_per_category(n_classes, per_class):
    from brainteacher.distill.teachers import match_to_brain

    network, brain, labels = _gaussian_teachers(n_classes, per_class)
    matched = softmax(match_to_brain(network, brain, labels, T) / T, axis=1)
    tempered_brain, tempered_network = softmax(brain / T, axis=1), softmax(network / T, axis=1)
    gaps = matched_gaps(matched, tempered_brain, labels)
    assert gaps["p_true"] < 1e-9 and gaps["entropy"] < 1e-6 and gaps["top1_images"] <= MATCHED_TOP1_IMAGES, gaps
    # The unmatched network teacher fails the same check: the check can fail.
    assert matched_gaps(tempered_network, tempered_brain, labels)["p_true"] > 0.1
    # What stays the network's: within a category, which images it is most confident about.
    rows = np.arange(len(labels))
    for c in range(n_classes):
        members = labels == c
        net_rank = np.argsort(np.argsort(tempered_network[rows[members], c]))
        matched_rank = np.argsort(np.argsort(matched[rows[members], c]))
        assert (net_rank == matched_rank).all()


def test_network_matched_and_its_shuffles_come_from_the_network_and_brain_folders(tmp_path, brain_dir):
    network_dir = _write_dir(tmp_path / "network", IDS, LABELS, _brain_logits(seed=5) * 3)
    inputs = [network_dir, brain_dir]
    matched = _targets("network-matched", inputs)
    brain = _targets("brain", [brain_dir])
    assert matched_gaps(matched, brain, LABELS)["p_true"] < 1e-6
    donors = _donors(_targets("shuffled-network-matched", inputs), matched)
    assert sorted(donors) == list(range(len(IDS))) and all(LABELS[d] == LABELS[i] for i, d in enumerate(donors))
    with pytest.raises(ValueError, match="network-teacher folder"):
        _targets("network-matched", [brain_dir])
