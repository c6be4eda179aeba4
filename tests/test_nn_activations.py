"""Activations g and derivatives g' of the NumPy core (docs/explanation/algorithms.md#activations; the notes' reference values)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import no_float_warnings

from nnctl.nn.activations import ACTIVATIONS, ELU_ALPHA, LEAKY_SLOPE, sigmoid, softmax

HIDDEN = ["sigmoid", "tanh", "relu", "leaky_relu", "elu", "linear"]


def _g(name, z):
    return ACTIVATIONS[name].forward(np.asarray(z, dtype=np.float64))


def _grad(name, z):
    z = np.asarray(z, dtype=np.float64)
    return ACTIVATIONS[name].grad(z, ACTIVATIONS[name].forward(z))


# ---------------------------------------------------------------- known values


def test_sigmoid_known_values():
    z = np.array([0.0, 1.0, -1.0, 2.0, -3.0])
    expected = [0.5, 1 / (1 + math.exp(-1)), 1 / (1 + math.exp(1)), 1 / (1 + math.exp(-2)), 1 / (1 + math.exp(3))]
    np.testing.assert_allclose(sigmoid(z), expected, rtol=1e-15, atol=0)
    assert sigmoid(z)[0] == 0.5


def test_sigmoid_derivative_known_values():
    d = _grad("sigmoid", [0.0, 10.0, -10.0])
    assert d[0] == 0.25
    # σ(10)(1−σ(10)) = e^-10/(1+e^-10)^2 = 4.5396e-5
    exact = math.exp(-10) / (1 + math.exp(-10)) ** 2
    assert exact == pytest.approx(4.5396e-5, rel=1e-4)
    np.testing.assert_allclose(d[1:], [exact, exact], rtol=1e-9)
    np.testing.assert_allclose(d[1:], 4.54e-5, rtol=1e-3)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_stable_for_huge_inputs(dtype):
    z = np.array([-1000.0, -50.0, 50.0, 1000.0], dtype=dtype)
    with no_float_warnings():
        a = sigmoid(z)
    assert a.dtype == dtype
    assert a[0] == 0.0 and a[3] == 1.0
    assert np.all(np.isfinite(a))
    assert 0 < a[1] < 1e-20  # e^-50 ≈ 1.9e-22 survives, not rounded to 0 by 1 - e^50 style formulas
    np.testing.assert_allclose(a[1], math.exp(-50), rtol=1e-5)


def test_tanh_known_values():
    z = np.array([0.0, 0.5, -2.0])
    np.testing.assert_allclose(_g("tanh", z), [0.0, 0.46211715726000974, -0.9640275800758169], rtol=1e-14)
    np.testing.assert_allclose(_grad("tanh", z), [1.0, 1 - 0.46211715726000974**2, 1 - 0.9640275800758169**2],
                               rtol=1e-13)


def test_relu_values_and_derivative_convention():
    z = np.array([-2.0, -0.0, 0.0, 3.5])
    np.testing.assert_array_equal(_g("relu", z), [0.0, 0.0, 0.0, 3.5])
    np.testing.assert_array_equal(_grad("relu", z), [0.0, 0.0, 0.0, 1.0])  # g'(0) = 0 by convention


def test_leaky_relu_values():
    assert LEAKY_SLOPE == 0.01
    z = np.array([-2.0, 0.0, 3.0])
    np.testing.assert_allclose(_g("leaky_relu", z), [-0.02, 0.0, 3.0], rtol=1e-15)
    np.testing.assert_allclose(_grad("leaky_relu", z), [0.01, 0.01, 1.0], rtol=1e-15)


def test_elu_values():
    assert ELU_ALPHA == 1.0
    z = np.array([-1.0, 0.0, 2.0, -1000.0])
    np.testing.assert_allclose(_g("elu", z), [math.exp(-1) - 1, 0.0, 2.0, -1.0], rtol=1e-15)
    # z <= 0: g' = a + α = e^z
    np.testing.assert_allclose(_grad("elu", z), [math.exp(-1), 1.0, 1.0, 0.0], rtol=1e-15, atol=0)


def test_linear_values():
    z = np.array([-3.0, 0.0, 7.25])
    a = _g("linear", z)
    np.testing.assert_array_equal(a, z)
    assert a is not z  # a copy: the layer may overwrite its output buffer
    np.testing.assert_array_equal(_grad("linear", z), [1.0, 1.0, 1.0])


@pytest.mark.parametrize("name", HIDDEN)
def test_every_activation_finite_without_warnings_at_1000(name):
    z = np.array([-1000.0, 1000.0])
    with no_float_warnings():
        a = _g(name, z)
        d = _grad(name, z)
    assert np.all(np.isfinite(a)) and np.all(np.isfinite(d))


# ---------------------------------------------------------------- derivatives vs differences


@pytest.mark.parametrize("name", HIDDEN)
def test_derivative_matches_central_difference(name):
    rng = np.random.default_rng(123)
    z = rng.uniform(-4, 4, size=200)
    z = z[np.abs(z) > 1e-3]  # avoid the kink of relu / leaky_relu / elu at 0
    h = 1e-6
    numeric = (_g(name, z + h) - _g(name, z - h)) / (2 * h)
    np.testing.assert_allclose(_grad(name, z), numeric, rtol=1e-7, atol=1e-9)


def test_derivatives_distinguish_the_two_sides_of_zero():
    z = np.array([-0.5, 0.5])
    np.testing.assert_array_equal(_grad("relu", z), [0.0, 1.0])
    np.testing.assert_array_equal(_grad("leaky_relu", z), [0.01, 1.0])
    np.testing.assert_allclose(_grad("elu", z), [math.exp(-0.5), 1.0], rtol=1e-15)


# ---------------------------------------------------------------- out= buffers


@pytest.mark.parametrize("name", HIDDEN)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_out_path_equals_allocating_path(name, dtype):
    rng = np.random.default_rng(5)
    z = rng.standard_normal((7, 5)).astype(dtype) * 3
    act = ACTIVATIONS[name]
    a = act.forward(z)
    buf = np.full_like(z, np.nan)
    got = act.forward(z, out=buf)
    assert got is buf
    np.testing.assert_array_equal(buf, a)
    d = act.grad(z, a)
    gbuf = np.full_like(z, np.nan)
    got = act.grad(z, a, out=gbuf)
    assert got is gbuf
    np.testing.assert_array_equal(gbuf, d)
    assert gbuf.dtype == dtype


def test_softmax_out_path_equals_allocating_path():
    z = np.array([[5.0, 2.0, -1.0, 3.0], [0.0, 0.0, 1.0, -1.0]])
    buf = np.empty_like(z)
    assert softmax(z, out=buf) is buf
    np.testing.assert_array_equal(buf, softmax(z))
    np.testing.assert_array_equal(z, [[5.0, 2.0, -1.0, 3.0], [0.0, 0.0, 1.0, -1.0]])  # input untouched


# ---------------------------------------------------------------- softmax


def test_softmax_reference_vector():
    a = softmax(np.array([[5.0, 2.0, -1.0, 3.0]]))
    np.testing.assert_allclose(a[0], [0.842034, 0.041922, 0.002087, 0.113957], atol=5e-7)
    s = math.exp(5) + math.exp(2) + math.exp(-1) + math.exp(3)
    assert s == pytest.approx(176.2556, abs=1e-4)
    np.testing.assert_allclose(a[0], [math.exp(5) / s, math.exp(2) / s, math.exp(-1) / s, math.exp(3) / s],
                               rtol=1e-14)


def test_softmax_is_row_wise():
    z = np.array([[1.0, 2.0, 3.0], [1.0, 1.0, 1.0]])
    a = softmax(z)
    np.testing.assert_allclose(a[1], [1 / 3, 1 / 3, 1 / 3], rtol=1e-15)
    e = np.exp([1.0, 2.0, 3.0])
    np.testing.assert_allclose(a[0], e / e.sum(), rtol=1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_stable_for_huge_logits(dtype):
    z = np.array([[1000.0, 1000.0, -1000.0], [1e4, 0.0, -1e4], [-1000.0, -1000.0, -1000.0]], dtype=dtype)
    with no_float_warnings():
        a = softmax(z)
    assert np.all(np.isfinite(a))
    np.testing.assert_allclose(a, [[0.5, 0.5, 0.0], [1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3]], rtol=1e-6, atol=0)
    # shift invariance
    np.testing.assert_allclose(softmax(np.array([[1001.0, 1002.0]])), softmax(np.array([[1.0, 2.0]])), rtol=1e-12)


def test_softmax_has_no_hidden_derivative():
    assert ACTIVATIONS["softmax"].grad is None
