"""A trained run's predictions on one of its splits, in the data's original coordinates.

The data come from `orchestration.model.split_data` (the very rows the run was
trained and evaluated on) and pass through the run's own normalizer, exactly as
`nnctl eval` and `nnctl predict` do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..data import Dataset, Splits
from ..errors import PlotError
from ..nn.metrics import predicted_classes
from ..orchestration.model import LoadedModel, split_data


@dataclass
class SplitPredictions:
    split: str
    data: Dataset  # raw examples and true class indices
    outputs: np.ndarray  # output activations A[L]
    predicted: np.ndarray  # class indices

    @property
    def confidence(self) -> np.ndarray:
        """The probability the model gives its own prediction (a sigmoid's p or 1 − p)."""
        if self.outputs.shape[1] == 1:
            p = self.outputs[:, 0]
            return np.where(self.predicted == 1, p, 1.0 - p)
        return self.outputs[np.arange(len(self.outputs)), self.predicted]

    @property
    def accuracy(self) -> float:
        return float(np.mean(self.predicted == self.data.y)) if len(self.predicted) else float("nan")


def require_classifier(model: LoadedModel, what: str) -> None:
    task = model.checkpoint.task
    if task != "classification":
        kind = ("multi-label: independent binary tasks (`nnctl eval` scores each)" if task == "multilabel"
                else "a regression")
        raise PlotError(f"{model.path.parent}: {what} needs a single-label classifier; this run is {kind}")


def model_outputs(model: LoadedModel, x_raw: np.ndarray) -> np.ndarray:
    """Output activations for raw (un-normalized) inputs, normalized as in training."""
    return model.net.predict(model.normalizer.apply(x_raw, dtype=model.net.dtype))


def predict_split(model: LoadedModel, split: str, what: str, splits: Splits | None = None) -> SplitPredictions:
    """Predictions of a classifier on ``split`` (of ``splits`` when already loaded); ``what`` names the picture in errors."""
    require_classifier(model, what)
    data = split_data(model, split, splits)
    outputs = model_outputs(model, data.x)
    return SplitPredictions(split, data, outputs, predicted_classes(outputs))
