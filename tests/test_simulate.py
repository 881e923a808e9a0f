"""The simulator writes the GOD layout, deterministically, with the structure it claims to plant."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from brainteacher.cli import main
from brainteacher.data import encoding, god, presets
from brainteacher.data import simulate as sim
from brainteacher.data.inspection import inspect_dataset


def _ridge_cv_accuracy(X: np.ndarray, y: np.ndarray, folds: int = 4, lam: float = 100.0) -> float:
    """Out-of-fold accuracy of a ridge classifier on one-hot targets: an independent, plain
    linear read-out written here so the check does not rely on the package's decoders."""
    n_classes = y.max() + 1
    fold = np.empty(len(y), int)
    for c in range(n_classes):
        idx = np.flatnonzero(y == c)
        fold[idx] = np.arange(len(idx)) % folds
    correct = 0
    for f in range(folds):
        tr, te = fold != f, fold == f
        mu, sd = X[tr].mean(0), X[tr].std(0) + 1e-8
        A, B = (X[tr] - mu) / sd, (X[te] - mu) / sd
        Y = np.eye(n_classes)[y[tr]]
        W = np.linalg.solve(A.T @ A + lam * np.eye(A.shape[1]), A.T @ (Y - Y.mean(0)))
        correct += int((np.argmax(B @ W, axis=1) == y[te]).sum())
    return correct / len(y)


def test_layout_matches_the_release(quick_dataset):
    layout = god.GODLayout.from_root(quick_dataset)
    assert list(layout.subjects) == ["Subject1", "Subject2"]
    rec = god.read_subject(layout.subjects["Subject1"])
    assert rec.rois == god.ROIS
    assert set(np.unique(rec.datatype)) == {1, 2, 3}
    assert rec.category_index is not None and rec.image_index is not None
    train = rec.datatype == 1
    # Presentation order is shuffled, not image order.
    assert not np.array_equal(rec.stimulus_keys[train], np.sort(rec.stimulus_keys[train]))
    # ROI unions are unions.
    m = rec.roi_masks
    np.testing.assert_array_equal(m["LVC"], m["V1"] | m["V2"] | m["V3"])
    np.testing.assert_array_equal(m["VC"], m["LVC"] | m["V4"] | m["HVC"])
    # The TSV holds real GOD IDs in the authors' spelling (trailing zeros dropped).
    assert "n01518878_14910\t1518878.01491\t1\t4" in (quick_dataset / god.TRAINING_TSV).read_text()
    assert len(list((quick_dataset / god.TRAINING_IMAGE_DIR).glob("*.JPEG"))) == 160


def test_inspect_table_of_the_quick_preset(quick_dataset):
    table = inspect_dataset(god.GODLayout.from_root(quick_dataset))
    assert len(table) == 2 * len(god.ROIS)
    assert (table.n_images == 160).all() and (table.n_categories == 20).all() and (table.n_train_trials == 160).all()
    sizes = presets.PRESETS["quick"].roi_sizes
    v1 = table[(table.subject == "Subject1") & (table.roi == "V1")].n_voxels.item()
    assert v1 == sizes["V1"]
    assert table[table.roi == "VC"].n_voxels.iloc[0] == sum(sizes.values())


def _bdata_content(path):
    import bdpy

    bd = bdpy.BData(str(path))
    return bd.dataset, bd.metadata.key, bd.metadata.value


@pytest.mark.slow
def test_simulator_is_deterministic(tmp_path):
    preset = presets.get_preset("quick", n_subjects=1, n_categories=4, n_groups=2, image_size=32, grid=4)
    a, b, c = (sim.simulate(tmp_path / n, preset, seed=s) for n, s in (("a", 7), ("b", 7), ("c", 8)))
    da, db, dc = (_bdata_content(p / "Subject1.h5") for p in (a, b, c))
    np.testing.assert_array_equal(da[0], db[0])
    assert da[1] == db[1]
    np.testing.assert_array_equal(da[2], db[2])
    assert (a / god.TRAINING_TSV).read_bytes() == (b / god.TRAINING_TSV).read_bytes()
    assert (a / "ground_truth.json").read_text() == (b / "ground_truth.json").read_text()
    for img in (a / god.TRAINING_IMAGE_DIR).iterdir():
        assert img.read_bytes() == (b / god.TRAINING_IMAGE_DIR / img.name).read_bytes()
    assert not np.array_equal(da[0], dc[0])  # another seed, another dataset


def test_the_null_dial_keeps_category_means_and_scales_image_deviations():
    rng = np.random.default_rng(0)
    signal, category = rng.normal(size=(12, 5)), np.repeat(np.arange(3), 4)
    null = encoding.keep_image_signal(signal, category, 0.0)
    half = encoding.keep_image_signal(signal, category, 0.5)
    for c in range(3):
        rows = category == c
        np.testing.assert_allclose(null[rows], np.tile(signal[rows].mean(0), (4, 1)))
        np.testing.assert_allclose(half[rows] - null[rows], 0.5 * (signal[rows] - null[rows]))
    assert encoding.keep_image_signal(signal, category, 1.0) is signal
    with pytest.raises(ValueError, match="image_signal"):
        presets.get_preset("quick", image_signal=1.5)


def _noise_of(preset: presets.Preset, n_rows: int = 3000) -> np.ndarray:
    n_vox = sum(preset.roi_sizes.values())
    noise = encoding.TrialNoise.of(preset, preset.noise_sd, n_vox, np.random.default_rng(0))
    return noise.draw(n_rows, n_vox, np.random.default_rng(1))


def test_the_noise_knobs_share_and_smooth_the_noise_at_the_same_sd():
    white = presets.get_preset("quick", noise_scale=3.0)
    assert white.noise_sd == 3.0 * presets.PRESETS["quick"].noise_sd
    shared = presets.get_preset("quick", noise_sd=2.0, noise_shared_rank=3, noise_shared_share=0.4)
    smooth = presets.get_preset("quick", noise_sd=2.0, noise_smooth_sigma=1.5)
    for preset in (white, shared, smooth):
        assert abs(_noise_of(preset).std(axis=0).mean() / preset.noise_sd - 1) < 0.03
    # Shared: the top `rank` principal components hold the shared share of the variance (white: ~0).
    top = {p.name + str(p.noise_shared_rank): p for p in (white, shared)}
    for preset in top.values():
        eig = np.linalg.eigvalsh(np.cov(_noise_of(preset), rowvar=False))[::-1]
        excess = eig[:3].sum() / eig.sum() - 3 / len(eig)
        assert abs(excess - preset.noise_shared_share) < 0.05, (preset.noise_shared_share, excess)
    # Smooth: neighbours on V1's sheet correlate, voxels far apart do not.
    grid, cols = encoding._roi_grid(smooth, "V1"), encoding.roi_columns(smooth)["V1"]
    v1 = _noise_of(smooth)[:, cols]
    d = np.abs(grid[:, None, :] - grid[None, :, :]).sum(axis=2)
    corr = np.corrcoef(v1, rowvar=False)
    assert corr[d == 1].mean() > 0.5
    assert abs(corr[d > 8].mean()) < 0.02
    with pytest.raises(ValueError, match="noise_scale"):
        presets.get_preset("quick", noise_scale=0)
    with pytest.raises(ValueError, match="noise_shared_share"):
        presets.get_preset("quick", noise_shared_share=1.0)


def test_quick_pessimistic_is_the_quick_size_with_god_pessimistic_noise():
    quick, god, small = (presets.PRESETS[name] for name in ("quick", "god-pessimistic", "quick-pessimistic"))
    for field in dataclasses.fields(presets.Preset):
        source = god if field.name in presets.PESSIMISTIC_NOISE else quick
        if field.name != "name":
            assert getattr(small, field.name) == getattr(source, field.name), field.name
    assert small.noise_sd > 5 * quick.noise_sd  # GOD's single trials, not the quick preset's clean ones


def test_the_optimistic_presets_draw_the_noise_they_always_drew():
    quick = presets.PRESETS["quick"]
    want = np.random.default_rng(1).normal(0, quick.noise_sd, (10, sum(quick.roi_sizes.values())))
    np.testing.assert_array_equal(_noise_of(quick, 10), want)


def test_planted_category_signal_is_decodable_and_leak_free(quick_dataset):
    layout = god.GODLayout.from_root(quick_dataset)
    loc = layout.load("Subject1", "LOC")
    chance = 1 / loc.n_categories
    assert _ridge_cv_accuracy(loc.X, loc.labels) > 4 * chance
    shuffled = np.random.default_rng(0).permutation(loc.labels)
    assert _ridge_cv_accuracy(loc.X, shuffled) < 2.5 * chance
    # V1 carries pixel features only, so it decodes far worse than LOC.
    v1 = layout.load("Subject1", "V1")
    assert _ridge_cv_accuracy(v1.X, v1.labels) < _ridge_cv_accuracy(loc.X, loc.labels) - 0.15


def test_ground_truth_describes_the_plant(quick_dataset):
    truth = json.loads((quick_dataset / "ground_truth.json").read_text())
    assert "SIMULATED" in truth["note"]
    assert truth["planted_category_order"][0] == "LOC" and truth["planted_category_order"][-1] == "V1"
    sim_matrix = np.array(truth["category_similarity"])
    groups = np.array([c["group"] for c in truth["categories"]])
    assert sim_matrix.shape == (20, 20)
    np.testing.assert_allclose(np.diag(sim_matrix), 1, atol=1e-5)
    same = groups[:, None] == groups[None, :]
    off = ~np.eye(20, dtype=bool)
    assert sim_matrix[same & off].mean() > sim_matrix[~same].mean() + 0.3
    assert set(truth["preferred_groups"]) == {"FFA", "PPA"}


def test_failed_simulation_leaves_nothing(tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(sim, "_write_bdata", boom)
    with pytest.raises(RuntimeError):
        sim.simulate(
            tmp_path / "out",
            presets.get_preset("quick", n_subjects=1, n_categories=2, n_groups=2, image_size=16, grid=4),
        )
    assert list(tmp_path.iterdir()) == []


def test_cli_refuses_an_unknown_preset(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["-q", "simulate", "--out", str(tmp_path / "x"), "--preset", "nope"])
    assert exit_.value.code == 2
    assert "invalid choice: 'nope'" in capsys.readouterr().err
    with pytest.raises(ValueError, match="unknown preset 'nope'; valid: quick, god"):
        presets.get_preset("nope")


def _probe_correlation(features: np.ndarray, targets: np.ndarray, folds: int = 5, lam: float = 10.0) -> float:
    """Out-of-fold correlation between ridge predictions from ``features`` and ``targets`` (both
    (n, k)), over all entries: a plain linear probe written here, independent of the package."""
    fold = np.arange(len(features)) % folds
    pred = np.zeros_like(targets)
    for f in range(folds):
        tr, te = fold != f, fold == f
        mu, sd = features[tr].mean(0), features[tr].std(0) + 1e-8
        A, B = (features[tr] - mu) / sd, (features[te] - mu) / sd
        W = np.linalg.solve(A.T @ A + lam * np.eye(A.shape[1]), A.T @ (targets[tr] - targets[tr].mean(0)))
        pred[te] = B @ W + targets[tr].mean(0)
    return float(np.corrcoef(pred.ravel(), targets.ravel())[0, 1])


def _within_category_deviation(values: np.ndarray, labels: np.ndarray) -> np.ndarray:
    out = values.copy()
    for c in np.unique(labels):
        out[labels == c] -= values[labels == c].mean(axis=0)
    return out


def test_pixels_carry_the_image_latent_beyond_the_category(quick_dataset):
    """The planted image latent is visible: a linear probe on pixel features predicts each image's
    posterior deviation from its category's mean, and not once targets are shuffled within category."""
    from PIL import Image

    table = god.read_stimulus_tsv(quick_dataset / god.EVALUATION_TSV)
    gt = json.loads((quick_dataset / "ground_truth.json").read_text())
    posterior = np.array([gt["image_posterior"]["evaluation"][n] for n in table.names])
    labels = table.labels
    target = _within_category_deviation(np.log(np.clip(posterior, 1e-6, 1)), labels)
    paths = god.image_paths(quick_dataset / god.EVALUATION_IMAGE_DIR, table.names)
    features = np.stack([encoding.pixel_features(np.asarray(Image.open(p), float) / 255.0, 4).ravel() for p in paths])
    features = _within_category_deviation(features, labels)  # only what differs within a category
    r = _probe_correlation(features, target)
    shuffled = np.empty_like(target)
    rng = np.random.default_rng(0)
    for c in np.unique(labels):
        rows = np.flatnonzero(labels == c)
        shuffled[rows] = target[rng.permutation(rows)]
    r_shuffled = _probe_correlation(features, shuffled)
    assert r > 0.15 and r > r_shuffled + 0.1, (r, r_shuffled)


def test_evaluation_set_is_disjoint_from_the_training_images(quick_dataset):
    train = set(god.read_stimulus_tsv(quick_dataset / god.TRAINING_TSV).names)
    evaluation = god.read_stimulus_tsv(quick_dataset / god.EVALUATION_TSV)
    assert len(evaluation.names) == 20 * presets.PRESETS["quick"].n_evaluation_per_category
    assert not train & set(evaluation.names)
    assert len(list((quick_dataset / god.EVALUATION_IMAGE_DIR).glob("*.JPEG"))) == len(evaluation.names)


def test_neighbouring_voxels_share_tuning_but_file_columns_are_shuffled(quick_dataset):
    """Signal correlation is higher between voxels 3 mm apart than between far ones, as in smooth
    fMRI; adjacent file columns are not neighbours, so a 1D axis must come from the coordinates."""
    data = god.GODLayout.from_root(quick_dataset).load("Subject1", "LOC", check_images=False)
    means = np.stack([data.X[data.labels == c].mean(axis=0) for c in np.unique(data.labels)])  # (C, V): averages noise
    corr = np.corrcoef(means.T)
    dist = np.linalg.norm(data.voxel_xyz[:, None] - data.voxel_xyz[None], axis=2)
    near, far = corr[np.isclose(dist, 3.0)].mean(), corr[dist > 15].mean()
    assert near > far + 0.15
    steps = np.linalg.norm(np.diff(data.voxel_xyz, axis=0), axis=1)
    assert np.median(steps) > 6.0  # in file order, consecutive voxels are usually far apart
