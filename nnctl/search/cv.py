"""Cross-validated trials: the fold runs' results combined into one trial, and the honest choice among trials.

A trial's value is the mean of its fold runs' values (each the searched metric
at that fold's best epoch) and its standard error is s / sqrt(n) with s the
sample standard deviation (n - 1) of the n = k·repeats fold values. Fold
values share most of their training rows, so this SE is the usual, somewhat
optimistic, yardstick: good for "is this difference bigger than the noise",
not a confidence interval to quote.
"""

from __future__ import annotations

import math
import statistics
from typing import Any

from ..errors import RunError
from ..runs.listing import RunSummary, read_epochs
from ..runs.status import FAILED, RANKED, TrialStatus
from .record import SearchRecord, TrialRecord, trial_dir_name
from .trial import satisfies


def fold_run_dir(index: int, fold: int) -> str:
    """Fold run ``fold`` of trial ``index``, relative to the tune directory: trial-0003/fold-2."""
    return f"{trial_dir_name(index)}/{fold_dir_name(fold)}"


def fold_dir_name(fold: int) -> str:
    return f"fold-{fold}"


def mean_and_se(values: list[float]) -> tuple[float, float | None]:
    """The mean and its standard error s/√n (None for a single value: no spread to measure)."""
    mean = math.fsum(values) / len(values)
    return mean, (statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else None)


def combine(trial: int, folds: list[dict[str, Any]], satisfy: dict[str, str]) -> dict[str, Any]:
    """The ``end`` event of a trial from its fold runs' events (every fold run's, in fold order)."""
    seconds = round(sum(f.get("seconds") or 0.0 for f in folds), 3)
    event: dict[str, Any] = {"event": "end", "trial": trial, "epochs": max(f.get("epochs", 0) for f in folds),
                             "seconds": seconds, "parameters": folds[0].get("parameters")}
    for status in FAILED:  # any fold run ending so makes the trial end so
        failed = [f for f in folds if f["status"] == status]
        if failed:
            message = f"fold {failed[0]['fold']}: {failed[0].get('message') or status}"
            return {**event, "status": status, "message": message, "value": None, "feasible": False}
    values = [f.get("value") for f in folds]
    if any(v is None for v in values):
        return {**event, "status": TrialStatus.failed, "message": "a fold run has no value", "value": None, "feasible": False}
    mean, se = mean_and_se(values)
    satisfied = {name: _mean_or_none([f.get("satisfy", {}).get(name) for f in folds]) for name in satisfy}
    return {
        **event, "status": TrialStatus.completed if all(f["status"] == TrialStatus.completed for f in folds)
        else TrialStatus.early_stopping,
        "value": mean, "se": se, "fold_values": values,
        "best_epoch": max(1, round(statistics.fmean(f["best_epoch"] for f in folds))),
        "curve": _mean_curve([f.get("curve", []) for f in folds]),
        "satisfy": satisfied, "feasible": satisfies(satisfied, satisfy),
    }


def _mean_or_none(values: list[float | None]) -> float | None:
    return None if any(v is None for v in values) else math.fsum(values) / len(values)


def _mean_curve(curves: list[list[float | None]]) -> list[float | None]:
    """Per epoch, the mean over the fold runs that reached it with a value (fold runs may stop early)."""
    out = []
    for epoch in range(max(map(len, curves), default=0)):
        values = [c[epoch] for c in curves if epoch < len(c) and c[epoch] is not None]
        out.append(math.fsum(values) / len(values) if values else None)
    return out


def within_one_se(record: SearchRecord) -> list[TrialRecord]:
    """The ranked trials whose mean lies within one standard error (the best trial's) of the best mean."""
    ranked = record.ranked()
    if not ranked:
        return []
    best = ranked[0]
    margin = best.se or 0.0
    return [t for t in ranked if abs(t.value - best.value) <= margin]


def chosen(record: SearchRecord, rule: str) -> TrialRecord | None:
    """The search's pick: the best mean, or (``one_se``) the simplest trial within one SE of it.

    Simplest means fewest weights and biases; ties go to the better mean, then the lower index."""
    ranked = record.ranked()
    if not ranked or rule == "best":
        return ranked[0] if ranked else None
    close = within_one_se(record)
    return min(close, key=lambda t: (t.parameters if t.parameters is not None else math.inf, ranked.index(t)))


def trial_summaries(record: SearchRecord) -> list[RunSummary]:
    """A cross-validated search's trials as `runs list` rows: the mean as ``best``, with ``se``, ``folds`` and
    ``within_1se`` (true for trials within one standard error of the best) as columns, the parameters as spec paths."""
    close = {t.index for t in within_one_se(record)}
    return [RunSummary(
        trial_dir_name(t.index), t.run_dir, t.status, t.epochs, None, record.metric, t.value, t.best_epoch,
        spec=dict(t.params),
        metrics={"se": t.se, "folds": len(t.fold_values) or len(t.folds), "within_1se": t.index in close,
                 "parameters": t.parameters},
    ) for t in record.trials]


def fold_mean(trial: TrialRecord, metric: str) -> tuple[float, float | None]:
    """Another recorded metric of a cross-validated trial: its mean (± SE) over the fold runs, each read at the
    fold run's own best epoch (the epoch the search scored it at)."""
    values = []
    for fold, event in sorted(trial.folds.items()):
        run = trial.run_dir / fold_dir_name(fold)
        column = read_epochs(run).get(metric)
        if column is None:
            raise RunError(f"{run}: no {metric} recorded")
        values.append(float(column[event["best_epoch"] - 1]))
    return mean_and_se(values)


def refit_summary(record: SearchRecord) -> str:
    """One line on the search's refit ("" when it asked for none or it has not run)."""
    refit = record.refit
    if refit is None:
        return ""
    where = record.tune_dir / refit["run"]
    if refit["status"] in RANKED:
        return f"trial {refit['trial']} trained {refit['epochs']} epochs on the whole pool (train + dev) in {where}"
    return f"trial {refit['trial']} {refit['status']}{': ' + refit['message'] if refit.get('message') else ''} ({where})"
