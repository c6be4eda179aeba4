"""Opening data files: existence, gzip, one-line errors for unreadable contents and oversized arrays, and fingerprints."""

from __future__ import annotations

import csv
import gzip
import hashlib
import math
import zipfile
import zlib
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..memory import over_limit
from .errors import DataError

UNREADABLE = (OSError, EOFError, zlib.error, ValueError, zipfile.BadZipFile, csv.Error)  # UnicodeDecodeError is a ValueError
CHUNK = 1 << 20


@contextmanager
def reading(path: Path, kind: str):
    """Report a library's complaint about a file's contents as a one-line DataError."""
    try:
        yield
    except UNREADABLE as err:
        raise DataError(f"{path}: not a readable {kind} file ({err})") from None


def check_room(path: Path, what: str, shape: tuple[int, ...], dtype) -> None:
    """Refuse to read ``what`` (an array as ``path`` declares it) when it would need more memory than this
    process may hold: a file of a few bytes can declare any shape, and NumPy would try to allocate it."""
    dtype = np.dtype(dtype)
    values = f"{' × '.join(f'{n:,}' for n in shape)} {dtype} values" if shape else f"one {dtype} value"
    if why := over_limit(math.prod(shape) * dtype.itemsize, f"{what} ({values})"):
        raise DataError(f"{path}: {why}")


def existing(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: {'a directory, not a file' if path.is_dir() else 'no such file'}")
    return path


def open_maybe_gzip(path: Path):
    """A binary stream of the file's bytes, decompressed when it starts with the gzip magic."""
    with open(path, "rb") as f:
        compressed = f.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if compressed else open(path, "rb")


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes as stored (a gzip file is hashed compressed), read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with reading(Path(path), "data"), open(existing(path), "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
