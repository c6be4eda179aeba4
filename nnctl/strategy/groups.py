"""Group membership of a run's examples, read from a column of its CSV source (e.g. the region).

Rows are matched through ``Dataset.rows``, the examples' row numbers in the
source, so the groups follow whatever rows a split holds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data.sources import csv_rows
from ..errors import StrategyError


def group_values(source, column: str | int, rows: np.ndarray | None) -> np.ndarray:
    """The ``column`` values (as text) of the source rows ``rows`` (None: every row)."""
    if getattr(source, "type", None) != "csv":
        raise StrategyError(f"--group-by {column}: groups are read from a CSV source's column; this run reads a {source.type} source")
    table = csv_rows(Path(source.path), source.delimiter)
    names = [name.strip() for name in table.pop(0)] if source.header and table else None
    index = _column_index(column, names, len(table[0]) if table else 0, source.path)
    values = np.array([row[index].strip() for row in table])
    return values if rows is None else values[np.asarray(rows)]


def _column_index(column: str | int, names: list[str] | None, width: int, path: str) -> int:
    if isinstance(column, str) and names is not None and column in names:
        return names.index(column)
    try:
        index = int(column)
    except ValueError:
        has = f" (has: {', '.join(names)})" if names else " (the file has no header row: give a column number)"
        raise StrategyError(f"--group-by {column}: no such column in {path}{has}") from None
    if not -width <= index < width:
        raise StrategyError(f"--group-by {column}: column {index} is out of range for the {width} columns of {path}")
    return index % width
