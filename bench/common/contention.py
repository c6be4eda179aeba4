"""Whether other processes competed for the CPUs during a run: a contended timing is not comparable."""

from __future__ import annotations

import os
import time

CONTENDED = 0.25  # CPUs used by other processes during a run above which it counts as contended


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


def wait_for_idle(max_wait: float, threshold: float = CONTENDED, sample: float = 0.5) -> float:
    """Wait (up to ``max_wait`` s) until other processes use under ``threshold`` CPUs; return the seconds waited."""
    started = time.perf_counter()
    while True:
        before = cpu_snapshot()
        time.sleep(sample)
        if cpu_usage_since(before)["others"] < threshold or time.perf_counter() - started >= max_wait:
            return time.perf_counter() - started
