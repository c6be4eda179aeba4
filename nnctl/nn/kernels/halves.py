"""Two halves of a batch on two cores: the one thread pool of the kernels, shared by both implementations.

The data movement between matrix products (pooling, patch copies, slice-adds,
activations) would run on one core while BLAS's threads wait.  Both kernel
implementations split such passes into two halves of the batch, one on a helper
thread: NumPy and the compiled kernels release the GIL inside their loops.  A
single helper, handed work only while the main thread works too, never
oversubscribes the cores BLAS shares (one thread pool per library fighting for two
cores cost up to 5 ms per call — docs/explanation/kernels.md#threads), and every
example's values are computed exactly as in one pass.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

SPLIT_ROWS = 32  # below this many rows the hand-off costs more than it saves
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")  # the process's share of the cores, when set
_helper: ThreadPoolExecutor | None = None


def cores() -> int:
    """The cores this process may use: its BLAS share when one is set (a search worker's), else all."""
    share = next((os.environ[name] for name in THREAD_VARIABLES if os.environ.get(name, "").isdigit()), None)
    return max(1, int(share)) if share is not None else os.cpu_count() or 1


def in_halves(work, m: int) -> None:
    """``work(lo, hi)`` over rows [0, m) as two halves, one on the helper thread, or whole when m is small."""
    global _helper
    if m < SPLIT_ROWS or cores() < 2:
        work(0, m)
        return
    if _helper is None:
        _helper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nnctl-halves")
    half = m // 2
    first = _helper.submit(work, 0, half)
    try:
        work(half, m)
    finally:
        first.result()  # never return (or raise) while the helper still writes the buffers
