"""Example rows of a data set as CSV text, for trying `nnctl predict` and `nnctl eval --data`.

Rows come from the source's own test set when it has one (MNIST's 10,000), else
from all its examples; they are drawn without replacement from a seeded
generator and kept in source order, so the same command writes the same file.
Inputs are flattened to one row each (`predict` reshapes them back to the
model's input shape); the label, when asked for, is the last column, as a
class name (or the regression targets), which is what a CSV source reads by
default (`label_column: -1`, no header); a name a spreadsheet would run as a
formula is written with a leading ``'``, which nnctl's CSV reader takes off.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from ..literal import spreadsheet_cell
from .dataset import Dataset
from .errors import DataError
from .load import source_spec
from .parts import read_source_parts


def sample_pool(source: str, datasets_dir: Path) -> tuple[str, Dataset, list[str]]:
    """(task, the examples to sample from, class names): the source's own test part when it has one."""
    found = read_source_parts(source_spec(source), datasets_dir)
    return found.task, (found.own_test() or found.parts[0]).data, found.class_names


def sample_csv(source: str, datasets_dir: Path, rows: int, seed: int = 0, with_labels: bool = False) -> str:
    task, examples, class_names = sample_pool(source, datasets_dir)
    if rows > len(examples):
        raise DataError(f"--rows {rows}: {source} has {len(examples)} examples to sample from")
    chosen = np.sort(np.random.default_rng(seed).choice(len(examples), size=rows, replace=False))
    x = examples.x[chosen].reshape(rows, -1)
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    for i, row in enumerate(x):
        cells = [_number(v) for v in row]
        if with_labels:
            label = examples.y[chosen[i]]
            cells += [spreadsheet_cell(class_names[int(label)])] if task == "classification" else [_number(v) for v in np.ravel(label)]
        writer.writerow(cells)
    return text.getvalue()


def _number(value: float) -> str:
    """The shortest text that reads back as the same float64 (integers without a decimal point)."""
    return repr(int(value)) if float(value).is_integer() else repr(float(value))
