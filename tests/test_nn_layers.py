"""Dense, Activate, Dropout, BatchNorm and Flatten layers (docs/explanation/algorithms.md#dense-layer, #regularization, #batch-normalization)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nnctl.nn.activations import ACTIVATIONS
from nnctl.nn.layers import Activate, BatchNorm, Dense, Dropout, Flatten
from nnctl.nn.losses import make_loss
from nnctl.nn.network import Network


def bind(layer, input_shape, dtype=np.float64):
    """Build a lone layer and give it parameter/gradient arrays (normally views into θ)."""
    out_shape = layer.build(input_shape)
    for name, shape in layer.param_shapes().items():
        layer.params[name] = np.zeros(shape, dtype=dtype)
        layer.grads[name] = np.zeros(shape, dtype=dtype)
    return out_shape


# ---------------------------------------------------------------- Dense


def test_dense_forward_hand_values():
    d = Dense("d", 2)
    assert bind(d, (3,)) == (2,)
    d.params["W"][...] = [[1.0, 2.0, 3.0], [-1.0, 0.0, 0.5]]
    d.params["b"][...] = [[0.5, -2.0]]
    x = np.array([[1.0, 1.0, 1.0], [2.0, 0.0, -2.0]])
    # row 1: (6 + 0.5, -0.5 - 2); row 2: (2 - 6 + 0.5, -2 - 1 - 2)
    expected = np.array([[6.5, -2.5], [-3.5, -5.0]])
    for training in (False, True):
        np.testing.assert_array_equal(d.forward(x, training), expected)


def test_dense_forward_equals_matmul_with_transposed_w():
    rng = np.random.default_rng(0)
    d = Dense("d", 4)
    bind(d, (6,))
    d.params["W"][...] = rng.standard_normal((4, 6))
    d.params["b"][...] = rng.standard_normal((1, 4))
    x = rng.standard_normal((5, 6))
    np.testing.assert_allclose(d.forward(x, True), x @ d.params["W"].T + d.params["b"], rtol=1e-14)


def test_dense_backward_hand_values():
    d = Dense("d", 2)
    bind(d, (3,))
    d.params["W"][...] = [[1.0, 2.0, 3.0], [-1.0, 0.0, 0.5]]
    x = np.array([[1.0, 1.0, 1.0], [2.0, 0.0, -2.0]])
    d.forward(x, True)
    dy = np.array([[0.5, 1.0], [-1.0, 0.25]])  # already dJ/dZ (carries the 1/m)
    dx = d.backward(dy)
    np.testing.assert_array_equal(d.grads["W"], [[0.5 - 2.0, 0.5, 0.5 + 2.0], [1.0 + 0.5, 1.0, 1.0 - 0.5]])
    np.testing.assert_array_equal(d.grads["b"], [[-0.5, 1.25]])
    np.testing.assert_array_equal(dx, [[0.5 - 1.0, 1.0, 1.5 + 0.5], [-1.0 - 0.25, -2.0, -3.0 + 0.125]])
    assert d.backward(dy, need_dx=False) is None


def test_dense_without_bias():
    d = Dense("d", 3, use_bias=False)
    bind(d, (2,))
    assert d.param_shapes() == {"W": (3, 2)}
    d.params["W"][...] = 1.0
    np.testing.assert_array_equal(d.forward(np.array([[1.0, 2.0]]), False), [[3.0, 3.0, 3.0]])


def test_dense_needs_flat_input():
    with pytest.raises(ValueError, match="flat"):
        Dense("d", 3).build((4, 4, 1))


# ---------------------------------------------------------------- Activate


def test_activate_backward_is_dy_times_g_prime():
    layer = Activate("a", "tanh")
    z = np.array([[0.0, 1.0], [-2.0, 0.5]])
    a = layer.forward(z, True)
    np.testing.assert_allclose(a, np.tanh(z), rtol=1e-15)
    dy = np.array([[2.0, 3.0], [-1.0, 4.0]])
    np.testing.assert_allclose(layer.backward(dy), dy * (1 - np.tanh(z) ** 2), rtol=1e-15)


def test_activate_rejects_softmax_in_hidden_layer():
    with pytest.raises(ValueError, match="output"):
        Activate("a", "softmax")


# ---------------------------------------------------------------- Dropout


def test_dropout_mask_statistics_and_scaling():
    p = 0.8
    layer = Dropout("drop", p, np.random.default_rng(0))
    x = np.random.default_rng(1).uniform(1.0, 2.0, size=(400, 250))
    y = layer.forward(x, training=True)
    kept = y != 0
    assert kept.mean() == pytest.approx(p, abs=0.005)  # 100,000 draws: σ ≈ 0.0013
    np.testing.assert_allclose(y[kept], x[kept] / p, rtol=1e-15)  # kept units scaled by 1/p
    # the expectation is preserved: E[y] = E[x]
    assert y.mean() == pytest.approx(x.mean(), rel=0.01)
    ones = layer.forward(np.ones((400, 250)), training=True)
    assert set(np.unique(ones)) == {0.0, 1 / p}
    assert ones.mean() == pytest.approx(1.0, abs=0.01)


def test_dropout_backward_uses_the_same_mask():
    layer = Dropout("drop", 0.5, np.random.default_rng(3))
    x = np.ones((20, 10))
    y = layer.forward(x, True).copy()
    dy = np.full((20, 10), 3.0)
    np.testing.assert_array_equal(layer.backward(dy), 3.0 * y)  # y is the mask D/p here


def test_dropout_identity_in_inference_and_off_mode():
    layer = Dropout("drop", 0.5, np.random.default_rng(0))
    x = np.random.default_rng(1).standard_normal((8, 6))
    assert layer.forward(x, training=False) is x
    assert layer.backward(x) is x
    layer.mode = "off"
    y = layer.forward(x, training=True)
    np.testing.assert_array_equal(y, x)
    np.testing.assert_array_equal(layer.backward(np.ones_like(x)), 1.0)


def test_dropout_fixed_mode_reuses_the_mask_and_on_mode_draws_fresh():
    layer = Dropout("drop", 0.5, np.random.default_rng(0))
    x = np.ones((30, 30))
    first = layer.forward(x, True).copy()
    second = layer.forward(x, True).copy()
    assert not np.array_equal(first, second)  # "on": a fresh mask every pass
    layer.mode = "fixed"
    third = layer.forward(x, True).copy()
    np.testing.assert_array_equal(third, second)  # the last mask is kept
    np.testing.assert_array_equal(layer.forward(2 * x, True), 2 * second)


def test_dropout_keep_prob_one_is_identity():
    layer = Dropout("drop", 1.0, np.random.default_rng(0))
    x = np.random.default_rng(1).standard_normal((10, 10))
    np.testing.assert_array_equal(layer.forward(x, True), x)


# ---------------------------------------------------------------- BatchNorm


def _bn(input_shape, gamma, beta, **kw):
    layer = BatchNorm("bn", **kw)
    bind(layer, input_shape)
    layer.initialize(np.random.default_rng(0))
    layer.params["gamma"][...] = gamma
    layer.params["beta"][...] = beta
    return layer


def test_batchnorm_training_output_has_mean_beta_and_std_gamma():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 3)) * [10.0, 0.1, 3.0] + [5.0, -2.0, 0.0]
    gamma, beta = np.array([[2.0, 0.5, 1.0]]), np.array([[1.0, -1.0, 0.0]])
    layer = _bn((3,), gamma, beta)
    out = layer.forward(x, training=True)
    np.testing.assert_allclose(out.mean(axis=0), beta[0], atol=1e-12)
    var = x.var(axis=0)
    # exactly γ·σ/√(σ² + ε); ≈ γ when σ² ≫ ε
    np.testing.assert_allclose(out.std(axis=0), gamma[0] * np.sqrt(var / (var + 1e-5)), rtol=1e-12)
    np.testing.assert_allclose(out.std(axis=0), gamma[0], rtol=1e-3)


def test_batchnorm_hand_values():
    layer = _bn((1,), 2.0, 0.5)
    out = layer.forward(np.array([[1.0], [3.0]]), training=True)
    # μ = 2, σ² = 1: ẑ = ∓1/√(1 + 1e-5)
    s = 1 / math.sqrt(1 + 1e-5)
    np.testing.assert_allclose(out, [[0.5 - 2 * s], [0.5 + 2 * s]], rtol=1e-15)


def test_batchnorm_running_stats_update_with_momentum():
    layer = _bn((1,), 1.0, 0.0)
    layer.forward(np.array([[1.0], [3.0]]), training=True)  # μ = 2, σ² = 1
    assert layer.statistics["running_mean"][0, 0] == pytest.approx(0.9 * 0 + 0.1 * 2, rel=1e-15)
    assert layer.statistics["running_var"][0, 0] == pytest.approx(0.9 * 1 + 0.1 * 1, rel=1e-15)
    layer.forward(np.array([[0.0], [4.0], [8.0]]), training=True)  # μ = 4, σ² = 32/3 (biased)
    assert layer.statistics["running_mean"][0, 0] == pytest.approx(0.9 * 0.2 + 0.1 * 4, rel=1e-14)  # 0.58
    assert layer.statistics["running_var"][0, 0] == pytest.approx(0.9 * 1.0 + 0.1 * 32 / 3, rel=1e-14)
    # inference leaves them alone
    layer.forward(np.array([[100.0]]), training=False)
    assert layer.statistics["running_mean"][0, 0] == pytest.approx(0.58, rel=1e-14)


def test_batchnorm_other_momentum():
    layer = _bn((2,), 1.0, 0.0, momentum=0.5)
    layer.forward(np.array([[1.0, 10.0], [3.0, 10.0]]), training=True)
    np.testing.assert_allclose(layer.statistics["running_mean"], [[1.0, 5.0]], rtol=1e-15)
    np.testing.assert_allclose(layer.statistics["running_var"], [[1.0, 0.5]], rtol=1e-15)


def test_batchnorm_inference_uses_running_stats():
    rng = np.random.default_rng(4)
    gamma, beta = np.array([[1.5, -0.5]]), np.array([[0.25, 2.0]])
    layer = _bn((2,), gamma, beta, epsilon=1e-3)
    for _ in range(3):
        layer.forward(rng.standard_normal((10, 2)) * 3 + 1, training=True)
    mu, var = layer.statistics["running_mean"].copy(), layer.statistics["running_var"].copy()
    x = rng.standard_normal((4, 2))
    expected = gamma * (x - mu) / np.sqrt(var + 1e-3) + beta
    np.testing.assert_allclose(layer.forward(x, training=False), expected, rtol=1e-14)
    # each example independently: a single row gives the same answer as inside the batch
    np.testing.assert_allclose(layer.forward(x[1:2], training=False), expected[1:2], rtol=1e-14)


def test_batchnorm_batch_of_one_in_training_is_an_error():
    layer = _bn((3,), 1.0, 0.0)
    with pytest.raises(ValueError, match="at least 2"):
        layer.forward(np.ones((1, 3)), training=True)


def test_batchnorm_nhwc_per_channel():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((4, 3, 3, 2)) * [[[[2.0, 0.5]]]] + [[[[1.0, -3.0]]]]
    layer = BatchNorm("bn")
    assert bind(layer, (3, 3, 2)) == (3, 3, 2)
    assert layer.param_shapes() == {"gamma": (1, 2), "beta": (1, 2)}
    layer.initialize(np.random.default_rng(0))
    layer.params["gamma"][...] = [[3.0, 0.5]]
    layer.params["beta"][...] = [[-1.0, 2.0]]
    out = layer.forward(x, training=True)
    assert out.shape == x.shape
    for c, (g, b) in enumerate([(3.0, -1.0), (0.5, 2.0)]):
        xc = x[..., c]
        expected = g * (xc - xc.mean()) / np.sqrt(xc.var() + 1e-5) + b  # over all m·H·W positions
        np.testing.assert_allclose(out[..., c], expected, rtol=1e-13)
        assert layer.statistics["running_mean"][0, c] == pytest.approx(0.1 * xc.mean(), rel=1e-13)
        assert layer.statistics["running_var"][0, c] == pytest.approx(0.9 + 0.1 * xc.var(), rel=1e-13)
    # one image in training is fine: 9 values per channel
    layer.forward(x[:1], training=True)


def test_batchnorm_backward_hand_values():
    layer = _bn((1,), 2.0, 0.0, epsilon=0.0)
    layer.forward(np.array([[1.0], [3.0]]), training=True)  # ẑ = (-1, 1), σ = 1
    dy = np.array([[1.0], [0.0]])
    dz = layer.backward(dy)
    # dγ = Σ dy·ẑ = -1; dβ = Σ dy = 1
    assert layer.grads["gamma"][0, 0] == -1.0
    assert layer.grads["beta"][0, 0] == 1.0
    # g = 2·dy = (2, 0); mean g = 1; mean g·ẑ = -1: dz = (2 - 1 - (-1)(-1), 0 - 1 - (1)(-1)) = (0, 0)
    np.testing.assert_allclose(dz, [[0.0], [0.0]], atol=1e-15)
    dz = layer.backward(np.array([[1.0], [1.0]]))  # shifting all outputs cannot be undone by z
    np.testing.assert_allclose(dz, [[0.0], [0.0]], atol=1e-15)
    three = _bn((1,), 1.0, 0.0, epsilon=0.0)
    three.forward(np.array([[0.0], [1.0], [5.0]]), training=True)
    zhat = (np.array([0.0, 1.0, 5.0]) - 2) / math.sqrt(14 / 3)
    dz = three.backward(np.array([[1.0], [0.0], [0.0]]))[:, 0]
    g = np.array([1.0, 0.0, 0.0])
    expected = (g - g.mean() - zhat * (g * zhat).mean()) / math.sqrt(14 / 3)
    np.testing.assert_allclose(dz, expected, rtol=1e-13)


# ---------------------------------------------------------------- Flatten


def test_flatten_c_order_and_back():
    layer = Flatten("flat")
    assert layer.build((2, 3, 4)) == (24,)
    x = np.arange(2 * 24, dtype=float).reshape(2, 2, 3, 4)
    y = layer.forward(x, True)
    np.testing.assert_array_equal(y[1], np.arange(24, 48))
    np.testing.assert_array_equal(layer.backward(y), x)


# ---------------------------------------------------------------- θ layout


def _layout_net(dtype=np.float64):
    layers = [Dense("d1", 4, use_bias=False), BatchNorm("bn"), Activate("a1", "relu"),
              Dense("d2", 3), Activate("a2", "tanh"), Dense("d3", 2)]
    return Network(layers, make_loss("auto", "softmax"), (5,), dtype=dtype)


def test_theta_layout_penalized_first():
    net = _layout_net()
    keys = [(s.key, s.offset, s.shape) for s in net.slots]
    assert keys == [
        ("d1/W", 0, (4, 5)), ("d2/W", 20, (3, 4)), ("d3/W", 32, (2, 3)),
        ("bn/gamma", 38, (1, 4)), ("bn/beta", 42, (1, 4)), ("d2/b", 46, (1, 3)), ("d3/b", 49, (1, 2)),
    ]
    assert net.n_penalized == 20 + 12 + 6
    assert net.theta.size == net.grad.size == 51


def test_params_and_grads_are_views_into_theta():
    net = _layout_net()
    for slot in net.slots:
        p, g = slot.layer.params[slot.param], slot.layer.grads[slot.param]
        assert np.shares_memory(p, net.theta) and np.shares_memory(g, net.grad)
        assert p.shape == slot.shape
    net.theta[20:32] = np.arange(12)
    np.testing.assert_array_equal(net.tensors()["d2/W"], np.arange(12).reshape(3, 4))
    net.tensors()["d3/b"][0, 1] = 9.0
    assert net.theta[50] == 9.0
    rng = np.random.default_rng(0)
    net.initialize(rng)
    net.loss_and_grad(rng.standard_normal((6, 5)), np.eye(2)[[0, 1, 0, 1, 1, 0]])
    np.testing.assert_array_equal(net.grad[32:38], net.grad_tensors()["d3/W"].ravel())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_network_forward_matches_manual_computation(dtype):
    rng = np.random.default_rng(1)
    layers = [Dense("d1", 4), Activate("a1", "tanh"), Dense("d2", 3)]
    net = Network(layers, make_loss("auto", "softmax"), (5,), dtype=dtype)
    net.initialize(rng)
    net.theta += rng.standard_normal(net.theta.size).astype(dtype) * 0.1
    x = rng.standard_normal((6, 5)).astype(dtype)
    t = net.tensors()
    z = np.tanh(x @ t["d1/W"].T + t["d1/b"]) @ t["d2/W"].T + t["d2/b"]
    np.testing.assert_allclose(net.forward(x), z, rtol=1e-5 if dtype == np.float32 else 1e-13)
    assert net.forward(x, training=True).dtype == dtype
    a = net.predict(x, batch_size=4)  # two chunks
    np.testing.assert_allclose(a, ACTIVATIONS["softmax"].forward(z.astype(np.float64)), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(a.sum(axis=1), 1.0, rtol=1e-6)


# ---------------------------------------------------------------- L2 / L1 penalties


def _penalty_net():
    layers = [Dense("d1", 2), Activate("a1", "sigmoid"), Dense("d2", 1)]
    net = Network(layers, make_loss("auto", "linear"), (2,), dtype=np.float64)
    t = net.tensors()
    t["d1/W"][...] = [[1.0, -2.0], [0.0, 3.0]]
    t["d1/b"][...] = [[5.0, -5.0]]
    t["d2/W"][...] = [[-0.5, 0.0]]
    t["d2/b"][...] = [[7.0]]
    return net


def test_penalty_values():
    net = _penalty_net()
    # Σ W² = 1 + 4 + 0 + 9 + 0.25 + 0 = 14.25; Σ|W| = 1 + 2 + 0 + 3 + 0.5 + 0 = 6.5 (biases excluded)
    m = 4
    assert net.penalty(m, l2=0.3) == pytest.approx(0.3 / (2 * m) * 14.25, rel=1e-15)
    assert net.penalty(m, l1=0.2) == pytest.approx(0.2 / (2 * m) * 6.5, rel=1e-15)
    assert net.penalty(m, l2=0.3, l1=0.2) == pytest.approx(0.3 / 8 * 14.25 + 0.2 / 8 * 6.5, rel=1e-15)
    assert net.penalty(m) == 0.0


def test_objective_includes_penalty():
    net = _penalty_net()
    x = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 2.0]])
    y = np.zeros((4, 1))
    base = net.objective(x, y)
    assert net.objective(x, y, l2=0.3, l1=0.2) == pytest.approx(base + 0.3 / 8 * 14.25 + 0.2 / 8 * 6.5, rel=1e-14)
    assert net.loss_and_grad(x, y, l2=0.3, l1=0.2) == pytest.approx(base + 0.3 / 8 * 14.25 + 0.2 / 8 * 6.5,
                                                                    rel=1e-14)


def test_penalty_gradients_weights_only_and_sign_zero_is_zero():
    net = _penalty_net()
    x = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 2.0]])
    y = np.array([[1.0], [0.0], [2.0], [-1.0]])
    m = 4
    net.loss_and_grad(x, y)
    plain = {k: v.copy() for k, v in net.grad_tensors().items()}
    w = {k: v.copy() for k, v in net.tensors().items()}

    net.loss_and_grad(x, y, l2=0.3)
    g = net.grad_tensors()
    for key in ("d1/W", "d2/W"):
        np.testing.assert_allclose(g[key] - plain[key], 0.3 / m * w[key], rtol=1e-12, atol=1e-15)
    for key in ("d1/b", "d2/b"):
        np.testing.assert_array_equal(g[key], plain[key])

    net.loss_and_grad(x, y, l1=0.2)
    g = net.grad_tensors()
    np.testing.assert_allclose(g["d1/W"] - plain["d1/W"], 0.2 / (2 * m) * np.array([[1.0, -1.0], [0.0, 1.0]]),
                               rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(g["d2/W"] - plain["d2/W"], 0.2 / (2 * m) * np.array([[-1.0, 0.0]]),
                               rtol=1e-12, atol=1e-15)
    for key in ("d1/b", "d2/b"):
        np.testing.assert_array_equal(g[key], plain[key])
