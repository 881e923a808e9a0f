"""The simulator's presets: the sizes and planted parameters of a simulated dataset.

``quick`` and ``god`` are **optimistic**: independent voxel noise, clean single trials and
ambiguous images (the regime where soft labels help most). ``god-pessimistic`` is GOD-sized with
noise shared across voxels, spatially smooth noise, unambiguous images and a single-trial
150-way LOC top-1 of a few times chance (see :data:`PESSIMISTIC_TARGET`). Every training image is
presented once in every preset, as in GOD. Imports nothing heavy, so the torch-free registry
takes the preset names from here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

__all__ = [
    "Preset",
    "PRESETS",
    "PESSIMISTIC_NOISE",
    "PESSIMISTIC_TARGET",
    "in_pessimistic_band",
    "get_preset",
    "is_simulated",
]


def is_simulated(data: Mapping[str, Any]) -> bool:
    """True when a config's ``data`` section asks for the simulator (``source: simulate``), false
    for a real GOD release in ``data.root``."""
    return data["source"] == "simulate"


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
    # Trial noise that is not independent across voxels (0 = independent, as before). A share
    # ``noise_shared_share`` of each voxel's noise variance comes from ``noise_shared_rank`` latent
    # time courses common to the whole brain (global fluctuations that z-scoring within a run does
    # not remove); the independent rest is smoothed over each ROI's sheet with Gaussian sigma
    # ``noise_smooth_sigma`` voxels, so averaging neighbours removes less of it.
    noise_shared_rank: int = 0
    noise_shared_share: float = 0.0
    noise_smooth_sigma: float = 0.0
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
# GOD's photographs have nearly unambiguous labels and its single trials decode weakly: shared
# and smooth noise, more of it, and image latents close to their category's. Its noise_sd was
# chosen by bench/decoders.py (docs/benchmarks.md, The pessimistic preset) to land LOC's
# single-trial 150-way top-1 in PESSIMISTIC_TARGET.
PESSIMISTIC_NOISE: dict[str, float | int] = {
    "image_sd": 1.0,
    "noise_sd": 3.6,
    "noise_shared_rank": 5,
    "noise_shared_share": 0.3,
    "noise_smooth_sigma": 1.0,
}
PRESETS["god-pessimistic"] = replace(PRESETS["god"], name="god-pessimistic", **PESSIMISTIC_NOISE)
# The same noise model at the quick preset's size: students train in minutes on a CPU but single
# trials are as noisy as GOD's, so bench/null_calibration.py can map decoder accuracy to the
# primary test's power along data.noise_scale (docs/benchmarks.md, The pessimistic preset).
PRESETS["quick-pessimistic"] = replace(PRESETS["quick"], name="quick-pessimistic", **PESSIMISTIC_NOISE)
# Out-of-fold single-trial 150-way top-1 of the linear decoder on LOC, mean over subjects, that the
# pessimistic preset aims at: "low single-digit top-1 from higher visual cortex" (chance 1/150 =
# 0.67%), i.e. 2x-7x chance. The workflow's decoders are scored against this band by
# bench/decoders.py --preset god-pessimistic.
PESSIMISTIC_TARGET = (0.013, 0.047)


def in_pessimistic_band(top1: float) -> bool:
    """Whether a mean LOC top-1 (a fraction) lies in :data:`PESSIMISTIC_TARGET`, bounds included."""
    low, high = PESSIMISTIC_TARGET
    return low <= top1 <= high


def get_preset(name: str, noise_scale: float = 1.0, **overrides) -> Preset:
    """A preset by name (``quick``, ``god``, ``god-pessimistic`` or ``quick-pessimistic``), with
    optional field overrides; ``noise_scale`` (the noise dial) multiplies its trial noise SD."""
    from brainteacher import registry  # not at the top: the registry imports this module for its names

    registry.preset(name)  # refuses an unknown name, listing the valid ones
    if not 0.0 <= overrides.get("image_signal", 1.0) <= 1.0:
        raise ValueError(f"image_signal must lie in [0, 1], got {overrides['image_signal']}")
    if not 0.0 <= overrides.get("noise_shared_share", 0.0) < 1.0:
        raise ValueError(f"noise_shared_share must lie in [0, 1), got {overrides['noise_shared_share']}")
    if not noise_scale > 0:
        raise ValueError(f"noise_scale must be > 0, got {noise_scale}")
    preset = replace(PRESETS[name], **overrides)
    return replace(preset, noise_sd=preset.noise_sd * noise_scale)
