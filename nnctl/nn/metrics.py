"""Classification and regression metrics (docs/algorithms.md, "Metrics").

Predictions for classification are class indices: argmax of a softmax output,
or ``a >= 0.5`` of a single sigmoid unit.  Precision, recall and F1 are those
of class 1 for two classes and macro averages otherwise; a ratio whose
denominator is zero counts as 0.
"""

from __future__ import annotations

import numpy as np


def predicted_classes(outputs: np.ndarray) -> np.ndarray:
    if outputs.shape[1] == 1:
        return (outputs[:, 0] >= 0.5).astype(np.int64)
    return outputs.argmax(axis=1)


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Rows are true classes, columns predicted ones."""
    return np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def _ratio(num, den):
    return np.divide(num, den, out=np.zeros_like(num, dtype=np.float64), where=den > 0)


def f1_score(precision, recall):
    """Harmonic mean 2PR/(P+R), 0 when both are 0."""
    return _ratio(2 * np.asarray(precision, float) * recall, np.asarray(precision, float) + recall)


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> dict[str, float]:
    return confusion_metrics(confusion_matrix(y_true, y_pred, n_classes))


def confusion_metrics(cm: np.ndarray) -> dict[str, float]:
    """Accuracy, error, P, R, F1 from a confusion matrix (so it can be summed over pieces of a split)."""
    n_classes = len(cm)
    tp = np.diag(cm).astype(np.float64)
    precision = _ratio(tp, cm.sum(axis=0))
    recall = _ratio(tp, cm.sum(axis=1))
    f1 = f1_score(precision, recall)
    pick = (lambda v: float(v[1])) if n_classes == 2 else (lambda v: float(v.mean()))
    accuracy = float(tp.sum() / max(cm.sum(), 1))
    return {
        "accuracy": accuracy,
        "error": 1.0 - accuracy,
        "precision": pick(precision),
        "recall": pick(recall),
        "f1": pick(f1),
    }


def regression_metrics(y_true: np.ndarray, outputs: np.ndarray) -> dict[str, float]:
    diff = outputs - y_true
    return {"mse": float(np.mean(diff**2)), "mae": float(np.mean(np.abs(diff)))}
