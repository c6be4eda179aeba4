"""The mini-batches of one epoch (docs/algorithms.md, "Mini-batches, clipping, early stopping").

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
