"""Real-world CSV files: header detection, stray first lines, and errors that name line and column.

Files in the wild start with column names, with scikit-learn's
``n_samples,n_features,class names...`` line, or with a title; cells may be
text, empty or ``nan``. Every problem is reported as ``FILE:LINE: column N:
what is wrong`` (lines and columns counted from 1, as an editor shows them),
and notes about lines that were skipped go to the ``nnctl`` logger (the CLI
prints them on stderr).
"""

from __future__ import annotations

import csv
import io
import itertools
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..literal import from_spreadsheet_cell, listing, quoted
from ..memory import over_limit
from .errors import ColumnError, DataError
from .files import existing, open_maybe_gzip, reading

log = logging.getLogger("nnctl.data")

CSV_SUFFIXES = (".csv", ".csv.gz", ".txt", ".tsv")  # the files read as CSV tables
MISSING_WORDS = ("", "na", "nan", "null")  # compared lower-case, spaces stripped
MISSING_HINT = "set data.missing: {strategy: drop_rows | mean | median | constant} to drop or fill them"
MISSING_LISTED = 5  # columns named in one error; a wide file's report stays one readable line
UNUSUAL_BLOCK_ROWS = 4096  # rows checked for characters no number has at once (a temporary of rows·cells·width)


@dataclass
class CsvTable:
    """The data cells of a CSV file with the line each row came from."""

    path: Path
    cells: np.ndarray  # str, (rows, columns)
    lines: np.ndarray  # int, the file line of each row
    names: list[str] | None  # column names from a header line
    class_names: list[str] | None  # from scikit-learn's first line

    @property
    def width(self) -> int:
        return self.cells.shape[1]

    def column_name(self, column: int) -> str:
        """'column 3' or "column 3 ('petal_length')" (1-based, as an editor counts)."""
        label = f"column {column + 1}"
        return f"{label} ({quoted(self.names[column])})" if self.names else label

    def numbers(self, columns: list[int], allow_missing: bool = False, hint: str = MISSING_HINT) -> np.ndarray:
        """The cells of ``columns`` as float64: a missing cell (empty, NA, NaN, null) is NaN when ``allow_missing``,
        else one DataError counting the missing cells of every column (``hint`` says what to do); any other
        cell that is not a finite number is a DataError at the first one."""
        part = self.cells[:, columns]
        try:
            values = part.astype(np.float64)
        except ValueError:
            values = None
        unusual = unusual_characters(part)  # NumPy reads '1_5' as 15 too
        if values is not None and np.isfinite(values).all() and not unusual.any():
            return values
        text = np.char.strip(part)
        missing = np.isin(np.char.lower(text), MISSING_WORDS)
        try:
            values = np.where(missing, "nan", text).astype(np.float64)
            unusable = np.isinf(values) | unusual
        except ValueError:
            unusable = None
        if unusable is None or unusable.any():  # the first cell that is neither a finite number nor missing
            for i, j in zip(*np.nonzero(~missing if unusable is None else unusable)):
                problem = _cell_problem(str(text[i, j]))
                if problem:
                    raise DataError(f"{self.path}:{self.lines[i]}: {self.column_name(columns[j])}: {problem}")
        if not allow_missing:
            raise DataError(self._missing_report(columns, missing, hint))
        return values

    def _missing_report(self, columns: list[int], missing: np.ndarray, hint: str) -> str:
        """'FILE: 4 missing values (empty, NA, NaN or null): column 2 ('age') 3 (first on line 5), ...; HINT'."""
        counts = missing.sum(axis=0)
        found = np.flatnonzero(counts).tolist()
        listed = [f"{self.column_name(columns[j])}: {counts[j]} (first on line {self.lines[np.argmax(missing[:, j])]})"
                  for j in found[:MISSING_LISTED]]
        more = f" and {len(found) - MISSING_LISTED} more columns" if len(found) > MISSING_LISTED else ""
        total = int(counts.sum())
        return (f"{self.path}: {total} missing value{'s' * (total > 1)} (empty, NA, NaN or null) in {len(found)} input "
                f"column{'s' * (len(found) > 1)}: {'; '.join(listed)}{more}; {hint}")

    def labels(self, column: int) -> np.ndarray:
        """The label column's stripped text, numbers too (`classes_of` reads whole numbers as the numbers they write).

        An empty label is a DataError at its line: a row without its label can be neither a class nor a target.
        So is a word for a missing value (NA, NaN, null) among numbers; among text it is a class like any other
        (NA for North America, Na for sodium). A label that nnctl wrote with a leading ``'`` (`data sample`,
        `predict`: text a spreadsheet would run as a formula) reads back as it was."""
        text = np.char.strip(self.cells[:, column])
        for i in np.flatnonzero(np.char.startswith(text, "'")):
            text[i] = from_spreadsheet_cell(str(text[i]))
        words = np.isin(np.char.lower(text), MISSING_WORDS)
        others = np.unique(text[~words])
        if len(others) and not all(parse_number(str(cell)) is not None for cell in others):
            words &= text == ""  # text labels: only an empty cell is missing
        missing = np.flatnonzero(words)
        if len(missing):
            cell = str(text[missing[0]])
            what = f"{quoted(cell)}, a missing value" if cell else "empty"
            raise DataError(f"{self.path}:{self.lines[missing[0]]}: {self.column_name(column)} (the label) is {what}")
        return text

    def column_index(self, column: int | str, option: str = "label_column") -> int:
        """A column by index (negative from the end) or by its header name."""
        if isinstance(column, str):
            if self.names is None:
                raise ColumnError(self.path, option, f"{quoted(column)} is a name, but the file has no header line")
            if column not in self.names:
                raise ColumnError(self.path, option, f"no column named {quoted(column)} (has: {listing(self.names)})")
            return self.names.index(column)
        if not -self.width <= column < self.width:
            raise ColumnError(self.path, option, f"{column} is out of range (the file has {self.width} columns)")
        return column % self.width


def read_table(path: str | Path, delimiter: str = ",", header: bool | str = "auto", label_column: int | str = -1,
               expected_names: list[str] = ()) -> CsvTable:
    """Read a CSV file's data rows; skip a first line of another shape and a header (``auto``: detected, or a first
    row holding every one of ``expected_names``, the columns a run was trained on)."""
    path = existing(path)
    rows, lines = _rows(path, delimiter)
    class_names = None
    known = header is not False and _starts_with_known_names(rows, label_column, expected_names)
    if len(rows) >= 2 and not known and _first_line_is_foreign(rows):
        class_names = _sklearn_class_names(rows)
        if class_names is not None:
            log.info("%s:%d: skipped scikit-learn's first line %s (n_samples,n_features,class names)",
                        path, lines[0], quoted(",".join(rows[0])))
        else:
            log.info("%s:%d: skipped a first line of %d fields %s; the data rows have %d",
                        path, lines[0], len(rows[0]), quoted(",".join(rows[0])), len(rows[1]))
        rows, lines = rows[1:], lines[1:]
    if header == "auto":
        header = isinstance(label_column, str) or _starts_with_known_names(rows, label_column, expected_names) \
            or _looks_like_header(rows)
    names = [name.strip() for name in rows[0]] if header and rows else None
    header_line = lines[0] if names is not None else None
    if names is not None:
        rows, lines = rows[1:], lines[1:]
    if not rows:
        raise DataError(f"{path}: no data rows")
    width = len(rows[0])
    for row, line in zip(rows, lines):
        if len(row) != width:
            raise DataError(f"{path}:{line}: {len(row)} fields, expected {width} (as on line {lines[0]})")
    if names is not None:
        _check_header(path, header_line, names, width)
    _check_cell_widths(path, rows, lines)
    return CsvTable(path, np.array(rows, dtype=str), np.array(lines), names, class_names or None)


def _starts_with_known_names(rows: list[list[str]], label_column: int | str, expected_names: list[str]) -> bool:
    """A first row holding the label column's name or every one of a run's input names is the header: never a
    title line to skip, even when it has more names than the rows have cells (that is an error of its own)."""
    first = {cell.strip() for cell in rows[0]} if rows else set()
    return (isinstance(label_column, str) and label_column in first) or bool(expected_names and first >= set(expected_names))


def _check_header(path: Path, line: int, names: list[str], width: int) -> None:
    """One name per column, each name once: columns are found by name, so a name given twice (two empty ones too)
    would pick one of its columns by chance."""
    if len(names) != width:
        raise DataError(f"{path}:{line}: the header has {len(names)} names for {width} columns")
    seen: dict[str, int] = {}
    for column, name in enumerate(names):
        if name in seen:
            what = quoted(name) if name else "an empty name"
            raise DataError(f"{path}:{line}: the header has {what} twice (columns {seen[name] + 1} and {column + 1}); "
                            "give each column a name of its own")
        seen[name] = column


def _check_cell_widths(path: Path, rows: list[list[str]], lines: list[int]) -> None:
    """The table holds every cell at the longest cell's width (4 bytes a character): one long cell can make
    a small file need more memory than there is, which is said here with the cell's line, not by NumPy."""
    width = max(map(len, itertools.chain.from_iterable(rows)), default=0)  # C iterators: a small share of the parse
    cells = len(rows) * len(rows[0])
    if why := over_limit(cells * width * 4, f"{cells:,} cells stored at the width of the longest ({width:,} characters)"):
        line = next(line for row, line in zip(rows, lines) if width in map(len, row))
        raise DataError(f"{path}:{line}: {why}")


def _rows(path: Path, delimiter: str) -> tuple[list[list[str]], list[int]]:
    """Non-blank rows and the line each starts on."""
    rows, lines = [], []
    with reading(path, "CSV"), open_maybe_gzip(path) as raw:
        reader = csv.reader(io.TextIOWrapper(raw, encoding="utf-8-sig"), delimiter=delimiter, strict=True)
        line = 1
        try:
            for row in reader:
                if any(cell.strip() for cell in row):
                    rows.append(row)
                    lines.append(line)
                line = reader.line_num + 1
        except csv.Error as err:
            raise DataError(f"{path}:{line}: {_csv_problem(err)}") from None
    return rows, lines


def _csv_problem(err: csv.Error) -> str:
    """The csv module's complaint about a row in words: a quote the file never closes, a cell over its length limit."""
    if "unexpected end of data" in str(err):  # strict reading: the file ended inside a quoted cell
        return 'a quote (") opens a cell that no quote closes: the rest of the file would be that one cell'
    if "field limit" in str(err):
        return (f"a cell longer than {csv.field_size_limit():,} characters, the most a CSV cell may hold here "
                "(no number or name is that long: is a quote left open?)")
    return f"not a readable CSV file ({err})"


def _first_line_is_foreign(rows: list[list[str]]) -> bool:
    """A first line that is scikit-learn's, or of another width than the (consistent) rows after it."""
    if _sklearn_class_names(rows) is not None:
        return True
    width = len(rows[1])
    return len(rows[0]) != width and all(len(row) == width for row in rows[2:50])


def _sklearn_class_names(rows: list[list[str]]) -> list[str] | None:
    """scikit-learn's bundled CSVs start ``n_samples,n_features[,class names]``; return the names ([] if none)."""
    first = [cell.strip() for cell in rows[0]]
    if len(first) < 2 or not all(cell.isdigit() for cell in first[:2]):
        return None
    samples, features = int(first[0]), int(first[1])
    data_rows = len(rows) - 1
    if features != len(rows[-1]) - 1 or samples not in (data_rows, data_rows - 1):
        return None
    if any(_cell_problem(cell) is None for cell in first[2:]):
        return None  # numbers after the two counts: a data row that happens to match
    return [name for name in first[2:] if name]


def _looks_like_header(rows: list[list[str]]) -> bool:
    """A first row with text where the second row has a number (a text label column does not count)."""
    if not rows:
        return False
    if len(rows) == 1:
        return any(_cell_problem(cell) for cell in rows[0])
    return any(_is_text(a) and _cell_problem(b) is None for a, b in zip(rows[0], rows[1]))


def unusual_characters(cells: np.ndarray) -> np.ndarray:
    """Per cell: holds an underscore or a character beyond ASCII, which no plainly written number does; a pass
    over the cells' code points, block by block so a large file's temporary stays small."""
    found = np.zeros(cells.shape, dtype=bool)
    if cells.size == 0:
        return found
    for lo in range(0, len(cells), UNUSUAL_BLOCK_ROWS):
        codes = np.ascontiguousarray(cells[lo:lo + UNUSUAL_BLOCK_ROWS]).view(np.uint32)
        codes = codes.reshape(*codes.shape[:-1], cells.shape[-1], -1)
        found[lo:lo + UNUSUAL_BLOCK_ROWS] = ((codes == ord("_")) | (codes > 127)).any(axis=-1)
    return found


def parse_number(text: str) -> float | None:
    """The number a cell writes (nan and inf too), or None. Python's float() also reads digit groups and other
    scripts' digits ('1_5' as 15, '٣' as 3); a cell written so is not taken for a number here."""
    if "_" in text or not text.isascii():
        return None
    try:
        return float(text)
    except ValueError:
        return None


def _is_text(cell: str) -> bool:
    """A cell that is neither empty nor a number ('nan' and 'inf' count as numbers here)."""
    text = cell.strip()
    return bool(text) and parse_number(text) is None


def _cell_problem(cell: str) -> str | None:
    """Why a cell is not a usable number, or None (the cell quoted cut short: an error stays one readable line)."""
    text = cell.strip()
    if not text:
        return "the cell is empty"
    value = parse_number(text)
    if value is None:
        return f"{quoted(text)} is not a number"
    return None if np.isfinite(value) else f"{quoted(text)} is not a finite number"
