"""Weight initialization rules (docs/explanation/algorithms.md#initialization) and the symmetry problem of zero init."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nnctl.nn.initializers import STD_RULES, default_initializer, init_weights
from nnctl.nn.layers import Activate, BatchNorm, Dense
from nnctl.nn.losses import make_loss
from nnctl.nn.network import Network

N_OUT, N_IN = 300, 400


@pytest.mark.parametrize("rule, expected_std", [
    ("random", 0.01),
    ("xavier", math.sqrt(1 / N_IN)),
    ("glorot", math.sqrt(2 / (N_IN + N_OUT))),
    ("he", math.sqrt(2 / N_IN)),
])
def test_std_of_each_rule(rule, expected_std):
    w = np.empty((N_OUT, N_IN))
    init_weights(w, rule, N_IN, N_OUT, np.random.default_rng(0), scale=0.01)
    # 120,000 draws: the sample std is within ~0.2 % of σ; 2 % separates every pair of rules here
    assert w.std() == pytest.approx(expected_std, rel=0.02)
    assert abs(w.mean()) < 4 * expected_std / math.sqrt(w.size)


def test_rules_differ_from_each_other():
    # the tolerance above must be able to tell the rules apart
    stds = {rule: STD_RULES[rule](N_IN, N_OUT, 0.01) for rule in ("random", "xavier", "glorot", "he")}
    values = sorted(stds.values())
    assert all(b / a > 1.05 for a, b in zip(values, values[1:]))
    assert stds["he"] == pytest.approx(math.sqrt(2) * stds["xavier"], rel=1e-15)


def test_random_rule_uses_scale():
    w = np.empty((200, 200))
    init_weights(w, "random", 200, 200, np.random.default_rng(1), scale=0.5)
    assert w.std() == pytest.approx(0.5, rel=0.02)


def test_zeros_rule():
    w = np.full((5, 7), 3.0)
    init_weights(w, "zeros", 7, 5, np.random.default_rng(0), scale=0.01)
    np.testing.assert_array_equal(w, 0.0)


def test_default_initializer():
    assert default_initializer("relu") == "he"
    assert default_initializer("leaky_relu") == "he"
    assert default_initializer("elu") == "he"
    assert default_initializer("tanh") == "xavier"
    assert default_initializer("sigmoid") == "xavier"


def test_network_initialize_std_biases_and_batchnorm():
    layers = [Dense("d1", 200, init="he"), BatchNorm("bn"), Activate("a1", "relu"),
              Dense("d2", 100, init="glorot")]
    net = Network(layers, make_loss("auto", "linear"), (400,), dtype=np.float64)
    net.theta[:] = 7.0  # initialize must overwrite everything
    net.initialize(np.random.default_rng(3))
    t = net.tensors()
    assert t["d1/W"].std() == pytest.approx(math.sqrt(2 / 400), rel=0.02)
    assert t["d2/W"].std() == pytest.approx(math.sqrt(2 / (200 + 100)), rel=0.02)
    np.testing.assert_array_equal(t["d1/b"], 0.0)
    np.testing.assert_array_equal(t["d2/b"], 0.0)
    np.testing.assert_array_equal(t["bn/gamma"], 1.0)
    np.testing.assert_array_equal(t["bn/beta"], 0.0)
    np.testing.assert_array_equal(net.state()["bn/running_mean"], 0.0)
    np.testing.assert_array_equal(net.state()["bn/running_var"], 1.0)


def _two_layer(init, seed=0):
    layers = [Dense("h", 4, init=init), Activate("act", "sigmoid"), Dense("out", 1, init=init)]
    net = Network(layers, make_loss("auto", "sigmoid"), (3,), dtype=np.float64)
    net.initialize(np.random.default_rng(seed))
    return net


def _train(net, steps=20, lr=0.5):
    rng = np.random.default_rng(42)
    x = rng.standard_normal((16, 3))
    y = (x[:, :1] * x[:, 1:2] > 0).astype(float)
    for _ in range(steps):
        net.loss_and_grad(x, y)
        net.theta -= lr * net.grad
    return x


def test_all_zero_sigmoid_net_predicts_one_half():
    net = _two_layer("zeros")
    x = np.random.default_rng(0).standard_normal((5, 3))
    np.testing.assert_array_equal(net.predict(x), 0.5)


def test_zero_init_keeps_hidden_units_identical():
    net = _two_layer("zeros")
    x = _train(net)
    w1, b1, w2 = net.tensors()["h/W"], net.tensors()["h/b"], net.tensors()["out/W"]
    # training did move the hidden weights ...
    assert np.abs(w1).max() > 1e-3
    assert np.abs(w2).max() > 1e-3
    # ... but every hidden unit is the same function of the input
    for unit in range(1, 4):
        # (a tolerance at rounding level only, in case BLAS sums rows in different orders)
        np.testing.assert_allclose(w1[unit], w1[0], rtol=1e-13, atol=1e-16)
        assert b1[0, unit] == pytest.approx(b1[0, 0], rel=1e-13, abs=1e-16)
        assert w2[0, unit] == pytest.approx(w2[0, 0], rel=1e-13, abs=1e-16)
    hidden = 1 / (1 + np.exp(-(x @ w1.T + b1)))
    np.testing.assert_allclose(hidden, np.repeat(hidden[:, :1], 4, axis=1), rtol=1e-13)


def test_random_init_breaks_symmetry():
    net = _two_layer("random")
    _train(net)
    w1 = net.tensors()["h/W"]
    assert not np.allclose(w1[0], w1[1])
