"""Metrics of a network on a labelled split, as used per epoch and by `nnctl eval`."""

from __future__ import annotations

import re

import numpy as np

from ..nn.metrics import (
    confusion_matrix,
    confusion_metrics,
    multilabel_metrics,
    predicted_classes,
    regression_metrics,
)
from ..nn.network import INFERENCE_BATCH, Network

LOWER_IS_BETTER = ("cost", "error", "mse", "rmse", "mae", "fpr", "fnr", "ms")
# The order `evaluate` reports metrics in; summaries list them the same way.
METRIC_ORDER = ("cost", "accuracy", "error", "precision", "recall", "f1", "mse", "rmse", "mae", "r2")


def evaluate(net: Network, x: np.ndarray, targets: np.ndarray, labels: np.ndarray | None, n_classes: int,
             tasks: list[str] | None = None, start: int = 0, threshold: float = 0.5) -> dict:
    """Mean data cost (no penalty) plus accuracy/P/R/F1 or MSE/MAE, in inference mode.

    Multi-label ``labels`` ((m, k) with NaN for missing) add per-task P/R/F1 named by ``tasks``.
    ``start`` > 0: ``x`` holds the outputs of the layers before ``start`` (``Network.features``).
    ``threshold`` turns a single sigmoid output into class 1 (softmax outputs take the argmax)."""
    return evaluate_outputs(net, x, targets, labels, n_classes, tasks, start, threshold, keep=False)[0]


def evaluate_outputs(net: Network, x: np.ndarray, targets: np.ndarray, labels: np.ndarray | None, n_classes: int,
                     tasks: list[str] | None = None, start: int = 0, threshold: float = 0.5,
                     keep: bool = True) -> tuple[dict, np.ndarray | None]:
    """``evaluate``, also returning the output activations (``keep``), for callers that score them further
    (the same forward pass as ``Network.predict``, so no second one is needed)."""
    pieces = ((x[i:i + INFERENCE_BATCH], targets[i:i + INFERENCE_BATCH]) for i in range(0, len(x), INFERENCE_BATCH))
    return _evaluate(net, pieces, len(x), targets, labels, n_classes, tasks, start, threshold, keep)


def evaluate_streamed(net: Network, split, n_classes: int) -> dict:
    """``evaluate`` for a split streamed from disk (``StreamedPrepared``), piece by piece in file order."""
    labels = split.labels
    return _evaluate(net, split.pieces(INFERENCE_BATCH), len(split), split.targets if labels is None else None,
                     labels, n_classes)[0]


def _evaluate(net: Network, pieces, m: int, targets: np.ndarray | None, labels: np.ndarray | None, n_classes: int,
              tasks: list[str] | None = None, start: int = 0, threshold: float = 0.5,
              keep_outputs: bool = False) -> tuple[dict, np.ndarray | None]:
    """The metrics over ``pieces`` ((inputs, targets) in row order, ``m`` rows in all), and the outputs
    when kept; ``targets`` (all of them) is needed for regression only.

    Classification sums a confusion matrix piece by piece, so unless asked the split's outputs and
    predictions are never in memory at once; regression and multi-label keep their (m, k) outputs.
    """
    keep = keep_outputs or labels is None or labels.ndim == 2
    total, outputs, at = 0.0, [], 0
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    for xb, tb in pieces:
        z = net.forward(xb, start=start)
        total += net.loss.cost(z, tb) * len(z)
        out = net.loss.output(z)
        if keep:
            outputs.append(out)
        if labels is not None and labels.ndim == 1:
            cm += confusion_matrix(labels[at:at + len(z)], predicted_classes(out, threshold), n_classes)
        at += len(z)
    metrics = {"cost": total / m}
    kept = np.concatenate(outputs) if keep and outputs else None
    if labels is None:
        metrics.update(regression_metrics(targets, kept))
    elif labels.ndim == 2:
        names = metric_suffixes(tasks or [f"task{j + 1}" for j in range(labels.shape[1])])
        metrics.update(multilabel_metrics(labels, kept, names))
    else:
        metrics.update(confusion_metrics(cm))
    return metrics, kept


def confusion(net: Network, x: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    return confusion_matrix(labels, predicted_classes(net.predict(x)), n_classes)


def metric_suffixes(tasks: list[str]) -> list[str]:
    """Task names as they appear in metric names (f1_<task>): letters, digits, '.', '-' and '_' only."""
    return [re.sub(r"[^A-Za-z0-9_.-]", "_", task) for task in tasks]


def lower_is_better(metric: str) -> bool:
    return metric.rsplit("_", 1)[-1] in LOWER_IS_BETTER
