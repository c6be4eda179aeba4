"""Metrics of a network on a labelled split, as used per epoch and by `nnctl eval`."""

from __future__ import annotations

import numpy as np

from ..nn.metrics import confusion_matrix, confusion_metrics, predicted_classes, regression_metrics
from ..nn.network import INFERENCE_BATCH, Network

LOWER_IS_BETTER = ("cost", "error", "mse", "mae")


def evaluate(net: Network, x: np.ndarray, targets: np.ndarray, labels: np.ndarray | None, n_classes: int) -> dict:
    """Mean data cost (no penalty) plus accuracy/P/R/F1 or MSE/MAE, in inference mode."""
    pieces = ((x[i:i + INFERENCE_BATCH], targets[i:i + INFERENCE_BATCH]) for i in range(0, len(x), INFERENCE_BATCH))
    return evaluate_pieces(net, pieces, labels, n_classes, len(x), targets)


def evaluate_split(net: Network, split, n_classes: int) -> dict:
    """``evaluate`` for a prepared split, in memory or streamed from disk (its ``pieces``)."""
    return evaluate_pieces(net, split.pieces(INFERENCE_BATCH), split.labels, n_classes, len(split),
                           split.targets if split.labels is None else None)


def evaluate_pieces(net: Network, pieces, labels: np.ndarray | None, n_classes: int, m: int,
                    targets: np.ndarray | None = None) -> dict:
    """Metrics from (inputs, targets) pieces in the order of ``labels`` (or of ``targets``, all of them,
    for regression). Classification sums a confusion matrix piece by piece, so a streamed split
    never has its outputs or predictions in memory at once."""
    total, outputs, at = 0.0, [], 0
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    for xb, tb in pieces:
        z = net.forward(xb)
        total += net.loss.cost(z, tb) * len(z)
        out = net.loss.output(z)
        if labels is None:
            outputs.append(out)
        else:
            cm += confusion_matrix(labels[at:at + len(z)], predicted_classes(out), n_classes)
        at += len(z)
    metrics = {"cost": total / m}
    if labels is None:
        metrics.update(regression_metrics(targets, np.concatenate(outputs)))
    else:
        metrics.update(confusion_metrics(cm))
    return metrics


def confusion(net: Network, x: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    return confusion_matrix(labels, predicted_classes(net.predict(x)), n_classes)


def lower_is_better(metric: str) -> bool:
    return metric.rsplit("_", 1)[-1] in LOWER_IS_BETTER
