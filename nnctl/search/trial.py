"""One trial, run where a worker is: start it, or continue it from its checkpoint.

``run_trial`` is idempotent: a trial whose directory already holds a
checkpoint resumes bit-exactly through the ordinary ``train --resume``
machinery, and a finished one is only summarised.  That is what makes a
resumed search, and a Dask task rescheduled after its worker died, continue
instead of starting over.
"""

from __future__ import annotations

import statistics
import threading
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..data import LoadedData
from ..errors import NnctlError
from ..memory import out_of_memory
from ..orchestration.datasets import default_datasets_dir
from ..orchestration.splits import fold_data
from ..orchestration.start import resume_run, start_run
from ..runs import rundir
from ..runs.checkpoint import load_checkpoint
from ..runs.metrics_log import MetricLog
from ..runs.status import TrialStatus
from ..spec import parse_spec
from ..spec.schema.search import satisfy_conditions
from ..train.loop import Reporter, Trainer, stop_on_signals
from .folds_record import load_folds
from .record import STOP_FILE, finite_or_none, trial_dir_name

DONE_REASONS = (TrialStatus.early_stopping, TrialStatus.pruned)


@dataclass
class TrialTask:
    """Everything a worker needs, as plain data (it crosses process and machine boundaries)."""

    tune_dir: str
    index: int
    spec_yaml: str
    metric: str
    minimize: bool
    satisfy: dict[str, str]
    prune_after: int | None = None
    prune_min_trials: int = 1
    references: list | None = None  # per-epoch metric of trials finished when this one was handed out
    datasets_dir: str | None = None
    fold: int | None = None  # a fold run of a cross-validated trial (its rows: the folds recorded in tune_dir)
    refit: bool = False  # the chosen trial once more, on the whole training pool
    run: str | None = None  # the run directory, relative to tune_dir (default: the trial's own)

    @property
    def run_dir(self) -> Path:
        return Path(self.tune_dir) / (self.run or trial_dir_name(self.index))

    def event(self, **fields) -> dict[str, Any]:
        """An event about this task: ``end`` of a trial, ``fold`` of a fold run, ``refit`` of the refit."""
        kind = "refit" if self.refit else "fold" if self.fold is not None else "end"
        head = {"event": kind, "trial": self.index} | ({"fold": self.fold} if self.fold is not None else {})
        return head | fields


def failed_event(task: TrialTask, message: str) -> dict[str, Any]:
    """The task could not run to its end (its worker died, every Dask worker that ran it died)."""
    return task.event(status=TrialStatus.failed, message=message)


class StopsThroughFile:
    """Ctrl-C / SIGTERM (``stop_on_signals``) sets ``stop_requested``: hand out no more tasks, and tell the running
    ones, through the STOP file every trial polls in ``stop_dir``, to checkpoint and return."""

    stopping = False
    stop_dir: Path

    @property
    def stop_requested(self) -> bool:
        return self.stopping

    @stop_requested.setter
    def stop_requested(self, value: bool) -> None:
        self.stopping = value
        if value:
            (Path(self.stop_dir) / STOP_FILE).touch()


def median_says_prune(task: TrialTask, epoch: int, value: float) -> bool:
    """The median rule: worse than the median of finished trials at the same epoch."""
    if task.prune_after is None or epoch < task.prune_after:
        return False
    peers = [curve[epoch - 1] for curve in task.references or [] if len(curve) >= epoch and curve[epoch - 1] is not None]
    if len(peers) < task.prune_min_trials:
        return False
    median = statistics.median(peers)
    return value > median if task.minimize else value < median


class TrialReporter(Reporter):
    """Silent progress that stops the trial on the search's STOP file and applies the pruning rule."""

    def __init__(self, trainer: Trainer, task: TrialTask):
        self.trainer, self.task = trainer, task
        self.stop_file = Path(task.tune_dir) / STOP_FILE

    def step(self, batch: int, cost: float) -> None:
        if self.stop_file.exists():
            self.trainer.stop_requested = True

    def epoch_end(self, epoch: int, row: dict[str, float]) -> None:
        value = row.get(self.task.metric)
        if value is not None and median_says_prune(self.task, epoch, value):
            # The loop ends after this epoch and checkpoints it, recording why.
            self.trainer.stop_reason = TrialStatus.pruned


def run_trial(task: TrialTask) -> dict[str, Any]:
    """Run (or continue) one trial to its end; the ``end`` event for trials.jsonl."""
    started = time.perf_counter()
    run_dir = task.run_dir
    datasets_dir = Path(task.datasets_dir) if task.datasets_dir else None
    try:
        finished, epoch = _trial_state(run_dir)
        if finished:
            return summarise(task, MetricLog.load(run_dir / rundir.METRICS), finished, time.perf_counter() - started)
        if epoch is not None:
            trainer = resume_run(run_dir, datasets_dir=datasets_dir)
        else:
            run_dir.mkdir(parents=True, exist_ok=True)
            spec = parse_spec(task.spec_yaml, str(run_dir / rundir.SPEC_FILE))
            trainer = start_run(spec, None, datasets_dir, run_dir=run_dir, loaded=_fold_data(task, spec, datasets_dir))
        # Signals reach a local worker's main thread; a Dask task runs in a thread and stops on the STOP file.
        on_main_thread = threading.current_thread() is threading.main_thread()
        with stop_on_signals(trainer) if on_main_thread else nullcontext():
            result = trainer.run(TrialReporter(trainer, task))
    except (NnctlError, MemoryError) as err:
        message = out_of_memory(err)[1] if isinstance(err, MemoryError) else str(err).splitlines()[0]
        return task.event(status=TrialStatus.failed, message=message, seconds=round(time.perf_counter() - started, 3))
    return summarise(task, trainer.log, result.stop_reason, time.perf_counter() - started)


def _fold_data(task: TrialTask, spec, datasets_dir: Path | None) -> LoadedData | None:
    """A fold run's rows (the recorded folds), a refit's (the whole pool), or None: the spec's own splits."""
    if task.fold is None and not task.refit:
        return None
    folds = None if task.refit else load_folds(Path(task.tune_dir))
    return fold_data(spec, datasets_dir or default_datasets_dir(), folds, task.fold)


def _trial_state(run_dir: Path) -> tuple[str | None, int | None]:
    """Why a trial's run is already over (budget spent, stopped early, pruned) or None, and its checkpoint's epoch
    (None: never checkpointed, so it starts afresh)."""
    if not (run_dir / rundir.LATEST).exists():
        return None, None
    ckpt = load_checkpoint(run_dir / rundir.LATEST)
    reason = ckpt.progress.get("stop_reason")
    if reason in DONE_REASONS:
        return reason, ckpt.epoch
    epochs = parse_spec(ckpt.spec_yaml, str(run_dir / rundir.SPEC_FILE)).train.epochs
    return (TrialStatus.completed if ckpt.epoch >= epochs and ckpt.batch == 0 else None), ckpt.epoch


def summarise(task: TrialTask, log: MetricLog, stop_reason: str, seconds: float) -> dict[str, Any]:
    """The trial's value (the metric at its best epoch), its curve and its satisficing checks."""
    curve = [finite_or_none(v) for v in log.epoch.get(task.metric, [])]
    status = TrialStatus(stop_reason)
    event = task.event(status=status, epochs=log.n_epochs, curve=curve, seconds=round(seconds, 3),
                       parameters=_parameter_count(task.run_dir))
    scored = [(v, epoch) for epoch, v in enumerate(curve, start=1) if v is not None]
    if status == TrialStatus.diverged or not scored:
        return {**event, "value": None, "feasible": False}
    value, best_epoch = (min if task.minimize else max)(scored, key=lambda pair: pair[0])  # ties: the earliest epoch
    satisfied = {name: _satisficing_value(log, name, best_epoch) for name in task.satisfy}
    feasible = satisfies(satisfied, task.satisfy)
    return {**event, "value": value, "best_epoch": best_epoch, "satisfy": satisfied, "feasible": feasible}


def _parameter_count(run_dir: Path) -> int | None:
    """How many weights and biases the trial's network has (the one-standard-error rule's "simplest")."""
    path = run_dir / rundir.INITIAL
    return sum(int(v.size) for v in load_checkpoint(path).params.values()) if path.exists() else None


def _satisficing_value(log: MetricLog, name: str, best_epoch: int) -> float | None:
    """A satisficing metric at the best epoch; epoch_time averaged over the trial (one epoch's time is noise)."""
    column = log.epoch.get(name, [])
    if name == "epoch_time":
        return finite_or_none(sum(column) / len(column)) if column else None
    return finite_or_none(column[best_epoch - 1]) if len(column) >= best_epoch else None


def satisfies(satisfied: dict[str, float | None], satisfy: dict[str, str]) -> bool:
    """Does every satisficing metric (None: not recorded) meet its ``satisfy`` condition?"""
    return all(condition.holds(satisfied[condition.key]) for condition in satisfy_conditions(satisfy))
