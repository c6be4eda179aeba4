"""Rows of an HDF5 dataset that are not in memory yet, and block-wise passes over any inputs.

An HDF5 source hands out ``DiskRows`` instead of reading its inputs: a file,
a dataset name and a selection of row numbers. Splitting only needs the labels,
so the rows are dealt out as index arrays (``rows[indices]`` selects again, as
a NumPy array would); each split is then either read once into one array in
the training dtype (``gather``) or streamed block by block (``blocks``). That
is what keeps a large file to one copy in memory, or to none.

``blocks`` also walks ordinary arrays, so checks and statistics run in bounded
float64 temporaries whichever kind of inputs they get.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np

from ..literal import clipped, quoted
from .errors import DataError
from .files import check_room

BLOCK_BYTES = 16 << 20  # one read or float64 temporary: large enough for fast I/O, small beside the data


class DiskRows:
    """Selected rows of an HDF5 dataset, in selection order; ``channel`` adds a trailing axis (m, H, W) → (m, H, W, 1)."""

    def __init__(self, path: Path, key: str, selection: np.ndarray | None = None, channel: bool = False):
        self.path, self.key, self.channel = Path(path), key, channel
        with opened(self.path) as f:
            dataset = f[key]
            check_inputs(self.path, f"dataset {quoted(key)}", dataset.shape, dataset.dtype)
            self.file_rows = dataset.shape[0]
            self.stored_shape = tuple(dataset.shape[1:])
            self.dtype = dataset.dtype
            self.chunk_rows = dataset.chunks[0] if dataset.chunks else None
        # None: every row in file order, without an index array (a 7.5M-row file would need 60 MB for one);
        # an integer index array is kept as given (int32 or int64), so a split's DiskRows and its
        # Dataset.rows share one array.
        self._selection = None if selection is None else np.asarray(selection)
        if self._selection is not None and self._selection.dtype.kind not in "iu":
            self._selection = self._selection.astype(np.int64)  # an empty list, say

    @property
    def selection(self) -> np.ndarray:
        return np.arange(self.file_rows) if self._selection is None else self._selection

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self),) + self.stored_shape + ((1,) if self.channel else ())

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def row_values(self) -> int:
        return int(np.prod(self.shape[1:]))

    def __len__(self) -> int:
        return self.file_rows if self._selection is None else len(self._selection)

    def __getitem__(self, rows) -> DiskRows:
        """Rows of the selection (an index array, a mask or a slice), still on disk."""
        plain_indices = not isinstance(rows, slice) and np.asarray(rows).dtype.kind in "iu"
        picked = np.asarray(rows) if self._selection is None and plain_indices else self.selection[rows]
        return DiskRows(self.path, self.key, picked, self.channel)

    def with_channel(self) -> DiskRows:
        """The same rows with a trailing axis of 1: (m, H, W) images gain their channel, (m,) a column."""
        return DiskRows(self.path, self.key, self._selection, channel=True)

    def __array__(self, dtype=None, copy=None):
        return self.gather(dtype or self.dtype)

    def block_rows(self, itemsize: int = 8) -> int:
        """Rows per read: about BLOCK_BYTES at ``itemsize`` bytes a value, a whole number of HDF5 chunks."""
        rows = max(1, BLOCK_BYTES // (itemsize * max(self.row_values, 1)))
        if self.chunk_rows:
            rows = max(self.chunk_rows, rows - rows % self.chunk_rows)
        return rows

    def read_file_rows(self, f: h5py.File, lo: int, hi: int) -> np.ndarray:
        """File rows [lo, hi) as stored (one contiguous hyperslab read)."""
        try:
            block = f[self.key][lo:hi]
        except OSError as err:  # a truncated or damaged file fails only when its chunks are read
            raise DataError(f"{self.path}: cannot read rows {lo}..{hi - 1} of '{self.key}' ({err})") from None
        return block[..., None] if self.channel else block

    def runs(self, block_rows: int) -> Iterator[tuple[np.ndarray | slice, int, np.ndarray | slice]]:
        """For each file block holding selected rows, in file order: (positions in the selection,
        the block's first file row, the file rows), positions and rows as slices for a whole file.

        Reading in file order turns any selection into sequential reads of whole chunks.
        """
        if self._selection is None:
            for lo in range(0, self.file_rows, block_rows):
                hi = min(lo + block_rows, self.file_rows)
                yield slice(lo, hi), lo, slice(lo, hi)
            return
        order = np.argsort(self._selection, kind="stable")
        ordered = self._selection[order]
        if len(ordered) and (ordered[0] < 0 or ordered[-1] >= self.file_rows):
            raise DataError(f"{self.path}: row {ordered[-1]} is outside dataset '{self.key}' ({self.file_rows} rows)")
        edges = np.searchsorted(ordered, np.arange(0, self.file_rows + block_rows, block_rows))
        for a, b in zip(edges[:-1], edges[1:]):
            if a < b:
                yield order[a:b], int(ordered[a]), ordered[a:b]

    def read_rows(self, f: h5py.File, lo: int, rows: np.ndarray | slice) -> np.ndarray:
        """File rows (a slice, or sorted row numbers from ``lo`` on) read as one hyperslab."""
        if isinstance(rows, slice):
            return self.read_file_rows(f, rows.start, rows.stop)
        return self.read_file_rows(f, lo, int(rows[-1]) + 1)[rows - lo]

    def gather(self, dtype, transform=None, block_rows: int | None = None) -> np.ndarray:
        """The selected rows as one new array of ``dtype``, in selection order, reading block by block.

        ``transform`` maps each block's stored values before they are cast
        (normalization, so no raw copy is kept); ``block_rows`` aligns the reads
        with a caller's blocks.
        """
        check_room(self.path, f"rows of dataset {quoted(self.key)} read into memory", self.shape, dtype)
        out = np.empty(self.shape, dtype=dtype)
        with opened(self.path) as f:
            for positions, lo, rows in self.runs(block_rows or self.block_rows(np.dtype(self.dtype).itemsize)):
                block = self.read_rows(f, lo, rows)
                out[positions] = block if transform is None else transform(block)
        return out

    def blocks(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(positions in the selection, their rows as stored), block by block in file order."""
        with opened(self.path) as f:
            for positions, lo, rows in self.runs(self.block_rows()):
                yield positions, self.read_rows(f, lo, rows)


def check_inputs(path: Path, what: str, shape: tuple[int, ...], dtype) -> None:
    """Inputs are real numbers with one row per example. Anything else is refused here, naming ``what`` in
    ``path``: a cast would drop the imaginary part of complex numbers, parse text or dates, and a single value
    has no rows to count."""
    dtype = np.dtype(dtype)
    if dtype.kind not in "biuf":
        raise DataError(f"{path}: {what} holds {clipped(str(dtype))} values; inputs must be numbers "
                        "(bool, integer or float)")
    if not shape:
        raise DataError(f"{path}: {what} is a single value; inputs need one row per example (m rows × features)")


def opened(path: Path) -> h5py.File:
    """The file open for reading; a file that vanished or broke since it was checked is a DataError."""
    try:
        return h5py.File(path, "r")
    except OSError as err:
        raise DataError(f"{path}: not a readable HDF5 file ({err})") from None


def blocks(x) -> Iterator[tuple[slice | np.ndarray, np.ndarray]]:
    """(positions, rows) pieces of ``x`` of about BLOCK_BYTES in float64, an array or DiskRows alike.

    Arrays go in order as slices. A single value per row is one piece: NumPy sums
    such a contiguous axis pairwise, so splitting it would change the last bits
    of a mean.
    """
    if isinstance(x, DiskRows):
        yield from x.blocks()
        return
    row_values = int(np.prod(x.shape[1:]))
    step = len(x) if row_values == 1 else max(1, BLOCK_BYTES // (8 * max(row_values, 1)))
    for lo in range(0, len(x), max(step, 1)):
        yield slice(lo, lo + step), x[lo:lo + step]
