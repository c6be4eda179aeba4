"""Data as the network consumes it: normalized, in the run's dtype, with encoded targets.

The normalizer is fitted on the training split only and stored in every
checkpoint so that `eval` and `predict` apply exactly the same transform.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..data import Normalizer, Splits
from ..spec.schema import Spec
from .build import check_outputs, encode_targets


@dataclass
class Prepared:
    x: np.ndarray
    targets: np.ndarray
    labels: np.ndarray | None  # class indices (multi-label: the (m, k) 0/1/NaN matrix) for classification metrics

    def __len__(self) -> int:
        return len(self.x)


def prepare_split(split, normalizer: Normalizer, task: str, n_outputs: int, dtype) -> Prepared:
    x = np.ascontiguousarray(normalizer.apply(split.x, dtype=dtype))
    labels = split.y if task in ("classification", "multilabel") else None
    return Prepared(x, encode_targets(split.y, task, n_outputs, dtype), labels)


def fit_normalizer(spec: Spec, splits: Splits) -> Normalizer:
    norm = spec.data.normalize
    return Normalizer().fit(splits.train.x, norm.method, norm.scale)


def prepare_all(spec: Spec, splits: Splits, normalizer: Normalizer) -> dict[str, Prepared]:
    n_outputs = spec.model.layers[-1].units
    n_targets = 1 if splits.train.y.ndim == 1 else splits.train.y.shape[1]
    parts = (splits.train, splits.dev, splits.test, splits.train_dev)
    missing = splits.task == "multilabel" and any(part is not None and np.isnan(part.y).any() for part in parts)
    check_outputs(spec, splits.task, len(splits.class_names), n_targets, missing)
    named = {"train": splits.train, "dev": splits.dev, "test": splits.test, "train_dev": splits.train_dev}
    return {
        name: prepare_split(split, normalizer, splits.task, n_outputs, spec.precision)
        for name, split in named.items()
        if split is not None and len(split) > 0
    }
