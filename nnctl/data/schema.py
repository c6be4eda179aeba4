"""A run's input contract: how it read its training file, so that every new file is read the same way.

A run records (in data.h5) which columns of its CSV file were inputs, in which
order, which were the label, ids or ignored, the header and delimiter, the
input shape, the task and the label's name, and the fill values of missing
inputs. `predict` and `eval --data` read new files through it: with a header,
columns are matched by name (any order; a missing input column is an error
naming it, extra columns get one note); without one, by position, and only when
the number of columns says which they are. Nothing the run knows has to be
repeated on the command line; an explicit option still overrides.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import numpy as np

from ..literal import listing, quoted
from .csv_table import CSV_SUFFIXES, CsvTable, read_table
from .errors import DataError

log = logging.getLogger("nnctl.data")
KINDS = ("csv", "arrays")
LISTED = 8  # column names an error lists before '...'


@dataclass(frozen=True)
class Roles:
    """What each column of a CSV table is, as 0-based column numbers (inputs in input order)."""

    features: list[int]
    labels: list[int]
    ids: list[int] = field(default_factory=list)
    ignored: list[int] = field(default_factory=list)
    several: bool = False  # label_columns (multi-task, missing labels allowed), not label_column


def column_roles(table: CsvTable, label_column: int | str | list[int | str] = -1, ignore: list[int | str] = (),
                 ids: list[int | str] = ()) -> Roles:
    """Label, id and ignored columns as a source names them; every other column is an input."""
    many = isinstance(label_column, list)
    labels = [table.column_index(c, "label_columns" if many else "label_column") for c in (label_column if many else [label_column])]
    ignored = [table.column_index(c, "ignore_columns") for c in ignore]
    id_columns = [table.column_index(c, "id_columns") for c in ids]
    if len(set(labels)) != len(labels):
        raise DataError(f"{table.path}: label_columns {label_column} name a column twice")
    for option, columns in (("ignore_columns", ignored), ("id_columns", id_columns)):
        taken = set(columns) & set(labels)
        if taken:
            raise DataError(f"{table.path}: {option} names the label column {table.column_name(min(taken))}")
    both = set(ignored) & set(id_columns)
    if both:
        raise DataError(f"{table.path}: {table.column_name(min(both))} is in both ignore_columns and id_columns")
    features = [j for j in range(table.width) if j not in set(labels) | set(ignored) | set(id_columns)]
    if not features:
        raise DataError(f"{table.path}: only label{'s' * many}, id and ignored columns, no feature columns")
    return Roles(features, labels, id_columns, ignored, many)


@dataclass
class InputSchema:
    """The input contract of a run (see the module docstring); ``csv`` fields are empty for array sources."""

    kind: str  # "csv" or "arrays" (digits, generated, npz, HDF5, IDX)
    input_shape: list[int] = field(default_factory=list)
    task: str = "classification"
    label_names: list[str] = field(default_factory=list)  # the label column(s) or regression target(s)
    columns: list[str] | None = None  # csv: the training file's header, None without one
    width: int = 0  # csv: columns in the training file
    features: list[int] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    ids: list[int] = field(default_factory=list)
    ignored: list[int] = field(default_factory=list)
    header: bool = False
    delimiter: str = ","
    missing: dict | None = None  # {"strategy": ..., "fill": per-input values or None}
    target: dict | None = None  # regression targets standardized: {"shift": [μ per target], "divisor": [σ per target]}

    @classmethod
    def for_table(cls, table: CsvTable, roles: Roles, delimiter: str) -> InputSchema:
        names = [table.column_name(j) if table.names is None else table.names[j] for j in roles.labels]
        return cls("csv", label_names=names, columns=table.names, width=table.width, features=roles.features,
                   labels=roles.labels, ids=roles.ids, ignored=roles.ignored, header=table.names is not None,
                   delimiter=delimiter)

    def name(self, column: int) -> str:
        """A training column as people know it: its header name, else 'column N'."""
        return self.columns[column] if self.columns else f"column {column + 1}"

    def to_units(self, values: np.ndarray) -> np.ndarray:
        """Targets or outputs in the units of the training file: standardized values mapped back (float64)."""
        values = np.asarray(values, dtype=np.float64)
        if self.target is None:
            return values
        return values * np.asarray(self.target["divisor"]) + np.asarray(self.target["shift"])

    def standardized(self, y: np.ndarray) -> np.ndarray:
        """Targets (m, k) as the network learns them: standardized when the run standardizes its targets."""
        if self.target is None:
            return y
        return (np.asarray(y, dtype=np.float64) - np.asarray(self.target["shift"])) / np.asarray(self.target["divisor"])

    def to_record(self) -> dict:
        return asdict(self)

    @classmethod
    def from_record(cls, value: dict) -> InputSchema:
        """The schema as data.h5 holds it, every field checked; ValueError names the first bad one."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(value) - known)
        if unknown:
            raise ValueError(f"unknown field '{unknown[0]}'")
        schema = cls(**{key: value[key] for key in known if key in value}) if "kind" in value else None
        if schema is None or schema.kind not in KINDS:
            raise ValueError("no kind (csv or arrays)")
        _check(schema)
        return schema

    def describe(self) -> dict:
        """What `runs show`, `spec show` and the report print: names, not column numbers (values as they are;
        the callers write them for people)."""
        facts = {"reads": self.kind, "input_shape": self.input_shape, "task": self.task,
                 "label" if len(self.label_names) == 1 else "labels": ", ".join(self.label_names)}
        if self.kind == "csv":
            facts |= {"inputs": ", ".join(self.name(j) for j in self.features),
                      "id_columns": ", ".join(self.name(j) for j in self.ids) or "none",
                      "ignored": ", ".join(self.name(j) for j in self.ignored) or "none",
                      "header": self.header, "delimiter": self.delimiter}
        if self.missing:
            facts["missing"] = self.missing["strategy"]
        return facts


def _check(schema: InputSchema) -> None:
    def integers(name: str, high: int | None = None) -> None:
        value = getattr(schema, name)
        if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value):
            raise ValueError(f"'{name}' is not a list of column numbers")
        if high is not None and any(v >= high for v in value):
            raise ValueError(f"'{name}' names a column beyond the {high} recorded")

    def texts(name: str) -> None:
        value = getattr(schema, name)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"'{name}' is not a list of names")

    integers("input_shape")
    texts("label_names")
    if schema.task not in ("classification", "multilabel", "regression"):
        raise ValueError(f"'task' is {schema.task!r}")
    if schema.columns is not None:
        texts("columns")
    if schema.kind == "csv":
        if isinstance(schema.width, bool) or not isinstance(schema.width, int) or schema.width < 1:
            raise ValueError(f"'width' is {schema.width!r}, not a number of columns")
        if schema.columns is not None and len(schema.columns) != schema.width:
            raise ValueError(f"'columns' names {len(schema.columns)} of {schema.width} columns")
        for name in ("features", "labels", "ids", "ignored"):
            integers(name, schema.width)
        if not schema.features:
            raise ValueError("'features' is empty")
    if not isinstance(schema.header, bool) or not isinstance(schema.delimiter, str) or len(schema.delimiter) != 1:
        raise ValueError("'header' or 'delimiter' is not a reader setting")
    target = schema.target
    if target is not None:
        pairs = [target.get(key) for key in ("shift", "divisor")] if isinstance(target, dict) else [None, None]
        if not all(isinstance(v, list) and v and all(isinstance(x, (int, float)) and np.isfinite(x) for x in v) for v in pairs) \
                or len(pairs[0]) != len(pairs[1]) or min(pairs[1]) <= 0:
            raise ValueError("'target' is not a standardization (shift and positive divisor per target)")
    missing = schema.missing
    if missing is not None:
        if not isinstance(missing, dict) or missing.get("strategy") not in ("drop_rows", "mean", "median", "constant"):
            raise ValueError("'missing' has no strategy")
        fill = missing.get("fill")
        if fill is not None and (not isinstance(fill, list) or not all(isinstance(v, (int, float)) and np.isfinite(v) for v in fill)):
            raise ValueError("'missing' fill values are not finite numbers")


@dataclass
class Located:
    """Where the run's columns are in a new table (0-based); ``labels`` is None when the table has none."""

    features: list[int]
    labels: list[int] | None
    ids: list[int]
    id_names: list[str]


@dataclass
class Overrides:
    """What the command line says about a new file, overriding the run's record (None: as recorded)."""

    header: bool | str | None = None
    delimiter: str | None = None
    label_column: int | str | None = None
    ignore_columns: list[int | str] = field(default_factory=list)


def read_new_table(schema: InputSchema, path: Path, overrides: Overrides) -> CsvTable:
    """A new CSV file read with the run's delimiter; its header is detected, or recognized by the run's column names."""
    header = "auto" if overrides.header is None else overrides.header
    names = [schema.name(j) for j in schema.features] if schema.columns else []
    delimiter = overrides.delimiter or ("\t" if Path(path).name.lower().endswith(".tsv") else schema.delimiter)
    return read_table(path, delimiter, header, expected_names=names)


def locate(schema: InputSchema, table: CsvTable, overrides: Overrides, need_labels: bool) -> Located:
    """The run's input, label and id columns in ``table``: by name when both have a header, else by position."""
    if schema.columns is not None and table.names is not None:
        return _by_name(schema, table, overrides, need_labels)
    return _by_position(schema, table, overrides, need_labels)


def _by_name(schema: InputSchema, table: CsvTable, overrides: Overrides, need_labels: bool) -> Located:
    where = {name: j for j, name in enumerate(table.names)}
    absent = [schema.name(j) for j in schema.features if schema.name(j) not in where]
    if absent:
        raise DataError(f"{table.path}: no column{'s' * (len(absent) > 1)} {_listed(absent)}, which the run takes as "
                        f"input{'s' * (len(absent) > 1)} (its inputs: {_listed([schema.name(j) for j in schema.features])})")
    features = [where[schema.name(j)] for j in schema.features]
    if overrides.label_column is not None:
        labels = [table.column_index(overrides.label_column, "--label-column")]
    else:
        labels = [where[schema.name(j)] for j in schema.labels] if all(schema.name(j) in where for j in schema.labels) else None
    if labels is None and need_labels:
        raise DataError(f"{table.path}: no label column {_listed([schema.name(j) for j in schema.labels])} "
                        "(name the file's label column with --label-column)")
    ids = [where[schema.name(j)] for j in schema.ids if schema.name(j) in where]
    known = set(features) | set(labels or ()) | set(ids) | {where[schema.name(j)] for j in schema.ignored if schema.name(j) in where}
    known |= {table.column_index(c, "ignore_columns") for c in overrides.ignore_columns}
    extra = [table.names[j] for j in range(table.width) if j not in known]
    if extra:
        log.info("%s: ignored %d column%s the run does not use: %s", table.path, len(extra), "s" * (len(extra) > 1), _listed(extra))
    return Located(features, labels, ids, [table.names[j] for j in ids])


def _by_position(schema: InputSchema, table: CsvTable, overrides: Overrides, need_labels: bool) -> Located:
    """A headerless file (or a run without a header): the training layout, that layout without its label columns,
    or the input columns alone."""
    dropped = {table.column_index(c, "ignore_columns") for c in overrides.ignore_columns}
    kept = [j for j in range(table.width) if j not in dropped]
    unlabelled = [j for j in range(schema.width) if j not in schema.labels]
    if overrides.label_column is not None:
        label = table.column_index(overrides.label_column, "--label-column")
        kept = [j for j in kept if j != label]
        columns, labels = (unlabelled, [label]) if len(kept) == len(unlabelled) else (None, None)
    elif len(kept) == schema.width:
        columns, labels = list(range(schema.width)), [kept[j] for j in schema.labels]
    elif len(kept) == len(unlabelled) and not need_labels:
        columns, labels = unlabelled, None
    elif len(kept) == len(schema.features) and not need_labels:  # the inputs alone
        return Located(kept, None, [], [])
    else:
        columns = None
    if columns is None:
        without = "" if need_labels else f" ({len(unlabelled)} without the label, {len(schema.features)} inputs only)"
        raise DataError(f"{table.path}: {len(kept)} columns, but the run reads {schema.width}{without}: "
                        f"{_listed([schema.name(j) for j in range(schema.width)])}; give the file a header row "
                        "to match columns by name")
    at = {column: kept[k] for k, column in enumerate(columns)}
    return Located([at[j] for j in schema.features], labels, [at[j] for j in schema.ids], [schema.name(j) for j in schema.ids])


def _listed(names: list[str]) -> str:
    return listing([quoted(name) for name in names], LISTED)


def inputs_of(schema: InputSchema, table: CsvTable, located: Located) -> np.ndarray:
    """The input columns as numbers; missing values filled as the run fills them, or counted in one error."""
    strategy = (schema.missing or {}).get("strategy")
    fills = strategy in ("mean", "median", "constant")
    hint = ("fill them in the file: this run was trained without data.missing" if strategy is None else
            "fill them in the file: this run drops rows with missing values (data.missing: drop_rows), so it has no fill values")
    x = table.numbers(located.features, allow_missing=fills, hint=hint)
    if fills:
        x = fill_missing(x, np.asarray(schema.missing["fill"], dtype=np.float64))
    return x


def fill_missing(x: np.ndarray, fill: np.ndarray) -> np.ndarray:
    """``x`` with each NaN replaced by its column's fill value (a new array when anything is missing)."""
    missing = np.isnan(x)
    return np.where(missing, fill.reshape((1,) + x.shape[1:]), x) if missing.any() else x


def fit_fill(x_train: np.ndarray, strategy: str, value: float, where: str) -> np.ndarray:
    """Per-input fill values from the training split only: its mean, median or a constant."""
    if strategy == "constant":
        return np.full(x_train.shape[1:], float(value))
    flat = x_train.reshape(len(x_train), -1)
    empty = np.flatnonzero(np.isnan(flat).all(axis=0))
    if len(empty):
        raise DataError(f"{where}: input {int(empty[0]) + 1} has no value in the training split, so its "
                        f"{strategy} is undefined (data.missing: constant fills it)")
    values = np.nanmean(flat, axis=0) if strategy == "mean" else np.nanmedian(flat, axis=0)
    return values.reshape(x_train.shape[1:])


def fit_target(y_train: np.ndarray) -> dict:
    """μ and σ of each regression target over the training split (σ 0 becomes 1), as the schema stores them."""
    y = np.asarray(y_train, dtype=np.float64).reshape(len(y_train), -1)
    sigma = y.std(axis=0)
    return {"shift": y.mean(axis=0).tolist(), "divisor": np.where(sigma == 0, 1.0, sigma).tolist()}


def with_task(schema: InputSchema | None, input_shape, task: str, label_names: list[str]) -> InputSchema:
    """The schema completed with what is known once every part is read (the arrays kind for non-CSV sources)."""
    schema = schema or InputSchema("arrays")
    return replace(schema, input_shape=[int(n) for n in input_shape], task=task,
                   label_names=schema.label_names or label_names)



def ids_of_rows(schema: InputSchema, parts: list, part: np.ndarray, row: np.ndarray) -> dict[str, np.ndarray]:
    """The id columns' values (text) of examples given as (part, row), read again from each part's CSV file;
    a part without the id columns (a second source of another layout) gives empty ids and one note.
    ``parts`` are the run's PartInfo."""
    values = np.full((len(row), len(schema.ids)), "", dtype=object)
    for number in np.unique(part).tolist():
        files = parts[number].files
        if not files:
            continue
        found = _ids_of_part(schema, Path(files[0].path))
        if found is None:
            log.info("%s: no id column %s in the run's layout, so its rows have empty ids", parts[number].where(),
                     _listed([schema.name(j) for j in schema.ids]))
            continue
        mine = part == number
        values[mine] = found[row[mine]]
    return {schema.name(j): values[:, k].astype(str) for k, j in enumerate(schema.ids)}


def _ids_of_part(schema: InputSchema, path: Path) -> np.ndarray | None:
    """The id cells (stripped) of a part's rows as training counted them, the columns found as `locate` finds
    a new file's: by name when both files have a header, else by position in the training layout; None when
    the file does not have them (or is not a CSV file)."""
    if not path.name.lower().endswith(CSV_SUFFIXES):
        return None
    # header auto, as a source reads unless told: a part may have a header when the main file has none, or not
    table = read_table(path, schema.delimiter, "auto", expected_names=[schema.name(j) for j in schema.features])
    if schema.columns is not None and table.names is not None:
        where = {name: j for j, name in enumerate(table.names)}
        ids = [where.get(schema.name(j)) for j in schema.ids]
        features = [where.get(schema.name(j)) for j in schema.features]
    elif table.width == schema.width:
        ids, features = schema.ids, schema.features
    else:
        return None
    drops = (schema.missing or {}).get("strategy") == "drop_rows"  # the part's rows count the rows kept
    if None in ids or (drops and None in features):
        return None
    cells = np.char.strip(table.cells[:, ids])
    return cells[~np.isnan(table.numbers(features, allow_missing=True)).any(axis=1)] if drops else cells
