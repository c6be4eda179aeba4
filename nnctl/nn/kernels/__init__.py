"""The memory-bound kernels of a training step, in two implementations behind one interface.

Pooling both ways, the convolutions' patch gather, its transpose and their banded
weights, activation and mask, the softmax-cross-entropy cost and gradient, the
optimizers' updates and the copy of a mini-batch's rows are the work around the
GEMMs: NumPy runs them one whole-array pass at a time, with inner loops as short
as a channel count.  ``numpy_ref`` is that code, the reference, used when numba is
not installed; ``compiled`` (numba, the ``fast`` extra) does the same arithmetic in
the same order in one loop per kernel, so both give the same bits
(docs/explanation/kernels.md).  Both split batch-sized passes over the one helper
thread of ``halves``.  Layers call ``active()``; a run chooses with
``train.kernels`` through ``select``.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

from .choice import compiled_installed, resolve

_active: ModuleType | None = None  # None: the reference, imported on first use (this package loads without NumPy)


def active() -> ModuleType:
    """The implementation layers and optimizers call now."""
    return _active or load("numpy")


def select(choice: str, dtype=None) -> str:
    """Make ``choice`` (auto | numpy | compiled) the active implementation; returns the one chosen.

    auto means compiled when the ``fast`` extra is installed; compiled without it raises
    MissingExtraError with the install hint. With ``dtype``, the compiled kernels run once on a tiny
    network first, so that numba compiles or loads them now rather than in a run's first steps."""
    global _active
    _active = load(resolve(choice))
    if dtype is not None and _active.NAME == "compiled":
        from ..warmup import warm_up

        warm_up(dtype)
    return _active.NAME


def load(name: str) -> ModuleType:
    """The implementation called ``name`` (numpy or compiled), imported."""
    if name == "numpy":
        from . import numpy_ref

        return numpy_ref
    from ...errors import require_extra

    if not compiled_installed():
        require_extra("numba", "train.kernels: compiled needs numba: pip install 'nnctl[fast]'")
    _ensure_cache_dir()
    from . import compiled

    return compiled


@contextmanager
def using(choice: str):
    """``select(choice)`` for the duration of a block (tests compare the two implementations this way)."""
    global _active
    previous = _active
    select(choice)
    try:
        yield _active
    finally:
        _active = previous


def compile_pending(choice: str) -> bool:
    """Whether selecting ``choice`` means compiling kernels first: the compiled implementation without
    numba's on-disk cache for them (the first run on a machine, or after an nnctl upgrade)."""
    if resolve(choice) != "compiled":
        return False
    load("compiled")
    from .compiled import cached

    return not cached()


def _ensure_cache_dir() -> None:
    """numba caches compiled kernels beside their source, else in the user's cache directory; when
    neither is writable (a read-only install in a locked-down account), point it at a temporary one."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return
    user_cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "numba"
    if any(_writable(path) for path in (Path(__file__).parent / "__pycache__", user_cache)):
        return
    os.environ["NUMBA_CACHE_DIR"] = str(Path(tempfile.gettempdir()) / f"nnctl-numba-{os.getuid()}")


def _writable(path: Path) -> bool:
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            return True
    except OSError:
        return False
