"""Trials on an existing Dask distributed cluster (``--scheduler tcp://HOST:8786``).

Workers write each trial's run directory straight into the tune directory, so
the tune directory must be on a filesystem every worker sees at the same path
(NFS, a cluster filesystem, or one machine).  This is checked before anything
starts.  When a worker dies, Dask hands its trial to another worker, which
continues it from its last checkpoint (or starts it, if it had none).
Dask's nanny starts workers with one BLAS thread each (OPENBLAS_NUM_THREADS=1).
A trial task imports nnctl's code only after taking the Dask worker's working
folder off its import path (``isolation``).
"""

from __future__ import annotations

import os
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ClusterError, require_extra
from .isolation import run_isolated_trial, sees_file

if TYPE_CHECKING:
    from .trial import TrialTask

INSTALL_HINT = "--scheduler needs Dask; install it with: pip install 'nnctl[cluster]'"


class DaskExecutor:
    def __init__(self, address: str, timeout: float):
        distributed = require_extra("distributed", INSTALL_HINT)
        self.address = address
        try:
            self.client = distributed.Client(address, timeout=f"{timeout}s")  # the default client: distributed.wait needs one
        except (OSError, TimeoutError, ValueError) as err:
            raise ClusterError(f"--scheduler {address}: cannot reach a Dask scheduler within {timeout:g} s "
                               f"({str(err).splitlines()[0] if str(err) else type(err).__name__})") from None
        try:
            self.client.wait_for_workers(1, timeout=timeout)
        except TimeoutError:
            self.client.close()
            raise ClusterError(f"--scheduler {address}: the scheduler has no workers (start some with `dask worker {address}`)") from None
        self.slots = max(1, sum(self.client.nthreads().values()))
        self.wait, self.killed_worker = distributed.wait, distributed.KilledWorker
        self.running: dict = {}  # future -> trial index

    def check_shared(self, directory: Path) -> None:
        """Every worker must see ``directory`` (where the trials are written) at the same path."""
        probe = Path(directory) / f".probe-{uuid.uuid4().hex}"
        token = uuid.uuid4().hex
        probe.write_text(token, encoding="utf-8")
        try:
            seen = self.client.run(sees_file, str(probe), token)
        finally:
            probe.unlink()
        blind = sorted(worker for worker, ok in seen.items() if not ok)
        if blind:
            raise ClusterError(f"Dask worker {blind[0]} cannot see {directory}: put the runs directory on a filesystem "
                               "shared by every worker at the same path")

    def submit(self, task: TrialTask) -> None:
        key = f"nnctl-trial-{os.path.basename(task.tune_dir)}-{task.index}-{uuid.uuid4().hex[:8]}"
        self.running[self.client.submit(run_isolated_trial, asdict(task), key=key, pure=False)] = task.index

    def next_result(self) -> dict:
        done = self.wait(list(self.running), return_when="FIRST_COMPLETED").done
        future = min(done, key=lambda f: f.key)
        index = self.running.pop(future)
        try:
            return future.result()
        except self.killed_worker:  # Dask gave up after the trial's workers died repeatedly
            return {"event": "end", "trial": index, "status": "failed", "message": "every Dask worker that ran it died"}

    def close(self) -> None:
        self.client.close()
