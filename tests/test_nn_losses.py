"""Losses fused with their output activation (docs/explanation/algorithms.md#losses)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import no_float_warnings

from nnctl.nn.losses import BinaryCrossEntropy, SoftmaxCrossEntropy, SquaredError, make_loss


def numeric_grad(loss, z, y, h=1e-6):
    """Central differences of Loss.cost (the mean cost J) with respect to each logit."""
    g = np.zeros_like(z)
    for idx in np.ndindex(z.shape):
        zp, zm = z.copy(), z.copy()
        zp[idx] += h
        zm[idx] -= h
        g[idx] = (loss.cost(zp, y) - loss.cost(zm, y)) / (2 * h)
    return g


# ---------------------------------------------------------------- softmax cross-entropy


def test_softmax_ce_reference_example():
    a = np.array([[0.3, 0.2, 0.1, 0.4]])
    y = np.array([[0.0, 1.0, 0.0, 0.0]])
    z = np.log(a)
    loss = SoftmaxCrossEntropy()
    assert loss.cost(z, y) == pytest.approx(1.609438, abs=1e-6)
    assert loss.cost(z, y) == pytest.approx(-math.log(0.2), rel=1e-14)
    np.testing.assert_allclose(loss.grad(z, y), [[0.3, -0.8, 0.1, 0.4]], rtol=1e-13)


def test_softmax_ce_grad_carries_one_over_m():
    a = np.array([[0.3, 0.2, 0.1, 0.4], [0.25, 0.25, 0.25, 0.25]])
    y = np.array([[0.0, 1.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]])
    z = np.log(a) + np.array([[3.0], [-7.0]])  # per-row shifts change nothing
    loss = SoftmaxCrossEntropy()
    assert loss.cost(z, y) == pytest.approx((-math.log(0.2) - math.log(0.25)) / 2, rel=1e-13)
    dz = loss.grad(z, y)
    np.testing.assert_allclose(dz * 2, [[0.3, -0.8, 0.1, 0.4], [-0.75, 0.25, 0.25, 0.25]], rtol=1e-12)


def test_softmax_ce_finite_for_huge_logits():
    z = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 0.0]])
    y = np.array([[0.0, 1.0, 0.0], [0.0, 1.0, 0.0]])
    with no_float_warnings():
        cost = SoftmaxCrossEntropy().cost(z, y)
        dz = SoftmaxCrossEntropy().grad(z, y)
    # example 1: L = 2000 (logsumexp = 1000, minus z_1 = -1000); example 2: L = 0
    assert cost == pytest.approx(1000.0, rel=1e-12)
    np.testing.assert_allclose(dz, [[0.5, -0.5, 0.0], [0.0, 0.0, 0.0]], atol=1e-15)


# ---------------------------------------------------------------- binary cross-entropy


def test_bce_from_logits_equals_textbook_formula():
    z = np.array([[-2.0, 0.0], [0.5, 3.0], [1.0, -0.25]])
    y = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    a = 1 / (1 + np.exp(-z))
    textbook = -(y * np.log(a) + (1 - y) * np.log(1 - a)).sum() / 3
    assert BinaryCrossEntropy().cost(z, y) == pytest.approx(textbook, rel=1e-13)
    # one hand value: z=0 -> a=0.5 -> L = log 2 for either label
    assert BinaryCrossEntropy().cost(np.array([[0.0]]), np.array([[1.0]])) == pytest.approx(math.log(2), rel=1e-15)


def test_bce_finite_at_1000():
    z = np.array([[1000.0], [-1000.0], [1000.0], [-1000.0]])
    y = np.array([[0.0], [1.0], [1.0], [0.0]])
    with no_float_warnings():
        cost = BinaryCrossEntropy().cost(z, y)
        dz = BinaryCrossEntropy().grad(z, y)
    assert cost == pytest.approx((1000 + 1000 + 0 + 0) / 4, rel=1e-15)
    np.testing.assert_allclose(dz, [[0.25], [-0.25], [0.0], [0.0]], atol=1e-300)


def test_bce_grad_is_a_minus_y_over_m():
    z = np.array([[0.0], [2.0]])
    y = np.array([[1.0], [0.0]])
    s2 = 1 / (1 + math.exp(-2))
    np.testing.assert_allclose(BinaryCrossEntropy().grad(z, y), [[(0.5 - 1) / 2], [s2 / 2]], rtol=1e-14)


# ---------------------------------------------------------------- squared error


def test_mse_keeps_the_half():
    z = np.array([[1.0, 2.0], [3.0, -1.0]])
    y = np.array([[0.0, 2.0], [1.0, 1.0]])
    # diffs (1, 0), (2, -2): ½·(1 + 0 + 4 + 4) / 2 = 2.25
    assert SquaredError().cost(z, y) == 2.25
    np.testing.assert_allclose(SquaredError().grad(z, y), [[0.5, 0.0], [1.0, -1.0]], rtol=1e-15)


def test_mse_with_sigmoid_output_is_not_fused():
    z = np.array([[0.0]])
    y = np.array([[1.0]])
    loss = SquaredError("sigmoid")
    # a = 0.5, L = ½·0.25 = 0.125, dZ = (a − y)·a(1 − a) = −0.5·0.25
    assert loss.cost(z, y) == 0.125
    assert loss.grad(z, y)[0, 0] == -0.125


# ---------------------------------------------------------------- every gradient vs differences


CASES = [
    pytest.param(lambda: BinaryCrossEntropy(), "binary", id="bce"),
    pytest.param(lambda: SoftmaxCrossEntropy(), "onehot", id="softmax_ce"),
    pytest.param(lambda: SquaredError(), "real", id="mse_linear"),
    pytest.param(lambda: SquaredError("sigmoid"), "unit", id="mse_sigmoid"),
    pytest.param(lambda: SquaredError("tanh"), "unit", id="mse_tanh"),
    pytest.param(lambda: SquaredError("elu"), "real", id="mse_elu"),
]


@pytest.mark.parametrize("make, target", CASES)
def test_loss_grad_matches_central_differences_of_cost(make, target):
    rng = np.random.default_rng(11)
    m, n = 5, 3
    z = rng.standard_normal((m, n)) * 1.5
    if target == "binary":
        y = (rng.random((m, n)) < 0.5).astype(float)
    elif target == "onehot":
        y = np.eye(n)[rng.integers(0, n, m)]
    elif target == "unit":
        y = rng.random((m, n))
    else:
        y = rng.standard_normal((m, n))
    z[np.abs(z) < 1e-3] = 0.5  # keep away from the elu kink
    loss = make()
    analytic = loss.grad(z.copy(), y)
    numeric = numeric_grad(loss, z, y)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-9)
    # the 1/m is really there: duplicating the batch leaves J unchanged, so each row of dJ/dZ halves
    doubled = loss.grad(np.vstack([z, z]), np.vstack([y, y]))
    np.testing.assert_allclose(doubled[:m] * 2, analytic, rtol=1e-12)


@pytest.mark.parametrize("make", [lambda: BinaryCrossEntropy(), lambda: SoftmaxCrossEntropy(),
                                  lambda: SquaredError(), lambda: SquaredError("tanh")])
def test_grad_out_buffer_and_input_untouched(make):
    rng = np.random.default_rng(2)
    z = rng.standard_normal((4, 3))
    y = np.eye(3)[[0, 1, 2, 0]]
    z0 = z.copy()
    loss = make()
    expected = loss.grad(z, y)
    buf = np.full_like(z, np.nan)
    got = loss.grad(z, y, out=buf)
    assert got is buf
    np.testing.assert_array_equal(buf, expected)
    np.testing.assert_array_equal(z, z0)


# ---------------------------------------------------------------- make_loss


@pytest.mark.parametrize("activation, expected_cls", [
    ("sigmoid", BinaryCrossEntropy),
    ("softmax", SoftmaxCrossEntropy),
    ("linear", SquaredError),
    ("tanh", SquaredError),
    ("relu", SquaredError),
])
def test_make_loss_auto(activation, expected_cls):
    loss = make_loss("auto", activation)
    assert type(loss) is expected_cls
    assert loss.output_activation == activation


def test_make_loss_by_name():
    assert type(make_loss("mse", "sigmoid")) is SquaredError
    assert type(make_loss("binary_cross_entropy", "sigmoid")) is BinaryCrossEntropy
    assert type(make_loss("softmax_cross_entropy", "softmax")) is SoftmaxCrossEntropy


@pytest.mark.parametrize("name, activation, message", [
    ("binary_cross_entropy", "softmax", "sigmoid"),
    ("binary_cross_entropy", "linear", "sigmoid"),
    ("softmax_cross_entropy", "sigmoid", "softmax"),
    ("softmax_cross_entropy", "linear", "softmax"),
    ("mse", "softmax", "softmax"),
])
def test_make_loss_mismatched_pairs(name, activation, message):
    with pytest.raises(ValueError, match=message):
        make_loss(name, activation)


def test_output_is_the_activation():
    z = np.array([[0.0, math.log(3.0)]])
    np.testing.assert_allclose(make_loss("auto", "softmax").output(z), [[0.25, 0.75]], rtol=1e-15)
    np.testing.assert_allclose(make_loss("auto", "sigmoid").output(z), [[0.5, 0.75]], rtol=1e-15)
    np.testing.assert_array_equal(make_loss("auto", "linear").output(z), z)


def test_float32_softmax_cost_of_a_saturated_model_does_not_cancel():
    """Confident, correct logits: each example's cost is ~1e-7, below float32's rounding of logsumexp(z) ≈ 20;
    the cost is still the float64 value of the same float32 logits to 1e-6 relative, and never negative."""
    rng = np.random.default_rng(0)
    m, classes = 1000, 10
    labels = rng.integers(0, classes, m)
    z = rng.normal(0.0, 1.0, (m, classes)).astype(np.float32)
    z[np.arange(m), labels] = 18.0 + rng.normal(0.0, 0.5, m).astype(np.float32)
    y = np.eye(classes, dtype=np.float32)[labels]
    z64 = z.astype(np.float64)
    exact = np.mean(np.log1p(np.sum(np.exp(z64 - z64[np.arange(m), labels][:, None]), axis=1) - 1.0))
    assert 1e-9 < exact < 1e-6
    cost = SoftmaxCrossEntropy().cost(z, y)
    assert cost > 0 and cost == pytest.approx(exact, rel=1e-6)
    assert SoftmaxCrossEntropy().cost(z64, y.astype(np.float64)) == pytest.approx(exact, rel=1e-9)  # the float64 oracle


def test_softmax_cost_is_never_negative_for_one_hot_targets():
    rng = np.random.default_rng(1)
    for scale in (1e-3, 1.0, 30.0, 1e4):
        z = (rng.normal(0, scale, (64, 5))).astype(np.float32)
        y = np.eye(5, dtype=np.float32)[z.argmax(axis=1)]
        assert SoftmaxCrossEntropy().cost(z, y) >= 0
