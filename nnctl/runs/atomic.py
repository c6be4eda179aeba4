"""Crash-safe file replacement: write a temporary sibling, fsync, rename over.

A kill at any instant leaves either the old file or the new one, never a
half-written HDF5 file (HDF5 itself gives no such guarantee), and every HDF5
file is sealed with its SHA-256 (see seal.py). HDF5 files are
built in memory and written with plain file I/O, so a full disk or a read-only
folder is an ordinary OSError reported as a RunError naming the path, never an
HDF5 library failure with files left open (which crashed the interpreter at
exit). Temporaries are named `.NAME.tmp-PID`, so the next start of a run can
remove those whose writer has died.
"""

from __future__ import annotations

import io
import json
import os
import re
from contextlib import contextmanager
from pathlib import Path

import h5py

from ..errors import RunError
from .seal import USER_BLOCK, seal

TEMPORARY = re.compile(r"^\.(?P<name>.+)\.tmp-(?P<pid>\d+)$")


def _write_durably(path: Path, payload: bytes | memoryview) -> None:
    """Write ``payload`` to a temporary sibling, fsync it, rename it over ``path`` and fsync the folder."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError as err:
        raise RunError(f"{path}: cannot write ({describe(err)}); the previous file, if any, is intact") from None
    finally:
        if tmp.exists():
            tmp.unlink()


def describe(err: OSError) -> str:
    """The cause of an OSError in words: 'No space left on device', 'Read-only file system', ..."""
    return err.strerror or str(err)


def atomic_write_text(path: Path, text: str) -> None:
    """Replace a small text file (the resolved spec)."""
    _write_durably(Path(path), text.encode("utf-8"))


def atomic_write_json(path: Path, data, indent: int = 1) -> None:
    """Replace a JSON record (eval.json, a learning curve, tune.json), ending in a newline."""
    atomic_write_text(path, json.dumps(data, indent=indent) + "\n")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Replace a file with ``data`` (a rendered figure, a PNG of an example, an exported model)."""
    _write_durably(Path(path), data)


def append_line(path: Path, line: str) -> None:
    """Append one line and fsync it: a crash after this returns cannot lose it. A torn last line (a
    kill mid-append) is ended first, so this line stands alone and readers drop only the torn one."""
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        torn = size > 0 and os.pread(fd, 1, size - 1) != b"\n"
        os.write(fd, ("\n" if torn else "").encode() + (line + "\n").encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_h5(path: Path):
    """Yield an h5py.File built in memory; if the block completes, it replaces ``path`` durably, sealed."""
    image = io.BytesIO()
    with h5py.File(image, "w", userblock_size=USER_BLOCK) as f:
        yield f
    with image.getbuffer() as buffer:
        _write_durably(Path(path), seal(buffer))


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Delete the temporaries of writers that are no longer running (a kill between write and rename)."""
    removed = []
    for candidate in Path(folder).iterdir():
        match = TEMPORARY.match(candidate.name)
        if match and not _alive(int(match["pid"])):
            candidate.unlink(missing_ok=True)
            removed.append(candidate)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True
