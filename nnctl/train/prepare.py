"""Data as the network consumes it: normalized, in the run's dtype, with encoded targets.

The normalizer is fitted on the training split only and stored in every
checkpoint so that `eval` and `predict` apply exactly the same transform.

A split is held one of two ways. ``Prepared`` keeps it in memory as one array
in the run's dtype: rows still on disk are read straight into it and
normalized in place, block by block, so a float32 file costs one float32 copy
and float64 temporaries of a block. ``StreamedPrepared`` keeps only row
numbers and labels and reads the file each time the rows are needed (see
``nnctl.data.stream``). Both hand out ``pieces`` for evaluation and
``batches`` for training, so the loop does not care which it has.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ..data import DataError, Normalizer, Splits
from ..data.rows import DiskRows
from ..data.stream import StreamedRows, sorted_by_position, wants_stream
from ..nn.network import INFERENCE_BATCH
from ..spec.schema import Spec
from .batches import MiniBatches, StreamedBatches
from .build import check_outputs, encode_targets


@dataclass
class Prepared:
    x: np.ndarray
    targets: np.ndarray
    labels: np.ndarray | None  # class indices (multi-label: the (m, k) 0/1/NaN matrix) for classification metrics

    def __len__(self) -> int:
        return len(self.x)

    def pieces(self, size: int = INFERENCE_BATCH) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for i in range(0, len(self.x), size):
            yield self.x[i:i + size], self.targets[i:i + size]

    def batches(self, batch_size: int) -> MiniBatches:
        return MiniBatches(self.x, self.targets, batch_size)

    def examples(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Inputs and targets of these rows (gradient checks, a few examples)."""
        return self.x[rows], self.targets[rows]


@dataclass
class StreamedPrepared:
    """A split read from its HDF5 file on demand; labels (class indices or targets) are in file order."""

    rows: StreamedRows
    y: np.ndarray
    task: str
    n_outputs: int

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def labels(self) -> np.ndarray | None:
        return self.y if self.task == "classification" else None

    @property
    def targets(self) -> np.ndarray:
        """All targets (regression metrics need them whole; they are small beside the inputs)."""
        return self.encode(self.y)

    def encode(self, y: np.ndarray) -> np.ndarray:
        return encode_targets(y, self.task, self.n_outputs, self.rows.dtype)

    def pieces(self, size: int = INFERENCE_BATCH) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Normalized inputs and targets in file order, one read block at a time."""
        for positions, x in self.rows.normalized_blocks():
            targets = self.encode(self.y[positions])
            for i in range(0, len(x), size):
                yield x[i:i + size], targets[i:i + size]

    def batches(self, batch_size: int) -> StreamedBatches:
        return StreamedBatches(self, batch_size)

    def examples(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Inputs and targets of these rows (positions in file order), read from the file."""
        x = self.rows.disk[rows].gather(self.rows.dtype, transform=self.rows.normalizer.transform_block)
        return x, self.encode(self.y[rows])


def prepare_split(split, normalizer: Normalizer, task: str, n_outputs: int, dtype, x: np.ndarray | None = None) -> Prepared:
    """One split in memory, normalized into an array of ``dtype``; ``x`` is its inputs if already read.

    Inputs read from disk here are normalized in place; arrays the caller holds are never changed.
    """
    x = inputs_in_memory(split.x, dtype) if x is None else x
    owned = x is not split.x and x.dtype == np.dtype(dtype)
    x = normalizer.apply(x, dtype, out=x if owned else None)
    labels = split.y if task in ("classification", "multilabel") else None
    return Prepared(x, encode_targets(split.y, task, n_outputs, dtype), labels)


def inputs_in_memory(x, dtype) -> np.ndarray:
    """Rows on disk as one array: in ``dtype`` when that holds the stored values exactly (then they
    can be normalized in place), else as stored. Arrays already in memory are returned as they are."""
    if not isinstance(x, DiskRows):
        return x
    exact = np.can_cast(x.dtype, dtype, "safe")
    return x.gather(dtype if exact else x.dtype)


def streamed_split(split, normalizer: Normalizer | None, task: str, n_outputs: int, dtype, settings: dict | None) -> StreamedPrepared:
    """The split's rows sorted by file position; row numbers and class indices held as int32 when they fit
    (what a streamed run keeps per row: 8 bytes, not 16)."""
    order = sorted_by_position(split.x)
    rows = split.x.selection.astype(narrowest(split.x.file_rows))[order]
    y = split.y.astype(narrowest(int(split.y.max(initial=0)) + 1)) if task == "classification" else split.y
    on_disk = DiskRows(split.x.path, split.x.key, rows, split.x.channel)
    return StreamedPrepared(StreamedRows(on_disk, normalizer, dtype, **(settings or {})), y[order], task, n_outputs)


def narrowest(bound: int):
    """int32 for indices below 2³¹, else int64."""
    return np.int32 if bound < 2**31 else np.int64


def prepare_all(spec: Spec, splits: Splits, normalizer: Normalizer | None = None,
                stream: dict | bool | None = None) -> tuple[dict, Normalizer]:
    """Every non-empty split, prepared; the normalizer is fitted on train unless given.

    ``stream`` is None to decide from the spec (``data.source.stream``), False
    for memory, or the settings a checkpoint recorded (a resumed run reads as
    it did).
    """
    n_outputs = spec.model.layers[-1].units
    n_targets = 1 if splits.train.y.ndim == 1 else splits.train.y.shape[1]
    parts = (splits.train, splits.dev, splits.test, splits.train_dev)
    missing = splits.task == "multilabel" and any(part is not None and np.isnan(part.y).any() for part in parts)
    check_outputs(spec, splits.task, len(splits.class_names), n_targets, missing)
    named = {"train": splits.train, "dev": splits.dev, "test": splits.test, "train_dev": splits.train_dev}
    named = {name: split for name, split in named.items() if split is not None and len(split) > 0}
    method, dtype = spec.data.normalize, spec.precision
    if stream is None:
        source = spec.data.source
        chosen = wants_stream(getattr(source, "stream", False), getattr(source, "memory_budget", "25%"),
                              list(named.values()), dtype)
        if chosen and splits.task == "multilabel":
            raise DataError("data.source.stream: multi-label data is trained in memory (set stream: false)")
        stream = {} if chosen else False
    if stream is not False:
        data = {name: streamed_split(split, normalizer, splits.task, n_outputs, dtype, stream) for name, split in named.items()}
        if normalizer is None:
            normalizer = Normalizer().fit(data["train"].rows, method.method, method.scale)
            for part in data.values():
                part.rows.normalizer = normalizer
        return data, normalizer
    train_x = inputs_in_memory(named["train"].x, dtype)  # read before fitting: the statistics come from the one copy
    normalizer = normalizer or Normalizer().fit(train_x, method.method, method.scale)
    return {name: prepare_split(split, normalizer, splits.task, n_outputs, dtype, train_x if name == "train" else None)
            for name, split in named.items()}, normalizer
