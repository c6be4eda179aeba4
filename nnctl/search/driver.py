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

from ..data.folds import Folds
from ..errors import BuildError
from ..orchestration.datasets import default_datasets_dir
from ..orchestration.splits import deal_folds
from ..orchestration.start import metric_names, prepare_run
from ..runs import rundir
from ..runs.status import FAILED, FINISHED, RANKED, TrialStatus
from ..spec import spec_to_yaml
from ..train.loop import stop_on_signals
from .cv import chosen, combine, fold_run_dir
from .plan import TIME_METRICS, Plan
from .record import (
    REFIT_DIR,
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
from .trial import StopsThroughFile, TrialTask


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
    if plan.search.cv is not None:
        for path in plan.search.parameters:
            if path.startswith("data."):
                raise BuildError(f"search.parameters.{path}", "with cv every trial is judged on the same folds of the same "
                                 "data; search data settings in separate searches")


def deal_search_folds(plan: Plan, datasets_dir: Path | None) -> Folds | None:
    """The folds every trial of a cross-validated search is judged on (None without ``search.cv``)."""
    cv = plan.search.cv
    if cv is None:
        return None
    return deal_folds(plan.spec.model_copy(update={"search": None}), cv, datasets_dir or default_datasets_dir())


@dataclass
class Progress:
    """What the CLI hears about: every finished trial, with the search so far."""

    on_trial_end: Callable[[TrialRecord, SearchRecord], None] = lambda trial, record: None
    on_refit_end: Callable[[SearchRecord], None] = lambda record: None


class Search(StopsThroughFile):
    """One search being run (new, resumed or refined) in ``record.tune_dir``."""

    def __init__(self, plan: Plan, record: SearchRecord, executor, sampler=None, datasets_dir: Path | None = None):
        self.plan, self.record, self.executor, self.sampler = plan, record, executor, sampler
        self.datasets_dir = str(Path(datasets_dir or default_datasets_dir()).resolve())
        self.stopping = False

    @property
    def tune_dir(self) -> Path:
        return self.record.tune_dir

    @property
    def stop_dir(self) -> Path:
        return self.record.tune_dir

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

    def _trial(self, index: int) -> TrialRecord | None:
        return next((t for t in self.record.trials if t.index == index), None)

    def _task(self, index: int, fold: int | None) -> TrialTask:
        params = self._params(index)
        spec = self.plan.trial_spec(index, params)
        if self._trial(index) is None:
            self._record({"event": "start", "trial": index, "params": params, "run": trial_dir_name(index)})
        prune = self.plan.search.prune
        return TrialTask(
            tune_dir=str(self.tune_dir), index=index, spec_yaml=spec_to_yaml(spec), metric=self.plan.search.metric,
            minimize=self.plan.minimize, satisfy=dict(self.plan.search.satisfy),
            prune_after=prune.after_epochs if prune else None, prune_min_trials=prune.min_trials if prune else 1,
            references=self.record.completed_curves() if prune else None, datasets_dir=self.datasets_dir,
            fold=fold, run=None if fold is None else fold_run_dir(index, fold),
        )

    def _runs_to_do(self, index: int) -> list[int | None]:
        """Trial ``index``'s runs not finished yet: the trial itself, or (with cv) its unfinished fold runs."""
        if self.record.fold_runs is None:
            return [None]
        trial = self._trial(index)
        done = {f for f, e in trial.folds.items() if e["status"] != TrialStatus.interrupted} if trial else set()
        return [f for f in range(self.record.fold_runs) if f not in done]

    def _trial_end(self, index: int) -> dict:
        """A cross-validated trial's end event once none of its fold runs is running or due."""
        events = [self._trial(index).folds.get(f) for f in range(self.record.fold_runs)]
        ended = [e for e in events if e is not None]
        failed = any(e["status"] in FAILED for e in ended)
        if not failed and (len(ended) < len(events) or any(e["status"] == TrialStatus.interrupted for e in ended)):
            return {"event": "end", "trial": index, "status": TrialStatus.interrupted}
        return combine(index, ended, self.plan.search.satisfy)

    def run(self, progress: Progress) -> bool:
        """Run every trial not finished yet (then the refit, if asked); True when the search completed, False when it
        was stopped.

        Raises TuneDirError when another search process holds the directory."""
        with search_lock(self.tune_dir), stop_on_signals(self):  # Ctrl-C / SIGTERM: stop cleanly; a second Ctrl-C aborts at once
            self.record = load_search(self.tune_dir)  # read again under the lock: what a process before us finished counts
            (self.tune_dir / STOP_FILE).unlink(missing_ok=True)
            finished = {t.index for t in self.record.trials if t.status in FINISHED}
            todo = [(i, fold) for i in range(self.record.trials_planned) if i not in finished for fold in self._runs_to_do(i)]
            in_flight: set[tuple[int, int | None]] = set()
            while (todo and not self.stopping) or in_flight:
                while todo and not self.stopping and len(in_flight) < self.executor.slots:
                    unit = todo.pop(0)
                    self.executor.submit(self._task(*unit))
                    in_flight.add(unit)
                event = self.executor.next_result()
                index = event["trial"]
                in_flight.discard((index, event.get("fold")))
                self._record(event)
                if event["event"] == "fold":
                    if event["status"] in FAILED:  # the trial has failed: its other folds need not run
                        todo = [unit for unit in todo if unit[0] != index]
                    if any(unit[0] == index for unit in in_flight) or (not self.stopping and any(u[0] == index for u in todo)):
                        continue
                    self._record(self._trial_end(index))
                progress.on_trial_end(self._trial(index), self.record)
            if self.plan.search.refit and not self.stopping:
                self._refit(progress)
            (self.tune_dir / STOP_FILE).unlink(missing_ok=True)
        return not self.stopping

    def _refit(self, progress: Progress) -> None:
        """Train the chosen trial once more on the whole pool for its (mean) best epoch; runs/latest then points at it."""
        best = chosen(self.record, self.record.choose)
        if best is None or (self.record.refit is not None and self.record.refit["status"] != TrialStatus.interrupted):
            return
        spec = self.plan.refit_spec(best.index, best.params, best.best_epoch)
        self.executor.submit(TrialTask(
            tune_dir=str(self.tune_dir), index=best.index, spec_yaml=spec_to_yaml(spec), metric=self.plan.search.metric,
            minimize=self.plan.minimize, satisfy={}, datasets_dir=self.datasets_dir, refit=True, run=REFIT_DIR,
        ))
        event = self.executor.next_result()
        kept = {key: event[key] for key in ("event", "trial", "status", "epochs", "seconds", "message") if key in event}
        self._record({**kept, "run": REFIT_DIR, "epochs_planned": best.best_epoch})
        if event["status"] in RANKED:
            rundir.point_latest(self.tune_dir / REFIT_DIR, link_dir=self.tune_dir.parent)
        progress.on_refit_end(self.record)

