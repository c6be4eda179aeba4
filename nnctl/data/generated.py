"""Seeded 2-D teaching sets: small enough to plot, hard enough to need hidden layers.

Every set adds Gaussian noise of standard deviation ``noise`` to clean points, and
the same Generator state always gives the same points.
"""

from __future__ import annotations

import numpy as np

from ..errors import BuildError
from ..memory import over_limit
from .errors import DataError

TWO_CLASS_SETS = ("moons", "circles", "xor", "flower")
MANY_CLASS_SETS = ("spirals", "blobs")
# x, its noise and their sum (float64 pairs), the parts concatenated, and the labels: bytes per sample, a floor.
BYTES_PER_SAMPLE = 4 * 2 * 8 + 8
DESCRIPTIONS = {
    "moons": "two interlocking half circles, 2 classes",
    "circles": "a ring around a smaller ring, 2 classes",
    "xor": "the four quadrants, opposite ones alike, 2 classes",
    "flower": "the planar petal set r = 4·sin(4θ), 2 classes",
    "spirals": "one spiral arm per class (classes: K)",
    "blobs": "one Gaussian cluster per class (classes: K)",
}


def make(name: str, samples: int, noise: float, classes: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Return x (samples, 2) float64 and integer labels (samples,)."""
    if name not in TWO_CLASS_SETS + MANY_CLASS_SETS:
        raise DataError(f"unknown generated set '{name}' (known: {', '.join(TWO_CLASS_SETS + MANY_CLASS_SETS)})")
    if name in TWO_CLASS_SETS and classes != 2:
        raise DataError(f"generated set '{name}' has 2 classes, not {classes}")
    if why := over_limit(samples * BYTES_PER_SAMPLE, f"generating {samples:,} samples", "data.source.samples"):
        raise BuildError("data.source.samples", why)
    if name == "xor":
        x = rng.uniform(-1.0, 1.0, (samples, 2))
        y = (x[:, 0] * x[:, 1] < 0).astype(np.int64)
    else:
        sizes = [samples // classes + (c < samples % classes) for c in range(classes)]
        x = np.concatenate([_SHAPES[name](c, n, classes, rng) for c, n in enumerate(sizes)])
        y = np.repeat(np.arange(classes, dtype=np.int64), sizes)
    return x + rng.normal(0.0, noise, x.shape), y


def _moon(c: int, n: int, classes: int, rng: np.random.Generator) -> np.ndarray:
    """Two interlocking half circles; the second is flipped and shifted into the first."""
    t = rng.uniform(0.0, np.pi, n)
    if c == 0:
        return np.column_stack([np.cos(t), np.sin(t)])
    return np.column_stack([1.0 - np.cos(t), 0.5 - np.sin(t)])


def _circle(c: int, n: int, classes: int, rng: np.random.Generator) -> np.ndarray:
    """An outer ring (class 0, radius 1) around an inner ring (class 1, radius 0.5)."""
    t = rng.uniform(0.0, 2 * np.pi, n)
    return (1.0 - 0.5 * c) * np.column_stack([np.cos(t), np.sin(t)])


def _spiral_arm(c: int, n: int, classes: int, rng: np.random.Generator) -> np.ndarray:
    """Arm c of ``classes`` spirals winding out from the origin, evenly rotated."""
    r = rng.uniform(0.05, 1.0, n)
    t = 2 * np.pi * c / classes + 4.0 * r
    return np.column_stack([r * np.cos(t), r * np.sin(t)])


def _petals(c: int, n: int, classes: int, rng: np.random.Generator, a: float = 4.0, k: int = 4) -> np.ndarray:
    """The notes' planar set, the rose r = 4·sin(4θ): class c takes θ in [cπ, (c+1)π), owning four of the eight petals."""
    t = rng.uniform(c * np.pi, (c + 1) * np.pi, n)
    r = a * np.sin(k * t)
    return np.column_stack([r * np.sin(t), r * np.cos(t)])


def _blob(c: int, n: int, classes: int, rng: np.random.Generator) -> np.ndarray:
    """A cluster at the c-th of ``classes`` points on a circle of radius 2; the noise spreads it."""
    angle = 2 * np.pi * c / classes
    return np.tile([2.0 * np.cos(angle), 2.0 * np.sin(angle)], (n, 1))


_SHAPES = {"moons": _moon, "circles": _circle, "spirals": _spiral_arm, "flower": _petals, "blobs": _blob}
