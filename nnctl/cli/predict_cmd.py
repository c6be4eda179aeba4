"""`nnctl predict`: predictions of a trained run for new inputs, normalized as in training."""

from __future__ import annotations

import io
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from ..runs.names import CheckpointName
from .common import fail, user_errors
from .source_options import HEADER, LABEL_COLUMN, SOURCE_YAML, Header, file_source
from .work_progress import busy

if TYPE_CHECKING:
    import numpy as np


class Labels(StrEnum):
    names = "names"
    indices = "indices"


def predict(
    run: Path = typer.Argument(..., metavar="RUN", help="A run directory under runs/."),
    input_file: Path = typer.Argument(..., metavar="INPUT", help="Inputs: .npz (key x), .npy, .csv or .h5 (dataset x)."),
    out: Path | None = typer.Option(None, "--out", help="Write to this .csv or .npz instead of stdout."),
    proba: bool = typer.Option(False, "--proba", help="Output class probabilities (or raw outputs) too."),
    which: CheckpointName = typer.Option(CheckpointName.best, "--checkpoint", help="Which checkpoint of the run."),
    labels: Labels = typer.Option(Labels.names, "--labels", help="Classes as the run's class names or as indices 0..C-1."),
    header: Header | None = HEADER,
    label_column: str | None = LABEL_COLUMN,
    source_yaml: str | None = SOURCE_YAML,
):
    """Predict classes (or regression values) for each input row; a CSV's label column is dropped when present."""
    import numpy as np

    from ..data import load_inference_input
    from ..orchestration.model import load_model
    from ..runs.atomic import atomic_write_bytes, atomic_write_text
    from ..runs.outputs import output_file

    if out is not None and out.suffix not in (".csv", ".npz"):
        raise fail(f"--out {out}: expected a .csv or .npz file name")
    with user_errors(), busy(f"predicting with {run}"):
        if out is not None:
            output_file(out, "--out", (out.suffix,))
        options = _csv_options(input_file, header, label_column, source_yaml)
        model = load_model(run, which)
        n_features = int(np.prod(model.net.input_shape))
        x = model.fit_inputs(load_inference_input(input_file, n_features, **options), input_file)
        outputs = model.net.predict(model.normalizer.apply(x, dtype=model.net.dtype))
    names = model.checkpoint.class_names if labels == Labels.names else [str(i) for i in range(len(model.checkpoint.class_names))]
    header_row, columns = _columns(outputs, model.checkpoint.task, names, proba)
    if out is None:
        _write_csv(sys.stdout, header_row, columns)
        return
    with user_errors():  # written whole or not at all; an unwritable folder or a full disk is one line
        if out.suffix == ".npz":
            buffer = io.BytesIO()
            np.savez(buffer, **{name: np.asarray(col) for name, col in zip(header_row, columns)})
            atomic_write_bytes(out, buffer.getvalue())
        else:
            text = io.StringIO()
            _write_csv(text, header_row, columns)
            atomic_write_text(out, text.getvalue())


def _write_csv(stream, header: list[str], columns: list) -> None:
    """Quoted where a label needs it, and no label a spreadsheet would run as a formula (``literal``)."""
    import csv

    from ..literal import spreadsheet_cell, spreadsheet_row

    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(spreadsheet_row(header))
    for row in zip(*columns):
        writer.writerow([spreadsheet_cell(v) if isinstance(v, str) else f"{v:.6g}" for v in row])


def _csv_options(path: Path, header: Header | None, label_column: str | None, source_yaml: str | None) -> dict:
    """How to read a CSV of inputs: the same options as a spec's CSV source (other formats take none)."""
    from ..data import DataError

    source = file_source(path, header, label_column, source_yaml)
    if source is None:
        return {}
    if source.type != "csv":
        raise DataError(f"{path}: --header, --label-column and --source-yaml apply to CSV inputs, not {source.type}")
    explicit = label_column is not None or (source_yaml is not None and "label_column" in source.model_fields_set)
    return {"header": source.header, "delimiter": source.delimiter, "label_column": source.label_column if explicit else None,
            "ignore_columns": source.ignore_columns}


def _columns(outputs: np.ndarray, task: str, class_names: list[str], proba: bool):
    """Column names and values: the predicted class, then optionally one probability per class;
    multi-label: one 0/1 column per task, then optionally p_<task>."""
    import numpy as np

    from ..nn.metrics import predicted_classes

    if task == "regression":
        return [f"y{j}" for j in range(outputs.shape[1])], list(outputs.T)
    if task == "multilabel":
        header, columns = list(class_names), [(col >= 0.5).astype(np.int64).tolist() for col in outputs.T]
        if proba:
            header += [f"p_{name}" for name in class_names]
            columns += list(outputs.T)
        return header, columns
    classes = predicted_classes(outputs)
    header, columns = ["class"], [[class_names[c] for c in classes]]
    if proba:
        probs = np.hstack([1 - outputs, outputs]) if outputs.shape[1] == 1 else outputs
        header += [f"p_{name}" for name in class_names]
        columns += list(probs.T)
    return header, columns
