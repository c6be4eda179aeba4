"""`nnctl eval`: metrics of a trained run on one of its splits or on another labelled file."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from ..orchestration.choices import Split
from ..report.values import count
from ..runs.names import CheckpointName
from .common import EXIT_CHECK_FAILED, fail, print_json, real_run, stderr, stdout, user_errors
from .source_options import HEADER, LABEL_COLUMN, SOURCE_YAML, Header, file_source, overrides_from
from .tables import print_table
from .work_progress import busy

if TYPE_CHECKING:
    from rich.table import Table

    from ..data import Dataset
    from ..orchestration.model import LoadedModel


def _file_data(model: LoadedModel, data_file: Path, source, label_given: bool) -> Dataset:
    """A labelled file as the model takes it: a CSV file read through the run's schema (options override it),
    another format as ``source`` (or its suffix) says."""
    from ..data import Dataset, load_labelled_file
    from ..orchestration.run_data import note_without_schema

    ckpt = model.checkpoint
    overrides = overrides_from(source, label_given) if source is None or source.type == "csv" else None
    schema = model.schema
    if schema is None:
        note_without_schema(model.path.parent)
    data = load_labelled_file(data_file, ckpt.class_names, ckpt.task, source, schema, overrides)
    y = schema.standardized(data.y) if schema is not None and ckpt.task == "regression" else data.y
    return Dataset(model.fit_inputs(data.x, data_file), y)


def evaluate_run(
    run: Path = typer.Argument(..., metavar="RUN", help="A run directory under runs/.", callback=real_run),
    split: Split = typer.Option(Split.test, "--split", help="Which of the run's splits to evaluate on."),
    data_file: Path | None = typer.Option(None, "--data", help="Evaluate on this labelled file instead of a split."),
    header: Header | None = HEADER,
    label_column: str | None = LABEL_COLUMN,
    source_yaml: str | None = SOURCE_YAML,
    which: CheckpointName = typer.Option(CheckpointName.best, "--checkpoint", help="Which checkpoint of the run."),
    fail_under: list[str] = typer.Option([], "--fail-under", help="Exit 1 if METRIC < VALUE (e.g. accuracy=0.97)."),
    fail_over: list[str] = typer.Option([], "--fail-over", help="Exit 1 if METRIC > VALUE (e.g. cost=0.3)."),
    threshold: float | None = typer.Option(None, "--threshold", help="Class-1 threshold of a sigmoid output (default 0.5)."),
    weights: str | None = typer.Option(None, "--weights", help="Class weights for weighted_error, e.g. 'cat=1,unacceptable=10'."),
    group_by: str | None = typer.Option(None, "--group-by", help="CSV column whose values group the errors (group_mean_error)."),
    as_json: bool = typer.Option(False, "--json", help="Print the metrics as one JSON object."),
):
    """Evaluate a run's checkpoint; exit 1 when a --fail-under/--fail-over bar is missed.

    A split's metrics and the dev latency (predict_ms) are recorded in the run's eval.json for `nnctl select`.
    """
    from rich.table import Table

    from ..data.errors import DataChangedError
    from ..orchestration.model import load_model
    from ..strategy.evaluation import Options, evaluate_data, evaluate_split, missed_bars, parse_bars
    from ..strategy.scoring import parse_weights

    if data_file is None and (header or label_column or source_yaml):
        raise fail("--header, --label-column and --source-yaml describe a --data FILE; give --data too")
    with user_errors():
        bars = parse_bars(fail_under, fail_over)
    if data_file is not None and group_by is not None:
        raise fail("--group-by reads the run's own CSV source; it does not apply to --data files")
    with user_errors(), busy(f"evaluating {run}"):
        model = load_model(run, which)
        options = Options.for_model(model, threshold, parse_weights(weights) if weights is not None else None, group_by)
        if data_file is not None:
            options.group_by = None  # a file's rows are not the source's: its groups are unknown
            source = file_source(data_file, header, label_column, source_yaml)
            result = evaluate_data(model, _file_data(model, data_file, source, label_column is not None), str(data_file), options)
        else:
            try:
                result = evaluate_split(run, model, split, options)
            except DataChangedError as err:  # of the commands that read a run's split, eval alone takes --data
                raise DataChangedError(f"{err}, or evaluate another labelled file with --data") from None
        metrics = result.metrics
        missed = missed_bars(bars, metrics)
    if as_json:
        print_json({"run": str(run), "checkpoint": str(model.path), "data": result.source, "examples": result.examples,
                    "metrics": metrics, "groups": result.groups, "unseen_classes": result.unseen_classes,
                    "predict_ms": result.predict_ms, **options.to_dict(),
                    "passed": not missed, "missed": missed})
    else:
        table = Table(title=f"{run} on {result.source} ({count(result.examples, 'example')}, {model.path.name})")
        table.add_column("metric")
        table.add_column("value", justify="right")
        for name, value in metrics.items():
            table.add_row(name, f"{value:.4f}")
        print_table(table)
        if result.predict_ms is not None:  # a property of the model, measured on dev whatever the split: not a row
            stdout.print(f"latency: {result.predict_ms:.4f} ms per example, one at a time (measured on dev, "
                         "recorded for `nnctl select`)", markup=False, highlight=False)
        if result.groups:
            print_table(group_table(result.groups, options.group_by))
        if model.checkpoint.task == "multilabel":
            print_table(task_table(result.labels, metrics, model.checkpoint.class_names))
        elif result.confusion is not None and len(model.checkpoint.class_names) <= 20:
            print_table(confusion_table(result.confusion, model.checkpoint.class_names))
    if result.unrecorded:
        stderr.print(f"nnctl: warning: eval.json not written, the metrics above stand: {result.unrecorded}",
                     highlight=False, soft_wrap=True)
    if missed:
        raise fail("missed the bar: " + "; ".join(missed), EXIT_CHECK_FAILED)


def group_table(groups: dict[str, dict], column) -> Table:
    from rich.table import Table

    table = Table(title=f"error by {column}")
    table.add_column(str(column))
    table.add_column("error", justify="right")
    table.add_column("examples", justify="right")
    for name, group in groups.items():
        table.add_row(name, f"{group['error']:.4f}", str(group["examples"]))
    return table


def task_table(labels, metrics: dict, tasks: list[str]) -> Table:
    """Multi-label: each task's present labels, positives and precision/recall/F1."""
    from rich.table import Table

    from ..train.evaluate import metric_suffixes

    table = Table(title="tasks (scored on present labels only)")
    for column in ("task", "labels", "positives", "precision", "recall", "f1"):
        table.add_column(column, justify="left" if column == "task" else "right")
    for j, (task, suffix) in enumerate(zip(tasks, metric_suffixes(tasks))):
        present = labels[:, j][labels[:, j] == labels[:, j]]
        table.add_row(task, str(len(present)), str(int(present.sum())),
                      *(f"{metrics[f'{m}_{suffix}']:.4f}" for m in ("precision", "recall", "f1")))
    return table


def confusion_table(matrix, class_names: list[str]) -> Table:
    from rich.table import Table

    table = Table(title="confusion (rows: true, columns: predicted)")
    table.add_column("")
    for name in class_names:
        table.add_column(name, justify="right")
    for name, row in zip(class_names, matrix):
        table.add_row(name, *(str(int(v)) for v in row))
    return table
