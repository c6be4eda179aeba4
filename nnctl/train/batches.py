"""The mini-batches of one epoch (ALGORITHMS.md §8).

Each epoch draws one permutation of the training rows; batch k holds rows
[k·B, min((k+1)·B, m)) of that order.  Rows are gathered batch by batch into
one reused buffer, so a batch is still in cache when the first matrix product
reads it (copying the whole shuffled epoch first costs a pass over memory).
With one batch per epoch (batch GD) the order cannot matter and no copy is made.
"""

from __future__ import annotations

import math

import numpy as np


class MiniBatches:
    def __init__(self, x: np.ndarray, targets: np.ndarray, batch_size: int):
        self.x, self.targets = x, targets
        self.size = min(batch_size, len(x))
        self.count = math.ceil(len(x) / self.size)
        self.order: np.ndarray | None = None
        self._x = np.empty((self.size,) + x.shape[1:], dtype=x.dtype)
        self._y = np.empty((self.size,) + targets.shape[1:], dtype=targets.dtype)

    def new_epoch(self, rng: np.random.Generator | None) -> None:
        """Draw this epoch's order from ``rng``; None keeps the rows as they are."""
        self.order = rng.permutation(len(self.x)) if rng is not None and self.count > 1 else None

    def __getitem__(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = k * self.size, min((k + 1) * self.size, len(self.x))
        if self.order is None:
            return self.x[lo:hi], self.targets[lo:hi]
        rows = self.order[lo:hi]
        n = hi - lo
        return (np.take(self.x, rows, axis=0, out=self._x[:n]),
                np.take(self.targets, rows, axis=0, out=self._y[:n]))


class StreamedBatches:
    """The mini-batches of one epoch read from disk (``nnctl.data.stream``): same interface as MiniBatches.

    The epoch's order (shuffled blocks, shuffled within buffers of blocks) is
    drawn up front as row positions only; batch k is positions [k·B, (k+1)·B)
    of it. One buffer of rows is in memory at a time: a batch inside it is a
    view, one that spans two buffers is copied into a scratch batch. Asking for
    any batch works, so a run resumed mid-epoch starts at its batch directly.
    """

    def __init__(self, split, batch_size: int):
        self.split = split
        self.size = min(batch_size, len(split))
        self.count = math.ceil(len(split) / self.size)
        self.order, self.edges = split.rows.epoch_order(None)
        self._loaded: int | None = None
        self._x = self._y = None

    def new_epoch(self, rng: np.random.Generator | None) -> None:
        self.order, self.edges = self.split.rows.epoch_order(rng if self.count > 1 else None)
        self._loaded = None

    def _buffer(self, g: int) -> tuple[np.ndarray, np.ndarray]:
        if self._loaded != g:
            positions = self.order[self.edges[g]:self.edges[g + 1]]
            self._x = self.split.rows.read(positions)
            self._y = self.split.encode(self.split.y[positions])
            self._loaded = g
        return self._x, self._y

    def __getitem__(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = k * self.size, min((k + 1) * self.size, len(self.order))
        g = int(np.searchsorted(self.edges, lo, side="right")) - 1
        if hi <= self.edges[g + 1]:
            x, y = self._buffer(g)
            return x[lo - self.edges[g]:hi - self.edges[g]], y[lo - self.edges[g]:hi - self.edges[g]]
        xs, ys = [], []
        while lo < hi:
            x, y = self._buffer(g)
            end = min(hi, self.edges[g + 1])
            xs.append(x[lo - self.edges[g]:end - self.edges[g]])
            ys.append(y[lo - self.edges[g]:end - self.edges[g]])
            lo, g = end, g + 1
        return np.concatenate(xs), np.concatenate(ys)
