"""Crash-safe file replacement: write a temporary sibling, fsync, rename over.

A kill at any instant leaves either the old file or the new one, never a
half-written HDF5 file (HDF5 itself gives no such guarantee).
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

import h5py


@contextmanager
def _replacing(path: Path):
    """Yield a temporary sibling of ``path``; if the block completes, make it durable and rename it over."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        yield tmp
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write_text(path: Path, text: str) -> None:
    """Replace a small text file (the resolved spec)."""
    with _replacing(path) as tmp:
        tmp.write_text(text)


@contextmanager
def atomic_h5(path: Path):
    """Yield an open h5py.File that replaces ``path`` only if the block completes."""
    with _replacing(path) as tmp, h5py.File(tmp, "w") as f:
        yield f


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Replace a file with ``data`` (an exported model): a failed export leaves no partial file."""
    with _replacing(path) as tmp:
        tmp.write_bytes(data)
