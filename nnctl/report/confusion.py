"""Confusion matrices with class names, as counts or normalized over true or predicted classes."""

from __future__ import annotations

import numpy as np

from ..errors import PlotError
from ..nn.metrics import confusion_matrix
from .choices import Normalize
from .figures import SEQUENTIAL, new_figure, short_labels
from .predictions import SplitPredictions

NORMALIZE = tuple(Normalize)
ANNOTATE_UP_TO = 20  # classes; beyond that the cells are too small for numbers


def confusion_values(predictions: SplitPredictions, n_classes: int, normalize: str = "none") -> np.ndarray:
    """Rows true, columns predicted; "true" makes each row sum to 1 (recall on the diagonal),
    "pred" each column (precision on the diagonal); an empty row or column stays 0."""
    if normalize not in NORMALIZE:
        raise PlotError(f"--normalize {normalize}: expected one of {', '.join(NORMALIZE)}")
    counts = confusion_matrix(predictions.data.y, predictions.predicted, n_classes).astype(np.float64)
    if normalize == "none":
        return counts
    totals = counts.sum(axis=1, keepdims=True) if normalize == "true" else counts.sum(axis=0, keepdims=True)
    return np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)


def confusion_figure(predictions: SplitPredictions, class_names: list[str], run_name: str, normalize: str = "none"):
    values = confusion_values(predictions, len(class_names), normalize)
    n = len(class_names)
    size = min(3.5 + 0.45 * n, 12.0)
    fig = new_figure(size + 1.2, size)
    ax = fig.subplots()
    image = ax.imshow(values, cmap=SEQUENTIAL, vmin=0, vmax=1 if normalize != "none" else max(values.max(), 1))
    legend = {"none": "examples", "true": "fraction of the true class (rows sum to 1)",
              "pred": "fraction of the predicted class (columns sum to 1)"}[normalize]
    fig.colorbar(image, ax=ax, label=legend, shrink=0.8)
    labels = short_labels(class_names)
    ax.set_xticks(range(n), labels, rotation=90 if max(map(len, labels)) > 3 else 0)
    ax.set_yticks(range(n), labels)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    if n <= ANNOTATE_UP_TO:
        threshold = values.max() / 2
        for i in range(n):
            for j in range(n):
                text = f"{int(values[i, j])}" if normalize == "none" else f"{values[i, j]:.2f}"
                ax.text(j, i, text, ha="center", va="center", fontsize="small",
                        color="black" if values[i, j] > threshold else "white")
    ax.set_title(f"Confusion matrix: {run_name}\n{predictions.split} split, {len(predictions.predicted)} examples, "
                 f"accuracy {100 * predictions.accuracy:.1f} %")
    return fig
