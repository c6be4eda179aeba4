"""Containers for examples and splits, and the label convention they follow.

Classification labels are int64 class indices 0..C-1 of shape (m,), with the
original label values kept as strings in ``class_names``; regression targets are
float64 of shape (m, k). Multi-label ("multilabel": k independent binary tasks) are
float64 0/1 of shape (m, k) with NaN where a label is missing, ``class_names``
naming the tasks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..literal import listing, quoted
from .errors import DataError


@dataclass
class Dataset:
    """Examples and labels; ``rows`` are their row numbers in the source (None: 0..m-1, the source itself).

    When a split gathers rows from several parts (a source and its test file,
    several sources), ``part`` holds each row's part number (see the run's data
    record for the list of parts); None means part 0 throughout.
    """

    x: np.ndarray
    y: np.ndarray
    rows: np.ndarray | None = None
    part: np.ndarray | None = None

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
    """Strings, booleans or whole numbers in one column are classes; anything else is a target."""
    if y.dtype.kind in "USOb":
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


def encode_labels(ys: list[np.ndarray], names: list[str] | None, where: str,
                  task: str | None = None) -> tuple[str, list[np.ndarray], list[str]]:
    """Infer the task from the labels of all parts together (unless ``task`` is given) and encode each part.

    ``names`` are class names the source declares (``classes:`` or e.g. HDF5
    ``list_classes``): labels are then either those names or indices into them.
    Otherwise the distinct label values, sorted, are the classes. ``task``
    regression reads whole numbers as targets; classification refuses fractions.
    """
    if task == "regression":
        if not all(y.dtype.kind in "iufb" for y in ys):
            raise DataError(f"{where}: the task is regression, but the labels are not all numbers")
        return "regression", [y.reshape(len(y), -1).astype(np.float64) for y in ys], []
    if task == "classification" and names is None and not all(is_class_labels(y) for y in ys):
        raise DataError(f"{where}: the task is classification, but the labels are not class names or whole numbers")
    if all(is_multilabel(y) for y in ys):
        k = 1 if ys[0].ndim == 1 else ys[0].shape[1]
        tasks = list(names) if names is not None and len(names) == k else [f"task{j + 1}" for j in range(k)]
        return "multilabel", [y.reshape(len(y), -1).astype(np.float64) for y in ys], tasks
    if names is None and not all(is_class_labels(y) for y in ys):
        return "regression", [y.reshape(len(y), -1).astype(np.float64) for y in ys], []
    if names is not None:
        if not all(is_class_labels(y) for y in ys):
            raise DataError(f"{where}: labels are not class names or integer indices into its {len(names)} class names")
        return "classification", [indices_for_names(y, list(names), where) for y in ys], list(names)
    values = np.unique(np.concatenate(ys))
    return "classification", [np.searchsorted(values, y).astype(np.int64) for y in ys], label_names(values)


def label_names(values: np.ndarray) -> list[str]:
    """Names for label values: whole numbers print without a decimal point."""
    if values.dtype.kind == "f":
        return [str(int(v)) for v in values]
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values.tolist()]


def indices_for_names(y: np.ndarray, class_names: list[str], where: str) -> np.ndarray:
    """Map labels onto known classes: by name, else (whole numbers) as indices into the names."""
    y = y.reshape(-1) if y.ndim == 2 and y.shape[1] == 1 else y
    if not is_class_labels(y):
        raise DataError(f"{where}: labels are not integers or names, so they cannot be classes")
    names = label_names(y)
    lookup = {name: i for i, name in enumerate(class_names)}
    if all(name in lookup for name in names):
        return np.array([lookup[name] for name in names], dtype=np.int64)
    if y.dtype.kind in "iuf" and len(y) and 0 <= y.min() and y.max() < len(class_names):
        return y.astype(np.int64)
    if y.dtype.kind in "iuf":
        raise DataError(f"{where}: labels fall outside 0..{len(class_names) - 1} (the {len(class_names)} classes "
                        f"{', '.join(class_names)})")
    unknown = sorted(set(names) - set(lookup))
    listed = ", ".join(map(quoted, unknown[:5])) + (", ..." if len(unknown) > 5 else "")
    raise DataError(f"{where}: labels {listed} are not among the classes {listing(class_names)}")
