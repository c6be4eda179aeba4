"""Nested, stratified shares of a training split: the x-axis of a learning curve.

A fixed seeded order ranks every row; a share keeps the rows ranked first. Each
class's rows are spread evenly along that order (row j of a class with n rows
sits near (j + ½)/n), so every share holds each class in proportion (within a
row) and a smaller share is always a subset of a larger one: the curve compares
training sets that only grow.
"""

from __future__ import annotations

import numpy as np

from .dataset import Dataset


def nested_share(data: Dataset, fraction: float, stratify: bool, rng: np.random.Generator) -> Dataset:
    """The first round(fraction·m) rows (at least 1) of the seeded order, in that order."""
    m = len(data)
    keep = min(m, max(1, int(round(fraction * m))))
    if keep == m:
        return data
    return data.take(share_order(data.y, stratify, rng)[:keep])


def share_order(y: np.ndarray, stratify: bool, rng: np.random.Generator) -> np.ndarray:
    """A permutation of the rows in which every prefix holds each class in proportion (when stratifying)."""
    m = len(y)
    if not stratify:
        return rng.permutation(m)
    position = np.empty(m)
    for label in np.unique(y):
        members = np.flatnonzero(y == label)
        position[rng.permutation(members)] = (np.arange(len(members)) + 0.5) / len(members)
    return np.lexsort((rng.random(m), position))
