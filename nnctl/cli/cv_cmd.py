"""`nnctl cv`: k-fold cross-validation of one spec, the mean and spread of every metric over its fold runs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from .common import EXIT_CHECK_FAILED, EXIT_INTERRUPTED, fail, print_json, stderr, stdout, user_errors

if TYPE_CHECKING:
    from ..search.crossval import CrossValidation, Spread


def cv(
    spec_file: Path | None = typer.Argument(None, metavar="SPEC", help="Experiment spec (YAML); its search section is ignored."),
    folds: int = typer.Option(5, "--folds", help="k: deal the training pool (train + dev) into this many folds."),
    repeats: int = typer.Option(1, "--repeats", help="Deal the pool into k folds this many times."),
    stratify: bool = typer.Option(True, "--stratify/--no-stratify", help="Keep the class proportions in every fold."),
    overrides: list[str] = typer.Option([], "--set", help="Override a spec value: key.path=value (repeatable)."),
    workers: int | None = typer.Option(None, "--workers", help="Local worker processes (default: the number of cores)."),
    resume: Path | None = typer.Option(None, "--resume", help="Finish this cv directory's fold runs."),
    runs_dir: Path = typer.Option(Path("runs"), "--runs-dir", help="Where the cv directory is created."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as one JSON object."),
):
    """Train one run per fold of the training pool; print each metric's mean, SD and SE over the folds (test untouched)."""
    from ..search.crossval import new_cross_validation, open_cross_validation
    from ..spec import load_spec
    from ..spec.schema.search import CvSpec

    if (spec_file is None) == (resume is None):
        raise fail("give either a SPEC file or --resume CV_DIR")
    if resume is not None and overrides:
        raise fail("--set applies to a new cross-validation's spec; a resumed one keeps its own")
    if workers is not None and workers < 1:
        raise fail(f"--workers {workers}: need at least 1 worker")
    with user_errors(str(spec_file) if spec_file else None, overrides):
        if resume is not None:
            run = open_cross_validation(resume)
        else:
            if folds < 2 or repeats < 1:
                raise fail(f"--folds {folds} --repeats {repeats}: need at least 2 folds and 1 repeat")
            spec = load_spec(spec_file, overrides)
            settings = CvSpec(folds=folds, repeats=repeats, stratify=stratify)
            run = new_cross_validation(spec.model_copy(update={"search": None}), settings, runs_dir)
    completed = run.run(workers or os.cpu_count() or 1, _fold_line(run, quiet))
    spreads = run.spreads()
    _print(run, spreads, completed, as_json)
    if not completed:
        stderr.print(f"cross-validation stopped; finish it with: nnctl cv --resume {run.directory}", markup=False, highlight=False)
        raise typer.Exit(EXIT_INTERRUPTED)
    if not spreads:
        raise fail(f"{run.directory}: no fold run finished with a value", EXIT_CHECK_FAILED)


def _fold_line(run: CrossValidation, quiet: bool):
    def on_fold_end(event: dict) -> None:
        if quiet:
            return
        parts = [f"fold run {event['fold']} ({len(run.events)}/{run.folds.runs})", event["status"]]
        if event.get("value") is not None:
            parts.append(f"{run.spec.checkpoint.monitor} {event['value']:.4f} @ epoch {event['best_epoch']}")
        if event.get("message"):
            parts.append(event["message"])
        stderr.print("  ".join(parts), markup=False, highlight=False, soft_wrap=True)

    return on_fold_end


def _print(run: CrossValidation, spreads: dict[str, Spread], completed: bool, as_json: bool) -> None:
    from rich.table import Table

    folds = run.folds
    failed = {f: e for f, e in sorted(run.events.items()) if e["status"] not in ("completed", "early_stopping")}
    if as_json:
        print_json({"cv_dir": str(run.directory), "folds": folds.k, "repeats": folds.repeats, "stratify": folds.stratify,
                    "pool_rows": len(folds.row), "monitor": run.spec.checkpoint.monitor, "completed": completed,
                    "fold_runs": [run.events.get(f) for f in range(folds.runs)],
                    "metrics": {name: spread.to_dict() for name, spread in spreads.items()}})
        return
    n = len(spreads["best_epoch"].values) if spreads else 0
    repeats = f"{folds.repeats} repeat{'s' if folds.repeats > 1 else ''}"
    title = (f"{run.directory}: {n} of {folds.runs} fold runs ({folds.k} folds × {repeats}, "
             f"{len(folds.row)} pool rows{', stratified' if folds.stratify else ''}), each at its best {run.spec.checkpoint.monitor}")
    table = Table(title=title)
    for column in ("metric", "mean", "SD", "SE", "min", "max"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for name, spread in spreads.items():
        table.add_row(name, *(_number(v) for v in (spread.mean, spread.sd, spread.se, min(spread.values), max(spread.values))))
    stdout.print(table)
    for fold, event in failed.items():
        stderr.print(f"fold run {fold} {event['status']}: {event.get('message') or 'no value'} ({run.run_dir(fold)})",
                     markup=False, highlight=False)


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.4g}"
