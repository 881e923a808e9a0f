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

from dataclasses import asdict, dataclass, field, replace
from importlib import resources
from pathlib import Path

import numpy as np

from brainteacher import god, registry
from brainteacher.outputs import atomic_dir, write_json

__all__ = ["Preset", "PRESETS", "get_preset", "simulate"]

_SHAPES = ("circle", "triangle", "square", "pentagon", "hexagon", "star4", "star5", "star6", "flower", "superellipse")


@dataclass(frozen=True)
class Preset:
    """Sizes of a simulated dataset. ROI sizes are voxels; ``image_size`` is pixels per side."""

    name: str
    n_subjects: int
    n_categories: int
    images_per_category: int
    n_groups: int
    image_size: int
    roi_sizes: dict[str, int]
    n_training_runs: int
    n_test_images: int
    test_repeats: int
    n_imagery_categories: int
    imagery_repeats: int
    grid: int = 8  # retinotopic grid of the low-level features, cells per side
    n_evaluation_per_category: int = 50  # extra rendered images per training category (no fMRI)
    latent_dim: int = 32
    within_group_similarity: float = 0.6  # share of a category's latent variance from its group
    # Image-specific latent deviation, relative to a unit category vector. 2.0 keeps the quick
    # preset's Bayes posterior far from one-hot: many images lie between categories of a group,
    # which a one-hot label hides and a posterior shows.
    image_sd: float = 2.0
    noise_sd: float = 1.0  # trial noise, in units of the signal's standard deviation
    run_offset_sd: float = 0.5
    tuning_sigma: float = 1.5  # spatial smoothness of voxel tuning on the cortical sheet, in voxels (3 mm each)
    tuning_smooth_share: float = 0.5  # share of a voxel's tuning variance common with its neighbours
    # The null dial: each voxel's response is its category's mean response plus image_signal times
    # the image's own deviation from it. 1 = as the encoding model gives it; 0 = the null, where the
    # voxels carry category information only and a brain teacher cannot beat its own shuffles.
    image_signal: float = 1.0
    # (a_low, a_cat) per ROI: the planted weights of pixel features and category latents.
    roi_gains: dict[str, tuple[float, float]] = field(
        default_factory=lambda: {
            "V1": (1.0, 0.0),
            "V2": (0.9, 0.1),
            "V3": (0.8, 0.2),
            "V4": (0.6, 0.35),
            "LOC": (0.3, 0.95),
            "FFA": (0.25, 0.85),
            "PPA": (0.25, 0.75),
        }
    )
    # Receptive-field size per ROI, in grid cells (Gaussian sigma).
    rf_sigma: dict[str, float] = field(
        default_factory=lambda: {"V1": 0.6, "V2": 1.0, "V3": 1.5, "V4": 2.2, "LOC": 3.0, "FFA": 3.5, "PPA": 3.5}
    )


PRESETS = {
    "quick": Preset(
        name="quick",
        n_subjects=2,
        n_categories=20,
        images_per_category=8,
        n_groups=4,
        image_size=64,
        roi_sizes={"V1": 160, "V2": 160, "V3": 120, "V4": 120, "LOC": 200, "FFA": 100, "PPA": 80},
        n_training_runs=4,
        n_test_images=10,
        test_repeats=2,
        n_imagery_categories=10,
        imagery_repeats=2,
        grid=6,
        # Cleaner single trials than GOD's, so 120 trials can teach: LOC decodes well above chance
        # and the decoder's image-specific deviations track the posterior's.
        noise_sd=0.5,
    ),
    "god": Preset(
        name="god",
        n_subjects=5,
        n_categories=150,
        images_per_category=8,
        n_groups=10,
        image_size=128,
        roi_sizes={"V1": 1000, "V2": 1000, "V3": 760, "V4": 740, "LOC": 540, "FFA": 570, "PPA": 360},
        n_training_runs=24,
        n_test_images=50,
        test_repeats=35,
        n_imagery_categories=50,
        imagery_repeats=10,
        image_sd=1.5,  # 150 categories crowd the latent space: less deviation keeps them apart
        n_evaluation_per_category=7,
    ),
}


def get_preset(name: str, **overrides) -> Preset:
    """A preset by name (``quick`` or ``god``), with optional field overrides."""
    registry.preset(name)  # refuses an unknown name, listing the valid ones
    if not 0.0 <= overrides.get("image_signal", 1.0) <= 1.0:
        raise ValueError(f"image_signal must lie in [0, 1], got {overrides['image_signal']}")
    return replace(PRESETS[name], **overrides)


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


# --- the visual world: groups, categories, images -------------------------------------------


@dataclass(frozen=True)
class _Category:
    group: int
    shape: str
    hue: float
    aspect: float
    texture_freq: float
    texture_angle: float


def _make_categories(n: int, n_groups: int, rng: np.random.Generator) -> list[_Category]:
    groups = rng.permutation(np.arange(n) % n_groups)
    shapes = [_SHAPES[g % len(_SHAPES)] for g in range(n_groups)]
    return [
        _Category(
            group=int(g),
            shape=shapes[g],
            hue=float((g / n_groups + rng.uniform(-0.04, 0.04)) % 1.0),
            aspect=float(rng.uniform(0.6, 1.0)),
            texture_freq=float(rng.choice([1.5, 2.5, 3.5, 4.5])),
            texture_angle=float(rng.uniform(0, np.pi)),
        )
        for g in groups
    ]


def _shape_radius(shape: str, phi: np.ndarray) -> np.ndarray:
    """Boundary radius r(phi) of a unit shape, for polar angle phi (radians)."""
    sides = {"triangle": 3, "square": 4, "pentagon": 5, "hexagon": 6}
    points = {"star4": 4, "star5": 5, "star6": 6}
    if shape in sides:
        k = sides[shape]
        return np.cos(np.pi / k) / np.cos(np.mod(phi, 2 * np.pi / k) - np.pi / k)
    if shape in points:
        return 0.6 + 0.4 * np.cos(points[shape] * phi)
    if shape == "flower":
        return 0.8 + 0.2 * np.cos(8 * phi)
    if shape == "superellipse":
        c, s = np.abs(np.cos(phi)), np.abs(np.sin(phi))
        return (c**4 + s**4) ** -0.25
    return np.ones_like(phi)


def _smooth_noise(size: int, cells: int, rng: np.random.Generator) -> np.ndarray:
    """(size, size) low-frequency noise in [0, 1]: a random grid, bilinearly upsampled."""
    grid = rng.uniform(0, 1, (cells + 1, cells + 1))
    t = np.linspace(0, cells, size)
    i = np.minimum(t.astype(int), cells - 1)
    f = t - i
    rows = grid[i] * (1 - f)[:, None] + grid[i + 1] * f[:, None]
    return rows[:, i] * (1 - f)[None, :] + rows[:, i + 1] * f[None, :]


def _hsv_image(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Vectorised HSV -> RGB, each (H, W) in [0, 1] -> (H, W, 3)."""
    i = np.floor(h * 6).astype(int) % 6
    f = h * 6 - np.floor(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    choices = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)]
    return np.stack([np.choose(i, [c[ch] for c in choices]) for ch in range(3)], axis=-1)


@dataclass(frozen=True)
class _Look:
    """How one image is drawn: categories (indices) with mixture weights summing to 1."""

    categories: np.ndarray  # (k,) indices into the world's categories
    weights: np.ndarray  # (k,)


def _look(posterior: np.ndarray, min_weight: float = 1e-3) -> _Look:
    """The categories that visibly shape an image: posterior weights above ``min_weight``, renormalised
    (the rest would change no pixel value by more than a rounding step)."""
    keep = np.flatnonzero(posterior >= min_weight)
    if not len(keep):
        keep = np.array([int(np.argmax(posterior))])
    w = posterior[keep]
    return _Look(keep, w / w.sum())


def _circular_mean(hues: np.ndarray, weights: np.ndarray) -> float:
    """Weighted mean of hues in [0, 1) on the colour circle."""
    angle = np.angle(np.sum(weights * np.exp(2j * np.pi * hues)))
    return float((angle / (2 * np.pi)) % 1.0)


def _render(cats: list[_Category], look: _Look, size: int, rng: np.random.Generator) -> np.ndarray:
    """One image: (size, size, 3) float in [0, 1]. Outline radius, aspect, hue and texture are the
    ``look``'s weighted mixture of its categories' own; pose, colour jitter and background are
    the image's."""
    parts = [cats[c] for c in look.categories]
    w = look.weights
    yy, xx = np.mgrid[-1 : 1 : size * 1j, -1 : 1 : size * 1j]
    cx, cy = rng.uniform(-0.25, 0.25, 2)
    scale = rng.uniform(0.45, 0.75)
    rot = rng.uniform(0, 2 * np.pi)
    aspect = float(np.dot(w, [c.aspect for c in parts]))
    x, y = (xx - cx) / scale, (yy - cy) / scale
    u = x * np.cos(rot) + y * np.sin(rot)
    v = (-x * np.sin(rot) + y * np.cos(rot)) / aspect
    rho, phi = np.hypot(u, v), np.arctan2(v, u)
    radius = sum(wi * _shape_radius(c.shape, phi) for wi, c in zip(w, parts))
    alpha = 1 / (1 + np.exp(-(radius - rho) * 25))
    phase = rng.uniform(0, 2 * np.pi)
    stripes = sum(
        wi
        * (
            0.5
            + 0.5
            * np.sin(2 * np.pi * c.texture_freq * (u * np.cos(c.texture_angle) + v * np.sin(c.texture_angle)) + phase)
        )
        for wi, c in zip(w, parts)
    )
    hue = np.full_like(u, (_circular_mean(np.array([c.hue for c in parts]), w) + rng.normal(0, 0.02)) % 1.0)
    obj = _hsv_image(hue, np.full_like(u, rng.uniform(0.55, 0.9)), 0.35 + 0.6 * stripes)
    bg_hue = np.full_like(u, rng.uniform(0, 1))
    bg = _hsv_image(bg_hue, np.full_like(u, 0.2), 0.25 + 0.5 * _smooth_noise(size, 4, rng))
    img = alpha[..., None] * obj + (1 - alpha[..., None]) * bg
    return np.clip(img + rng.normal(0, 0.02, img.shape), 0, 1)


def _pixel_features(img: np.ndarray, grid: int) -> np.ndarray:
    """Low-level features of one image: (7, grid*grid) = 4 orientation energies, 2 colour
    opponencies (R-G, B-Y) and luminance, each averaged over the cells of a grid x grid layout."""
    gray = img.mean(axis=-1)
    gy, gx = np.gradient(gray)
    angles = np.deg2rad([0, 45, 90, 135])
    maps = [np.log1p(100 * (gx * np.cos(a) + gy * np.sin(a)) ** 2) for a in angles]
    maps += [img[..., 0] - img[..., 1], img[..., 2] - (img[..., 0] + img[..., 1]) / 2, gray]
    size = img.shape[0] - img.shape[0] % grid
    cell = size // grid
    return np.stack([m[:size, :size].reshape(grid, cell, grid, cell).mean(axis=(1, 3)).ravel() for m in maps])


# --- the brain: an encoding model per subject -------------------------------------------------


def _zscore_columns(a: np.ndarray, ref_rows: np.ndarray) -> np.ndarray:
    mu, sd = a[ref_rows].mean(axis=0), a[ref_rows].std(axis=0)
    return (a - mu) / np.where(sd > 0, sd, 1.0)


def _category_latents(cats: list[_Category], n_groups: int, preset: Preset, rng: np.random.Generator) -> np.ndarray:
    """(n_categories, D) unit vectors; categories of one group share ``within_group_similarity`` of their variance."""
    d, rho = preset.latent_dim, preset.within_group_similarity
    group_vecs = rng.normal(size=(n_groups, d)) / np.sqrt(d)
    own = rng.normal(size=(len(cats), d)) / np.sqrt(d)
    z = np.sqrt(rho) * group_vecs[[c.group for c in cats]] + np.sqrt(1 - rho) * own
    return z / np.linalg.norm(z, axis=1, keepdims=True)


def _roi_grid(preset: Preset, roi: str) -> np.ndarray:
    """(n_vox, 2) integer positions of an ROI's voxels on its cortical sheet, in file column order.

    The sheet is a near-square raster; the file's columns visit it in a fixed random order (a
    pure function of the ROI), so column order carries no spatial meaning and a decoder that
    wants neighbours next to each other must recover them from the coordinates."""
    n = preset.roi_sizes[roi]
    side = int(np.ceil(np.sqrt(n)))
    cells = np.stack(np.divmod(np.arange(n), side), axis=1)
    return cells[np.random.default_rng([7, god.SINGLE_ROIS.index(roi)]).permutation(n)]


def _smooth_over_sheet(values: np.ndarray, grid: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing of per-voxel ``values`` (n_vox, ...) over the sheet positions ``grid``
    (n_vox, 2), sigma in voxels: neighbouring voxels end up with similar tuning, as in smooth fMRI."""
    d2 = ((grid[:, None, :] - grid[None, :, :]) ** 2).sum(axis=2)
    kernel = np.exp(-d2 / (2 * sigma**2))
    return np.tensordot(kernel / kernel.sum(axis=1, keepdims=True), values, axes=1)


def _shared_tuning(values: np.ndarray, grid: np.ndarray, preset: Preset) -> np.ndarray:
    """Per-voxel random tuning ``values`` (n_vox, k) made partly smooth over the sheet: a share
    ``tuning_smooth_share`` of each voxel's variance is common with its neighbours, the rest its own."""
    smooth = _smooth_over_sheet(values, grid, preset.tuning_sigma)
    smooth *= values.std() / max(smooth.std(), 1e-12)
    share = preset.tuning_smooth_share
    return np.sqrt(share) * smooth + np.sqrt(1 - share) * values


def _low_level_responses(
    features: np.ndarray, grid_pos: np.ndarray, roi: str, preset: Preset, rng: np.random.Generator
) -> np.ndarray:
    """(n_images, n_vox): each voxel pools features over a Gaussian receptive field on the grid.

    Retinotopic: a voxel's receptive-field centre follows its position on the sheet (plus
    jitter), and its feature tuning is smooth over the sheet."""
    g, n_vox = preset.grid, len(grid_pos)
    span = np.maximum(grid_pos.max(axis=0), 1)
    centres = np.clip(grid_pos / span * (g - 1) + rng.normal(0, 0.3, (n_vox, 2)), 0, g - 1)
    cy, cx = np.divmod(np.arange(g * g), g)
    d2 = (cy[None, :] - centres[:, :1]) ** 2 + (cx[None, :] - centres[:, 1:]) ** 2
    spatial = np.exp(-d2 / (2 * preset.rf_sigma[roi] ** 2))
    spatial /= spatial.sum(axis=1, keepdims=True)  # (n_vox, cells)
    # Early areas are tuned to orientation and luminance; colour enters from V4 on.
    colour = 0.0 if roi in ("V1", "V2", "V3") else 1.0
    channel = np.abs(_shared_tuning(rng.dirichlet(np.ones(7), n_vox), grid_pos, preset))
    channel = channel * np.array([1, 1, 1, 1, colour, colour, 0.5])
    return np.einsum("icp,vp,vc->iv", features, spatial, channel)


def _category_responses(
    z_images: np.ndarray,
    groups: np.ndarray,
    grid_pos: np.ndarray,
    preferred: list[int],
    preset: Preset,
    rng: np.random.Generator,
) -> np.ndarray:
    """(n_images, n_vox) linear read-outs of the image latents; preferred groups drive more.

    The read-out weights are partly smooth over the sheet (:func:`_shared_tuning`), so
    neighbouring voxels share tuning and a spatial filter can average their noise away."""
    w = _shared_tuning(rng.normal(size=(len(grid_pos), z_images.shape[1])), grid_pos, preset).T
    resp = z_images @ w
    if preferred:
        pref = np.isin(groups, preferred)[:, None]
        resp = resp * np.where(pref, 2.0, 1.0) + np.where(pref, 1.5, 0.0) * np.abs(w).mean(axis=0)
    return resp


@dataclass(frozen=True)
class _Stimuli:
    """All images of the simulated world (training first, then test), with their latents."""

    features: np.ndarray  # (n_images, 7, grid*grid)
    z_images: np.ndarray  # (n_images, D)
    z_categories: np.ndarray  # (n_all_categories, D)
    category_of_image: np.ndarray  # (n_images,) index into all categories
    groups: np.ndarray  # (n_images,) group of each image
    n_training: int


def _roi_columns(preset: Preset) -> dict[str, np.ndarray]:
    """Voxel column indices of every single ROI; ROIs are disjoint blocks of columns."""
    bounds = np.cumsum([0] + [preset.roi_sizes[r] for r in god.SINGLE_ROIS])
    return {r: np.arange(bounds[i], bounds[i + 1]) for i, r in enumerate(god.SINGLE_ROIS)}


def _subject_signal(
    stim: _Stimuli, preset: Preset, preferred: dict[str, list[int]], rng: np.random.Generator
) -> np.ndarray:
    """(n_images, n_voxels) noiseless responses, unit variance over training images per voxel part."""
    train = np.arange(stim.n_training)
    parts = []
    for roi in god.SINGLE_ROIS:
        grid_pos = _roi_grid(preset, roi)
        a_low, a_cat = preset.roi_gains[roi]
        low = _zscore_columns(_low_level_responses(stim.features, grid_pos, roi, preset, rng), train)
        cat = _zscore_columns(
            _category_responses(stim.z_images, stim.groups, grid_pos, preferred.get(roi, []), preset, rng), train
        )
        parts.append(a_low * low + a_cat * cat)
    return _keep_image_signal(np.concatenate(parts, axis=1), stim.category_of_image, preset.image_signal)


def _keep_image_signal(signal: np.ndarray, category: np.ndarray, share: float) -> np.ndarray:
    """(n_images, n_vox) ``signal`` with each image's deviation from its category's mean response
    scaled by ``share`` (0 = category information only); the category means are kept."""
    if share == 1.0:
        return signal
    out = signal.copy()
    for c in np.unique(category):
        rows = category == c
        mean = signal[rows].mean(axis=0)
        out[rows] = mean + share * (signal[rows] - mean)
    return out


def _presentations(
    n_items: int, n_runs: int, repeats: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Shuffled presentation order: item index, run (1-based), block within run (1-based)."""
    if repeats > 1:  # one run per repetition, every item once per run
        order = np.concatenate([rng.permutation(n_items) for _ in range(repeats)])
        runs = np.repeat(np.arange(1, repeats + 1), n_items)
    else:
        order = rng.permutation(n_items)
        runs = 1 + np.arange(n_items) * n_runs // n_items
    blocks = np.concatenate([np.arange(1, (runs == r).sum() + 1) for r in np.unique(runs)])
    return order, runs, blocks


def _simulate_subject(
    stim: _Stimuli, tables: dict, preset: Preset, preferred: dict, noise_sd: float, rng: np.random.Generator
) -> dict:
    """All rows of one subject: training, perception test and imagery, in presentation order."""
    signal = _subject_signal(stim, preset, preferred, rng)
    n_vox = signal.shape[1]
    rows = []
    # Training: each image once. Test: every test image once per run.
    for dtype, items, n_runs, reps in (
        (god.DATATYPE_TRAINING, np.arange(stim.n_training), preset.n_training_runs, 1),
        (god.DATATYPE_TEST, stim.n_training + np.arange(len(tables["test"]["keys"])), 1, preset.test_repeats),
    ):
        order, runs, blocks = _presentations(len(items), n_runs, reps, rng)
        rows.append((dtype, signal[items[order]], items[order], runs, blocks))
    # Imagery: no picture, a weaker category-only signal.
    n_img = len(tables["imagery"]["keys"])
    order, runs, blocks = _presentations(n_img, 1, preset.imagery_repeats, rng)
    w = rng.normal(size=(preset.latent_dim, n_vox))
    imagery = 0.5 * _zscore_columns(tables["imagery"]["z"] @ w, np.arange(n_img))
    rows.append((god.DATATYPE_IMAGERY, imagery[order], order, runs, blocks))

    out = {k: [] for k in ("voxels", "datatype", "runs", "blocks", "stimulus_id", "category_index", "image_index")}
    run_base = 0
    for dtype, sig, items, runs, blocks in rows:
        runs = runs + run_base
        run_base = int(runs.max())
        offsets = rng.normal(0, preset.run_offset_sd, (run_base + 1, n_vox))
        out["voxels"].append(sig + offsets[runs] + rng.normal(0, noise_sd, sig.shape))
        meta = tables[{1: "training", 2: "test", 3: "imagery"}[dtype]]
        local = items if dtype != god.DATATYPE_TEST else items - stim.n_training
        out["datatype"].append(np.full(len(items), dtype))
        out["runs"].append(runs)
        out["blocks"].append(blocks)
        out["stimulus_id"].append(meta["ids"][local])
        out["category_index"].append(meta["category_index"][local])
        out["image_index"].append(meta["image_index"][local])
    return {k: np.concatenate(v) for k, v in out.items()}


# --- writing ------------------------------------------------------------------------------------


def _voxel_coordinates(preset: Preset) -> np.ndarray:
    """(n_voxels, 3) mm, as GOD's ``voxel_x/y/z``: each ROI's sheet on a 3 mm grid in x and z,
    the ROIs separate slabs along y (posterior to anterior), columns in :func:`_roi_grid` order."""
    coords = []
    for i, roi in enumerate(god.SINGLE_ROIS):
        grid_pos = _roi_grid(preset, roi)
        coords.append(
            np.stack(
                [3.0 * grid_pos[:, 1] - 30, np.full(len(grid_pos), -90.0 + 12 * i), 3.0 * grid_pos[:, 0] - 10], axis=1
            )
        )
    return np.concatenate(coords)


def _write_bdata(path: Path, subject: dict, preset: Preset) -> None:
    n_vox = subject["voxels"].shape[1]
    masks = {r: np.isin(np.arange(n_vox), c) for r, c in _roi_columns(preset).items()}
    for union, parts in god.ROI_UNIONS.items():
        masks[union] = np.any([masks[p] for p in parts], axis=0)
    god.write_bdata(path, subject["voxels"], masks, _voxel_coordinates(preset), **{k: subject[k] for k in _ROW_KEYS})


_ROW_KEYS = ("datatype", "runs", "blocks", "stimulus_id", "category_index", "image_index")


def _write_images(
    folder: Path,
    keys: np.ndarray,
    cats: list[_Category],
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
        look = _look(post)
        img = _render(cats, _Look(candidates[look.categories], look.weights), size, rng)
        pixels = np.round(img * 255).astype(np.uint8)
        Image.fromarray(pixels).save(
            folder / f"{god.name_from_stimulus_key(key)}{god.IMAGE_SUFFIX}", format="JPEG", quality=92
        )
        feats.append(_pixel_features(pixels / 255.0, grid))
    return np.stack(feats)


def latent_posterior(z_images: np.ndarray, z_categories: np.ndarray, image_sd: float) -> np.ndarray:
    """(n, k) category posterior of each image latent under the generative model.

    ``z_image ~ N(z_c, image_sd² / D · I)`` with unit-norm ``z_c`` (k candidates) and a uniform
    prior, so ``log p(c | z) = D z·z_c / image_sd² + const``. z_images (n, D), z_categories (k, D).
    """
    d = z_images.shape[1]
    logits = d * z_images @ z_categories.T / image_sd**2
    logits -= logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    return p / p.sum(axis=1, keepdims=True)


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


def _image_latents(z_cat: np.ndarray, cat_of_image: np.ndarray, preset: Preset, rng: np.random.Generator) -> np.ndarray:
    """(n, D) image latents ``z_category + image_sd * e / sqrt(D)``, e standard normal."""
    e = rng.normal(size=(len(cat_of_image), preset.latent_dim))
    return z_cat[cat_of_image] + preset.image_sd * e / np.sqrt(preset.latent_dim)


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
    cats = _make_categories(n_train_cat + n_test_cat, preset.n_groups, rng)
    z_cat = _category_latents(cats, preset.n_groups, preset, rng)
    cat_of_image = np.concatenate(
        [train_cats - 1, n_train_cat + np.searchsorted(np.unique(test_table.category_index), test_table.category_index)]
    )
    groups = np.array([cats[c].group for c in cat_of_image])
    z_images = _image_latents(z_cat, cat_of_image, preset, rng)
    preferred = _group_preferences(preset.n_groups, rng)
    subject_noise = preset.noise_sd * rng.uniform(0.8, 1.3, preset.n_subjects)
    # A stream of its own, so the size of the evaluation set changes nothing else.
    eval_rng = np.random.default_rng([seed, 1000])
    eval_keys, eval_cats = _evaluation_stimuli(train_keys, train_cats, preset.n_evaluation_per_category)
    eval_z = _image_latents(z_cat, eval_cats - 1, preset, eval_rng)

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
        stim = _Stimuli(feats, z_images, z_cat, cat_of_image, groups, n_train)
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
            subject = _simulate_subject(
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
            "SIMULATED data written by brainteacher.simulate: a demo and test fixture, not a finding about the brain."
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
