"""The simulator's presets: the sizes and planted parameters of a simulated dataset.

Imports nothing heavy, so the torch-free registry takes the preset names from here.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

__all__ = ["Preset", "PRESETS", "get_preset"]


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
    from brainteacher import registry  # not at the top: the registry imports this module for its names

    registry.preset(name)  # refuses an unknown name, listing the valid ones
    if not 0.0 <= overrides.get("image_signal", 1.0) <= 1.0:
        raise ValueError(f"image_signal must lie in [0, 1], got {overrides['image_signal']}")
    return replace(PRESETS[name], **overrides)
