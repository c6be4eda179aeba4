"""`nnctl train`: train a spec (or resume a run) and summarise the result."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from ..report.values import count
from .common import EXIT_DIVERGED, EXIT_INTERRUPTED, fail, plain, print_json, stderr, stdout, user_errors
from .tables import print_table
from .work_progress import busy

if TYPE_CHECKING:
    from ..train.loop import Trainer, TrainResult


def train(
    spec_file: Path | None = typer.Argument(None, metavar="SPEC", help="Experiment spec (YAML)."),
    overrides: list[str] = typer.Option([], "--set", help="Override a spec value: key.path=value (repeatable)."),
    resume: Path | None = typer.Option(None, "--resume", help="Continue this run directory from its latest checkpoint."),
    runs_dir: Path = typer.Option(Path("runs"), "--runs-dir", help="Where new run directories are created."),
    repair_metrics: bool = typer.Option(
        False, "--repair-metrics", help="With --resume: replace a damaged metrics.h5, losing the history before the checkpoint."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as one JSON object."),
    report: bool = typer.Option(False, "--report", help="Write RUN/report.html when training ends (needs nnctl[plot])."),
    tensorboard: bool = typer.Option(
        False, "--tensorboard", help="Write TensorBoard event files into RUN/tb/ (--set logging.tensorboard=true)."),
):
    """Train the network a spec describes; write checkpoints and metrics under runs/."""
    from ..spec import load_spec

    if (spec_file is None) == (resume is None):
        raise fail("give either a SPEC file or --resume RUN")
    if repair_metrics and resume is None:
        raise fail("--repair-metrics goes with --resume RUN")
    if tensorboard:
        overrides = [*overrides, "logging.tensorboard=true"]
    with user_errors(str(spec_file) if spec_file else None, overrides):
        spec = load_spec(spec_file, overrides) if spec_file else None
    chosen = spec or _stored_spec(resume)
    if chosen is not None:
        from ..train.blas_threads import prepare_blas

        prepare_blas(chosen.model)  # how OpenBLAS's threads wait for this network: before NumPy loads it
        _announce_compiling(chosen.train.kernels, quiet, str(spec_file) if spec_file else None)
    from ..orchestration.start import resume_run, start_run
    from ..runs.names import SPEC_FILE
    from ..train.loop import Reporter, StopReason, stop_on_signals
    from .progress import LiveReporter, PlainReporter, QuietReporter

    with user_errors(str(spec_file) if spec_file else None, overrides), busy("loading the data"):
        if report:  # imported here: `nnctl --help` and plain training stay as fast as without reports
            from ..loggers.mlflow import upload_artifact
            from ..report.figures import require_matplotlib
            from ..report.html import write_report
            from .views import diagnosis_of

            require_matplotlib()  # before training, not after it
        if resume is not None:
            trainer = resume_run(resume, overrides, repair_metrics=repair_metrics)
            trainer.spec_origin = (str(trainer.run_dir / SPEC_FILE), list(overrides))
        else:
            trainer = start_run(spec, runs_dir)
            trainer.spec_origin = (str(spec_file), list(overrides))
    live = not quiet and not plain()
    penalized = bool(trainer.spec.regularization.l2 or trainer.spec.regularization.l1)
    reporter: Reporter = QuietReporter() if quiet else (LiveReporter(penalized) if live else PlainReporter())
    with user_errors(str(spec_file) if spec_file else None, overrides), stop_on_signals(trainer), (reporter if live else nullcontext()):
        result = trainer.run(reporter)  # a write failure (full disk) is one line; the last checkpoint stays
    _summarise(result, as_json)
    if result.stop_reason == StopReason.interrupted:
        _interruption_note(trainer, result)
    if report and result.stop_reason in (StopReason.completed, StopReason.early_stopping):
        with user_errors():
            written = write_report(result.run_dir, diagnosis=diagnosis_of(result.run_dir))
            stderr.print(f"report: {written}", markup=False, soft_wrap=True)
            upload_artifact(result.run_dir, written)
    if result.stop_reason == StopReason.diverged:
        raise fail(_divergence_note(trainer, result), EXIT_DIVERGED)
    if result.stop_reason == StopReason.interrupted:
        raise typer.Exit(EXIT_INTERRUPTED)


def _announce_compiling(choice: str, quiet: bool, source: str | None) -> None:
    """Say so on a terminal before the first run on a machine compiles the kernels (numba caches them for the
    next runs); a spec asking for compiled kernels without the fast extra stops here, before any data is loaded."""
    from ..nn import kernels

    with user_errors(source):
        pending = kernels.compile_pending(choice)
    if pending and not quiet and not plain():  # a status line for a terminal; logs and pipes keep one line per epoch
        stderr.print("compiling nnctl's kernels for this machine: once, numba caches them (a few seconds)", markup=False)


def _stored_spec(run_dir: Path):
    """The spec a run stored, or None when it cannot be read here: the resume itself reads the
    checkpoint's copy (and reports a damaged run), only the BLAS wait policy is then left out."""
    from ..errors import NnctlError
    from ..runs.names import SPEC_FILE
    from ..spec import load_spec

    try:
        return load_spec(Path(run_dir) / SPEC_FILE)
    except NnctlError:
        return None


def metric_order(metrics: dict[str, float]) -> list[str]:
    """The metrics (cost, accuracy, ...) of the train and dev splits in the order `eval` lists them."""
    from ..train.evaluate import METRIC_ORDER

    names = {key.split("_", 1)[1] for key in metrics
             if key.startswith(("train_", "dev_")) and not key.startswith("train_dev_")}
    return sorted(names, key=lambda name: (METRIC_ORDER.index(name) if name in METRIC_ORDER else len(METRIC_ORDER), name))


def _summarise(result: TrainResult, as_json: bool) -> None:
    from rich.table import Table

    if as_json:
        print_json({
            "run": str(result.run_dir), "epochs": result.epochs_done, "steps": result.steps,
            "stop_reason": result.stop_reason, "metrics": result.metrics,
            "metrics_epoch": result.metrics_epoch or result.epochs_done, "best": result.best,
        })
        return
    title = f"{result.run_dir}  ({result.stop_reason}, {count(result.epochs_done, 'epoch')}, {count(result.steps, 'step')})"
    if result.metrics_epoch is not None:  # early stopping restored best.h5: describe the parameters on disk
        title += f"\nmetrics of epoch {result.metrics_epoch}: best.h5, restored as the run's parameters"
    names = metric_order(result.metrics)
    if not names:  # stopped before the first epoch ended: no split was evaluated yet
        stdout.print(f"{title}: no epoch finished, so no metrics yet", markup=False)
        return
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("train", justify="right")
    table.add_column("dev", justify="right")
    for name in names:
        cells = [result.metrics.get(f"{split}_{name}") for split in ("train", "dev")]
        table.add_row(name, *("" if v is None else f"{v:.4f}" for v in cells))
    print_table(table)
    if result.best.get("value") is not None:
        stdout.print(f"best {result.best['metric']} {result.best['value']:.4f} at epoch {result.best['epoch']}")


def _divergence_note(trainer: Trainer, result: TrainResult) -> str:
    """Where training diverged, what the run kept, and the command that continues it at a lower rate."""
    kept = f"epoch {result.epochs_done}" if result.epochs_done else "its initial state (no epoch had finished)"
    if trainer.last_good.batch:  # resumed from a checkpoint written mid-epoch, and diverged before that epoch ended
        kept = f"{trainer.last_good.batch} mini-batches into epoch {result.epochs_done + 1}"
    lower = f"{trainer.spec.train.learning_rate / 10:g}"
    return (f"training diverged (a cost is not finite) at step {result.diverged_at}, in epoch {result.epochs_done + 1}; "
            f"{result.run_dir} holds the last good state, {kept}; continue from it at a lower rate: "
            f"nnctl train --resume {result.run_dir} --set train.learning_rate={lower}")


def _interruption_note(trainer: Trainer, result: TrainResult) -> None:
    """Where an interrupted run stands, and the command that continues it (stderr, after the summary)."""
    from .progress import batch_cost_label

    if trainer.batch:
        where = f"in epoch {trainer.epoch + 1} after {trainer.batch} of {trainer.n_batches} mini-batches"
        if trainer.log.n_steps:
            label = batch_cost_label(bool(trainer.spec.regularization.l2 or trainer.spec.regularization.l1))
            where += f" (last {label} {trainer.log.iteration['cost'][-1]:.4f})"
    else:
        where = f"after epoch {trainer.epoch}"
    stderr.print(f"interrupted {where}, step {result.steps}\ncheckpoint saved in {result.run_dir}\n"
                 f"resume with: nnctl train --resume {result.run_dir}", markup=False, highlight=False, soft_wrap=True)
