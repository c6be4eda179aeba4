"""What several commands show of runs and searches, in one place (a command never imports another):
the --checkpoint option of the commands that draw from a run, a search's record as the report's
view of it, and a run's diagnosis for its report."""

from __future__ import annotations

from pathlib import Path

import typer

from ..runs.names import CheckpointName
from .common import stderr

CHECKPOINT_OPTION = typer.Option(CheckpointName.best, "--checkpoint", help="The checkpoint to draw from.")


def load_tune_view(tune_dir: Path, metric: str | None = None):
    """A search's record as the report's plain view of it (the report may not import the search package),
    refused when no trial has a value yet. ``metric``: draw another recorded metric, read from each trial's
    run at the epoch the search scored it at; the ranking stays the search's. Callers run it inside `user_errors`."""
    from ..report.curves import axis_label, metric_kind
    from ..report.history import load_history
    from ..report.tune_view import ParameterAxis, TrialPoint, TuneView
    from ..search.cv import chosen, fold_dir_name, fold_mean, refit_summary, within_one_se
    from ..search.record import SPEC_FILE, load_search
    from ..spec import parse_spec

    record = load_search(tune_dir)
    axes = [ParameterAxis(d.path, d.kind, d.log, None if d.choices else (d.low, d.high), tuple(d.choices or ()))
            for d in record.parameters]
    trials = [TrialPoint(t.index, t.params, t.status, t.value, t.feasible, t.best_epoch, t.epochs, str(t.run_dir),
                         dict(t.satisfied), t.message, t.se, t.parameters) for t in record.trials]
    search = parse_spec(record.spec_yaml, str(Path(tune_dir) / SPEC_FILE)).search
    view = TuneView(Path(tune_dir).name, record.metric, record.metric, record.goal, record.method, record.trials_planned,
                    axes, trials, [t.index for t in record.ranked()], dict(search.satisfy), ranked_by=record.metric)
    pick = chosen(record, record.choose)
    view.chosen, view.refit = (pick.index if pick else None), refit_summary(record)
    if search.cv is not None:
        view.folds = f"{search.cv.folds} folds × {search.cv.repeats} repeat{'s' if search.cv.repeats > 1 else ''}"
        view.within_one_se = [t.index for t in within_one_se(record)]
    view.require_values(str(tune_dir))
    first = view.scored()[0].run
    task = load_history(Path(first) / fold_dir_name(0) if search.cv else Path(first)).task
    if metric is not None and metric != record.metric:
        view.metric = metric
        for trial, point in ((t, view.trial(t.index)) for t in record.trials if t.value is not None):
            if search.cv is not None:
                point.value, point.se = fold_mean(trial, metric)
            else:
                point.value = float(load_history(Path(point.run)).column(metric)[point.best_epoch - 1])
    view.metric_label = f"{view.metric}: {axis_label(metric_kind(view.metric)[1], task)}"
    return view


def diagnosis_of(run: Path, which: str = "best") -> dict | None:
    """The run's diagnosis for its report, or None (with a note) where there is none to make."""
    from ..errors import MissingSplitError, StrategyError
    from ..strategy.diagnosis import diagnose_run

    try:
        return diagnose_run(run, which=which).to_dict()
    except (StrategyError, MissingSplitError) as err:  # regression, multi-label, or no dev split: the notes' decomposition is for error rates
        stderr.print(f"nnctl: note: no diagnosis in the report: {err}", markup=False, soft_wrap=True)
        return None
