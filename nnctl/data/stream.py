"""Training from an HDF5 file that is not loaded: when to stream, and the order rows are read in.

A split stays what it is in memory, a set of row numbers (``DiskRows``). To
stream it, its rows are sorted by file position and cut into *blocks* (runs of
rows within one ~1 MB stretch of the file, whole HDF5 chunks up to
``MAX_BLOCK_BYTES``; a larger chunk is read in ~1 MB parts), so every read is
one contiguous hyperslab. An epoch visits the blocks in a shuffled order and
takes as many of them at a time as fill ``BUFFER_BYTES`` into a buffer whose
rows are shuffled again: rows from far-apart parts of the file share
mini-batches while memory holds one buffer of a fixed size in bytes, whatever
the file's size and chunking. Both shuffles draw from the generator the
trainer hands in (the run's shuffle stream, whose state at the epoch's start is
in every checkpoint), so a resumed run replays the same order bit for bit.
"""

from __future__ import annotations

import os
import re

import numpy as np

from .errors import DataError
from .normalize import Normalizer
from .rows import DiskRows, opened

STREAM_BLOCK_BYTES = 1 << 20  # a shuffled unit: small for a good mix, large enough to read at disk speed
MAX_BLOCK_BYTES = 8 << 20  # whole chunks up to this size; beyond it, HDF5 re-reads a chunk for each ~1 MB part
BUFFER_BYTES = 64 << 20  # rows shuffled together, in the training dtype: 64 MB in memory at a time
UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def budget_bytes(budget: str) -> int:
    """'25%' of physical memory, or an amount such as '6GB', '512MB', '1000000' (bytes)."""
    match = re.match(r"^\s*(\d+(?:\.\d+)?)\s*(%|[kKmMgGtT]?)[bB]?\s*$", budget)
    if not match:
        raise DataError(f"memory budget '{budget}' is neither a percentage ('25%') nor a size ('6GB')")
    value, unit = float(match.group(1)), match.group(2).lower()
    if unit == "%":
        return int(value / 100 * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    return int(value * UNITS[unit])


def wants_stream(setting, budget: str, parts: list, dtype) -> bool:
    """Resolve ``stream: true|false|auto``: auto streams when the inputs in the training dtype exceed the budget."""
    on_disk = all(isinstance(part.x, DiskRows) for part in parts)
    if setting is True and not on_disk:
        raise DataError("data.source.stream: only an HDF5 source can be streamed (convert with `nnctl data convert`)")
    if setting != "auto":
        return bool(setting)
    size = sum(len(part) * part.x.row_values * np.dtype(dtype).itemsize for part in parts)
    return on_disk and size > budget_bytes(budget)


def sorted_by_position(rows: DiskRows) -> np.ndarray:
    """The order that sorts a split's rows by their place in the file."""
    return np.argsort(rows.selection, kind="stable")


class StreamedRows:
    """A split's rows on disk, sorted by file position, normalized into ``dtype`` as they are read."""

    def __init__(self, rows: DiskRows, normalizer: Normalizer | None, dtype, block_rows: int | None = None,
                 buffer_blocks: int | None = None):
        """``rows`` sorted by file position (``sorted_by_position``); the normalizer may be fitted later
        from ``blocks`` (one pass without a sort) and set as ``normalizer``."""
        self.disk = rows
        self.normalizer, self.dtype = normalizer, np.dtype(dtype)
        row_values = max(rows.row_values, 1)
        if block_rows is None:
            rows_per_mb = max(1, STREAM_BLOCK_BYTES // (rows.dtype.itemsize * row_values))
            chunk = rows.chunk_rows or 1
            whole_chunks = chunk * rows.dtype.itemsize * row_values <= MAX_BLOCK_BYTES
            block_rows = max(chunk, rows_per_mb - rows_per_mb % chunk) if whole_chunks else rows_per_mb
        if buffer_blocks is None:
            buffer_blocks = max(1, BUFFER_BYTES // (int(block_rows) * self.dtype.itemsize * row_values))
        self.block_rows, self.buffer_blocks = int(block_rows), int(buffer_blocks)
        file_rows = self.disk.selection
        edges = np.unique(np.searchsorted(file_rows, np.arange(0, self.disk.file_rows + self.block_rows, self.block_rows)))
        self.starts, self.ends = edges[:-1], edges[1:]  # sorted positions of each non-empty block

    def __len__(self) -> int:
        return len(self.disk)

    @property
    def settings(self) -> dict:
        """What fixes the epoch order besides the generator: recorded so a resumed run reads alike."""
        return {"block_rows": self.block_rows, "buffer_blocks": self.buffer_blocks}

    def _transform(self, block: np.ndarray) -> np.ndarray:
        return self.normalizer.transform_block(block)

    def load(self, blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The normalized rows of these blocks, block after block, and their sorted positions.

        Each block is one contiguous read (from its first to its last selected row).
        """
        positions = np.concatenate([np.arange(self.starts[b], self.ends[b]) for b in blocks]) \
            if len(blocks) else np.empty(0, np.int64)
        out = np.empty((len(positions),) + self.disk.shape[1:], dtype=self.dtype)
        file_rows, at = self.disk.selection, 0
        with opened(self.disk.path) as f:
            for b in blocks:
                rows = file_rows[self.starts[b]:self.ends[b]]
                out[at:at + len(rows)] = self._transform(self.disk.read_rows(f, int(rows[0]), rows))
                at += len(rows)
        return out, positions

    def blocks(self):
        """(sorted positions, rows as stored) block by block in file order: one pass, e.g. fitting the normalizer."""
        file_rows = self.disk.selection
        with opened(self.disk.path) as f:
            for start, end in zip(self.starts, self.ends):
                yield slice(int(start), int(end)), self.disk.read_rows(f, int(file_rows[start]), file_rows[start:end])

    def normalized_blocks(self):
        """(sorted positions, normalized rows in ``dtype``) block by block in file order, e.g. for evaluation."""
        for positions, block in self.blocks():
            yield positions, self._transform(block).astype(self.dtype, copy=False)

    def epoch_plan(self, rng: np.random.Generator | None) -> list[tuple[np.ndarray, np.ndarray | None]]:
        """This epoch's buffers in order: (its blocks, the order of its rows or None for as loaded).

        Blocks and rows are shuffled with ``rng``; None keeps file order.
        """
        blocks = np.arange(len(self.starts)) if rng is None else rng.permutation(len(self.starts))
        plan = []
        for g in range(0, len(blocks), self.buffer_blocks):
            group = blocks[g:g + self.buffer_blocks]
            n = int(np.sum(self.ends[group] - self.starts[group]))
            plan.append((group, None if rng is None else rng.permutation(n)))
        return plan
