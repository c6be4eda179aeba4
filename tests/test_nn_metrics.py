"""Classification and regression metrics (docs/explanation/algorithms.md#metrics)."""

from __future__ import annotations

import numpy as np
import pytest

from nnctl.nn.metrics import classification_metrics, confusion_matrix, f1_score, predicted_classes, regression_metrics


def test_f1_reference_checks():
    assert float(f1_score(0.95, 0.90)) == pytest.approx(0.92432, abs=5e-6)
    assert float(f1_score(0.98, 0.85)) == pytest.approx(0.91038, abs=5e-6)
    assert float(f1_score(0.95, 0.90)) == pytest.approx(2 * 0.95 * 0.9 / 1.85, rel=1e-15)
    # the harmonic mean, not the arithmetic one
    assert float(f1_score(1.0, 0.0)) == 0.0


def test_f1_zero_when_both_zero_and_vectorized():
    assert float(f1_score(0.0, 0.0)) == 0.0
    np.testing.assert_allclose(f1_score(np.array([0.5, 0.0, 1.0]), np.array([0.5, 0.0, 0.25])), [0.5, 0.0, 0.4],
                               rtol=1e-15)


def test_confusion_matrix_rows_are_true_classes():
    y_true = np.array([0, 0, 0, 1, 2])
    y_pred = np.array([1, 1, 0, 2, 2])
    cm = confusion_matrix(y_true, y_pred, 3)
    np.testing.assert_array_equal(cm, [[1, 2, 0], [0, 0, 1], [0, 0, 1]])
    assert cm[0, 1] == 2  # two true-0 examples predicted as 1
    assert cm[1, 0] == 0
    np.testing.assert_array_equal(confusion_matrix(np.array([1]), np.array([1]), 4).shape, (4, 4))


def test_binary_metrics_hand_confusion():
    y_true = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 1])
    y_pred = np.array([1, 1, 1, 0, 0, 0, 1, 0, 0, 0])
    # TP = 3, FN = 2, FP = 1, TN = 4
    np.testing.assert_array_equal(confusion_matrix(y_true, y_pred, 2), [[4, 1], [2, 3]])
    got = classification_metrics(y_true, y_pred, 2)
    assert got["accuracy"] == pytest.approx(0.7, rel=1e-15)
    assert got["error"] == pytest.approx(0.3, rel=1e-14)
    assert got["precision"] == pytest.approx(0.75, rel=1e-15)
    assert got["recall"] == pytest.approx(0.6, rel=1e-15)
    assert got["f1"] == pytest.approx(2 / 3, rel=1e-15)


def test_macro_averages_three_classes():
    y_true = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
    y_pred = np.array([0, 1, 0, 1, 2, 2, 2, 0, 1])
    np.testing.assert_array_equal(confusion_matrix(y_true, y_pred, 3), [[2, 1, 0], [0, 1, 1], [1, 1, 2]])
    got = classification_metrics(y_true, y_pred, 3)
    # per class P = (2/3, 1/3, 2/3), R = (2/3, 1/2, 1/2), F1 = (2/3, 2/5, 4/7)
    assert got["accuracy"] == pytest.approx(5 / 9, rel=1e-15)
    assert got["precision"] == pytest.approx(5 / 9, rel=1e-15)
    assert got["recall"] == pytest.approx(5 / 9, rel=1e-15)
    assert got["f1"] == pytest.approx((2 / 3 + 2 / 5 + 4 / 7) / 3, rel=1e-14)  # 172/315, not F1 of the means
    assert got["f1"] == pytest.approx(172 / 315, rel=1e-14)


def test_zero_denominators_give_zero():
    got = classification_metrics(np.array([0, 0, 0]), np.array([0, 0, 0]), 2)  # no positive at all
    assert got == {"accuracy": 1.0, "error": 0.0, "precision": 0.0, "recall": 0.0, "f1": 0.0}
    never_predicted = classification_metrics(np.array([1, 1, 0]), np.array([0, 0, 0]), 2)
    assert never_predicted["precision"] == 0.0 and never_predicted["recall"] == 0.0
    assert never_predicted["f1"] == 0.0
    # a class absent from both y_true and y_pred counts as 0 in the macro average
    three = classification_metrics(np.array([0, 1]), np.array([0, 1]), 3)
    assert three["precision"] == pytest.approx(2 / 3, rel=1e-15)
    assert three["recall"] == pytest.approx(2 / 3, rel=1e-15)


def test_predicted_classes():
    np.testing.assert_array_equal(predicted_classes(np.array([[0.5], [0.49], [0.9], [0.0]])), [1, 0, 1, 0])
    np.testing.assert_array_equal(predicted_classes(np.array([[0.1, 0.7, 0.2], [0.5, 0.2, 0.3]])), [1, 0])


def test_regression_metrics():
    y = np.array([[1.0], [2.0], [3.0], [4.0]])
    out = np.array([[1.5], [2.0], [1.0], [5.0]])
    got = regression_metrics(y, out)
    assert got["mse"] == pytest.approx((0.25 + 0 + 4 + 1) / 4, rel=1e-15)
    assert got["mae"] == pytest.approx((0.5 + 0 + 2 + 1) / 4, rel=1e-15)
