"""Data augmentation of training mini-batches (horizontal flips, random shifts, Gaussian noise).

It draws from its own seeded stream, so turning it on changes nothing else
(initialization, shuffling, dropout), and it writes into a separate buffer so
the epoch's shuffled data stays untouched.
"""

from __future__ import annotations

import numpy as np

from ..spec.schema import AugmentSpec


class Augmenter:
    def __init__(self, spec: AugmentSpec, rng: np.random.Generator):
        self.spec, self.rng = spec, rng
        self._out: np.ndarray | None = None

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self._out is None or self._out.shape != x.shape or self._out.dtype != x.dtype:
            self._out = np.empty_like(x)
        out = self._out
        np.copyto(out, x)
        if self.spec.flip_horizontal:
            flip = self.rng.random(len(x)) < 0.5
            out[flip] = out[flip, :, ::-1, :]
        if self.spec.shift:
            shift_images(out, self.spec.shift, self.rng)
        if self.spec.noise:
            out += self.rng.standard_normal(x.shape, dtype=x.dtype) * x.dtype.type(self.spec.noise)
        return out


def shift_images(x: np.ndarray, limit: int, rng: np.random.Generator) -> None:
    """Move each image by its own (dy, dx) in [-limit, limit]², filling the uncovered border with zeros.

    Pixels are read through clipped indices and those from outside the image zeroed: no padded copy of the batch,
    whose size grew with the square of ``limit`` (a shift of 20,000 padded 8×8 images to hundreds of GiB).
    """
    m, height, width, _ = x.shape
    dy, dx = rng.integers(0, 2 * limit + 1, size=(2, m))
    rows = dy[:, None] - limit + np.arange(height)  # (m, H) rows of the image to read, some outside it
    cols = dx[:, None] - limit + np.arange(width)
    shifted = x[np.arange(m)[:, None, None], rows.clip(0, height - 1)[:, :, None], cols.clip(0, width - 1)[:, None, :]]
    inside = ((rows >= 0) & (rows < height))[:, :, None] & ((cols >= 0) & (cols < width))[:, None, :]
    shifted[~inside] = 0
    x[...] = shifted
