"""The mini-batches of one epoch (docs/explanation/algorithms.md#mini-batches).

Each epoch draws one permutation of the training rows; batch k holds rows
[k·B, min((k+1)·B, m)) of that order.  Rows are gathered batch by batch into
one reused buffer, so a batch is still in cache when the first matrix product
reads it (copying the whole shuffled epoch first costs a pass over memory).
With one batch per epoch (batch GD) the order cannot matter and no copy is made.
"""

from __future__ import annotations

import math

import numpy as np

from ..nn import kernels

FULL_BATCH_UP_TO = 2000  # the notes: batch gradient descent for a small training set
AUTO_SIZES = (64, 128, 256, 512)  # else one of these powers of two: the largest leaving an epoch
AUTO_MIN_STEPS = 100  # at least this many optimizer steps


def resolve_batch_size(setting: int | str, m: int) -> int:
    """The mini-batch size B for ``m`` training rows: ``full`` is m, a number is capped at m, and ``auto``
    follows the notes' rule: m when m ≤ 2,000, else the largest of 64, 128, 256, 512 that still gives
    an epoch at least 100 steps (m/B ≥ 100), and 64 when none does."""
    if setting == "full" or (setting == "auto" and m <= FULL_BATCH_UP_TO):
        return m
    if setting == "auto":
        return max((b for b in AUTO_SIZES if m / b >= AUTO_MIN_STEPS), default=AUTO_SIZES[0])
    return min(setting, m)


def batch_size_note(setting: int | str, m: int) -> str:
    """One line saying what ``train.batch_size`` means for ``m`` training rows (``spec show``)."""
    size = resolve_batch_size(setting, m)
    if setting != "auto":
        return f"train.batch_size: {size} ({m:,} training examples)"
    if size == m:
        return f"train.batch_size: auto → {size:,} (full batch: {m:,} ≤ {FULL_BATCH_UP_TO:,} training examples)"
    return (f"train.batch_size: auto → {size} ({m:,} > {FULL_BATCH_UP_TO:,} training examples: the largest of "
            f"{', '.join(map(str, AUTO_SIZES))} giving ≥ {AUTO_MIN_STEPS} steps an epoch, else {AUTO_SIZES[0]})")


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
        take = kernels.active().take_rows
        return take(self.x, rows, self._x[:n]), take(self.targets, rows, self._y[:n])


class StreamedBatches:
    """The mini-batches of one epoch read from disk (``nnctl.data.stream``): same interface as MiniBatches.

    The epoch's plan (shuffled blocks, grouped into buffers, each buffer's rows
    shuffled) is drawn up front; batch k is rows [k·B, (k+1)·B) of the buffers
    laid end to end. One buffer is in memory at a time, read and normalized in
    file order; a batch gathers its rows from it into a reused scratch array,
    as MiniBatches does from the whole split. A batch that spans two buffers is
    assembled from both. Any batch can be asked for first, so a run resumed
    mid-epoch starts at its batch directly.
    """

    def __init__(self, split, batch_size: int):
        self.split = split
        self.size = min(batch_size, len(split))
        self.count = math.ceil(len(split) / self.size)
        self._scratch: tuple[np.ndarray, np.ndarray] | None = None
        self.new_epoch(None)

    def new_epoch(self, rng: np.random.Generator | None) -> None:
        self.plan = self.split.rows.epoch_plan(rng if self.count > 1 else None)
        sizes = [len(order) if order is not None else int(np.sum(self.split.rows.ends[blocks] - self.split.rows.starts[blocks]))
                 for blocks, order in self.plan]
        self.edges = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self._loaded: int | None = None

    def _buffer(self, g: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        if self._loaded != g:
            blocks, self._order = self.plan[g]
            self._x, positions = self.split.rows.load(blocks)
            self._y = self.split.encode(self.split.y[positions])
            self._loaded = g
        return self._x, self._y, self._order

    def _rows(self, g: int, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows [lo, hi) of the epoch, all inside buffer g."""
        x, y, order = self._buffer(g)
        a, b = lo - self.edges[g], hi - self.edges[g]
        if order is None:
            return x[a:b], y[a:b]
        rows = order[a:b]
        if self._scratch is None or self._scratch[0].shape[0] < self.size:
            self._scratch = (np.empty((self.size,) + x.shape[1:], x.dtype), np.empty((self.size,) + y.shape[1:], y.dtype))
        n = b - a
        take = kernels.active().take_rows
        return take(x, rows, self._scratch[0][:n]), take(y, rows, self._scratch[1][:n])

    def __getitem__(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = k * self.size, min((k + 1) * self.size, int(self.edges[-1]))
        g = int(np.searchsorted(self.edges, lo, side="right")) - 1
        if hi <= self.edges[g + 1]:
            return self._rows(g, lo, hi)
        xs, ys = [], []
        while lo < hi:
            end = min(hi, int(self.edges[g + 1]))
            x, y = self._rows(g, lo, end)
            xs.append(x.copy())  # the next piece may reuse the scratch batch
            ys.append(y.copy())
            lo, g = end, g + 1
        return np.concatenate(xs), np.concatenate(ys)
