"""The systems a benchmark can time: the shared runners and the script's own (``Bench.extra_systems``).

A runner takes (bench, run, spec, args) and returns the epoch times, the test accuracy and the dtype.
"""

from __future__ import annotations

from common.bench import Bench
from common.gemm_bound import run_gemm_bound
from common.nnctl_runner import run_nnctl, with_kernels
from common.torch_runner import run_torch

BASE_RUNNERS = {
    "nnctl": run_nnctl,
    "nnctl-numpy": lambda bench, run, spec, args: run_nnctl(bench, run, with_kernels(spec, "numpy"), args),
    "gemm-bound": run_gemm_bound,
    "torch": lambda bench, run, spec, args: run_torch(bench, run, spec, fused=False),
    "torch-fused": lambda bench, run, spec, args: run_torch(bench, run, spec, fused=True),
}


def runners(bench: Bench) -> dict:
    """Every system the script can time, by name: the shared ones, then its own."""
    return {**BASE_RUNNERS, **bench.extra_systems}
