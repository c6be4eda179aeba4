"""Shared machinery of nnctl's benchmarks (bench/mlp_mnist.py, bench/lenet_mnist.py).

- thread pinning, CPU-contention measurement, statistics, tables, JSON;
- the process protocol: the parent process never trains; every timed run
  (system × repeat), and the verification, runs in a fresh worker subprocess
  (the same script with ``--worker SYSTEM``) that prints one JSON result line;
- the per-system training code shared by the benchmarks: nnctl through its real
  Trainer, PyTorch with nnctl's initial weights, and the nnctl-vs-PyTorch check.
  A benchmark script only describes its network (a :class:`Bench`).

This module must stay importable *before* NumPy: ``pin_threads`` sets the BLAS
and OpenMP thread-count variables, which the libraries read only once, when
they are loaded.  Nothing here imports NumPy, nnctl or torch at module level
(the nnctl worker must never load torch).
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[1]

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
               "VECLIB_MAXIMUM_THREADS")
REEXEC_MARK = "NNCTL_BENCH_REEXEC"


def threads_from_argv(argv: list[str], default: int = 2) -> int:
    """The value of ``--threads N`` / ``--threads=N`` without argparse (which we may not reach yet)."""
    for i, arg in enumerate(argv):
        if arg == "--threads" and i + 1 < len(argv):
            return int(argv[i + 1])
        if arg.startswith("--threads="):
            return int(arg.split("=", 1)[1])
    return default


def pin_threads(n: int) -> None:
    """Set every thread-count variable to ``n``; re-exec if a numerical library is already loaded.

    Call at the very top of a benchmark script, before importing numpy, torch or sklearn.
    """
    wanted = str(n)
    changed = any(os.environ.get(var) != wanted for var in THREAD_VARS)
    for var in THREAD_VARS:
        os.environ[var] = wanted
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


def cpu_snapshot() -> tuple:
    """(wall, this process's CPU seconds, machine busy and steal ticks) to measure contention over a run."""
    busy = steal = 0
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
        busy, steal = sum(fields[:3]) + sum(fields[5:7]), fields[7]  # user nice system + irq softirq; steal
    except (OSError, ValueError, IndexError):
        pass
    return time.perf_counter(), time.process_time(), busy, steal


def cpu_usage_since(before: tuple) -> dict:
    """Average CPUs used over the interval: by this process, by everything else, and stolen by the host.

    ``others`` well above 0 or ``steal`` above ~0.05 means the run competed for the CPUs.
    """
    after = cpu_snapshot()
    wall = max(after[0] - before[0], 1e-9)
    tick = os.sysconf("SC_CLK_TCK")
    process = (after[1] - before[1]) / wall
    busy = (after[2] - before[2]) / tick / wall
    return {"process": process, "others": max(busy - process, 0.0), "steal": (after[3] - before[3]) / tick / wall}


def wait_for_idle(max_wait: float, threshold: float = 0.25, sample: float = 0.5) -> float:
    """Wait (up to ``max_wait`` s) until other processes use under ``threshold`` CPUs; return the seconds waited."""
    started = time.perf_counter()
    while True:
        before = cpu_snapshot()
        time.sleep(sample)
        if cpu_usage_since(before)["others"] < threshold or time.perf_counter() - started >= max_wait:
            return time.perf_counter() - started


def summarize(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "values": list(values)}


def fmt_int(x: float) -> str:
    return f"{x:,.0f}"


def fmt_range(s: dict, fmt=fmt_int) -> str:
    return f"{fmt(s['median'])} [{fmt(s['min'])}–{fmt(s['max'])}]"


def table(headers: list[str], rows: list[list[str]], right: set[int] | None = None) -> str:
    """A plain fixed-width table; columns in ``right`` are right-aligned."""
    right = right or set()
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]

    def line(cells):
        return "  ".join(str(c).rjust(w) if i in right else str(c).ljust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *[line(r) for r in rows]])


def machine_info() -> dict:
    info = {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count()}
    try:
        with open("/proc/cpuinfo") as f:
            for row in f:
                if row.startswith("model name"):
                    info["cpu"] = row.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return info


def save_json(path: str | Path, payload: dict) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(payload, indent=2, default=_jsonable) + "\n")


def _jsonable(value):
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot serialize {type(value).__name__}")
