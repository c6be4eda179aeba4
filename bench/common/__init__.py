"""The shared harness of nnctl's benchmarks, one module per concern (the scripts in bench/ import it).

- ``harness``: a benchmark script's entry point (its options, the order of the runs, the results table);
- ``bench``: what a script describes (a :class:`~common.bench.Bench`); ``systems``: what it can time;
- ``protocol``: the parent process never trains: every timed run (system × repeat) and the
  verification run in a fresh worker process (the same script with ``--worker SYSTEM``),
  which prints one JSON result line;
- ``workload``: what every system trains on (the config's network, nnctl's prepared MNIST);
- the runners: ``nnctl_runner`` (the real Trainer), ``torch_runner`` (PyTorch from nnctl's
  initial weights), ``gemm_bound`` (the step's GEMMs alone); ``end_to_end`` (whole processes);
- ``verification`` (nnctl against PyTorch), ``profiling`` (where the time goes);
- ``threads``, ``contention``, ``tables``, ``machine`` (CPU, result files).

A script that times imports ``common.threads`` first and calls ``pin_threads`` before anything loads
NumPy: the BLAS and OpenMP libraries read their thread counts once, when they load. So no
module here imports NumPy, nnctl or torch at module level (and the nnctl worker must never
load torch).
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
