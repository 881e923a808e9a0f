"""Brain decoders: honest out-of-fold soft labels, aligned, leak-free and deterministic on CPU."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from brainteacher.cli import main
from brainteacher.data import god
from brainteacher.data.splits import make_splits, write_split
from brainteacher.decode import decoders
from brainteacher.decode.decoders import DecoderConfig, out_of_fold_logits, run_decode
from brainteacher.decode.voxelorder import spatial_order
from brainteacher.metrics import softmax, topk_accuracy
from brainteacher.nn.resnet import count_parameters, resnet18
from brainteacher.nn.train import TrainConfig

LINEAR = DecoderConfig(decoder="linear", n_folds=4, n_voxels=None, train=TrainConfig(epochs=60, log_every=1000))
RESNET = DecoderConfig(decoder="resnet1d", n_folds=4, n_voxels=None, train=TrainConfig(epochs=40, log_every=1000))
TINY_RESNET = DecoderConfig(
    decoder="resnet1d", n_folds=2, n_voxels=50, width=4, train=TrainConfig(epochs=3, log_every=1000)
)


@pytest.fixture(scope="module")
def loc(quick_dataset):
    return god.GODLayout.from_root(quick_dataset).load("Subject1", "LOC", check_images=False)


def _oof_accuracy(X, y, runs, cfg):
    logits = out_of_fold_logits(X, y, runs, int(y.max()) + 1, cfg).logits
    return topk_accuracy(logits, y, 1)


def test_linear_decoder_finds_planted_category_signal(loc):
    assert _oof_accuracy(loc.X, loc.labels, loc.runs, LINEAR) > 4 / loc.n_categories


def test_resnet_decoder_matches_the_linear_decoder(loc):
    """The 1D ResNet (spatial order, linear shortcut) loses nothing against logistic regression.
    160 images: one image is 0.6 pp, so the margin allows three images' worth of noise."""
    X = loc.X[:, spatial_order(loc.voxel_xyz)]
    recipe = {"n_folds": 5, "within_run": True, "train": TrainConfig(epochs=40, log_every=1000)}  # config/config.yaml's
    resnet, linear = (_oof_accuracy(X, loc.labels, loc.runs, replace(cfg, **recipe)) for cfg in (RESNET, LINEAR))
    assert resnet >= linear - 0.02


def _permuted(loc, seed=1):
    perm = np.random.default_rng(seed).permutation(loc.X.shape[1])
    return loc.X[:, perm], loc.voxel_xyz[perm]


def test_spatial_order_undoes_any_shuffle_of_the_file_columns(loc):
    X_shuffled, xyz_shuffled = _permuted(loc)
    np.testing.assert_array_equal(X_shuffled[:, spatial_order(xyz_shuffled)], loc.X[:, spatial_order(loc.voxel_xyz)])


@pytest.mark.parametrize("decoder", ["linear", "resnet1d"])
def test_file_order_matters_to_the_resnet_only(loc, decoder):
    """Columns in file order: shuffling them leaves logistic regression as it was (zero start,
    one weight per voxel) but changes the convolutions' neighbourhoods, hence the 1D ResNet.
    No input noise here: its draws follow column positions, so they would move with the shuffle."""
    cfg = replace(TINY_RESNET, decoder=decoder, n_voxels=None, voxel_order="file", input_noise=0.0)
    n = int(loc.labels.max()) + 1
    a = out_of_fold_logits(loc.X, loc.labels, loc.runs, n, cfg).logits
    b = out_of_fold_logits(_permuted(loc)[0], loc.labels, loc.runs, n, cfg).logits
    if decoder == "linear":
        np.testing.assert_allclose(a, b, atol=1e-4)
    else:
        assert np.abs(a - b).max() > 1e-2


def test_metrics_record_the_voxel_order(quick_dataset, tmp_path):
    metrics = run_decode(quick_dataset, "Subject1", "V4", "all", tmp_path / "out", replace(TINY_RESNET, n_voxels=None))
    data = god.GODLayout.from_root(quick_dataset).load("Subject1", "V4", check_images=False)
    recorded = metrics["voxel_order"]
    assert recorded["kind"] == "spatial" and recorded["columns"] == spatial_order(data.voxel_xyz).tolist()
    assert json.loads((tmp_path / "out" / "metrics.json").read_text())["voxel_order"] == recorded


def test_linear_shortcut_adds_a_linear_read_out_and_keeps_torchvision_names():
    backbone = {"spatial_dims": 1, "in_channels": 1, "num_classes": 5, "width": 4}
    plain = resnet18(**backbone)
    with_shortcut = resnet18(cls=decoders.ShortcutResNet, n_inputs=30, head_dropout=0.5, **backbone)
    assert set(with_shortcut.state_dict()) - set(plain.state_dict()) == {"shortcut.weight", "shortcut.bias"}
    assert count_parameters(with_shortcut) - count_parameters(plain) == 30 * 5 + 5
    x = torch.randn(64, 1, 30)
    assert with_shortcut(x).abs().max() == 0  # head and shortcut start at zero: a linear model at 0
    torch.nn.init.normal_(with_shortcut.fc.weight)
    torch.nn.init.normal_(with_shortcut.shortcut.weight)
    with_shortcut.eval()
    full = with_shortcut.fc(with_shortcut.features(x)) + with_shortcut.shortcut(x.flatten(1))
    torch.testing.assert_close(with_shortcut(x), full)  # eval: shortcut + the whole head
    with_shortcut.train()
    shortcut_only = with_shortcut.shortcut(x.flatten(1))
    dropped = (with_shortcut(x) - shortcut_only).abs().amax(dim=1) == 0
    assert 0 < dropped.sum() < len(x)  # training: the head is dropped for some samples, not all


@pytest.mark.parametrize("shortcut", [True, False])
def test_the_ablation_switch_builds_the_named_architecture(shortcut):
    model = decoders.build_decoder(replace(TINY_RESNET, linear_shortcut=shortcut), n_voxels=50, n_classes=7)
    assert isinstance(model, decoders.ShortcutResNet) == shortcut
    out = model(torch.randn(4, 1, 50))
    assert out.shape == (4, 7)
    # With the shortcut every weight of the head starts at zero: the model starts as a linear one.
    assert (out.abs().max() == 0) == shortcut


def _terms(informative: str, n: int = 200, n_classes: int = 5, seed: int = 0):
    """(n, 2, C) shortcut and head logits, labels and 5 folds: the ``informative`` term carries
    the label and the other is noise, or (``both``) each carries it with its own noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, n)
    onehot = 2.0 * np.eye(n_classes)[y]
    signal, noise = onehot + rng.normal(size=(n, n_classes)), 3.0 * rng.normal(size=(n, n_classes))
    if informative == "both":
        noise = onehot + 1.4 * rng.normal(size=(n, n_classes))  # half the shortcut's precision
    terms = np.stack([noise, signal] if informative == "head" else [signal, noise], axis=1)
    return terms, y, np.arange(n) % 5


@pytest.mark.parametrize("informative, weight", [("shortcut", 0.0), ("head", 1.0)])
def test_head_weight_follows_what_the_head_adds(informative, weight):
    terms, y, folds = _terms(informative)
    np.testing.assert_array_equal(decoders.cross_fitted_head_weights(terms, y, folds), np.full(5, weight))


def test_a_folds_head_weight_never_reads_its_own_labels():
    terms, y, folds = _terms("both")
    before = decoders.cross_fitted_head_weights(terms, y, folds)
    assert 0 < before.min() and before.max() < 1  # inside the grid, where labels move the choice
    # Fold 2's labels now agree with the head wherever it points: a weight fitted on every row
    # would rise to 1 (it does for the other folds), fold 2's own must not move.
    y2 = y.copy()
    y2[folds == 2] = terms[folds == 2, 1].argmax(axis=1)
    after = decoders.cross_fitted_head_weights(terms, y2, folds)
    assert after[2] == before[2] and (np.delete(after, 2) > np.delete(before, 2)).all()


@pytest.mark.slow  # trains eight 1D ResNets: the fast loop's slowest test (`--durations`, 2026-12-06)
def test_resnet_stages_are_used_where_the_linear_read_out_is_blind():
    """Positive control for the architecture and its head weight: the category is the amplitude of
    the voxel pattern (zero mean in every class), which no linear read-out sees and pooled
    convolutions do. The cross-fitted weight keeps the head, and the 1D ResNet beats linear."""
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 40)
    X = (np.array([0.4, 1.0, 2.5])[y, None] * rng.normal(size=(120, 64))).astype(np.float32)
    cfg = replace(TINY_RESNET, n_folds=4, n_voxels=None, input_noise=0.0, train=TrainConfig(epochs=10, log_every=1000))
    runs = np.zeros(120, int)
    resnet = out_of_fold_logits(X, y, runs, 3, cfg)
    linear = out_of_fold_logits(X, y, runs, 3, replace(cfg, decoder="linear"))
    assert resnet.head_weights.min() >= 0.5
    assert topk_accuracy(resnet.logits, y, 1) > topk_accuracy(linear.logits, y, 1) + 0.15


@pytest.mark.parametrize("control", ["shuffled labels", "null ROI"])
def test_leakage_controls_sit_at_chance(loc, control):
    rng = np.random.default_rng(0)
    X, y = loc.X, loc.labels
    if control == "shuffled labels":
        y = rng.permutation(y)
    else:
        X = rng.normal(size=X.shape).astype(np.float32)
    # 160 images, 20 categories: chance is 0.05; 0.11 is about three binomial SDs above it.
    assert _oof_accuracy(X, y, loc.runs, LINEAR) < 0.11


@pytest.fixture(scope="module")
def split_file(quick_dataset, tmp_path_factory):
    table = god.read_stimulus_tsv(quick_dataset / god.TRAINING_TSV)
    split = make_splits(table.names, table.labels, 4, seed=0)[1]
    path = tmp_path_factory.mktemp("splits") / "split1.json"
    write_split(path, split)
    return path, split


def test_outputs_are_aligned_and_only_use_training_images(quick_dataset, split_file, tmp_path, monkeypatch):
    path, split = split_file
    seen = {}
    real = decoders.out_of_fold_logits

    def spy(X, y, runs, n_classes, cfg, device=None, groups=None):
        seen["X"], seen["y"] = X.copy(), y.copy()
        return real(X, y, runs, n_classes, cfg, device, groups)

    monkeypatch.setattr(decoders, "out_of_fold_logits", spy)
    run_decode(quick_dataset, "Subject1", "LOC", path, tmp_path / "out", LINEAR)
    out = tmp_path / "out"
    ids = np.load(out / "image_ids.npy")
    logits, soft = np.load(out / "logits.npy"), np.load(out / "soft_labels.npy")
    assert set(ids) == set(split.train) and not set(ids) & set(split.test)
    assert logits.shape == soft.shape == (len(split.train), 20) and logits.dtype == np.float32
    np.testing.assert_allclose(soft, softmax(logits, axis=1), rtol=1e-5)
    # Row i of every output is image ids[i]: its voxels and label are the dataset's for that image.
    data = god.GODLayout.from_root(quick_dataset).load("Subject1", "LOC", check_images=False)
    rows = [data.image_ids.index(i) for i in ids]
    np.testing.assert_array_equal(seen["X"], data.X[rows][:, spatial_order(data.voxel_xyz)])
    np.testing.assert_array_equal(np.load(out / "labels.npy"), data.labels[rows])
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_images"] == 120 and metrics["split"] == "split1"
    oof = metrics["out_of_fold"]
    assert oof["top1"] == pytest.approx(topk_accuracy(logits, data.labels[rows], 1))
    assert oof["top1_chance"] == 0.05
    assert {"config_hash", "package_versions", "git_revision", "seed", "wall_time_s", "device"} <= set(metrics)


def test_inner_folds_hold_each_image_out_exactly_once(quick_dataset, split_file, tmp_path):
    path, _ = split_file
    run_decode(quick_dataset, "Subject1", "V1", path, tmp_path / "out", LINEAR)
    folds, labels = np.load(tmp_path / "out" / "folds.npy"), np.load(tmp_path / "out" / "labels.npy")
    assert sorted(np.unique(folds)) == [0, 1, 2, 3]
    for k in range(4):  # every category is in every fold's training part
        assert set(labels[folds != k]) == set(range(20))


def test_cpu_runs_repeat_exactly(quick_dataset, tmp_path):
    for name in ("a", "b"):
        run_decode(quick_dataset, "Subject2", "FFA", "all", tmp_path / name, TINY_RESNET)
    np.testing.assert_array_equal(np.load(tmp_path / "a" / "logits.npy"), np.load(tmp_path / "b" / "logits.npy"))


def test_cli_decode_and_a_bad_split(quick_dataset, tmp_path, capsys):
    args = [
        "-q",
        "decode",
        "--root",
        str(quick_dataset),
        "--subject",
        "Subject1",
        "--roi",
        "V4",
        "--out",
        str(tmp_path / "o"),
        "--decoder",
        "linear",
        "--epochs",
        "5",
    ]
    assert main(args + ["--split", str(tmp_path / "missing.json")]) == 2
    assert "missing.json: split file not found" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
    assert main(args + ["--split", "all", "--n-voxels", "50"]) == 0
    assert json.loads((tmp_path / "o" / "metrics.json").read_text())["n_voxels"] == 50


@pytest.mark.slow
def test_repeated_trials_of_an_image_share_a_fold(handmade, tmp_path, monkeypatch):
    (handmade.root / "Subject1.h5").unlink()
    n = len(handmade.order)
    rng = np.random.default_rng(0)
    for session in ("ses1", "ses2"):
        handmade.write(rng.normal(size=(n, 6)), name=f"Subject1_{session}.h5")
    cfg = DecoderConfig(
        decoder="linear", n_folds=3, n_voxels=None, keep_repeats=True, train=TrainConfig(epochs=2, log_every=1000)
    )
    seen = {}
    real = decoders.fit_folds

    def spy(folds, *args, **kwargs):
        seen.setdefault("n_train", []).extend(len(f.X_tr) for f in folds)
        return real(folds, *args, **kwargs)

    monkeypatch.setattr(decoders, "fit_folds", spy)
    run_decode(handmade.root, "Subject1", "V1", "all", tmp_path / "out", cfg)
    ids = np.load(tmp_path / "out" / "image_ids.npy")
    assert list(ids) == list(god.read_stimulus_tsv(handmade.root / god.TRAINING_TSV).names)  # one row per image
    assert seen["n_train"] == [8, 8, 8]  # 12 trials; each fold holds out both trials of 2 images
    folds = decoders._image_folds(np.repeat([0, 0, 0, 1, 1, 1], 2), np.repeat(np.arange(6), 2), 3, seed=0)
    assert (folds[0::2] == folds[1::2]).all()


@pytest.mark.parametrize("decoder", ["linear", "resnet1d"])
def test_no_decoder_step_reads_a_test_image(quick_dataset, tmp_path, decoder):
    """Teacher folders (logits, temperature) are unchanged when the held-out images' fMRI changes:
    voxel order, preprocessing, training and calibration never read a held-out image."""
    import shutil

    import bdpy

    from brainteacher.data.splits import make_splits, write_split

    table = god.read_stimulus_tsv(quick_dataset / god.TRAINING_TSV)
    split = make_splits(table.names, table.labels, 4, seed=0)[0]
    write_split(tmp_path / "split0.json", split)
    cfg = DecoderConfig(decoder=decoder, n_folds=3, n_voxels=None, width=4, train=TrainConfig(epochs=5, log_every=1000))
    a = run_decode(quick_dataset, "Subject1", "LOC", tmp_path / "split0.json", tmp_path / "a", cfg)
    damaged = tmp_path / "data"
    shutil.copytree(quick_dataset, damaged)
    rec = god.read_subject(damaged / "Subject1.h5")
    held_out = np.isin([god.name_from_stimulus_key(k) for k in rec.stimulus_keys], split.test) & (rec.datatype == 1)
    bdata = bdpy.BData(str(damaged / "Subject1.h5"))
    data = bdata.dataset.copy()
    voxel_cols = np.flatnonzero(bdata.get_metadata("VoxelData") == 1)
    data[np.ix_(held_out, voxel_cols)] += 100.0  # only the held-out images' voxels change
    bdata.dataset = data
    bdata.save(str(damaged / "Subject1.h5"))
    b = run_decode(damaged, "Subject1", "LOC", tmp_path / "split0.json", tmp_path / "b", cfg)
    assert a["calibration"] == b["calibration"]
    np.testing.assert_array_equal(np.load(tmp_path / "a" / "logits.npy"), np.load(tmp_path / "b" / "logits.npy"))
