"""Trials in worker processes on this machine, the default executor.

BLAS threads are divided among the workers (cores // workers each, at least
one, and never more than an OPENBLAS_NUM_THREADS already set) so N workers
never oversubscribe the cores.  A worker that dies (killed,
out of memory) is replaced and its trial handed out once more; the trial then
continues from its last checkpoint.  Workers start isolated from the working
folder (``isolation``): they import nnctl's code only.
"""

from __future__ import annotations

import json
import os
import selectors
import subprocess
from dataclasses import asdict

from .isolation import SAFE_PATH, worker_command
from .trial import TrialTask, failed_event

BLAS_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


def blas_threads(workers: int, cores: int | None = None) -> int:
    """Each worker's share of the cores, capped by an OPENBLAS_NUM_THREADS the user already set."""
    share = max(1, (cores or os.cpu_count() or 1) // workers)
    cap = os.environ.get("OPENBLAS_NUM_THREADS", "")
    return min(share, int(cap)) if cap.isdigit() and int(cap) >= 1 else share


class _Worker:
    def __init__(self, threads: int, environment: dict[str, str]):
        env = {**os.environ, **environment, **{name: str(threads) for name in BLAS_VARIABLES}, **SAFE_PATH}
        self.process = subprocess.Popen(
            worker_command("nnctl.search.worker"), stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
        )
        self.task: TrialTask | None = None
        self.retried = False

    def send(self, task: TrialTask) -> None:
        self.task = task
        self.process.stdin.write((json.dumps(asdict(task)) + "\n").encode("utf-8"))
        self.process.stdin.flush()


class LocalExecutor:
    """``slots`` worker processes; ``submit`` hands a trial to an idle one, ``next_result`` waits for any.

    ``environment`` adds variables to the workers' (``train.blas_threads.blas_environment``)."""

    def __init__(self, workers: int, cores: int | None = None, environment: dict[str, str] | None = None):
        self.slots = workers
        self.threads = blas_threads(workers, cores)
        self.environment = dict(environment or {})
        self.selector = selectors.DefaultSelector()
        self.workers: list[_Worker] = []

    def _idle_worker(self) -> _Worker:
        for worker in self.workers:
            if worker.task is None:
                return worker
        if len(self.workers) >= self.slots:
            raise RuntimeError("submit() called with every worker busy")
        worker = _Worker(self.threads, self.environment)
        self.workers.append(worker)
        self.selector.register(worker.process.stdout, selectors.EVENT_READ, worker)
        return worker

    def submit(self, task: TrialTask) -> None:
        worker = self._idle_worker()
        worker.retried = False
        worker.send(task)

    def next_result(self) -> dict:
        """The end event of the next trial to finish (blocks)."""
        while True:
            for key, _ in self.selector.select():
                worker: _Worker = key.data
                line = worker.process.stdout.readline()
                if line:
                    worker.task = None
                    return json.loads(line)
                event = self._replace_dead(worker)
                if event is not None:
                    return event

    def _replace_dead(self, worker: _Worker) -> dict | None:
        """A worker died mid-trial: hand its trial to a fresh worker once, then give up on the trial."""
        self.selector.unregister(worker.process.stdout)
        code = worker.process.wait()
        self.workers.remove(worker)
        task, retried = worker.task, worker.retried
        if task is None:
            return None
        if retried:
            return failed_event(task, f"its worker process died twice (exit code {code})")
        fresh = self._idle_worker()
        fresh.retried = True
        fresh.send(task)
        return None

    def close(self) -> None:
        for worker in self.workers:
            worker.process.stdin.close()
        for worker in self.workers:
            try:
                worker.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.process.kill()
                worker.process.wait()
            worker.process.stdout.close()
        self.selector.close()
        self.workers = []
