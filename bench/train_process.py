"""One `nnctl train` in a fresh process: its JSON summary, wall time and peak RSS.

Each measurement gets its own process so that peak RSS is that run's alone
(``os.wait4`` returns the child's own ``ru_maxrss``), and BLAS is pinned to
one thread so that runs compare on a shared machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path


def train_in_process(spec: Path, runs_dir: Path, *overrides: str) -> dict:
    """Train ``spec``; return {"result": summary, "wall_s": ..., "peak_rss_mb": ...}; raise if it fails."""
    sets = [item for override in overrides for item in ("--set", override)]
    command = [sys.executable, "-m", "nnctl", "train", str(spec), "--runs-dir", str(runs_dir), "--quiet", "--json", *sets]
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "NO_COLOR": "1"}
    started = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    out, err = proc.stdout.read(), proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"nnctl train {spec} failed ({proc.returncode}):\n{err}")
    return {"result": json.loads(out), "wall_s": wall, "peak_rss_mb": usage.ru_maxrss / 1024}
