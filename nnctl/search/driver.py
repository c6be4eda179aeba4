"""The search loop: hand trials to an executor as slots free up, record every event, stop cleanly.

The coordinator is the only writer of trials.jsonl.  A trial is handed out
with a snapshot of the finished trials' curves (the median rule's reference),
so pruning needs no shared state between workers.  A stop request (Ctrl-C,
SIGTERM) writes the STOP file that every running trial polls, waits for the
trials to checkpoint, and records them as interrupted for `--resume`
(the same signal handling as `nnctl train`, through ``stop_requested``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import BuildError
from ..orchestration.datasets import default_datasets_dir
from ..orchestration.start import metric_names, prepare_run
from ..spec import spec_to_yaml
from ..train.loop import stop_on_signals
from .plan import TIME_METRICS, Plan
from .record import (
    STOP_FILE,
    TRIALS_FILE,
    SearchRecord,
    TrialRecord,
    append_event,
    apply_event,
    load_search,
    search_lock,
    trial_dir_name,
)
from .trial import TrialTask


def check_metrics(plan: Plan, datasets_dir: Path | None) -> None:
    """The searched and satisficing metrics must be recorded per epoch, and none may be read from the test split."""
    wanted = [("search.metric", plan.search.metric)] + [(f"search.satisfy.{name}", name) for name in plan.search.satisfy]
    for key, name in wanted:
        if name.startswith("test_"):
            raise BuildError(key, f"{name!r}: the test split is never used to choose hyperparameters; use a dev metric")
    early = plan.spec.train.early_stopping
    if early and early.monitor not in (None, plan.search.metric) and plan.search.metric not in TIME_METRICS:
        raise BuildError("train.early_stopping.monitor", f"a trial keeps the epoch its search.metric ({plan.search.metric}) "
                         "ranks best, so early stopping must watch that metric too; drop this key")
    run = prepare_run(plan.spec.model_copy(update={"search": None}), datasets_dir)
    known = [*metric_names(run.splits.task, run.data), *TIME_METRICS]
    for key, name in wanted:
        if name not in known:
            raise BuildError(key, f"{name!r} is not recorded for this run; choose one of {', '.join(known)}")


@dataclass
class Progress:
    """What the CLI hears about: every finished trial, with the search so far."""

    on_trial_end: Callable[[TrialRecord, SearchRecord], None] = lambda trial, record: None


class Search:
    """One search being run (new, resumed or refined) in ``record.tune_dir``."""

    def __init__(self, plan: Plan, record: SearchRecord, executor, sampler=None, datasets_dir: Path | None = None):
        self.plan, self.record, self.executor, self.sampler = plan, record, executor, sampler
        self.datasets_dir = str(Path(datasets_dir or default_datasets_dir()).resolve())
        self.stopping = False

    @property
    def tune_dir(self) -> Path:
        return self.record.tune_dir

    @property
    def stop_requested(self) -> bool:
        return self.stopping

    @stop_requested.setter
    def stop_requested(self, value: bool) -> None:
        """Stop handing out trials and tell the running ones (through the STOP file) to checkpoint and return."""
        self.stopping = value
        if value:
            (self.tune_dir / STOP_FILE).touch()

    def _record(self, event: dict) -> None:
        append_event(self.tune_dir, event)
        apply_event(self.record, self.plan.space, {**event}, str(self.tune_dir / TRIALS_FILE))

    def _params(self, index: int) -> dict:
        started = next((t for t in self.record.trials if t.index == index), None)
        if started is not None:
            return started.params
        if self.sampler is not None:
            return self.sampler.ask(index, self.record)
        return self.plan.space.trial(index)

    def _task(self, index: int) -> TrialTask:
        params = self._params(index)
        spec = self.plan.trial_spec(index, params)
        if not any(t.index == index for t in self.record.trials):
            self._record({"event": "start", "trial": index, "params": params, "run": trial_dir_name(index)})
        prune = self.plan.search.prune
        return TrialTask(
            tune_dir=str(self.tune_dir), index=index, spec_yaml=spec_to_yaml(spec), metric=self.plan.search.metric,
            minimize=self.plan.minimize, satisfy=dict(self.plan.search.satisfy),
            prune_after=prune.after_epochs if prune else None, prune_min_trials=prune.min_trials if prune else 1,
            references=self.record.completed_curves() if prune else None, datasets_dir=self.datasets_dir,
        )

    def run(self, progress: Progress) -> bool:
        """Run every trial not finished yet; True when the search completed, False when it was stopped.

        Raises TuneDirError when another search process holds the directory."""
        with search_lock(self.tune_dir), stop_on_signals(self):  # Ctrl-C / SIGTERM: stop cleanly; a second Ctrl-C aborts at once
            self.record = load_search(self.tune_dir)  # read again under the lock: what a process before us finished counts
            (self.tune_dir / STOP_FILE).unlink(missing_ok=True)
            finished = {t.index for t in self.record.trials if t.status not in ("running", "interrupted")}
            todo = [i for i in range(self.record.trials_planned) if i not in finished]
            in_flight: set[int] = set()
            while (todo and not self.stopping) or in_flight:
                while todo and not self.stopping and len(in_flight) < self.executor.slots:
                    index = todo.pop(0)
                    self.executor.submit(self._task(index))
                    in_flight.add(index)
                event = self.executor.next_result()
                in_flight.discard(event["trial"])
                self._record(event)
                trial = next(t for t in self.record.trials if t.index == event["trial"])
                progress.on_trial_end(trial, self.record)
            (self.tune_dir / STOP_FILE).unlink(missing_ok=True)
        return not self.stopping

