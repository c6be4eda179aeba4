"""`nnctl runs list|show|diff|export`: look at run directories (and a tune directory's trials) without loading a model."""

from __future__ import annotations

import csv
import io
import math
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from ..literal import json_text, markdown_cell, spreadsheet_cell, spreadsheet_row
from ..report.values import count, human
from .common import fail, print_json, real_run, stderr, stdout, user_errors
from .tables import print_table

if TYPE_CHECKING:
    from ..runs.listing import RunSummary

app = typer.Typer(help="List, inspect, compare and export run directories.", no_args_is_help=True)


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"
    md = "md"


class RunExportFormat(StrEnum):
    """Where `runs export` writes a run's history (`nnctl export`'s ExportFormat is a model's file format)."""

    csv = "csv"
    json = "json"
    tensorboard = "tensorboard"
    mlflow = "mlflow"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.6g}"
    if isinstance(value, (dict, list)):
        return json_text(value)
    return str(value)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _sorted(runs: list[RunSummary], key: str, reverse: bool) -> list[RunSummary]:
    """Runs ordered by ``key``; those without it stay at the end either way."""
    present = [r for r in runs if not _missing(r.value(key))]
    absent = [r for r in runs if _missing(r.value(key))]
    numeric = all(isinstance(r.value(key), (int, float)) for r in present)
    ordered = sorted(present, key=lambda r: r.value(key) if numeric else str(r.value(key)), reverse=reverse)
    return ordered + absent


def emit(rows: list[list[Any]], header: list[str], fmt: Format, title: str | None = None) -> None:
    """One table in the chosen format on stdout: rich for people, csv/json for programs, markdown for CI summaries."""
    from rich.table import Table

    if fmt is Format.json:
        print_json([dict(zip(header, row)) for row in rows])
    elif fmt is Format.csv:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(spreadsheet_row(header))
        writer.writerows([[spreadsheet_cell(v) if isinstance(v, str) else _cell(v) for v in row] for row in rows])  # -inf stays a number
        stdout.file.write(buffer.getvalue())
    elif fmt is Format.md:
        lines = ["| " + " | ".join(map(markdown_cell, header)) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
        lines += ["| " + " | ".join(markdown_cell(human(v)) for v in row) + " |" for row in rows]
        stdout.file.write("\n".join(lines) + "\n")
    else:
        table = Table(title=title)
        for name in header:
            table.add_column(name)
        for row in rows:
            table.add_row(*(human(v) for v in row))
        print_table(table)


@app.command("list")
def list_runs(
    directory: Path = typer.Argument(Path("runs"), help="A runs folder or a tune directory."),
    filters: list[str] = typer.Option([], "--filter", help="Keep runs where KEY<VALUE holds (metric or spec path; repeatable)."),
    sort: str | None = typer.Option(None, "--sort", help="Sort by a column (metric, spec path, name, epochs...)."),
    reverse: bool = typer.Option(False, "--reverse", help="Sort in descending order."),
    columns: str | None = typer.Option(None, "--columns", help="Comma-separated columns instead of the default ones."),
    fmt: Format = typer.Option(Format.table, "--format", help="table, csv, json or md (markdown, for CI job summaries)."),
):
    """One row per run: name, status, epochs, best metric, and the spec values that differ between the listed runs."""
    from ..runs.listing import differing_keys, matches, parse_filter, summarise_runs
    from ..search.record import TUNE_FILE

    with user_errors():
        conditions = [parse_filter(text) for text in filters]
        trials = _cv_trials(directory)
        runs = trials or summarise_runs(directory)
        varying = differing_keys([r for r in runs if not r.problem])  # a damaged run has no values to compare
        runs = [r for r in runs if all(matches(r, c) for c in conditions)]
    if sort:
        runs = _sorted(runs, sort, reverse)
    if columns:
        header = [c.strip() for c in columns.split(",") if c.strip()]
    elif trials:  # a cross-validated search: one row per trial, its mean over the folds ± its standard error
        header = ["name", "status", "folds", "best", "se", "within_1se", "best_epoch", "monitor", "parameters", *varying]
    else:
        header = ["name", "status", "epochs", "best", "best_epoch", "monitor", *varying]
    rows = [[r.value(c) for c in header] for r in runs]
    emit(rows, header, fmt, title=f"{directory}  ({count(len(runs), 'run')})")
    for run in runs:
        if run.problem:  # listed as damaged, and why in one line each
            stderr.print(f"nnctl: warning: damaged run, listed without its values: {run.problem}", markup=False,
                         highlight=False, soft_wrap=True)
    searches = sorted(p.name for p in Path(directory).iterdir() if (p / TUNE_FILE).is_file())
    if searches:
        stderr.print(f"{len(searches)} tune director{'y' if len(searches) == 1 else 'ies'} not listed ({', '.join(searches)}): "
                     f"`nnctl runs list {Path(directory) / searches[0]}` lists its trials", markup=False, highlight=False, soft_wrap=True)


def _cv_trials(directory: Path) -> list[RunSummary]:
    """The trials of a cross-validated search (their runs are fold runs, one level down); [] for anything else."""
    from ..search.cv import trial_summaries
    from ..search.record import TUNE_FILE, load_search

    if not (Path(directory) / TUNE_FILE).is_file():
        return []
    record = load_search(directory)
    return trial_summaries(record) if record.fold_runs is not None else []


@app.command("show")
def show_run(
    run: Path = typer.Argument(..., help="A run directory.", callback=real_run),
    as_json: bool = typer.Option(False, "--json", help="Print everything as one JSON object."),
):
    """A run's resolved spec, splits, metrics summary and files."""
    from ..orchestration.run_data import run_schema
    from ..runs import rundir
    from ..runs.listing import read_epochs, read_run_spec, summarise_run

    with user_errors():
        summary = summarise_run(_run_dir(run))
        epochs = read_epochs(run)
        schema = run_schema(run)
        spec = read_run_spec(run)
    spec_text = (run / rundir.SPEC_FILE).read_text(encoding="utf-8")
    metrics = {
        name: {"first": values[0], "last": values[-1], "min": min(values), "max": max(values), "at_best": summary.metrics.get(name)}
        for name, values in epochs.items() if values and name != "epoch"
    }
    files = {p.name: p.stat().st_size for p in sorted(run.iterdir()) if p.is_file() and not p.name.startswith(".")}
    info = {"run": str(run), "status": summary.status, "epochs": summary.epochs, "epochs_planned": summary.epochs_planned,
            "best": {"metric": summary.monitor, "value": summary.best_value, "epoch": summary.best_epoch},
            "split": _recorded_split(spec), "inputs": None if schema is None else schema.describe(),
            "metrics": metrics, "files": files, "spec": spec}
    if as_json:
        print_json(info)
        return
    stdout.print(f"{run}: {summary.status}, {summary.epochs}/{summary.epochs_planned} epochs, best {summary.monitor} "
                 f"{_cell(summary.best_value)} at epoch {_cell(summary.best_epoch)}", markup=False, highlight=False)
    split = info["split"] if isinstance(info["split"], dict) else {}
    stdout.print("split: " + ", ".join(f"{k} {human(v)}" for k, v in split.items() if v is not None), markup=False, highlight=False)
    if schema is not None:
        emit([[key, human(value, key)] for key, value in info["inputs"].items()], ["input contract", ""], Format.table,
             title="how new files are read (predict, eval --data)")
    emit([[name, m["first"], m["last"], m["min"], m["max"], m["at_best"]] for name, m in metrics.items()],
         ["metric", "first", "last", "min", "max", "at best epoch"], Format.table, title="metrics per epoch")
    emit([[name, size] for name, size in files.items()], ["file", "bytes"], Format.table, title="files")
    stdout.print(spec_text, markup=False, highlight=False)


def _recorded_split(spec: dict) -> Any:
    """The spec's data.split as written (None when a hand-edited spec.yaml has no such mapping)."""
    data = spec.get("data")
    return data.get("split") if isinstance(data, dict) else None


@app.command("diff")
def diff_runs(
    a: Path = typer.Argument(..., help="The first run directory.", callback=real_run),
    b: Path = typer.Argument(..., help="The second run directory.", callback=real_run),
    fmt: Format = typer.Option(Format.table, "--format", help="table, csv, json or md."),
):
    """Spec differences and metric deltas (each run at its best epoch) between two runs."""
    from ..runs.listing import differing_keys, summarise_run

    with user_errors():
        first, second = summarise_run(_run_dir(a)), summarise_run(_run_dir(b))
    rows: list[list[Any]] = [["spec", key, first.spec.get(key), second.spec.get(key), None]
                             for key in differing_keys([first, second])]
    for name in dict.fromkeys([*first.metrics, *second.metrics]):
        x, y = first.metrics.get(name), second.metrics.get(name)
        rows.append(["metric", name, x, y, None if x is None or y is None else y - x])
    emit(rows, ["kind", "key", first.name, second.name, "delta"], fmt, title=f"{a} → {b}")


@app.command("export")
def export_run(
    runs: list[Path] = typer.Argument(..., metavar="RUN...", help="Run directories (one for csv and json).", callback=real_run),
    fmt: RunExportFormat = typer.Option(RunExportFormat.csv, "--format", help="csv, json, tensorboard (RUN/tb/) or mlflow (a tracking server)."),
    output: Path | None = typer.Option(None, "--output", "-o", help="csv/json: write to this file instead of stdout."),
    tracking_uri: str | None = typer.Option(
        None, "--tracking-uri", help="mlflow: the server (default: the spec's logging.mlflow, then $MLFLOW_TRACKING_URI)."),
    experiment: str | None = typer.Option(None, "--experiment", help="mlflow: the experiment (default: the spec's, then its name)."),
):
    """metrics.h5's per-epoch metrics, one row per epoch; or whole runs into TensorBoard event files or MLflow."""
    if (tracking_uri or experiment) and fmt is not RunExportFormat.mlflow:
        raise fail("--tracking-uri and --experiment go with --format mlflow")
    if fmt in (RunExportFormat.tensorboard, RunExportFormat.mlflow):
        if output is not None:
            where = "RUN/tb/" if fmt is RunExportFormat.tensorboard else "to the tracking server"
            raise fail(f"-o is for csv and json; --format {fmt} writes {where}")
        _export_to_tracker(runs, fmt, tracking_uri, experiment)
        return
    if len(runs) != 1:
        raise fail(f"--format {fmt} exports one run; give one RUN (tensorboard and mlflow take several)")
    from ..runs.atomic import atomic_write_text
    from ..runs.listing import read_epochs
    from ..runs.outputs import output_file

    run = runs[0]
    with user_errors():
        if output is not None:
            output_file(output, "-o", (f".{fmt}",))
        columns = read_epochs(_run_dir(run))
    names = ["epoch", *[n for n in columns if n != "epoch"]] if "epoch" in columns else list(columns)
    rows = list(zip(*(columns[n] for n in names)))
    if fmt is RunExportFormat.json:
        text = json_text([dict(zip(names, row)) for row in rows])
        text += "\n"
    else:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(spreadsheet_row(names))
        writer.writerows([[int(v) if n == "epoch" else repr(float(v)) for n, v in zip(names, row)] for row in rows])
        text = buffer.getvalue()
    if output is None:
        stdout.file.write(text)
    else:
        with user_errors():
            atomic_write_text(output, text)


def _export_to_tracker(runs: list[Path], fmt: RunExportFormat, tracking_uri: str | None, experiment: str | None) -> None:
    """Each run into TensorBoard event files or an MLflow server; one line per run on stdout."""
    from ..loggers.export import export_mlflow_run, export_tensorboard_run

    for run in runs:
        with user_errors():
            _run_dir(run)
            if fmt is RunExportFormat.tensorboard:
                where = str(export_tensorboard_run(run))
            else:
                where = f"mlflow run {export_mlflow_run(run, tracking_uri, experiment)}"
        stdout.print(f"{run}: {where}", markup=False, highlight=False, soft_wrap=True)


def _run_dir(path: Path) -> Path:
    from ..runs.listing import is_run_dir
    from ..runs.rundir import not_a_directory

    if not Path(path).is_dir():
        raise fail(not_a_directory(Path(path)))
    if not is_run_dir(Path(path)):
        raise fail(f"{path}: not a run directory (no spec.yaml and checkpoint in it)")
    return Path(path)
