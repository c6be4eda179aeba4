"""Pictures of a regression run: predicted against actual values, and the residuals.

Values are in the units of the training file's targets (a run that standardized
its targets has them mapped back), on the very rows of one of the run's splits.
One panel per target, at most ``MAX_PANELS``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..data import Splits
from ..errors import PlotError
from ..orchestration.model import LoadedModel, split_data
from .figures import colour, new_figure
from .predictions import model_outputs

MAX_PANELS = 4


@dataclass
class Fitted:
    split: str
    actual: np.ndarray  # (m, k), the targets' units
    predicted: np.ndarray  # (m, k)
    targets: list[str]  # the targets' names


def fitted(model: LoadedModel, split: str, splits: Splits | None = None) -> Fitted:
    """The run's predictions on ``split`` beside the targets, both in the targets' units."""
    if model.checkpoint.task != "regression":
        raise PlotError(f"{model.path.parent}: predicted-against-actual and residual plots need a regression run; "
                        f"this one is {model.checkpoint.task}")
    data = split_data(model, split, splits)
    units = model.schema.to_units if model.schema is not None else np.asarray
    outputs = model_outputs(model, data.x)
    actual, predicted = units(data.y).reshape(len(data.y), -1), units(outputs).reshape(len(outputs), -1)
    names = model.schema.label_names if model.schema is not None and len(model.schema.label_names) == actual.shape[1] \
        else [f"y{j}" for j in range(actual.shape[1])]
    return Fitted(split, actual, predicted, names)


def _panels(found: Fitted, height: float = 4.0):
    k = min(found.actual.shape[1], MAX_PANELS)
    fig = new_figure(4.2 * k + 0.6, height)
    axes = np.atleast_1d(fig.subplots(1, k, squeeze=False)[0])
    return fig, axes


def fit_figure(found: Fitted, run_name: str):
    """Each prediction against its actual value, with the line ŷ = y on which a perfect model's points lie."""
    fig, axes = _panels(found)
    for j, ax in enumerate(axes):
        y, p = found.actual[:, j], found.predicted[:, j]
        low, high = float(min(y.min(), p.min())), float(max(y.max(), p.max()))
        ax.plot([low, high], [low, high], color="#888888", linestyle="--", linewidth=1, label="predicted = actual")
        ax.scatter(y, p, s=12, alpha=0.7, color=colour(j), edgecolors="none")
        ax.set_xlabel(f"actual {found.targets[j]}")
        ax.set_ylabel(f"predicted {found.targets[j]}")
        ax.legend(loc="upper left", fontsize="small")
    fig.suptitle(f"Predicted against actual: {run_name}\n{found.split} split, {len(found.actual)} examples")
    return fig


def residual_figure(found: Fitted, run_name: str):
    """Residuals ŷ − y against the prediction: a pattern (a slope, a funnel) is what the model has not learned."""
    fig, axes = _panels(found)
    for j, ax in enumerate(axes):
        residual = found.predicted[:, j] - found.actual[:, j]
        ax.axhline(0.0, color="#888888", linestyle="--", linewidth=1)
        ax.scatter(found.predicted[:, j], residual, s=12, alpha=0.7, color=colour(j), edgecolors="none")
        ax.set_xlabel(f"predicted {found.targets[j]}")
        ax.set_ylabel("residual (predicted − actual)")
    fig.suptitle(f"Residuals: {run_name}\n{found.split} split, {len(found.actual)} examples")
    return fig
