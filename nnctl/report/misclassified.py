"""A grid of the misclassified images of a split, most confidently wrong first (error analysis starts there)."""

from __future__ import annotations

import math

import numpy as np

from ..errors import PlotError
from .figures import new_figure, short_labels
from .predictions import SplitPredictions

PANEL_CHARS = 14  # a class name's longest label above one 1.5-inch image


def misclassified_rows(predictions: SplitPredictions, limit: int) -> np.ndarray:
    """Indices into the split of at most ``limit`` errors, by decreasing confidence in the wrong class."""
    wrong = np.flatnonzero(predictions.predicted != predictions.data.y)
    order = np.argsort(-predictions.confidence[wrong], kind="stable")
    return wrong[order[:limit]]


def errors_figure(predictions: SplitPredictions, class_names: list[str], run_name: str, limit: int = 36):
    x = predictions.data.x
    if x.ndim != 4 or x.shape[3] not in (1, 3):
        raise PlotError(f"{run_name}: a grid of misclassified images needs image inputs (H, W, 1 or 3); "
                        f"these inputs have shape {tuple(x.shape[1:])}")
    rows = misclassified_rows(predictions, limit)
    n_wrong = int(np.sum(predictions.predicted != predictions.data.y))
    cols = max(min(6, len(rows)), 1)
    lines = max(math.ceil(len(rows) / cols), 1)
    fig = new_figure(1.5 * cols + 0.4, 1.75 * lines + 1.1)
    axes = np.atleast_1d(fig.subplots(lines, cols, squeeze=False).ravel())
    low, high = float(x.min()), float(x.max())
    source_rows = predictions.data.rows if predictions.data.rows is not None else np.arange(len(x))
    names = short_labels(class_names, PANEL_CHARS)
    for ax in axes:
        ax.set_axis_off()
    for ax, i in zip(axes, rows):
        image = (x[i] - low) / (high - low or 1.0)
        ax.imshow(image[..., 0] if image.shape[2] == 1 else image, cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
        true, pred = names[predictions.data.y[i]], names[predictions.predicted[i]]
        arrow = " → " if len(true) + len(pred) <= PANEL_CHARS else "\n→ "  # long names: a line each
        ax.set_title(f"{true}{arrow}{pred} ({predictions.confidence[i]:.2f})\nrow {source_rows[i]}", fontsize="small")
    if not len(rows):
        axes[0].text(0.5, 0.5, "no misclassified examples", ha="center", va="center")
    fig.suptitle(f"Misclassified: {run_name}, {predictions.split} split ({len(rows)} of {n_wrong} errors "
                 f"in {len(x)} examples)")
    fig.supxlabel("true → predicted class (model's probability of its prediction); row in the source data set",
                  fontsize="small")
    return fig
