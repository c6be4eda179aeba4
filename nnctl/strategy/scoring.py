"""Single-number evaluation (docs/explanation/algorithms.md#single-number-evaluation): weighted error, per-group error and its mean, two-class rates.

One entry point, `score`, turns a split's network outputs into the flat metric
dict that `eval` prints and records, `diagnose` decomposes and `select` ranks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import StrategyError
from ..nn.metrics import binary_error_rates, effective_size, group_errors, predicted_classes, roc_auc, weighted_error


@dataclass
class Scores:
    metrics: dict[str, float]  # error, accuracy, and when asked weighted_error, group_mean_error, fpr, fnr, roc_auc
    predictions: np.ndarray
    effective_examples: float | None = None  # of the weighted error, for its confidence interval
    groups: dict[str, dict] = field(default_factory=dict)  # group value → {"error", "examples"}


def parse_weights(text: str) -> dict[str, float]:
    """``'cat=1,unacceptable=10'`` → {"cat": 1.0, "unacceptable": 10.0}; weights must be positive."""
    weights = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = item.partition("=")
        try:
            weight = float(value)
        except ValueError:
            weight = float("nan")
        if not sep or not name.strip() or not weight > 0 or not np.isfinite(weight):
            raise StrategyError(f"--weights {text}: expected CLASS=POSITIVE_NUMBER pairs, e.g. 'cat=1,unacceptable=10'")
        weights[name.strip()] = weight
    if not weights:
        raise StrategyError(f"--weights {text!r}: no CLASS=WEIGHT pairs")
    return weights


def example_weights(labels: np.ndarray, class_names: list[str], weights: dict[str, float]) -> np.ndarray:
    """Each example's weight from its true class (classes not named weigh 1)."""
    unknown = sorted(set(weights) - set(class_names))
    if unknown:
        raise StrategyError(f"weights: no class {unknown[0]!r} in this run (classes: {', '.join(class_names)})")
    per_class = np.array([weights.get(name, 1.0) for name in class_names])
    return per_class[labels]


def check_threshold(threshold: float | None, n_outputs: int) -> None:
    if threshold is None:
        return
    if not 0 < threshold < 1:
        raise StrategyError(f"--threshold {threshold:g}: expected a number between 0 and 1")
    if n_outputs != 1:
        raise StrategyError(f"--threshold applies to a single sigmoid output; this model has {n_outputs} softmax outputs")


def score(labels: np.ndarray, outputs: np.ndarray, class_names: list[str], threshold: float | None = None,
          weights: dict[str, float] | None = None, groups: np.ndarray | None = None) -> Scores:
    """Metrics of class predictions; two classes add fpr, fnr and roc_auc (class 1 is the positive one)."""
    check_threshold(threshold, outputs.shape[1])
    predictions = predicted_classes(outputs, 0.5 if threshold is None else threshold)
    wrong = predictions != labels
    metrics = {"error": float(wrong.mean()), "accuracy": float(1 - wrong.mean())}
    scores = Scores(metrics, predictions)
    if weights:
        w = example_weights(labels, class_names, weights)
        metrics["weighted_error"] = weighted_error(labels, predictions, w)
        scores.effective_examples = effective_size(w)
    if groups is not None:
        per_group = group_errors(labels, predictions, groups)
        values, counts = np.unique(groups, return_counts=True)
        sizes = {str(value): int(count) for value, count in zip(values, counts)}
        scores.groups = {g: {"error": e, "examples": sizes[g]} for g, e in per_group.items()}
        metrics["group_mean_error"] = float(np.mean(list(per_group.values())))
    if len(class_names) == 2:
        metrics.update(binary_error_rates(labels, predictions))
        auc = roc_auc(labels, outputs[:, -1])  # P(class 1): the sigmoid unit, or the softmax's second column
        if np.isfinite(auc):
            metrics["roc_auc"] = auc
    return scores
