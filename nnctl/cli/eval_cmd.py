"""`nnctl eval`: metrics of a trained run on one of its splits or on another labelled file."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from ..data import Dataset, load_labelled_file
from ..orchestration.model import LoadedModel, Split, load_model, split_data
from ..runs.rundir import CheckpointName
from ..train.evaluate import confusion, evaluate, lower_is_better
from ..train.prepare import prepare_split
from .common import EXIT_CHECK_FAILED, fail, print_json, stdout, user_errors
from .source_options import HEADER, LABEL_COLUMN, SOURCE_YAML, Header, file_source


def parse_bars(bars: list[str], higher_is_better: bool, option: str) -> dict[str, float]:
    """``accuracy=0.97`` → {"accuracy": 0.97}, refusing bars on the wrong side of a metric."""
    parsed = {}
    for bar in bars:
        name, sep, value = bar.partition("=")
        name = name.strip()
        try:
            parsed[name] = float(value)
        except ValueError:
            raise fail(f"{option} {bar}: expected METRIC=NUMBER, e.g. {option} accuracy=0.97") from None
        if not sep or lower_is_better(name) == higher_is_better:
            kind = "a higher-is-better" if higher_is_better else "a lower-is-better"
            raise fail(f"{option} {bar}: '{name}' is not {kind} metric")
    return parsed


def _split_data(model: LoadedModel, split: Split, data_file: Path | None, source=None):
    ckpt = model.checkpoint
    if data_file is not None:
        data = load_labelled_file(data_file, ckpt.class_names, ckpt.task, source)
        return Dataset(model.fit_inputs(data.x, data_file), data.y)
    return split_data(model, split)


def evaluate_run(
    run: Path = typer.Argument(..., metavar="RUN", help="A run directory under runs/."),
    split: Split = typer.Option(Split.test, "--split", help="Which of the run's splits to evaluate on."),
    data_file: Path | None = typer.Option(None, "--data", help="Evaluate on this labelled file instead of a split."),
    header: Header | None = HEADER,
    label_column: str | None = LABEL_COLUMN,
    source_yaml: str | None = SOURCE_YAML,
    which: CheckpointName = typer.Option(CheckpointName.best, "--checkpoint", help="Which checkpoint of the run."),
    fail_under: list[str] = typer.Option([], "--fail-under", help="Exit 1 if METRIC < VALUE (e.g. accuracy=0.97)."),
    fail_over: list[str] = typer.Option([], "--fail-over", help="Exit 1 if METRIC > VALUE (e.g. cost=0.3)."),
    as_json: bool = typer.Option(False, "--json", help="Print the metrics as one JSON object."),
):
    """Evaluate a run's checkpoint; exit 1 when a --fail-under/--fail-over bar is missed."""
    if data_file is None and (header or label_column or source_yaml):
        raise fail("--header, --label-column and --source-yaml describe a --data FILE; give --data too")
    under = parse_bars(fail_under, True, "--fail-under")
    over = parse_bars(fail_over, False, "--fail-over")
    with user_errors():
        model = load_model(run, which)
        source = file_source(data_file, header, label_column, source_yaml) if data_file is not None else None
        data = _split_data(model, split, data_file, source)
        n_classes = len(model.checkpoint.class_names)
        prepared = prepare_split(data, model.normalizer, model.checkpoint.task, model.net.output_shape[0], model.net.dtype)
        metrics = evaluate(model.net, prepared.x, prepared.targets, prepared.labels, n_classes)
        for name in list(under) + list(over):
            if name not in metrics:
                raise fail(f"unknown metric '{name}'; this run reports {', '.join(metrics)}")
    missed = [f"{n} {metrics[n]:.4f} < {v}" for n, v in under.items() if metrics[n] < v]
    missed += [f"{n} {metrics[n]:.4f} > {v}" for n, v in over.items() if metrics[n] > v]
    source = str(data_file) if data_file else split
    if as_json:
        print_json({"run": str(run), "checkpoint": str(model.path), "data": source, "examples": len(prepared),
                    "metrics": metrics, "passed": not missed, "missed": missed})
    else:
        table = Table(title=f"{run} on {source} ({len(prepared)} examples, {model.path.name})")
        table.add_column("metric")
        table.add_column("value", justify="right")
        for name, value in metrics.items():
            table.add_row(name, f"{value:.4f}")
        stdout.print(table)
        if prepared.labels is not None and n_classes <= 20:
            stdout.print(confusion_table(confusion(model.net, prepared.x, prepared.labels, n_classes), model.checkpoint.class_names))
    if missed:
        raise fail("missed the bar: " + "; ".join(missed), EXIT_CHECK_FAILED)


def confusion_table(matrix, class_names: list[str]) -> Table:
    table = Table(title="confusion (rows: true, columns: predicted)")
    table.add_column("")
    for name in class_names:
        table.add_column(name, justify="right")
    for name, row in zip(class_names, matrix):
        table.add_row(name, *(str(int(v)) for v in row))
    return table
