"""TensorBoard event files for a run: RUN/tb/ (per epoch) and RUN/tb/steps/ (per optimizer step).

Scalars carry metrics.h5's names (``epoch/dev_accuracy``, ``iteration/cost``, ``health/dense1/grad_norm``) and its
values rounded to float32, TensorBoard's scalar type (its fast loader drops float64
scalars unseen); metrics.h5 stays the exact record. The two step axes (epochs and optimizer
steps) live in two folders because TensorBoard's crash recovery purges, at a restart,
every event at or after the restart's step. Every writer starts with such a
marker (TensorBoard takes the first for the start and a later one for a restart): a
resumed run's stand at the epoch and the step its checkpoint reached, so nothing a
killed process wrote past its checkpoint survives next to the resumed values.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from ..errors import require_extra
from ..runs.metrics_log import MetricLog
from .mirror import Mirror, guarded
from .records import epoch_rows, flat_spec

TB_DIR, STEPS_DIR = "tb", "steps"
HINT = "TensorBoard logging needs the tensorboard extra: pip install 'nnctl[tensorboard]'"
NOT_PLOTTED = {"epoch"}  # the step axis itself
HISTOGRAMS_PER_RUN = 10


class EventWriter:
    """One run's event files; ``first_epoch``/``first_step``: where this writer takes over (a resumed run's
    next epoch and step; 0 for a fresh run)."""

    def __init__(self, run_dir: Path, first_epoch: int = 0, first_step: int = 0):
        tensorboardx = require_extra("tensorboardX", HINT)
        from tensorboardX.proto.summary_pb2 import Summary

        self._summary = Summary
        folder = Path(run_dir) / TB_DIR
        # File names carry only the second they were made in: a nanosecond suffix keeps a resume started
        # within the same second from truncating the previous file, and keeps the files in writing order.
        unique = f".{time.time_ns()}"
        self.epochs = tensorboardx.SummaryWriter(logdir=str(folder), purge_step=first_epoch, flush_secs=30,
                                                 filename_suffix=unique)
        self.steps = tensorboardx.SummaryWriter(logdir=str(folder / STEPS_DIR), purge_step=first_step, flush_secs=30,
                                                filename_suffix=unique)

    def _scalars(self, writer, values: dict[str, float], step: int) -> None:
        """Several scalars at one step, as one event."""
        entries = [self._summary.Value(tag=tag, simple_value=float(value)) for tag, value in values.items()]
        writer.file_writer.add_summary(self._summary(value=entries), step)

    def iterations(self, log: MetricLog, first: int, last: int) -> None:
        """Optimizer steps first+1..last (1-based, as metrics.h5's rows are counted) of ``log``."""
        for index in range(first, last):
            self._scalars(self.steps, {f"iteration/{name}": column[index] for name, column in log.iteration.items()}, index + 1)

    def health(self, log: MetricLog, first: int) -> None:
        """The per-layer health records from ``first`` on, at their optimizer steps (``health/<layer>/<stat>``,
        as metrics.h5's /health group names them)."""
        record = log.health
        for index in range(first, len(record)):
            values = {f"health/{layer}/{stat}": column[index] for layer, columns in record.columns.items()
                      for stat, column in columns.items() if math.isfinite(column[index])}
            self._scalars(self.steps, values, record.step[index])

    def epoch(self, row: dict[str, float]) -> None:
        values = {f"epoch/{name}": value for name, value in row.items() if name not in NOT_PLOTTED}
        self._scalars(self.epochs, values, int(row["epoch"]))

    def histograms(self, tensors: dict[str, np.ndarray], epoch: int) -> None:
        for key, values in tensors.items():
            if np.all(np.isfinite(values)):  # a diverged tensor has no histogram
                self.epochs.add_histogram(f"weights/{key}", np.asarray(values, dtype=np.float64), epoch)

    def hparams(self, spec_yaml: str, final: dict[str, float], best: dict) -> None:
        """The resolved spec as hyperparameters, judged by the last epoch's metrics and the best monitored value."""
        from tensorboardX.summary import hparams

        metrics = {f"epoch/{name}": value for name, value in final.items() if name not in NOT_PLOTTED and math.isfinite(value)}
        if best.get("value") is not None:
            metrics[f"best/{best['metric']}"] = best["value"]
            self._scalars(self.epochs, {f"best/{best['metric']}": best["value"]}, int(best["epoch"]))
        for summary in hparams(flat_spec(spec_yaml), metrics):
            self.epochs.file_writer.add_summary(summary)

    def close(self) -> None:
        self.epochs.close()
        self.steps.close()


class TensorBoardMirror(Mirror):
    """Writes a training run's event files as it goes: steps and metrics per epoch, histograms now and then."""

    name = "tensorboard"

    def __init__(self, trainer, settings, resumed: bool):
        super().__init__(trainer.run_dir)
        self.trainer = trainer
        log = trainer.log
        self.writer = EventWriter(trainer.run_dir, trainer.epoch + 1 if resumed else 0, log.n_steps + 1 if resumed else 0)
        self.written, self.health_written = log.n_steps, len(log.health)
        every = settings.histogram_every
        self.every = max(1, trainer.spec.train.epochs // HISTOGRAMS_PER_RUN) if every is None else every
        if not resumed and self.every:
            self.writer.histograms(trainer.net.tensors(), 0)  # the initialization

    @property
    def repair(self) -> str:
        return f"`nnctl runs export --format tensorboard {self.run_dir}` writes the event files again from the run"

    def _flush_steps(self) -> None:
        log = self.trainer.log
        self.writer.iterations(log, self.written, log.n_steps)
        self.writer.health(log, self.health_written)
        self.written, self.health_written = log.n_steps, len(log.health)

    @guarded
    def epoch_end(self, epoch, row):
        self._flush_steps()
        self.writer.epoch(row)
        if self.every and (epoch % self.every == 0 or epoch == self.trainer.spec.train.epochs):
            self.writer.histograms(self.trainer.net.tensors(), epoch)

    @guarded
    def complete(self, result):
        self._flush_steps()
        self.writer.hparams(self.trainer.facts.spec_yaml, self.trainer.log.last(), result.best)
        self.writer.close()


def export_tensorboard(run_dir: Path, log: MetricLog, spec_yaml: str, best: dict, tensors: dict[str, np.ndarray],
                       epoch: int) -> Path:
    """Write RUN/tb/ anew from the run's files: the whole metric log, and one histogram of the latest weights."""
    folder = Path(run_dir) / TB_DIR
    for stale in [*folder.glob("events.out.tfevents.*"), *(folder / STEPS_DIR).glob("events.out.tfevents.*")]:
        stale.unlink()
    writer = EventWriter(run_dir)
    try:
        writer.iterations(log, 0, log.n_steps)
        writer.health(log, 0)
        for row in epoch_rows(log):
            writer.epoch(row)
        writer.histograms(tensors, epoch)
        writer.hparams(spec_yaml, log.last(), best)
    finally:
        writer.close()
    return folder
