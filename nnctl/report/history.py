"""A run's training history as the pictures need it: metrics.h5 plus the latest checkpoint's progress.

Read through `nnctl.runs` only; the checkpoint supplies what metrics.h5 does not
hold: the best epoch, why training stopped and the mini-batches per epoch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..did_you_mean import did_you_mean
from ..errors import PlotError, RunError
from ..runs import rundir
from ..runs.checkpoint import load_checkpoint
from ..runs.events import read_events
from ..runs.health_log import HealthLog
from ..runs.metrics_log import MetricLog

# Columns of /epoch that are bookkeeping, not metrics one would plot against each other.
NOT_METRICS = ("epoch",)


@dataclass
class RunHistory:
    run: Path
    task: str
    epoch: dict[str, np.ndarray]  # per-epoch columns, e.g. "dev_cost"
    step_cost: np.ndarray  # mini-batch cost J{t} (penalty included), one per optimizer step
    step_lr: np.ndarray  # learning rate of each step
    steps_per_epoch: int
    best: dict  # {"metric", "value", "epoch"}
    stop_reason: str | None
    health: HealthLog = field(default_factory=HealthLog)  # per-layer health every N steps
    events: list[dict] = field(default_factory=list)  # events.jsonl: warnings, settings changed on resume

    @property
    def name(self) -> str:
        return self.run.name

    @property
    def n_epochs(self) -> int:
        return len(self.epoch.get("epoch", ()))

    @property
    def metrics(self) -> list[str]:
        return [name for name in self.epoch if name not in NOT_METRICS]

    @property
    def stopped_early_at(self) -> int | None:
        return self.n_epochs if self.stop_reason == "early_stopping" else None

    def column(self, metric: str) -> np.ndarray:
        """One per-epoch metric; a name the run did not record is a PlotError with a did-you-mean."""
        if metric not in self.metrics:
            recorded = ", ".join(self.metrics) or "none (its metrics.h5 holds no per-epoch values)"
            raise PlotError(f"{self.run}: metric '{metric}' was not recorded; {did_you_mean(metric, self.metrics)}this run has {recorded}")
        return self.epoch[metric]


def load_history(run: Path) -> RunHistory:
    """The history of ``run`` (runs/latest: the run it points at, whose name the figures show); a run without
    metrics yet (or not a run) is a RunError."""
    run = rundir.resolve_run(Path(run))
    ckpt = load_checkpoint(rundir.checkpoint_path(run, "latest"))
    path = run / rundir.METRICS
    if not (path.exists() or path.is_symlink()):
        raise RunError(f"{run}: no metrics yet (no metrics.h5)")
    log = MetricLog.load(path)
    progress = ckpt.progress
    # metrics.h5 may run ahead of the checkpoint only by steps the checkpoint has not seen; cut to what it has.
    steps, epochs = progress.get("metric_steps", log.n_steps), progress.get("metric_epochs", log.n_epochs)
    log.truncate(steps, epochs)
    if log.n_epochs == 0:
        raise RunError(f"{run}: no metrics yet (no epoch has finished)")
    full_epoch_steps = ckpt.step - ckpt.batch
    return RunHistory(
        run=run,
        task=ckpt.task,
        epoch={name: np.asarray(values, dtype=np.float64) for name, values in log.epoch.items()},
        step_cost=np.asarray(log.iteration["cost"], dtype=np.float64),
        step_lr=np.asarray(log.iteration["learning_rate"], dtype=np.float64),
        steps_per_epoch=max(full_epoch_steps // ckpt.epoch, 1) if ckpt.epoch else max(log.n_steps, 1),
        best=progress.get("best") or {},
        stop_reason=progress.get("stop_reason"),
        health=log.health,
        events=[event for event in read_events(run) if event.get("step", 0) <= steps],
    )
