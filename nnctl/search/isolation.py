"""Trials run nnctl's code only, never a module that happens to lie in the folder they were started from.

``python -m`` puts the working folder first on the import path, so a file there
named like a module a worker imports later (``concurrent.py``, ``random.py``,
``h5py.py``) would run in every worker: a search started beside a script called
``concurrent.py`` became a fork bomb.  Local workers are therefore started in
Python's safe-path mode (``-P`` and ``PYTHONSAFEPATH``, 3.11+), and a trial run
as a Dask task takes the worker's working folder off the import path while it
runs (a Dask worker started with ``python -m`` has it there too).  What the
client sends to Dask workers (the trial task, the shared-folder probe) lives
here, in a module that imports nothing of nnctl's, so unpickling it on a worker
runs no import that could be shadowed.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SAFE_PATH = {"PYTHONSAFEPATH": "1"}  # also covers any Python the worker itself starts

_lock = threading.Lock()
_hidden: list[tuple[int, str]] = []  # (position, entry) taken off sys.path, while any trial runs
_running = 0


def worker_command(module: str) -> list[str]:
    """The command line that runs ``module`` isolated from the working folder."""
    return [sys.executable, "-P", "-m", module]


def _working_folder_entries() -> list[tuple[int, str]]:
    here = os.path.realpath(os.getcwd())
    return [(i, entry) for i, entry in enumerate(sys.path) if entry in ("", ".") or os.path.realpath(entry) == here]


@contextmanager
def working_folder_off_path() -> Iterator[None]:
    """While the block runs, imports cannot come from the working folder (restored after the last
    concurrent block ends: a Dask worker may run several trials in threads)."""
    global _running
    with _lock:
        if _running == 0:
            _hidden[:] = _working_folder_entries()
            for i, _ in reversed(_hidden):
                del sys.path[i]
        _running += 1
    try:
        yield
    finally:
        with _lock:
            _running -= 1
            if _running == 0:
                for i, entry in _hidden:
                    sys.path.insert(i, entry)
                _hidden.clear()


def sees_file(path: str, token: str) -> bool:
    """Run on each Dask worker: is this the file the client just wrote (same filesystem, same path)?"""
    try:
        return Path(path).read_text(encoding="utf-8") == token
    except OSError:
        return False


def run_isolated_trial(fields: dict) -> dict:
    """The Dask task: ``run_trial`` on a ``TrialTask``'s fields, importing nnctl's trial machinery (and
    everything it imports) only once the working folder is off the path.  The task crosses the wire as
    plain data, so unpickling it imports nothing but this small module."""
    with working_folder_off_path():
        from .trial import TrialTask, run_trial

        return run_trial(TrialTask(**fields))
