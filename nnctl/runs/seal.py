"""Sealed HDF5 files: the 512-byte HDF5 user block carries a SHA-256 of everything after it.

HDF5 readers skip the user block, so a sealed file is an ordinary HDF5 file
for h5py and h5dump. nnctl checks the digest before the HDF5 library parses a
byte: a truncated file, a flipped bit in a tensor or in HDF5's own metadata
(which the library may misread, hang or crash on) is refused as damaged.
Files without a seal (written by other tools) are read as they are.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import h5py

from ..errors import RunError

USER_BLOCK = 512  # the smallest user block HDF5 allows
MAGIC = b"nnctl-sha256:"


def seal(image: bytes | bytearray | memoryview) -> bytes | memoryview:
    """An HDF5 image created with ``userblock_size=USER_BLOCK``, its user block now holding the digest.

    A writable buffer (``BytesIO.getbuffer()``) is sealed in place and returned: a run's
    split record of millions of rows is then never copied (bytes are sealed into a copy).
    """
    view = memoryview(image)
    header = (MAGIC + hashlib.sha256(view[USER_BLOCK:]).hexdigest().encode() + b"\n").ljust(USER_BLOCK, b"\0")
    if view.readonly:
        return header + bytes(view[USER_BLOCK:])
    view[:USER_BLOCK] = header
    return view


def reseal(path: Path) -> None:
    """Seal a file again after an in-place edit (tests and repair tools)."""
    path = Path(path)
    path.write_bytes(seal(path.read_bytes()))


def open_sealed(path: Path, error: type[RunError]) -> h5py.File:
    """Open ``path`` for reading from memory once its seal (if any) matches; ``error`` names what is wrong."""
    return read_sealed(path, error)[0]


def read_sealed(path: Path, error: type[RunError]) -> tuple[h5py.File, str | None]:
    """``open_sealed``, and the digest the file was sealed with (None for an unsealed file): what a
    journal continuing the file names, read from the very bytes that were opened."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except IsADirectoryError:
        raise error(f"{path}: is a directory, not a file") from None
    except OSError as err:
        raise error(f"{path}: cannot be read ({err.strerror or err})") from None
    digest = stored_digest(data)
    if digest is not None and hashlib.sha256(memoryview(data)[USER_BLOCK:]).hexdigest() != digest:
        raise error(f"{path}: damaged: its contents do not match their SHA-256 (truncated or altered)")
    try:
        return h5py.File(io.BytesIO(data), "r"), digest
    except OSError as err:
        raise error(f"{path}: not a readable HDF5 file ({(str(err).splitlines() or ['unreadable'])[0]})") from None


def stored_digest(head: bytes) -> str | None:
    """The SHA-256 (hex) a sealed file's first bytes record, or None when they hold no seal."""
    if not head.startswith(MAGIC):
        return None
    return head[len(MAGIC):len(MAGIC) + 64].decode("ascii", "replace")


def sealed_digest(path: Path) -> str | None:
    """The digest in ``path``'s user block (only its first bytes are read)."""
    with open(path, "rb") as fh:
        return stored_digest(fh.read(len(MAGIC) + 64))
