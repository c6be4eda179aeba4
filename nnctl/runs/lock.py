"""One writer per folder: an exclusive lock on the folder itself for as long as a process writes there.

Two `nnctl train --resume` of one run would otherwise interleave their
checkpoints and metric logs. The lock is an flock(2) on the directory: no file
is added, the kernel drops it when its holder exits, however it exits
(SIGKILL included), so a lock is never stale and never needs removing.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from ..errors import RunError
from .atomic import describe


class FolderLock:
    """Held from ``acquire`` until ``release`` (or until the process ends)."""

    def __init__(self, folder: Path, fd: int):
        self.folder, self._fd = folder, fd

    @classmethod
    def acquire(cls, folder: Path, what: str = "run") -> FolderLock:
        """Lock ``folder`` or raise RunError saying another process holds it (``what`` the folder is)."""
        folder = Path(folder)
        try:
            fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as err:
            raise RunError(f"{folder}: cannot open the {what} directory ({describe(err)})") from None
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
