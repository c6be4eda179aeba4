"""Metrics of a network on a labelled split, as used per epoch and by `nnctl eval`."""

from __future__ import annotations

import numpy as np

from ..nn.metrics import classification_metrics, confusion_matrix, predicted_classes, regression_metrics
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
    for regression): only class predictions are kept for classification, so a streamed split never
    has all its outputs in memory."""
    total, kept = 0.0, []
    for xb, tb in pieces:
        z = net.forward(xb)
        total += net.loss.cost(z, tb) * len(z)
        out = net.loss.output(z)
        kept.append(out if labels is None else predicted_classes(out))
    metrics = {"cost": total / m}
    if labels is None:
        metrics.update(regression_metrics(targets, np.concatenate(kept)))
    else:
        metrics.update(classification_metrics(labels, np.concatenate(kept), n_classes))
    return metrics


def confusion(net: Network, x: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    return confusion_matrix(labels, predicted_classes(net.predict(x)), n_classes)


def lower_is_better(metric: str) -> bool:
    return metric.rsplit("_", 1)[-1] in LOWER_IS_BETTER
