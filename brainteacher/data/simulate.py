"""A simulator that writes a GOD-format dataset with planted, known structure.

Simulated numbers are demos and tests, never findings about the brain. What is planted:

- **Images.** Categories are grouped into superordinate groups. A group fixes a shape family and a
  hue; a category adds a texture (frequency, orientation in object coordinates), a hue offset and
  an aspect ratio; an image adds position, scale, rotation, colour jitter and a cluttered
  background. So category similarity is real and visible in the pixels.
- **Image latents, visible.** Every image has a latent ``z_image = z_category + image_sd * e``
  (``e`` standard normal over D dimensions, scaled by 1/sqrt(D)). Its category *posterior* under
  this generative model, ``p(c | z_image) ∝ exp(D z_image·z_c / image_sd²)`` (unit ``z_c``,
  uniform prior over the training categories), sets how the image is drawn: shape outline, hue,
  aspect and texture are the posterior-weighted mixture of the categories' own. An image whose
  latent lies toward another category looks partly like it. That posterior, per image, is what
  ``ground_truth.json`` records, and it is the oracle teacher.
- **Voxels** come from an encoding model, ``voxel = a_low * low + a_cat * category + noise``:
  ``low`` pools pixel features (orientation energy, colour opponency, luminance on a coarse
  retinotopic grid) over a voxel's receptive field, whose size grows from V1 to PPA; ``category``
  reads a latent vector ``z_image = z_category + image_sd * e``, where categories of one group share
  part of their ``z``. The ROI gains ``(a_low, a_cat)`` set the planted ordering of category
  information. FFA and PPA respond more, and more selectively, to their preferred groups.
  Each subject has its own noise level, voxel weights and presentation order; every run adds its
  own offset to every voxel (which is why z-scoring within run helps). Each ROI is a sheet of
  voxels on a 3 mm grid (written as ``voxel_x/y/z``): receptive-field centres are retinotopic and
  every tuning is partly smooth over the sheet (``tuning_sigma``, ``tuning_smooth_share``), as
  in smooth fMRI, while the file's column order is shuffled, so only the coordinates say which
  voxels are neighbours. The voxels read the same ``z_image`` the pixels show, so an ROI's
  image-specific information can teach a student.
- **An evaluation set.** Extra images of the training categories (``images/evaluation``, listed
  in ``stimulus_SimulatedEvaluation.tsv``): in no split, never shown to a decoder, with no fMRI.
  Students are scored on them besides each split's held-out images.

Everything written is a pure function of (preset, seed), so the output is deterministic.
"""

from __future__ import annotations

from dataclasses import asdict
from importlib import resources
from pathlib import Path

import numpy as np

from brainteacher.data import god
from brainteacher.data.encoding import (
    Stimuli,
    category_latents,
    image_latents,
    latent_posterior,
    pixel_features,
    roi_columns,
    simulate_subject,
    voxel_coordinates,
)
from brainteacher.data.presets import Preset, get_preset
from brainteacher.data.render import Category, Look, look_of, make_categories, render
from brainteacher.outputs import atomic_dir, write_json

__all__ = ["simulate"]


# --- stimuli: the real GOD IDs -----------------------------------------------------------------


def _packaged_table(filename: str) -> god.StimulusTable:
    with resources.as_file(resources.files("brainteacher.resources.god") / filename) as path:
        return god.read_stimulus_tsv(path)


def _choose_training_stimuli(preset: Preset) -> tuple[np.ndarray, np.ndarray]:
    """Keys and category numbers (1..C) of the first ``n_categories`` GOD training categories."""
    table = _packaged_table(god.TRAINING_TSV)
    if preset.images_per_category > 8:
        raise ValueError("GOD has 8 training images per category; images_per_category must be <= 8")
    keys, cats = [], []
    for new_cat, old_cat in enumerate(table.categories[: preset.n_categories], start=1):
        rows = np.flatnonzero(table.category_index == old_cat)[: preset.images_per_category]
        keys.extend(table.keys[rows])
        cats.extend([new_cat] * len(rows))
    if len(set(cats)) < preset.n_categories:
        raise ValueError(f"GOD has {len(table.categories)} training categories; asked for {preset.n_categories}")
    return np.array(keys, np.int64), np.array(cats, np.int64)


# --- writing ------------------------------------------------------------------------------------


def _write_bdata(path: Path, subject: dict, preset: Preset) -> None:
    n_vox = subject["voxels"].shape[1]
    masks = {r: np.isin(np.arange(n_vox), c) for r, c in roi_columns(preset).items()}
    for union, parts in god.ROI_UNIONS.items():
        masks[union] = np.any([masks[p] for p in parts], axis=0)
    god.write_bdata(path, subject["voxels"], masks, voxel_coordinates(preset), **{k: subject[k] for k in _ROW_KEYS})


_ROW_KEYS = ("datatype", "runs", "blocks", "stimulus_id", "category_index", "image_index")


def _write_images(
    folder: Path,
    keys: np.ndarray,
    cats: list[Category],
    posteriors: np.ndarray,
    candidates: np.ndarray,
    size: int,
    rng: np.random.Generator,
    grid: int,
) -> np.ndarray:
    """Render, save as JPEG and return the pixel features (n, 7, grid*grid) of each image.

    ``posteriors`` (n, k) are the images' category posteriors over ``candidates`` (k,), indices
    into ``cats``: each image is drawn as their mixture."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    feats = []
    for key, post in zip(keys, posteriors):
        look = look_of(post)
        img = render(cats, Look(candidates[look.categories], look.weights), size, rng)
        pixels = np.round(img * 255).astype(np.uint8)
        Image.fromarray(pixels).save(
            folder / f"{god.name_from_stimulus_key(key)}{god.IMAGE_SUFFIX}", format="JPEG", quality=92
        )
        feats.append(pixel_features(pixels / 255.0, grid))
    return np.stack(feats)


def _group_preferences(n_groups: int, rng: np.random.Generator) -> dict[str, list[int]]:
    """FFA and PPA each prefer different groups (a quarter of the groups each, at least one)."""
    k = max(1, n_groups // 4)
    perm = rng.permutation(n_groups)
    return {"FFA": sorted(perm[:k].tolist()), "PPA": sorted(perm[k : 2 * k].tolist())}


def _planted_order(preset: Preset) -> list[str]:
    """Single ROIs from most to least planted category information (the gain a_cat)."""
    return sorted(god.SINGLE_ROIS, key=lambda r: -preset.roi_gains[r][1])


def _test_and_imagery_tables(preset: Preset) -> tuple[god.StimulusTable, god.StimulusTable]:
    test = _packaged_table(god.TEST_TSV)
    n = preset.n_test_images
    test = god.StimulusTable(test.path, test.names[:n], test.keys[:n], test.category_index[:n], test.image_index[:n])
    imagery_path = resources.files("brainteacher.resources.god") / "category_GODImagery.tsv"
    rows = [line.split("\t") for line in imagery_path.read_text().splitlines() if line.strip()][
        : preset.n_imagery_categories
    ]
    synsets = np.array([int(row[1]) for row in rows], np.int64)
    imagery = god.StimulusTable(
        test.path,
        tuple(row[0] for row in rows),
        synsets * 10**6,
        np.array([int(row[2]) for row in rows]),
        np.zeros(len(rows), np.int64),
    )
    return test, imagery


def _evaluation_stimuli(
    train_keys: np.ndarray, train_cats: np.ndarray, per_category: int
) -> tuple[np.ndarray, np.ndarray]:
    """Keys and category numbers of the evaluation images: ``per_category`` new image numbers
    (900001, ...) under each training category's synset, so no key is a real GOD image's."""
    keys, cats = [], []
    for cat in np.unique(train_cats):
        synset = int(train_keys[np.flatnonzero(train_cats == cat)[0]]) // 10**6
        keys.extend(synset * 10**6 + 900001 + np.arange(per_category))
        cats.extend([int(cat)] * per_category)
    return np.array(keys, np.int64), np.array(cats, np.int64)


def simulate(out: str | Path, preset: Preset | str = "quick", seed: int = 0) -> Path:
    """Write a GOD-format dataset to ``out`` (replaced atomically): ``Subject<N>.h5``,
    ``stimulus_ImageNetTraining.tsv``, ``stimulus_ImageNetTest.tsv``,
    ``stimulus_SimulatedEvaluation.tsv``, ``images/{training,test,evaluation}/*.JPEG`` and
    ``ground_truth.json``. Returns ``out``."""
    preset = get_preset(preset) if isinstance(preset, str) else preset
    rng = np.random.default_rng(seed)
    train_keys, train_cats = _choose_training_stimuli(preset)
    test_table, imagery_table = _test_and_imagery_tables(preset)
    n_train_cat, n_test_cat = preset.n_categories, len(np.unique(test_table.category_index))

    # Training categories first, then the test categories (new, but from the same groups),
    # then the imagery categories (which GOD shares with the test set; here they share latents).
    cats = make_categories(n_train_cat + n_test_cat, preset.n_groups, rng)
    z_cat = category_latents(cats, preset.n_groups, preset, rng)
    cat_of_image = np.concatenate(
        [train_cats - 1, n_train_cat + np.searchsorted(np.unique(test_table.category_index), test_table.category_index)]
    )
    groups = np.array([cats[c].group for c in cat_of_image])
    z_images = image_latents(z_cat, cat_of_image, preset, rng)
    preferred = _group_preferences(preset.n_groups, rng)
    subject_noise = preset.noise_sd * rng.uniform(0.8, 1.3, preset.n_subjects)
    # A stream of its own, so the size of the evaluation set changes nothing else.
    eval_rng = np.random.default_rng([seed, 1000])
    eval_keys, eval_cats = _evaluation_stimuli(train_keys, train_cats, preset.n_evaluation_per_category)
    eval_z = image_latents(z_cat, eval_cats - 1, preset, eval_rng)

    # Posteriors over the categories an image could be confused with: training images (and the
    # evaluation images) among the training categories, test images among the test categories.
    train_cands, test_cands = np.arange(n_train_cat), n_train_cat + np.arange(n_test_cat)
    n_train = len(train_keys)
    train_post = latent_posterior(z_images[:n_train], z_cat[train_cands], preset.image_sd)
    test_post = latent_posterior(z_images[n_train:], z_cat[test_cands], preset.image_sd)
    eval_post = latent_posterior(eval_z, z_cat[train_cands], preset.image_sd)

    with atomic_dir(out) as tmp:
        feats = np.concatenate(
            [
                _write_images(
                    tmp / god.TRAINING_IMAGE_DIR,
                    train_keys,
                    cats,
                    train_post,
                    train_cands,
                    preset.image_size,
                    rng,
                    preset.grid,
                ),
                _write_images(
                    tmp / god.TEST_IMAGE_DIR,
                    test_table.keys,
                    cats,
                    test_post,
                    test_cands,
                    preset.image_size,
                    rng,
                    preset.grid,
                ),
            ]
        )
        _write_images(
            tmp / god.EVALUATION_IMAGE_DIR,
            eval_keys,
            cats,
            eval_post,
            train_cands,
            preset.image_size,
            eval_rng,
            preset.grid,
        )
        stim = Stimuli(feats, z_images, z_cat, cat_of_image, groups, n_train)
        imagery_z = z_cat[n_train_cat + (np.arange(len(imagery_table.keys)) % n_test_cat)]
        tables = {
            "training": {
                "keys": train_keys,
                "ids": train_keys / 1e6,
                "category_index": train_cats,
                "image_index": np.arange(1, n_train + 1),
            },
            "test": {
                "keys": test_table.keys,
                "ids": test_table.keys / 1e6,
                "category_index": test_table.category_index,
                "image_index": test_table.image_index,
            },
            "imagery": {
                "keys": imagery_table.keys,
                "ids": imagery_table.keys / 1e6,
                "category_index": imagery_table.category_index,
                "image_index": np.full(len(imagery_table.keys), np.nan),
                "z": imagery_z,
            },
        }
        god.write_stimulus_tsv(tmp / god.TRAINING_TSV, train_keys, train_cats, np.arange(1, n_train + 1))
        god.write_stimulus_tsv(tmp / god.TEST_TSV, test_table.keys, test_table.category_index, test_table.image_index)
        god.write_stimulus_tsv(tmp / god.EVALUATION_TSV, eval_keys, eval_cats, np.arange(1, len(eval_keys) + 1))
        for s in range(preset.n_subjects):
            subject = simulate_subject(
                stim, tables, preset, preferred, float(subject_noise[s]), np.random.default_rng([seed, s + 1])
            )
            _write_bdata(tmp / f"Subject{s + 1}.h5", subject, preset)
        posterior = {"training": (train_keys, train_post), "evaluation": (eval_keys, eval_post)}
        write_json(
            tmp / "ground_truth.json",
            _ground_truth(preset, seed, cats, z_cat, train_keys, preferred, subject_noise, posterior),
        )
    return Path(out)


def _posterior_record(keys: np.ndarray, posterior: np.ndarray) -> dict[str, list[float]]:
    """{image name: posterior over the training categories (label order), 6 decimals}."""
    return {god.name_from_stimulus_key(k): [round(float(p), 6) for p in row] for k, row in zip(keys, posterior)}


def _ground_truth(preset, seed, cats, z_cat, train_keys, preferred, subject_noise, posterior) -> dict:
    n = preset.n_categories
    sim = z_cat[:n] @ z_cat[:n].T
    synsets = [god.name_from_stimulus_key(k).split("_")[0] for k in train_keys[:: preset.images_per_category]]
    return {
        "note": (
            "SIMULATED data written by brainteacher's simulator: a demo and test fixture, "
            "not a finding about the brain."
        ),
        "preset": asdict(preset),
        "seed": seed,
        "subjects": [f"Subject{s + 1}" for s in range(preset.n_subjects)],
        "subject_noise_sd": subject_noise.round(6).tolist(),
        "categories": [
            {
                "label": c,
                "category_index": c + 1,
                "synset": synsets[c],
                "group": cats[c].group,
                "shape": cats[c].shape,
                "hue": round(cats[c].hue, 4),
            }
            for c in range(n)
        ],
        "roi_gains": {r: {"low_level": g[0], "category": g[1]} for r, g in preset.roi_gains.items()},
        "planted_category_order": _planted_order(preset),
        "preferred_groups": preferred,
        "category_similarity": sim.round(6).tolist(),
        "image_posterior_model": (
            "p(c | z_image) for z_image ~ N(z_c, image_sd^2 / D I), unit-norm z_c, uniform prior over the training "
            "categories; each image is drawn as the posterior-weighted mixture of its candidates' looks"
        ),
        # Per image, over the training categories in label order (the synsets above): the oracle.
        "image_posterior": {side: _posterior_record(keys, post) for side, (keys, post) in posterior.items()},
    }
