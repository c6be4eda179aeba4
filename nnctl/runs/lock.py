"""One writer per folder: an exclusive lock on FOLDER/.lock for as long as a process writes there.

Two `nnctl train --resume` of one run would otherwise interleave their
checkpoints and metric logs. The lock is an flock(2) on a file that stays in
the folder: the kernel drops it when its holder exits, however it exits
(SIGKILL included), so a lock is never stale and never needs removing. The
file stays empty: taking the lock changes nothing in the folder.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from ..errors import RunError
from .atomic import describe

LOCK_FILE = ".lock"


class FolderLock:
    """Held from ``acquire`` until ``release`` (or until the process ends)."""

    def __init__(self, folder: Path, fd: int):
        self.folder, self._fd = folder, fd

    @classmethod
    def acquire(cls, folder: Path, what: str = "run") -> FolderLock:
        """Lock ``folder`` or raise RunError naming the process that holds it."""
        folder = Path(folder)
        path = folder / LOCK_FILE
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as err:
            raise RunError(f"{path}: cannot create the {what}'s lock ({describe(err)})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RunError(f"{folder}: another nnctl process is writing this {what}; wait for it to end "
                           "(or stop it) and try again") from None
        return cls(folder, fd)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None

    def __del__(self):
        self.release()
