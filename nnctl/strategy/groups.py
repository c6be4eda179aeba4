"""Group membership of a run's examples, read from a column of its CSV source (e.g. the region).

Rows are matched through the split's source row numbers, so the groups follow
whatever rows a split holds; the file is read as the source reads it (header
detection, a skipped first line, paths from the spec's folder).
"""

from __future__ import annotations

import numpy as np

from ..data import Dataset
from ..data.csv_table import read_table
from ..data.parts import resolve
from ..errors import StrategyError


def group_values(data_spec, column: str | int, data: Dataset) -> np.ndarray:
    """The ``column`` values (as text) of the source rows of ``data``."""
    source = data_spec.source
    if getattr(source, "type", None) != "csv":
        kind = "several" if source is None else f"a {source.type}"
        raise StrategyError(f"--group-by {column}: groups are read from a CSV source's column; this run reads {kind} source")
    if np.any(data.parts() != 0):
        raise StrategyError(f"--group-by {column}: the split holds rows of another file than {source.path}; groups come from that one")
    table = read_table(resolve(source.path, data_spec.base_dir), source.delimiter, source.header, source.label_column)
    index = table.column_index(_column(column, table.names), "--group-by")
    return np.char.strip(table.cells[:, index])[data.source_rows()]


def _column(column: str | int, names: list[str] | None) -> str | int:
    """A header name stays a name; anything else that reads as a number is a column number."""
    if isinstance(column, int) or (names and column in names):
        return column
    try:
        return int(column)
    except ValueError:
        return column
