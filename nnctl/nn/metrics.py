"""Classification and regression metrics (docs/explanation/algorithms.md#metrics).

Predictions for classification are class indices: argmax of a softmax output,
or ``a >= threshold`` (0.5 unless asked) of a single sigmoid unit.  Precision, recall and F1 are those
of class 1 for two classes and macro averages otherwise; a ratio whose
denominator is zero counts as 0.
"""

from __future__ import annotations

import numpy as np


def predicted_classes(outputs: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    if outputs.shape[1] == 1:
        return (outputs[:, 0] >= threshold).astype(np.int64)
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


# ---------------------------------------------------------------- single-number metrics (ML strategy)


def weighted_error(y_true: np.ndarray, y_pred: np.ndarray, weights: np.ndarray) -> float:
    """Σ w·1[ŷ ≠ y] / Σ w: the notes' error with must-not-miss examples weighted up."""
    weights = np.asarray(weights, dtype=np.float64)
    return float(weights @ (y_true != y_pred) / weights.sum())


def effective_size(weights: np.ndarray) -> float:
    """Kish's (Σw)² / Σw²: how many equally weighted examples a weighted mean is worth."""
    weights = np.asarray(weights, dtype=np.float64)
    return float(weights.sum() ** 2 / (weights @ weights))


def group_errors(y_true: np.ndarray, y_pred: np.ndarray, groups: np.ndarray) -> dict[str, float]:
    """Error within each group (keys are the group values as text, sorted)."""
    wrong = y_true != y_pred
    return {str(g): float(wrong[groups == g].mean()) for g in np.unique(groups)}


def binary_error_rates(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """False-positive rate FP/(FP+TN) and false-negative rate FN/(FN+TP), class 1 positive; 0 without negatives/positives."""
    cm = confusion_matrix(y_true, y_pred, 2).astype(np.float64)
    (tn, fp), (fn, tp) = cm
    return {"fpr": float(_ratio(np.float64(fp), np.float64(fp + tn))), "fnr": float(_ratio(np.float64(fn), np.float64(fn + tp)))}


def roc_auc(y_true: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve, exactly: the Mann–Whitney statistic with tied scores counting ½.

    AUC = (R₊ − n₊(n₊+1)/2) / (n₊·n₋), R₊ the sum of the positives' ranks among all
    scores (ties sharing their average rank). NaN when one class is absent.
    """
    y_true = np.asarray(y_true)
    scores = np.asarray(scores, dtype=np.float64)
    n_pos = int((y_true == 1).sum())
    n_neg = len(y_true) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(scores, kind="stable")
    sorted_scores = scores[order]
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    ends = np.r_[starts[1:], len(scores)]
    average_rank = (starts + ends + 1) / 2.0  # ranks are 1-based: a tie block [s, e) shares (s+1 + e)/2
    ranks = np.empty(len(scores))
    ranks[order] = np.repeat(average_rank, ends - starts)
    return float((ranks[y_true == 1].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def multilabel_metrics(y_true: np.ndarray, outputs: np.ndarray, tasks: list[str]) -> dict[str, float]:
    """Independent binary tasks (one sigmoid unit each, predicted 1 when a ≥ 0.5), scored on present labels only.

    ``y_true`` is (m, k) 0/1 with NaN for a missing label. Per task: precision, recall
    and F1 of the positive class (``precision_<task>`` ...); ``precision``, ``recall``
    and ``f1`` are their means over the tasks (macro); ``accuracy`` is the share of
    present labels predicted right (all tasks pooled).
    """
    present = ~np.isnan(y_true)
    truth = np.where(present, y_true, 0) == 1
    predicted = outputs >= 0.5
    tp = (truth & predicted & present).sum(axis=0).astype(np.float64)
    precision = _ratio(tp, (predicted & present).sum(axis=0))
    recall = _ratio(tp, (truth & present).sum(axis=0))
    f1 = f1_score(precision, recall)
    accuracy = float(((truth == predicted) & present).sum() / max(present.sum(), 1))
    metrics = {"accuracy": accuracy, "error": 1.0 - accuracy, "precision": float(precision.mean()),
               "recall": float(recall.mean()), "f1": float(f1.mean())}
    for j, task in enumerate(tasks):
        metrics.update({f"precision_{task}": float(precision[j]), f"recall_{task}": float(recall[j]), f"f1_{task}": float(f1[j])})
    return metrics
