"""Thread counts: set before the numerical libraries load (they read them once), and reported as loaded."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from common.workload import config

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
               "VECLIB_MAXIMUM_THREADS")
REEXEC_MARK = "NNCTL_BENCH_REEXEC"
DEFAULT_THREADS = 2


def threads_from_argv(argv: list[str], default: int = DEFAULT_THREADS) -> int:
    """The value of ``--threads N`` / ``--threads=N`` without argparse (which we may not reach yet)."""
    for i, arg in enumerate(argv):
        if arg == "--threads" and i + 1 < len(argv):
            return int(argv[i + 1])
        if arg.startswith("--threads="):
            return int(arg.split("=", 1)[1])
    return default


def pin_threads(n: int, config_path: str | None = None) -> None:
    """Set every thread-count variable to ``n``, and the OpenBLAS variables `nnctl train` chooses for the
    network of ``config_path``, if given (nnctl/train/blas_threads.py); re-exec if a numerical library is
    already loaded.

    Call at the very top of a benchmark script, before importing numpy, torch or sklearn.
    """
    from nnctl.train.blas_threads import blas_environment

    wanted = {var: str(n) for var in THREAD_VARS} | (blas_environment(config(config_path).model) if config_path else {})
    changed = any(os.environ.get(var) != value for var, value in wanted.items())
    os.environ.update(wanted)
    loaded = [name for name in ("numpy", "torch", "scipy", "sklearn") if name in sys.modules]
    if changed and loaded and not os.environ.get(REEXEC_MARK):
        os.environ[REEXEC_MARK] = "1"
        os.execv(sys.executable, [sys.executable, *sys.argv])


def thread_report() -> list[str]:
    """One line per native thread pool actually loaded (BLAS, OpenMP), via threadpoolctl if present."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return ["(threadpoolctl not installed: thread pools not inspected)"]
    lines = []
    for pool in threadpool_info():
        name = Path(pool.get("filepath", "?")).name
        lines.append(f"{pool.get('user_api')}/{pool.get('internal_api')} {name}: {pool.get('num_threads')} threads")
    return lines
