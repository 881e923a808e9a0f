"""The simulator's brain: an encoding model per subject and ROI.

``voxel = a_low * low + a_cat * category + noise``: ``low`` pools pixel features (orientation
energy, colour opponency, luminance on a coarse retinotopic grid) over each voxel's receptive
field; ``category`` reads the image's latent vector. Each ROI is a sheet of voxels on a 3 mm grid
whose tuning is partly smooth over the sheet; every run adds its own offset to every voxel. See
``simulate`` for what is planted and why. Pure numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from brainteacher.data import god
from brainteacher.data.presets import Preset
from brainteacher.data.render import Category


def pixel_features(img: np.ndarray, grid: int) -> np.ndarray:
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


def _zscore_columns(a: np.ndarray, ref_rows: np.ndarray) -> np.ndarray:
    mu, sd = a[ref_rows].mean(axis=0), a[ref_rows].std(axis=0)
    return (a - mu) / np.where(sd > 0, sd, 1.0)


def category_latents(cats: list[Category], n_groups: int, preset: Preset, rng: np.random.Generator) -> np.ndarray:
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


def _sheet_kernel(grid: np.ndarray, sigma: float) -> np.ndarray:
    """(n_vox, n_vox) Gaussian weights over the sheet positions ``grid`` (n_vox, 2), sigma in
    voxels, each row summing to 1."""
    d2 = ((grid[:, None, :] - grid[None, :, :]) ** 2).sum(axis=2)
    kernel = np.exp(-d2 / (2 * sigma**2))
    return kernel / kernel.sum(axis=1, keepdims=True)


def _smooth_over_sheet(values: np.ndarray, grid: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing of per-voxel ``values`` (n_vox, ...) over the sheet positions ``grid``
    (n_vox, 2), sigma in voxels: neighbouring voxels end up with similar tuning, as in smooth fMRI."""
    return np.tensordot(_sheet_kernel(grid, sigma), values, axes=1)


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
class Stimuli:
    """All images of the simulated world (training first, then test), with their latents."""

    features: np.ndarray  # (n_images, 7, grid*grid)
    z_images: np.ndarray  # (n_images, D)
    z_categories: np.ndarray  # (n_all_categories, D)
    category_of_image: np.ndarray  # (n_images,) index into all categories
    groups: np.ndarray  # (n_images,) group of each image
    n_training: int


def roi_columns(preset: Preset) -> dict[str, np.ndarray]:
    """Voxel column indices of every single ROI; ROIs are disjoint blocks of columns."""
    bounds = np.cumsum([0] + [preset.roi_sizes[r] for r in god.SINGLE_ROIS])
    return {r: np.arange(bounds[i], bounds[i + 1]) for i, r in enumerate(god.SINGLE_ROIS)}


def _subject_signal(
    stim: Stimuli, preset: Preset, preferred: dict[str, list[int]], rng: np.random.Generator
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
    return keep_image_signal(np.concatenate(parts, axis=1), stim.category_of_image, preset.image_signal)


def keep_image_signal(signal: np.ndarray, category: np.ndarray, share: float) -> np.ndarray:
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


@dataclass(frozen=True)
class TrialNoise:
    """One subject's trial noise: ``noise_sd`` times unit-variance noise per voxel, of which a share
    ``shared`` comes from ``loadings`` (rank, n_vox) common to all voxels, the rest independent and
    smoothed over each ROI's sheet by ``smoothing`` ((columns, kernel, its rows' L2 norms) per ROI;
    empty = white)."""

    noise_sd: float
    shared: float
    loadings: np.ndarray | None
    smoothing: tuple[tuple[np.ndarray, np.ndarray, np.ndarray], ...]

    @classmethod
    def of(cls, preset: Preset, noise_sd: float, n_vox: int, rng: np.random.Generator) -> TrialNoise:
        shared = preset.noise_shared_share if preset.noise_shared_rank > 0 else 0.0
        loadings = None
        if shared > 0:  # drawn only when used, so the optimistic presets' streams stay as they were
            rank = preset.noise_shared_rank
            loadings = rng.normal(size=(rank, n_vox)) / np.sqrt(rank)
        smoothing = []
        if preset.noise_smooth_sigma > 0:  # built once per subject, not once per draw
            for roi, cols in roi_columns(preset).items():
                kernel = _sheet_kernel(_roi_grid(preset, roi), preset.noise_smooth_sigma)
                smoothing.append((cols, kernel, np.sqrt((kernel**2).sum(axis=1))))
        return cls(noise_sd, shared, loadings, tuple(smoothing))

    def draw(self, n_rows: int, n_vox: int, rng: np.random.Generator) -> np.ndarray:
        """(n_rows, n_vox) noise, standard deviation ``noise_sd`` per voxel in expectation."""
        if self.loadings is None and not self.smoothing:
            return rng.normal(0, self.noise_sd, (n_rows, n_vox))
        own = rng.normal(size=(n_rows, n_vox))
        for cols, kernel, norm in self.smoothing:
            # Smoothed white noise has variance sum_j K_vj^2 at voxel v: rescale it to 1.
            own[:, cols] = own[:, cols] @ kernel.T / norm
        if self.loadings is not None:
            common = rng.normal(size=(n_rows, len(self.loadings))) @ self.loadings
            own = np.sqrt(1 - self.shared) * own + np.sqrt(self.shared) * common
        return self.noise_sd * own


def simulate_subject(
    stim: Stimuli, tables: dict, preset: Preset, preferred: dict, noise_sd: float, rng: np.random.Generator
) -> dict:
    """All rows of one subject: training, perception test and imagery, in presentation order."""
    signal = _subject_signal(stim, preset, preferred, rng)
    n_vox = signal.shape[1]
    noise = TrialNoise.of(preset, noise_sd, n_vox, rng)
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
        out["voxels"].append(sig + offsets[runs] + noise.draw(*sig.shape, rng))
        meta = tables[{1: "training", 2: "test", 3: "imagery"}[dtype]]
        local = items if dtype != god.DATATYPE_TEST else items - stim.n_training
        out["datatype"].append(np.full(len(items), dtype))
        out["runs"].append(runs)
        out["blocks"].append(blocks)
        out["stimulus_id"].append(meta["ids"][local])
        out["category_index"].append(meta["category_index"][local])
        out["image_index"].append(meta["image_index"][local])
    return {k: np.concatenate(v) for k, v in out.items()}


def voxel_coordinates(preset: Preset) -> np.ndarray:
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


def image_latents(z_cat: np.ndarray, cat_of_image: np.ndarray, preset: Preset, rng: np.random.Generator) -> np.ndarray:
    """(n, D) image latents ``z_category + image_sd * e / sqrt(D)``, e standard normal."""
    e = rng.normal(size=(len(cat_of_image), preset.latent_dim))
    return z_cat[cat_of_image] + preset.image_sd * e / np.sqrt(preset.latent_dim)
