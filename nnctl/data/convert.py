"""Any labelled source written as the chunked HDF5 layout that streaming reads.

The layout is the one an ``{type: hdf5}`` source reads with its defaults:
``train_set_x`` (float32, chunked by whole rows, ~1 MB a chunk so a streamed
block is one chunk read), ``train_set_y`` (int64 class indices, or float64
regression targets), ``list_classes`` (the class names, as text) and, when the
source has its own test set, ``test_set_x``/``test_set_y``. Labels are encoded
once here, as training would encode them, so string labels survive as names.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from .parts import read_source_parts
from .rows import blocks

CHUNK_BYTES = 1 << 20


def chunk_rows(row_values: int) -> int:
    """Rows per HDF5 chunk: about CHUNK_BYTES of float32."""
    return max(1, CHUNK_BYTES // (4 * max(row_values, 1)))


def convert(source, f: h5py.File, datasets_dir: Path) -> dict:
    """Read ``source`` (a spec source), check it as training would, and write it into the open file ``f``.

    Returns facts for the report.
    """
    found = read_source_parts(source, datasets_dir)
    pool = found.parts[0].data
    own = found.own_test()
    test = own.data if own else None
    for prefix, part in (("train_set", pool), ("test_set", test)):
        if part is not None:
            _write_inputs(f, f"{prefix}_x", part.x)
            y = part.y
            f.create_dataset(f"{prefix}_y", data=y, chunks=((min(len(y), 1 << 16),) + y.shape[1:]) if len(y) else None)
    if found.task == "classification":
        f.create_dataset("list_classes", data=np.array([name.encode() for name in found.class_names]))
    return {"task": found.task, "examples": len(pool), "test_examples": 0 if test is None else len(test),
            "input_shape": list(pool.x.shape[1:]), "classes": len(found.class_names)}


def _write_inputs(f: h5py.File, name: str, x) -> None:
    """float32 inputs written block by block, so a uint8 or float64 source is never converted whole."""
    row_values = int(np.prod(x.shape[1:]))
    chunks = (min(max(len(x), 1), chunk_rows(row_values)),) + tuple(x.shape[1:])
    dataset = f.create_dataset(name, shape=x.shape, dtype=np.float32, chunks=chunks if len(x) else None)
    for positions, block in blocks(x):
        dataset[positions] = block.astype(np.float32)
