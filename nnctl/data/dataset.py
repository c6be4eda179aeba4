"""Containers for examples and splits, and the label convention they follow.

Classification labels are int64 class indices 0..C-1 of shape (m,), with the
original label values kept as strings in ``class_names``; regression targets are
float64 of shape (m, k). Multi-label ("multilabel": k independent binary tasks) are
float64 0/1 of shape (m, k) with NaN where a label is missing, ``class_names``
naming the tasks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import DataError


@dataclass
class Dataset:
    """Examples and labels; ``rows`` are their row numbers in the source (None: 0..m-1, the source itself)."""

    x: np.ndarray
    y: np.ndarray
    rows: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.x)

    def take(self, rows: np.ndarray) -> Dataset:
        source_rows = np.asarray(rows) if self.rows is None else self.rows[rows]
        return Dataset(self.x[rows], self.y[rows], source_rows)


@dataclass
class Splits:
    train: Dataset
    dev: Dataset
    test: Dataset
    train_dev: Dataset | None
    class_names: list[str]
    task: str  # "classification", "multilabel" or "regression"


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


def encode_labels(ys: list[np.ndarray], names: list[str] | None, where: str) -> tuple[str, list[np.ndarray], list[str]]:
    """Infer the task from the labels of all parts together and encode each part.

    ``names`` are class names declared by the source (e.g. HDF5 ``list_classes``);
    the labels must then already be indices into them.
    """
    if all(is_multilabel(y) for y in ys):
        k = 1 if ys[0].ndim == 1 else ys[0].shape[1]
        tasks = list(names) if names is not None and len(names) == k else [f"task{j + 1}" for j in range(k)]
        return "multilabel", [y.reshape(len(y), -1).astype(np.float64) for y in ys], tasks
    if names is None and not all(is_class_labels(y) for y in ys):
        return "regression", [y.reshape(len(y), -1).astype(np.float64) for y in ys], []
    if names is not None:
        if not all(is_class_labels(y) and y.dtype.kind in "iuf" for y in ys):
            raise DataError(f"{where}: labels are not integer class indices into its {len(names)} class names")
        encoded = [y.astype(np.int64) for y in ys]
        if any(len(y) and (y.min() < 0 or y.max() >= len(names)) for y in encoded):
            raise DataError(f"{where}: labels fall outside 0..{len(names) - 1} (its {len(names)} class names)")
        return "classification", encoded, list(names)
    values = np.unique(np.concatenate(ys))
    return "classification", [np.searchsorted(values, y).astype(np.int64) for y in ys], label_names(values)


def label_names(values: np.ndarray) -> list[str]:
    """Names for label values: whole numbers print without a decimal point."""
    if values.dtype.kind == "f":
        return [str(int(v)) for v in values]
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values.tolist()]


def indices_for_names(y: np.ndarray, class_names: list[str], where: str) -> np.ndarray:
    """Map a labelled file onto a trained model's classes: by name, else as indices."""
    y = y.reshape(-1) if y.ndim == 2 and y.shape[1] == 1 else y
    if not is_class_labels(y):
        raise DataError(f"{where}: labels are not integers or names, so they cannot be classes")
    names = label_names(y)
    lookup = {name: i for i, name in enumerate(class_names)}
    if all(name in lookup for name in names):
        return np.array([lookup[name] for name in names], dtype=np.int64)
    if y.dtype.kind in "iuf" and len(y) and 0 <= y.min() and y.max() < len(class_names):
        return y.astype(np.int64)
    unknown = sorted(set(names) - set(lookup))[:5]
    raise DataError(f"{where}: labels {unknown} are not among the model's classes {class_names}")
