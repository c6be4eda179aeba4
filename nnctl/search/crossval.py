"""`nnctl cv`: one spec, k-fold cross-validated: the same fold runs a cross-validated search trains, without a search.

    runs/<name>-cv-<timestamp>/
        spec.yaml     the spec as given (with its --set values)
        folds.json    the pool's rows and the fold of each (search/folds_record.py)
        fold-0/ ...   one ordinary run per fold (and repeat): trained on the other folds, judged on this one

Every metric is read at each fold run's best epoch (checkpoint.monitor on the
fold's held-out rows) and summarised by its mean, standard deviation and
standard error over the fold runs. ``--resume`` reruns nothing finished: a
fold run that ran to its end is only read again (``run_trial`` is idempotent).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..data.folds import Folds
from ..data.parts import absolute_data_paths
from ..errors import NnctlError
from ..orchestration.datasets import default_datasets_dir
from ..orchestration.splits import deal_folds
from ..runs import rundir
from ..runs.atomic import atomic_write_text
from ..runs.listing import summarise_run
from ..runs.status import RANKED
from ..spec import Spec, parse_spec, spec_to_yaml
from ..spec.schema.search import CvSpec
from ..train.blas_threads import blas_environment
from ..train.evaluate import lower_is_better
from ..train.loop import stop_on_signals
from .cv import fold_dir_name, mean_and_se
from .folds_record import load_folds, save_folds
from .local import LocalExecutor
from .record import STOP_FILE
from .trial import StopsThroughFile, TrialTask


@dataclass
class Spread:
    """One metric over the fold runs, each at its best epoch."""

    values: list[float]
    mean: float
    sd: float | None  # sample standard deviation (n - 1); None for one fold run
    se: float | None  # sd / √n

    @classmethod
    def of(cls, values: list[float]) -> Spread:
        mean, se = mean_and_se(values)
        return cls(values, mean, None if se is None else se * math.sqrt(len(values)), se)

    def to_dict(self) -> dict:
        return {"mean": self.mean, "sd": self.sd, "se": self.se, "min": min(self.values), "max": max(self.values),
                "values": self.values}


@dataclass
class CrossValidation(StopsThroughFile):
    """A cv directory being run (new or resumed); ``stop_requested`` as for a trainer (Ctrl-C, SIGTERM)."""

    directory: Path
    spec: Spec
    folds: Folds
    events: dict[int, dict] = field(default_factory=dict)  # fold run → its end event

    @property
    def stop_dir(self) -> Path:
        return self.directory

    def run_dir(self, fold: int) -> Path:
        return self.directory / fold_dir_name(fold)

    def task(self, fold: int, datasets_dir: Path) -> TrialTask:
        monitor = self.spec.checkpoint.monitor
        return TrialTask(tune_dir=str(self.directory), index=0, spec_yaml=spec_to_yaml(self.spec), metric=monitor,
                         minimize=lower_is_better(monitor), satisfy={}, datasets_dir=str(datasets_dir), fold=fold,
                         run=fold_dir_name(fold))

    def run(self, workers: int, on_fold_end: Callable[[dict], None], datasets_dir: Path | None = None) -> bool:
        """Train (or finish) every fold run in ``workers`` local processes; True when all ran, False when stopped."""
        datasets_dir = Path(datasets_dir or default_datasets_dir()).resolve()
        (self.directory / STOP_FILE).unlink(missing_ok=True)
        executor = LocalExecutor(min(workers, self.folds.runs), environment=blas_environment(self.spec.model))
        todo, running = list(range(self.folds.runs)), 0
        try:
            with stop_on_signals(self):
                while (todo and not self.stopping) or running:
                    while todo and not self.stopping and running < executor.slots:
                        executor.submit(self.task(todo.pop(0), datasets_dir))
                        running += 1
                    event = executor.next_result()
                    running -= 1
                    self.events[event["fold"]] = event
                    on_fold_end(event)
        finally:
            executor.close()
        (self.directory / STOP_FILE).unlink(missing_ok=True)
        return not self.stopping

    def spreads(self) -> dict[str, Spread]:
        """Every metric (and the best epoch) over the fold runs that finished with a value."""
        done = [f for f, e in sorted(self.events.items()) if e["status"] in RANKED and e.get("value") is not None]
        summaries = [summarise_run(self.run_dir(f)) for f in done]
        names = [name for name in summaries[0].metrics if all(name in s.metrics for s in summaries)] if summaries else []
        out = {name: Spread.of([float(s.metrics[name]) for s in summaries]) for name in names}
        if summaries:
            out["best_epoch"] = Spread.of([float(s.best_epoch) for s in summaries])
        return out


def new_cross_validation(spec: Spec, cv: CvSpec, runs_dir: Path, datasets_dir: Path | None = None) -> CrossValidation:
    """Deal the folds and make the cv directory (after the folds, so a spec that cannot be dealt leaves nothing)."""
    folds = deal_folds(spec, cv, datasets_dir or default_datasets_dir())
    spec = absolute_data_paths(spec)  # the fold runs (other processes) and a resume read the files this spec meant
    directory = rundir.create_run_dir(runs_dir, f"{spec.name}-cv")
    atomic_write_text(directory / rundir.SPEC_FILE, spec_to_yaml(spec))
    save_folds(directory, folds)
    return CrossValidation(directory, spec, folds)


def open_cross_validation(directory: Path) -> CrossValidation:
    """A cv directory made by `nnctl cv`, to finish what it started."""
    directory = Path(directory)
    path = directory / rundir.SPEC_FILE
    if not path.is_file():
        raise NnctlError(f"{directory}: not a cv directory (no {rundir.SPEC_FILE}; `nnctl cv SPEC` makes one)")
    return CrossValidation(directory, parse_spec(path.read_text(encoding="utf-8"), str(path)), load_folds(directory))
