"""Containers for examples and splits, and the label convention they follow.

Classification labels are int64 class indices 0..C-1 of shape (m,), with the
labels' text kept in ``class_names``; regression targets are
float64 of shape (m, k). Multi-label ("multilabel": k independent binary tasks) are
float64 0/1 of shape (m, k) with NaN where a label is missing, ``class_names``
naming the tasks.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np

from ..literal import listing, quoted
from .csv_table import parse_number
from .errors import DataError

LABELS_LISTED = 5  # labels named in one error, each with its line
_CODE = re.compile(r"[+-]?0\d")  # a leading zero: a code (zip, product), not a number


@dataclass(frozen=True)
class LabelOrigin:
    """Where a CSV file's labels were read, so that a bad label is reported at its file, line and column."""

    path: str
    column: str  # as CsvTable.column_name says it: "column 3 ('grade')"
    lines: np.ndarray  # the file line of each label

    def at(self, row: int) -> str:
        """'FILE:LINE: column N' of the label in ``row``."""
        return f"{self.path}:{self.lines[row]}: {self.column}"

    def take(self, rows: np.ndarray) -> LabelOrigin:
        return LabelOrigin(self.path, self.column, self.lines[rows])


@dataclass
class Dataset:
    """Examples and labels; ``rows`` are their row numbers in the source (None: 0..m-1, the source itself).

    When a split gathers rows from several parts (a source and its test file,
    several sources), ``part`` holds each row's part number (see the run's data
    record for the list of parts); None means part 0 throughout. ``label_origin``
    locates the labels a CSV file gave, until they are encoded.
    """

    x: np.ndarray
    y: np.ndarray
    rows: np.ndarray | None = None
    part: np.ndarray | None = None
    label_origin: LabelOrigin | None = None

    def __len__(self) -> int:
        return len(self.x)

    def source_rows(self) -> np.ndarray:
        return np.arange(len(self)) if self.rows is None else self.rows

    def parts(self, dtype=np.int64) -> np.ndarray:
        return np.zeros(len(self), dtype=dtype) if self.part is None else self.part.astype(dtype, copy=False)

    def take(self, rows: np.ndarray) -> Dataset:
        rows = np.asarray(rows, dtype=np.int64)
        source_rows = rows if self.rows is None else self.rows[rows]  # the same array as the index: no copy
        return Dataset(self.x[rows], self.y[rows], source_rows, None if self.part is None else self.part[rows])

    def as_part(self, number: int) -> Dataset:
        """The same examples labelled as part ``number``, rows counted from 0 (a part is a table of its own).

        Part 0 keeps ``rows`` and ``part`` None (their defaults), so a large single source carries no
        per-row arrays until a split takes its rows."""
        if number == 0:
            return Dataset(self.x, self.y)
        return Dataset(self.x, self.y, np.arange(len(self)), np.full(len(self), number, dtype=np.int64))


def concat(datasets: list[Dataset]) -> Dataset:
    """Examples of several parts in one Dataset, keeping each row's part and row number."""
    return Dataset(np.concatenate([d.x for d in datasets]), np.concatenate([d.y for d in datasets]),
                   np.concatenate([d.source_rows() for d in datasets]), np.concatenate([d.parts() for d in datasets]))


@dataclass
class Splits:
    train: Dataset
    dev: Dataset
    test: Dataset
    train_dev: Dataset | None
    class_names: list[str]
    task: str  # "classification", "multilabel" or "regression"
    parts: list = field(default_factory=list)  # PartInfo of each part the rows come from (see load.py)
    schema: object = None  # the InputSchema the inputs were read with (see schema.py)

    def named(self) -> dict[str, Dataset]:
        """The splits that exist, by name."""
        found = {"train": self.train, "dev": self.dev, "test": self.test, "train_dev": self.train_dev}
        return {name: split for name, split in found.items() if split is not None}


def is_class_labels(y: np.ndarray) -> bool:
    """Strings, booleans or whole numbers in one column are classes; anything else is a target.

    Text that is all numbers (a CSV label column) is read as those numbers: "0.5", "1.25" are targets."""
    if y.dtype.kind in "USO":
        values = exact_numbers(label_names(np.unique(y)))
        return values is None or all(v == v.to_integral_value() for v in values)
    if y.dtype.kind == "b":
        return True
    if y.ndim != 1 or y.dtype.kind not in "iuf":
        return False
    return bool(np.all(np.isfinite(y)) and np.all(y == np.round(y)))


def is_multilabel(y: np.ndarray) -> bool:
    """Several 0/1 label columns, or one with missing (NaN) labels: independent binary tasks."""
    if y.dtype.kind not in "iufb" or y.ndim not in (1, 2) or len(y) == 0:
        return False
    values = y.astype(np.float64)
    missing = np.isnan(values)
    several = y.ndim == 2 and y.shape[1] > 1
    return bool((several or missing.any()) and not missing.all() and np.all((values == 0) | (values == 1) | missing))


def encode_labels(ys: list[np.ndarray], names: list[str] | None, where: str, task: str | None = None,
                  origins: list[LabelOrigin | None] | None = None, indexed: bool = False) -> tuple[str, list[np.ndarray], list[str]]:
    """Infer the task from the labels of all parts together (unless ``task`` is given) and encode each part.

    ``names`` are class names the source declares (``classes:`` or e.g. HDF5
    ``list_classes``, then ``indexed``): labels are matched to them (see `indices_for_names`).
    Otherwise the distinct labels are the classes (see `classes_of`). Text that
    is all numbers reads as numbers: fractions make a regression, whole numbers
    classes unless ``task`` is regression; classification refuses fractions.
    ``origins`` (one per part, None for arrays) locate a bad label at its line.
    """
    origins = origins or [None] * len(ys)
    if task == "regression":
        return "regression", [regression_targets(y, where, origin) for y, origin in zip(ys, origins)], []
    class_like = all(is_class_labels(y) for y in ys)
    if task == "classification" and names is None and not class_like:
        raise DataError(f"{where}: the task is classification, but the labels are not class names or whole numbers")
    if all(is_multilabel(y) for y in ys):
        k = 1 if ys[0].ndim == 1 else ys[0].shape[1]
        tasks = list(names) if names is not None and len(names) == k else [f"task{j + 1}" for j in range(k)]
        return "multilabel", [y.reshape(len(y), -1).astype(np.float64) for y in ys], tasks
    if names is not None:
        return "classification", [indices_for_names(y, list(names), where, origin, indexed) for y, origin in zip(ys, origins)], list(names)
    if not class_like:
        return "regression", [regression_targets(y, where, origin) for y, origin in zip(ys, origins)], []
    encoded, class_names = classes_of(ys)
    return "classification", encoded, class_names


def classes_of(ys: list[np.ndarray]) -> tuple[list[np.ndarray], list[str]]:
    """Each part's labels as indices into the distinct labels of all parts, which name the classes.

    Labels that are all whole numbers are the numbers they write: 1, 1.0 and
    1e0 are class '1' (what a run of an earlier nnctl recorded, and what a
    float column written by pandas means), sorted by exact value (2 before 10;
    integers beyond 2**53 stay apart). Any other labels, codes with a leading
    zero among them (007, 01), are text: each written form is a class of its
    own, sorted as text.
    """
    found = [np.unique(y, return_index=True, return_inverse=True) for y in ys]
    texts = [label_names(distinct) for distinct, _, _ in found]
    written = sorted(set().union(*texts))
    numbers = {text: number_name(text) for text in written}
    if all(numbers.values()):
        texts = [[numbers[text] for text in part] for part in texts]
        names = sorted(set(numbers.values()), key=int)
    else:
        names = written
    index = {name: i for i, name in enumerate(names)}
    encoded = [np.array([index[t] for t in part], dtype=np.int64)[inverse.reshape(-1)] for part, (_, _, inverse) in zip(texts, found)]
    return encoded, names


def number_name(text: str) -> str | None:
    """The class a label written as a whole number names ('1' for 1, 1.0, +1 or 1e0), or None for text, fractions
    and codes with a leading zero (007 is a code, not seven)."""
    text = text.strip()
    if _CODE.match(text):
        return None
    values = exact_numbers([text])
    if values is None or values[0] != values[0].to_integral_value():
        return None
    return str(int(values[0]))


def label_names(values: np.ndarray) -> list[str]:
    """Names for label values: text as it is, whole numbers without a decimal point."""
    if values.dtype.kind == "f":
        return [str(int(v)) for v in values]
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values.tolist()]


def finite_number(text: str) -> float | None:
    """The value of a label written as a finite number, else None."""
    value = parse_number(text)
    return value if value is not None and math.isfinite(value) else None


def exact_numbers(texts: list[str]) -> list[Decimal] | None:
    """The exact values of labels all written as finite numbers, else None (one of them is text)."""
    if any(finite_number(text) is None for text in texts):
        return None
    try:
        return [Decimal(text) for text in texts]
    except ArithmeticError:  # a form float() reads and Decimal does not
        return None


def regression_targets(y: np.ndarray, where: str, origin: LabelOrigin | None = None) -> np.ndarray:
    """Labels as float64 targets of shape (m, k): text must be finite numbers ("100" and "100.0" are one
    value); the first that is not is a DataError at its line."""
    if y.dtype.kind in "iufb":
        return y.reshape(len(y), -1).astype(np.float64)
    distinct, first, inverse = np.unique(y, return_index=True, return_inverse=True)
    texts = label_names(distinct)
    values = [finite_number(text) for text in texts]
    bad = [i for i, value in enumerate(values) if value is None]
    if bad:
        i = min(bad, key=lambda i: first[i])
        place = origin.at(first[i]) if origin is not None else f"{where}: row {first[i]} (counted from 0)"
        raise DataError(f"{place}: {quoted(texts[i])} is not a finite number, so it cannot be a regression target")
    return np.array(values, dtype=np.float64)[inverse.reshape(-1)].reshape(len(y), 1)


def indices_for_names(y: np.ndarray, class_names: list[str], where: str, origin: LabelOrigin | None = None,
                      indexed: bool = False) -> np.ndarray:
    """Map labels onto known classes by name: as written, else as the whole number they write (1.0 is class
    '1'; the code 01 is not).

    Whole-number labels are indices into the names when the file's format
    says so (``indexed``: HDF5 ``list_classes``, scikit-learn's first line)
    or when no name is a number (``classes: [cat, dog]`` with labels 0 and 1).
    Otherwise they are names: one unknown label must not turn every label into
    an index, or classes 1, 2, 3 would read label 1 as class '2'.
    """
    y = y.reshape(-1) if y.ndim == 2 and y.shape[1] == 1 else y
    if y.dtype.kind not in "USO" and not is_class_labels(y):
        raise DataError(f"{where}: labels are not integers or names, so they cannot be classes")
    distinct, first, inverse = np.unique(y, return_index=True, return_inverse=True)
    texts = label_names(distinct)
    lookup = {name: i for i, name in enumerate(class_names)}
    by_number = {number_name(name): i for i, name in enumerate(class_names) if number_name(name) is not None}
    found = [lookup.get(text, by_number.get(number_name(text))) for text in texts]  # as written, else as the number
    unknown = sorted((i for i, index in enumerate(found) if index is None), key=lambda i: first[i])
    values = exact_numbers(texts)
    names_are_text = all(finite_number(name) is None for name in class_names)  # then no number label is a name
    if values is not None and ((indexed and y.dtype.kind in "iuf") or (unknown and names_are_text)):
        outside = [i for i in np.argsort(first) if not (values[i] == values[i].to_integral_value() and 0 <= values[i] < len(class_names))]
        if outside:
            raise DataError(f"{origin.path if origin else where}: labels fall outside 0..{len(class_names) - 1} (the "
                            f"{len(class_names)} classes {listing(class_names)}): {_listed(texts, outside, first, origin)}")
        indices = [int(value) for value in values]
    elif unknown:
        raise DataError(f"{origin.path if origin else where}: labels {_listed(texts, unknown, first, origin)} are not among "
                        f"the classes {listing(class_names)}")
    else:
        indices = found
    return np.array(indices, dtype=np.int64)[inverse.reshape(-1)]


def _listed(texts: list[str], picks: list[int], first: np.ndarray, origin: LabelOrigin | None) -> str:
    """The first few of the labels ``picks``, quoted, each with the line it is first on (for a CSV file)."""
    shown = [quoted(texts[i]) + (f" (line {origin.lines[first[i]]})" if origin is not None else "") for i in picks[:LABELS_LISTED]]
    more = f", … ({len(picks)} in all)" if len(picks) > LABELS_LISTED else ""
    return ", ".join(shown) + more + (f" in {origin.column}" if origin is not None else "")
