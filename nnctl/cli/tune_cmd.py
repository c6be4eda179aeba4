"""`nnctl tune`: a hyperparameter search (new, resumed or refined), locally or on a Dask cluster."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.live import Live

from ..report.values import count
from .common import EXIT_CHECK_FAILED, EXIT_INTERRUPTED, fail, plain, print_json, stderr, stdout, user_errors
from .tables import fitted, print_table

if TYPE_CHECKING:
    from rich.table import Table

    from ..search.driver import Progress
    from ..search.record import SearchRecord, TrialRecord

SHOWN_BEST = 10


def tune(
    spec_file: Path | None = typer.Argument(None, metavar="SPEC", help="Spec with a 'search:' section (YAML)."),
    trials: int | None = typer.Option(None, "--trials", help="Number of trials (overrides search.trials)."),
    workers: int | None = typer.Option(None, "--workers", help="Local worker processes (default: the number of cores)."),
    scheduler: str | None = typer.Option(None, "--scheduler", help="Run trials on this Dask scheduler (tcp://HOST:8786)."),
    connect_timeout: float = typer.Option(10.0, "--connect-timeout", help="Seconds to wait for the Dask scheduler."),
    resume: Path | None = typer.Option(None, "--resume", help="Continue this tune directory."),
    refine: Path | None = typer.Option(None, "--refine", help="A new, narrower search around this tune directory's best trials."),
    top: int = typer.Option(5, "--top", help="With --refine: how many of the best trials define the new ranges."),
    overrides: list[str] = typer.Option([], "--set", help="Override a value of the base spec: key.path=value (repeatable)."),
    runs_dir: Path = typer.Option(Path("runs"), "--runs-dir", help="Where the tune directory is created."),
    test: bool = typer.Option(False, "--test", help="When the search is done, evaluate its result (the refit, else the "
                              "best trial) on the test split, once; later calls show that first result."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as one JSON object."),
    suggest: bool = typer.Option(False, "--suggest", help="Print a starting 'search:' block for SPEC, ordered by the "
                                 "notes' tuning priority (α first; Adam's betas almost never), and search nothing."),
):
    """Search hyperparameters: random (default), grid or TPE trials, each an ordinary run directory."""
    from ..runs.status import TrialStatus
    from ..search.start import Workers, start_search

    if suggest:
        _suggest(spec_file, overrides)
        return

    sources = [x for x in (spec_file, resume, refine) if x is not None]
    if len(sources) != 1:
        raise fail("give exactly one of a SPEC file, --resume TUNE_DIR or --refine TUNE_DIR")
    if trials is not None and trials < 1:
        raise fail(f"--trials {trials}: need at least 1 trial")
    if workers is not None and workers < 1:
        raise fail(f"--workers {workers}: need at least 1 worker")
    if top < 1:
        raise fail(f"--top {top}: need at least 1 trial")
    if (resume or refine) and overrides:
        raise fail("--set applies to a new search's spec; a resumed or refined search keeps its own")
    with user_errors(str(spec_file) if spec_file else None, overrides):
        started = start_search(spec_file, resume, refine, trials=trials, top=top, overrides=overrides, runs_dir=runs_dir,
                               workers=Workers(workers, scheduler, connect_timeout))
    record = started.record
    live = not quiet and not as_json and not plain()
    display = Live(fitted(_best_table(record), stderr), console=stderr, refresh_per_second=4, transient=True) if live else None
    with user_errors(), display or nullcontext():  # another search process holding the directory
        completed = started.run(_progress(quiet, display))
    if test and completed:
        _test_once(started.record)
    started.close(completed)
    _summarise(started.record, completed, as_json)
    if not completed:
        stderr.print(f"search stopped; continue it with: nnctl tune --resume {record.tune_dir}", markup=False, highlight=False)
        raise typer.Exit(EXIT_INTERRUPTED)
    failed = [t for t in started.record.trials if t.status == TrialStatus.failed]
    if failed and len(failed) == len(started.record.trials):
        raise fail(f"every trial failed; trial {failed[0].index}: {failed[0].message}", EXIT_CHECK_FAILED)


def _suggest(spec_file: Path | None, overrides: list[str]) -> None:
    from ..search.suggest import suggested_search
    from ..spec import load_spec

    if spec_file is None:
        raise fail("--suggest needs a SPEC file")
    with user_errors(str(spec_file), overrides):
        spec = load_spec(spec_file, overrides)
    stdout.print(suggested_search(spec), markup=False, highlight=False, end="")


def _test_once(record: SearchRecord) -> None:
    """Score the search's result on the test split, or show the score of the first time it was asked for."""
    from ..search.held_out import score_test_split_once
    from ..strategy.evaluation import evaluate_checkpoint

    with user_errors():
        if not score_test_split_once(record, lambda run: evaluate_checkpoint(run, "test")):
            stderr.print(f"the test split was evaluated once already ({record.test['run']}); showing that result",
                         markup=False, highlight=False)


# ---------------------------------------------------------------- output


def _short(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def trial_line(trial: TrialRecord, record: SearchRecord) -> str:
    parts = [f"trial {trial.index} ({record.done}/{record.trials_planned})", trial.status]
    if trial.value is not None:
        parts.append(f"{record.metric} {mean_se(trial)} @ epoch {trial.best_epoch}")
    if not trial.feasible and trial.value is not None:
        parts.append("unsatisfied")
    parts.append(" ".join(f"{path}={_short(v)}" for path, v in trial.params.items()))
    best = record.ranked()[:1]
    if best:
        parts.append(f"best {best[0].value:.4f} (trial {best[0].index})")
    if trial.message:
        parts.append(trial.message)
    return "  ".join(parts)


def mean_se(trial: TrialRecord) -> str:
    """A trial's value, and with cv its standard error: ``0.1234 ± 0.0056``."""
    return f"{trial.value:.4f}" if trial.se is None else f"{trial.value:.4f} ± {trial.se:.4f}"


def _progress(quiet: bool, display: Live | None) -> Progress:
    from ..search.cv import refit_summary
    from ..search.driver import Progress

    def on_trial_end(trial: TrialRecord, record: SearchRecord) -> None:
        if quiet:
            return
        if display is not None:
            display.update(fitted(_best_table(record), stderr))
        stderr.print(trial_line(trial, record), markup=False, highlight=False, soft_wrap=True)

    def on_refit_end(record: SearchRecord) -> None:
        if not quiet:
            stderr.print(f"refit: {refit_summary(record)}", markup=False, highlight=False, soft_wrap=True)

    return Progress(on_trial_end=on_trial_end, on_refit_end=on_refit_end)


def _best_table(record: SearchRecord, limit: int = SHOWN_BEST) -> Table:
    from rich.table import Table

    from ..search.cv import within_one_se

    table = Table(title=f"{record.tune_dir}  ({record.done}/{count(record.trials_planned, 'trial')}, {record.goal} {record.metric})")
    table.add_column("rank", justify="right")
    table.add_column("trial", justify="right")
    table.add_column(record.metric if record.fold_runs is None else f"{record.metric} mean", justify="right")
    if record.fold_runs is not None:
        table.add_column("± SE", justify="right")
    table.add_column("epoch", justify="right")
    if record.fold_runs is not None:
        table.add_column("params", justify="right")
        table.add_column("≤1 SE", justify="center")
    for d in record.parameters:
        table.add_column(d.path, justify="right")
    close = {t.index for t in within_one_se(record)}
    for rank, trial in enumerate(record.ranked()[:limit], start=1):
        se = [] if record.fold_runs is None else ["" if trial.se is None else f"{trial.se:.4f}"]
        cv_cells = [] if record.fold_runs is None else [str(trial.parameters), "yes" if trial.index in close else ""]
        table.add_row(str(rank), str(trial.index), f"{trial.value:.4f}", *se, str(trial.best_epoch), *cv_cells,
                      *(_short(trial.params[d.path]) for d in record.parameters))
    return table


def trial_json(trial: TrialRecord) -> dict:
    return {"trial": trial.index, "status": trial.status, "value": trial.value, "se": trial.se,
            "fold_values": trial.fold_values, "best_epoch": trial.best_epoch, "epochs": trial.epochs,
            "feasible": trial.feasible, "parameters": trial.parameters, "params": trial.params, "run": str(trial.run_dir),
            "message": trial.message}


def _summarise(record: SearchRecord, completed: bool, as_json: bool) -> None:
    from ..search.cv import chosen, refit_summary, within_one_se

    ranked = record.ranked()
    pick = chosen(record, record.choose)
    counts: dict[str, int] = {}
    for trial in record.trials:
        counts[trial.status] = counts.get(trial.status, 0) + 1
    if as_json:
        print_json({
            "tune_dir": str(record.tune_dir), "metric": record.metric, "goal": record.goal, "completed": completed,
            "trials_planned": record.trials_planned, "counts": counts, "fold_runs": record.fold_runs,
            "best": trial_json(ranked[0]) if ranked else None,
            "within_one_se": [t.index for t in within_one_se(record)] if record.fold_runs else None,
            "choose": record.choose, "chosen": trial_json(pick) if pick else None, "refit": record.refit, "test": record.test,
            "trials": [trial_json(t) for t in record.trials],
        })
        return
    print_table(_best_table(record))
    stdout.print(", ".join(f"{n} {status}" for status, n in sorted(counts.items())), markup=False)
    if ranked:
        best = ranked[0]
        stdout.print(f"best {record.metric} {mean_se(best)} at epoch {best.best_epoch}: trial {best.index} in {best.run_dir}",
                     markup=False, highlight=False)
    if pick is not None and pick is not ranked[0]:
        stdout.print(f"chosen by the one-standard-error rule: trial {pick.index} ({pick.parameters} parameters, "
                     f"{record.metric} {mean_se(pick)})", markup=False, highlight=False)
    if record.refit is not None:
        latest = record.tune_dir.parent / "latest"
        stdout.print(f"refit: {refit_summary(record)}; {latest} points at it", markup=False, highlight=False)
    if record.test is not None:
        metrics = ", ".join(f"{name} {value:.4f}" for name, value in record.test["metrics"].items())
        stdout.print(f"test split ({record.test['examples']} examples, {record.test['run']}): {metrics}",
                     markup=False, highlight=False)
