"""The simulator's visual world: categories as shapes, hues, aspect ratios and textures, and the
renderer that draws an image of a posterior-weighted mixture of categories.

Used by the simulator (``simulate``) for the dataset's images and by SimCLR pre-training
(``distill.simclr``) for unlabelled renders of the same world. Pure numpy: images are
(size, size, 3) floats in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["SHAPES", "Category", "Look", "draw_style", "look_of", "make_categories", "render"]

SHAPES = ("circle", "triangle", "square", "pentagon", "hexagon", "star4", "star5", "star6", "flower", "superellipse")


@dataclass(frozen=True)
class Category:
    """One category's visual identity: its group, shape family and hue (0-1) come from the group;
    aspect ratio and texture are its own (``draw_style``)."""

    group: int
    shape: str
    hue: float
    aspect: float
    texture_freq: float
    texture_angle: float


def draw_style(rng: np.random.Generator) -> dict[str, float]:
    """A category's own look beyond its group's shape and hue: aspect ratio (0.6-1), texture
    frequency (cycles per object radius) and texture orientation (radians)."""
    return {
        "aspect": float(rng.uniform(0.6, 1.0)),
        "texture_freq": float(rng.choice([1.5, 2.5, 3.5, 4.5])),
        "texture_angle": float(rng.uniform(0, np.pi)),
    }


def make_categories(n: int, n_groups: int, rng: np.random.Generator) -> list[Category]:
    groups = rng.permutation(np.arange(n) % n_groups)
    shapes = [SHAPES[g % len(SHAPES)] for g in range(n_groups)]
    return [
        Category(
            group=int(g),
            shape=shapes[g],
            hue=float((g / n_groups + rng.uniform(-0.04, 0.04)) % 1.0),
            **draw_style(rng),
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
class Look:
    """How one image is drawn: categories (indices) with mixture weights summing to 1."""

    categories: np.ndarray  # (k,) indices into the world's categories
    weights: np.ndarray  # (k,)


def look_of(posterior: np.ndarray, min_weight: float = 1e-3) -> Look:
    """The categories that visibly shape an image: posterior weights above ``min_weight``, renormalised
    (the rest would change no pixel value by more than a rounding step)."""
    keep = np.flatnonzero(posterior >= min_weight)
    if not len(keep):
        keep = np.array([int(np.argmax(posterior))])
    w = posterior[keep]
    return Look(keep, w / w.sum())


def _circular_mean(hues: np.ndarray, weights: np.ndarray) -> float:
    """Weighted mean of hues in [0, 1) on the colour circle."""
    angle = np.angle(np.sum(weights * np.exp(2j * np.pi * hues)))
    return float((angle / (2 * np.pi)) % 1.0)


def render(cats: list[Category], look: Look, size: int, rng: np.random.Generator) -> np.ndarray:
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
