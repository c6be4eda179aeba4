"""Decision regions of a classifier with 2-D inputs, in the data's original (un-normalized) coordinates.

The regions are the model's predictions at the centres of a regular grid and
are drawn cell by cell (pcolormesh, nearest shading): no contour interpolation,
so what the picture shows at a grid point is what `nnctl predict` says there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import PlotError
from ..nn.metrics import predicted_classes
from ..orchestration.model import LoadedModel
from .figures import MARKERS, colour, new_figure, short_labels
from .predictions import SplitPredictions, model_outputs, require_classifier

MARGIN = 0.1  # of the data's range, on every side


@dataclass
class DecisionGrid:
    xs: np.ndarray  # (nx,) grid x coordinates
    ys: np.ndarray  # (ny,)
    classes: np.ndarray  # (ny, nx) predicted class at (xs[j], ys[i])

    def points(self) -> np.ndarray:
        """The grid points, one row each, in the order of ``classes.ravel()``."""
        gx, gy = np.meshgrid(self.xs, self.ys)
        return np.column_stack([gx.ravel(), gy.ravel()])


def require_2d(model: LoadedModel) -> None:
    require_classifier(model, "a decision boundary")
    shape = tuple(model.net.input_shape)
    if shape != (2,):
        raise PlotError(f"{model.path.parent}: a decision boundary needs 2-D inputs; this run's inputs have shape {shape}")


def decision_grid(model: LoadedModel, x: np.ndarray, resolution: int = 200) -> DecisionGrid:
    """The model's classes on a resolution × resolution grid spanning ``x`` plus a margin."""
    require_2d(model)
    low, high = x.min(axis=0), x.max(axis=0)
    pad = MARGIN * np.where(high > low, high - low, 1.0)
    xs, ys = (np.linspace(low[k] - pad[k], high[k] + pad[k], resolution) for k in (0, 1))
    grid = DecisionGrid(xs, ys, np.empty((resolution, resolution), dtype=np.int64))
    grid.classes[...] = predicted_classes(model_outputs(model, grid.points())).reshape(resolution, resolution)
    return grid


def boundary_figure(model: LoadedModel, predictions: SplitPredictions, resolution: int = 200):
    """Decision regions with the split's examples over them (colour and marker shape per class)."""
    from matplotlib.colors import ListedColormap

    data, names = predictions.data, model.checkpoint.class_names
    grid = decision_grid(model, data.x, resolution)
    fig = new_figure(6.4, 5.4)
    ax = fig.subplots()
    cmap = ListedColormap([colour(c) for c in range(len(names))])
    ax.pcolormesh(grid.xs, grid.ys, grid.classes, shading="nearest", cmap=cmap, vmin=-0.5, vmax=len(names) - 0.5,
                  alpha=0.3, rasterized=True)
    for c, name in enumerate(short_labels(names)):
        mine = data.y == c
        wrong = int(np.sum(mine & (predictions.predicted != c)))
        ax.scatter(data.x[mine, 0], data.x[mine, 1], s=18, color=colour(c), marker=MARKERS[c % len(MARKERS)],
                   edgecolors="black", linewidths=0.4, label=f"class {name}: {int(mine.sum())} examples, {wrong} misclassified")
    ax.set_xlim(grid.xs[0], grid.xs[-1])
    ax.set_ylim(grid.ys[0], grid.ys[-1])
    ax.set_xlabel("x₁ (input units, before normalization)")
    ax.set_ylabel("x₂ (input units, before normalization)")
    ax.legend(fontsize="small", loc="best", title="shaded: predicted class", title_fontsize="small")
    ax.set_title(f"Decision regions: {model.path.parent.name}\n{predictions.split} split, "
                 f"accuracy {100 * predictions.accuracy:.1f} %")
    return fig
