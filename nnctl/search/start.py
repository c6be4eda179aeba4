"""A search's start: what `orchestration.start` is to a run, this is to a search.

Everything is validated and the executor connected before the tune directory
exists, so a mistake leaves nothing behind; `nnctl tune` parses its options,
calls `start_search`, runs what it returns and renders the record.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ClusterError
from ..loggers.attach import check_mirrors
from ..spec import SpecError, spec_to_yaml
from ..train.blas_threads import blas_environment
from .cluster import DaskExecutor
from .driver import Progress, Search, check_metrics, deal_search_folds
from .folds_record import save_folds
from .local import LocalExecutor
from .plan import Plan, load_plan
from .record import SPEC_FILE, SearchRecord, append_event, create_tune_dir, load_search
from .refine import refined_spec

if TYPE_CHECKING:
    from ..loggers.mlflow import SearchParent
    from .tpe import TpeSampler


@dataclass(frozen=True)
class Workers:
    """Where the trials run: ``processes`` local workers (default: one per core), or a Dask ``scheduler``'s."""

    processes: int | None = None
    scheduler: str | None = None
    connect_timeout: float = 10.0


@dataclass
class StartedSearch:
    """A search ready to run: its tune directory exists, its executor is connected, its MLflow parent is open."""

    search: Search
    executor: LocalExecutor | DaskExecutor
    parent: SearchParent | None

    @property
    def record(self) -> SearchRecord:
        return self.search.record

    def run(self, progress: Progress) -> bool:
        """Run the trials until all are done (True) or a stop is requested (False); the executor is closed either way."""
        try:
            return self.search.run(progress)
        finally:
            self.executor.close()

    def close(self, completed: bool) -> None:
        """Close the MLflow parent run with the best value and how far the search got."""
        if self.parent is None:
            return
        best = self.record.ranked()[:1]
        self.parent.close(self.record.metric, best[0].value if best else None, self.record.done, completed)


def start_search(spec_file: Path | None = None, resume: Path | None = None, refine: Path | None = None, *,
                 trials: int | None = None, top: int = 5, overrides: list[str] = (), runs_dir: Path = Path("runs"),
                 workers: Workers = Workers()) -> StartedSearch:
    """A new search of ``spec_file`` under ``runs_dir``, the search in ``resume`` continued, or a new, narrower one
    around the ``top`` best trials of ``refine``."""
    if resume is not None:
        if trials is not None:
            raise SpecError.single("--trials", "a resumed search keeps its trial count; use --refine for a new search")
        record = load_search(resume)
        plan = _plan(record.spec_yaml, str(Path(resume) / SPEC_FILE), (), None)
        sampler = _sampler(plan)
        executor = _executor(workers, Path(resume), plan)
    else:
        plan, record, executor, sampler = _create(spec_file, refine, trials, top, overrides, runs_dir, workers)
    return StartedSearch(Search(plan, record, executor, sampler), executor, _search_parent(plan, record))


def _create(spec_file, refine, trials, top, overrides, runs_dir, workers: Workers):
    """Validate the new search, connect its executor, and only then create its tune directory."""
    if refine is not None:
        parent = load_search(refine)
        text = refined_spec(parent, top, trials)
        plan = _plan(text, f"{refine}/{SPEC_FILE} (refined)", (), None)
        base_dir = Path(refine).resolve().parent
    else:
        try:
            text = Path(spec_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise SpecError.single(str(spec_file), f"cannot read the file: {getattr(err, 'strerror', None) or err}") from None
        plan = _plan(text, str(spec_file), overrides, trials, str(Path(spec_file).resolve().parent))
        base_dir, parent = runs_dir, None
    check_metrics(plan, None)
    folds = deal_search_folds(plan, None)
    sampler = _sampler(plan)
    executor = _executor(workers, None, plan)
    tune_dir = create_tune_dir(base_dir, plan.spec.name, spec_to_yaml(plan.spec), parent.tune_dir if parent else None)
    if folds is not None:
        save_folds(tune_dir, folds)
    if isinstance(executor, DaskExecutor):
        try:
            executor.check_shared(tune_dir)
        except ClusterError:
            shutil.rmtree(tune_dir, ignore_errors=True)  # nothing started: leave nothing behind
            executor.close()
            raise
    if parent is not None:
        append_event(parent.tune_dir, {"event": "child", "tune": os.path.relpath(tune_dir, parent.tune_dir)})
    return plan, load_search(tune_dir), executor, sampler


def _search_parent(plan: Plan, record: SearchRecord) -> SearchParent | None:
    """The search's MLflow parent run, opened before any trial starts (None without logging.mlflow)."""
    if plan.spec.logging.mlflow is None:
        return None
    from ..loggers.mlflow import SearchParent  # here: only a search mirrored to MLflow needs it

    parent = SearchParent(record.tune_dir, plan.spec.logging.mlflow, plan.spec.name, record.spec_yaml)
    parent.open()
    return parent


def _plan(text: str, filename: str, overrides, trials: int | None, base_dir: str | None = None) -> Plan:
    """The search's plan, with every trial the space will give (TPE: its random start) validated up front."""
    plan = load_plan(text, filename, overrides, trials, base_dir)
    check_mirrors(plan.spec)
    if plan.search.method == "tpe":
        plan.validate_all([plan.space.random_trial(i) for i in range(min(plan.search.startup_trials, plan.search.trials))])
    else:
        plan.validate_all([plan.space.trial(i) for i in range(plan.search.trials)])
    return plan


def _executor(workers: Workers, shared_dir: Path | None, plan: Plan) -> LocalExecutor | DaskExecutor:
    """The trials' executor; a resumed search on Dask checks at once that the workers see its tune directory."""
    if workers.scheduler is not None:
        if workers.processes is not None:
            raise SpecError.single("--workers", "the Dask cluster's workers run the trials; drop --workers with --scheduler")
        executor = DaskExecutor(workers.scheduler, workers.connect_timeout)
        if shared_dir is not None:
            executor.check_shared(shared_dir)
        return executor
    return LocalExecutor(workers.processes or os.cpu_count() or 1, environment=blas_environment(plan.spec.model))


def _sampler(plan: Plan) -> TpeSampler | None:
    if plan.search.method != "tpe":
        return None
    from .tpe import TpeSampler

    return TpeSampler(plan.space, plan.minimize)
