"""Training from an HDF5 file that is not loaded: when to stream, and the order rows are read in.

A split stays what it is in memory, a set of row numbers (``DiskRows``). To
stream it, its rows are sorted by file position and cut into *blocks* (runs of
rows within one ~1 MB stretch of the file, whole HDF5 chunks), so every read is
one contiguous hyperslab. An epoch visits the blocks in a shuffled order and
takes ``BUFFER_BLOCKS`` of them at a time into a buffer whose rows are shuffled
again: rows from far-apart parts of the file share mini-batches while memory
holds one buffer, not the data. Both shuffles draw from the generator the
trainer hands in (the run's shuffle stream, whose state at the epoch's start is
in every checkpoint), so a resumed run replays the same order bit for bit.
"""

from __future__ import annotations

import os
import re

import numpy as np

from .errors import DataError
from .normalize import Normalizer
from .rows import DiskRows

STREAM_BLOCK_BYTES = 1 << 20  # a shuffled unit: small for a good mix, large enough to read at disk speed
BUFFER_BLOCKS = 64  # blocks shuffled together: 64 MB of float32 rows in memory at a time
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


class StreamedRows:
    """A split's rows on disk, sorted by file position, normalized into ``dtype`` as they are read."""

    def __init__(self, rows: DiskRows, normalizer: Normalizer, dtype, block_rows: int | None = None,
                 buffer_blocks: int = BUFFER_BLOCKS):
        self.order = np.argsort(rows.selection, kind="stable")  # sorted position → position in the split
        self.disk = rows[self.order]
        self.normalizer, self.dtype = normalizer, np.dtype(dtype)
        if block_rows is None:
            rows_per_mb = max(1, STREAM_BLOCK_BYTES // (rows.dtype.itemsize * max(rows.row_values, 1)))
            chunk = rows.chunk_rows or 1
            block_rows = max(chunk, rows_per_mb - rows_per_mb % chunk)
        self.block_rows, self.buffer_blocks = int(block_rows), int(buffer_blocks)
        file_rows = self.disk.selection
        block_of = file_rows // self.block_rows
        self.starts = np.flatnonzero(np.r_[True, block_of[1:] != block_of[:-1]]) if len(file_rows) else np.empty(0, int)
        self.ends = np.r_[self.starts[1:], len(file_rows)]

    def __len__(self) -> int:
        return len(self.disk)

    @property
    def settings(self) -> dict:
        """What fixes the epoch order besides the generator: recorded so a resumed run reads alike."""
        return {"block_rows": self.block_rows, "buffer_blocks": self.buffer_blocks}

    def _transform(self, block: np.ndarray) -> np.ndarray:
        return self.normalizer.transform_block(block)

    def read(self, positions: np.ndarray) -> np.ndarray:
        """Normalized rows at these sorted positions, in the given order."""
        return self.disk[positions].gather(self.dtype, transform=self._transform, block_rows=self.block_rows)

    def blocks(self):
        """(sorted positions, normalized rows) in file order, for a pass such as evaluation."""
        for positions, block in self.disk.blocks():
            yield positions, self._transform(block).astype(self.dtype, copy=False)

    def epoch_order(self, rng: np.random.Generator | None) -> tuple[np.ndarray, np.ndarray]:
        """This epoch's sequence of sorted positions and the edges of its buffers.

        With ``rng`` None (no shuffling) the rows go in file order.
        """
        blocks = np.arange(len(self.starts)) if rng is None else rng.permutation(len(self.starts))
        parts, edges = [], [0]
        for g in range(0, len(blocks), self.buffer_blocks):
            group = blocks[g:g + self.buffer_blocks]
            positions = np.concatenate([np.arange(self.starts[b], self.ends[b]) for b in group])
            parts.append(positions if rng is None else rng.permutation(positions))
            edges.append(edges[-1] + len(positions))
        return (np.concatenate(parts) if parts else np.empty(0, np.int64)), np.array(edges)
