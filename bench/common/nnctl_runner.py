"""nnctl timed through its real Trainer: the same loop `nnctl train` runs, with epoch timestamps."""

from __future__ import annotations

import functools
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from common.bench import Bench
from common.workload import accuracy, fresh_net


@functools.cache
def timed_trainer_class():
    """nnctl's Trainer, unchanged, with timestamps at the epoch boundaries (defined on first use: imports nnctl).

    An epoch's training time runs from the end of the previous epoch's
    bookkeeping (or the start of ``run``) to the moment the loop asks for the
    epoch's metrics row: it covers the shuffle and every mini-batch step. The
    evaluation in ``_epoch_row`` and the checkpoint writes in ``_after_epoch``
    still happen, but are timed as ``overhead``.
    """
    from nnctl.train.loop import Trainer

    class TimedTrainer(Trainer):
        def run(self, reporter=None):
            self.bench_epoch_times, self.bench_overhead = [], []
            self._bench_mark = time.perf_counter()
            return super().run(reporter)

        def _epoch_row(self, *args, **kwargs):
            now = time.perf_counter()
            self.bench_epoch_times.append(now - self._bench_mark)
            self._bench_out = now
            return super()._epoch_row(*args, **kwargs)

        def _after_epoch(self, row):
            super()._after_epoch(row)
            now = time.perf_counter()
            self.bench_overhead.append(now - self._bench_out)
            self._bench_mark = now

    return TimedTrainer


def make_trainer(run, spec, run_dir: Path):
    """What ``session.start_run`` builds, but reusing the loaded data and a given run directory."""
    from nnctl.orchestration.start import new_trainer

    net, streams = fresh_net(spec, run.net.input_shape)
    return new_trainer(replace(run, spec=spec, net=net, streams=streams), run_dir, timed_trainer_class())


def run_nnctl(bench: Bench, run, spec, args) -> dict:
    import numpy as np

    with tempfile.TemporaryDirectory(prefix="nnctl-bench-") as tmp:
        trainer = make_trainer(run, spec, Path(tmp))
        result = trainer.run()
    if result.stop_reason != "completed":
        raise RuntimeError(f"nnctl training stopped: {result.stop_reason}")
    test = run.data["test"]
    pred = np.argmax(trainer.net.predict(test.x), axis=1)
    return {"epoch_times": trainer.bench_epoch_times, "overhead": trainer.bench_overhead,
            "accuracy": accuracy(pred, test.labels), "dtype": str(trainer.net.dtype), "kernels": trainer.kernels}


def with_kernels(spec, kernels: str):
    """``spec`` with another ``train.kernels``."""
    return spec.model_copy(update={"train": spec.train.model_copy(update={"kernels": kernels})})
