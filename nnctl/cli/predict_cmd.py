"""`nnctl predict`: predictions of a trained run for new inputs, normalized as in training."""

from __future__ import annotations

import io
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from ..runs.names import CheckpointName
from .common import fail, real_run, user_errors
from .source_options import HEADER, LABEL_COLUMN, SOURCE_YAML, Header, file_overrides
from .work_progress import busy

if TYPE_CHECKING:
    import numpy as np


class Labels(StrEnum):
    names = "names"
    indices = "indices"


def predict(
    run: Path = typer.Argument(..., metavar="RUN", help="A run directory under runs/.", callback=real_run),
    input_file: Path = typer.Argument(..., metavar="INPUT", help="Inputs: .npz (key x), .npy, .csv or .h5 (dataset x)."),
    out: Path | None = typer.Option(None, "--out", help="Write to this .csv or .npz instead of stdout."),
    proba: bool = typer.Option(False, "--proba", help="Output class probabilities (or raw outputs) too."),
    which: CheckpointName = typer.Option(CheckpointName.best, "--checkpoint", help="Which checkpoint of the run."),
    labels: Labels = typer.Option(Labels.names, "--labels", help="Classes as the run's class names or as indices 0..C-1."),
    header: Header | None = HEADER,
    label_column: str | None = LABEL_COLUMN,
    source_yaml: str | None = SOURCE_YAML,
):
    """Predict classes (or regression values) for each input row.

    A CSV file is read as the run read its training file: columns matched by name (any order, extra columns
    noted and left out, the label column dropped when present), the run's id columns first in the output.
    """
    import numpy as np

    from ..data.load import inference_inputs
    from ..orchestration.model import load_model
    from ..orchestration.run_data import note_without_schema
    from ..runs.atomic import atomic_write_bytes, atomic_write_text
    from ..runs.outputs import id_headers, output_file

    if out is not None and out.suffix not in (".csv", ".npz"):
        raise fail(f"--out {out}: expected a .csv or .npz file name")
    with user_errors(), busy(f"predicting with {run}"):
        if out is not None:
            output_file(out, "--out", (out.suffix,))
        overrides = file_overrides(input_file, header, label_column, source_yaml)
        model = load_model(run, which)
        schema = model.schema
        if schema is None:
            note_without_schema(model.path.parent)
        found = inference_inputs(input_file, schema, overrides, int(np.prod(model.net.input_shape)))
        x = model.fit_inputs(found.x, input_file)
        outputs = model.net.predict(model.normalizer.apply(x, dtype=model.net.dtype))
        if schema is not None and model.checkpoint.task == "regression":
            outputs = schema.to_units(outputs)  # standardized targets mapped back
    names = model.checkpoint.class_names if labels == Labels.names else [str(i) for i in range(len(model.checkpoint.class_names))]
    targets = schema.label_names if schema is not None else None
    header_row, columns = _columns(outputs, model.checkpoint.task, names, proba, targets)
    header_row, columns = [*id_headers(list(found.ids), header_row), *header_row], [*(v.tolist() for v in found.ids.values()), *columns]
    if out is None:
        _write_csv(sys.stdout, header_row, columns)
        return
    with user_errors():  # written whole or not at all; an unwritable folder or a full disk is one line
        if out.suffix == ".npz":
            atomic_write_bytes(out, _npz_bytes(dict(zip(header_row, columns))))
        else:
            text = io.StringIO()
            _write_csv(text, header_row, columns)
            atomic_write_text(out, text.getvalue())


def _write_csv(stream, header: list[str], columns: list) -> None:
    """Quoted where a label needs it, no label a spreadsheet would run as a formula (``literal``), and every number
    as the shortest text that reads back as the same value (a prediction of 1,490,623.23 is not 1.49062e+06).

    The cells are data, so a file or a pipe gets their exact text (``predict … > out.csv`` writes what ``--out``
    does, labels with line breaks or escapes included, and a program reading it gets the labels back).  A terminal
    is read by a person, not parsed, and acts on control characters: there they are shown escaped (``visible``),
    as in nnctl's tables, so a label holding ``\\x1b[2J`` cannot clear the screen."""
    import csv

    from ..literal import spreadsheet_cell, spreadsheet_row, visible

    text = visible if stream.isatty() else str
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(spreadsheet_row(map(text, header)))
    for row in zip(*columns):
        writer.writerow([spreadsheet_cell(text(v)) if isinstance(v, str) else str(v) for v in row])


def _npz_bytes(columns: dict) -> bytes:
    """An .npz archive of named columns, as np.load reads it, whatever the names: np.savez takes them as keyword
    arguments, so an id column called 'file' would clash with its own parameter."""
    import zipfile

    import numpy as np

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, values in columns.items():
            with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asarray(values), allow_pickle=False)
    return buffer.getvalue()


def _columns(outputs: np.ndarray, task: str, class_names: list[str], proba: bool, targets: list[str] | None = None):
    """Column names and values: the predicted class, then optionally one probability per class;
    multi-label: one 0/1 column per task, then optionally p_<task>; regression: one per target, named as in
    the training file (``targets``), else y0, y1..."""
    import numpy as np

    from ..nn.metrics import predicted_classes

    if task == "regression":
        names = targets if targets is not None and len(targets) == outputs.shape[1] else [f"y{j}" for j in range(outputs.shape[1])]
        return list(names), list(outputs.T)
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
