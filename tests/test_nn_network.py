"""Whole-network backpropagation checked by two-sided differences (docs/explanation/algorithms.md#gradient-checking)."""

from __future__ import annotations

import numpy as np
import pytest

from nnctl.nn.gradcheck import check_gradients
from nnctl.nn.layers import Activate, BatchNorm, Dense, Dropout, Flatten
from nnctl.nn.losses import make_loss
from nnctl.nn.network import Network


def _targets(kind, m, n, rng):
    if kind == "softmax":
        return np.eye(n)[rng.integers(0, n, m)]
    if kind == "sigmoid":
        return (rng.random((m, n)) < 0.5).astype(float)
    return rng.standard_normal((m, n))


def _build(spec, input_shape, output, seed=0):
    rng = np.random.default_rng(seed)
    layers = []
    for i, item in enumerate(spec):
        kind, arg = item[0], item[1] if len(item) > 1 else None
        if kind == "dense":
            layers.append(Dense(f"d{i}", arg, init="xavier"))
        elif kind == "dense_nobias":
            layers.append(Dense(f"d{i}", arg, init="xavier", use_bias=False))
        elif kind == "act":
            layers.append(Activate(f"a{i}", arg))
        elif kind == "bn":
            layers.append(BatchNorm(f"bn{i}"))
        elif kind == "drop":
            layers.append(Dropout(f"drop{i}", arg, np.random.default_rng(seed + 100)))
        elif kind == "flatten":
            layers.append(Flatten(f"f{i}"))
    net = Network(layers, make_loss("auto", output), input_shape, dtype=np.float64)
    net.initialize(rng)
    # move away from the textbook init (zero biases, γ = 1, β = 0) so every term matters
    net.theta += 0.1 * rng.standard_normal(net.theta.size)
    return net


ARCHITECTURES = {
    "tanh-softmax": ([("dense", 5), ("act", "tanh"), ("dense", 3)], (4,), "softmax", {}),
    "relu-sigmoid-sigmoid": ([("dense", 6), ("act", "relu"), ("dense", 4), ("act", "sigmoid"), ("dense", 1)],
                             (3,), "sigmoid", {"l2": 0.7}),
    "sigmoid-linear": ([("dense", 4), ("act", "sigmoid"), ("dense", 2)], (3,), "linear", {"l1": 0.3}),
    "elu-leaky-tanh-mse": ([("dense", 5), ("act", "elu"), ("dense", 4), ("act", "leaky_relu"), ("dense", 2)],
                           (3,), "tanh", {"l2": 0.2, "l1": 0.1}),
    "dropout-fixed": ([("dense", 8), ("act", "relu"), ("drop", 0.6), ("dense", 3)], (4,), "softmax",
                      {"l2": 0.5, "l1": 0.2}),
    "batchnorm": ([("dense_nobias", 6), ("bn",), ("act", "relu"), ("dense", 5), ("act", "tanh"), ("dense", 3)],
                  (4,), "softmax", {"l2": 0.1}),
    "batchnorm-sigmoid-out": ([("dense_nobias", 5), ("bn",), ("act", "tanh"), ("dense", 2)], (3,), "sigmoid", {}),
    "nhwc-batchnorm-flatten": ([("bn",), ("flatten",), ("dense", 4), ("act", "tanh"), ("dense", 3)], (2, 2, 3),
                               "softmax", {"l2": 0.3}),
}


@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_network_gradient_check(name):
    spec, input_shape, output, reg = ARCHITECTURES[name]
    rng = np.random.default_rng(1)
    net = _build(spec, input_shape, output)
    net.set_dropout_mode("fixed")
    m = 7
    x = rng.standard_normal((m,) + input_shape)
    y = _targets(output, m, net.output_shape[0], rng)
    state_before = {k: v.copy() for k, v in net.state().items()}
    report = check_gradients(net, x, y, **reg)
    assert report.difference < 1e-7, [(t.key, t.difference) for t in report.tensors]
    assert report.verdict() == "pass"
    for t in report.tensors:
        assert t.difference < 1e-7, (t.key, t.difference)
        assert t.checked == t.size and not t.sampled
    assert [t.key for t in report.tensors] == [s.key for s in net.slots]
    # the check leaves the batch-norm running statistics as they were before it ran
    for key, value in net.state().items():
        np.testing.assert_array_equal(value, state_before[key])


def test_dropout_fixed_mask_really_drops_units_in_the_check():
    net = _build([("dense", 8), ("act", "tanh"), ("drop", 0.6), ("dense", 3)], (4,), "softmax")
    net.set_dropout_mode("fixed")
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 4))  # one example: a dropped unit is dropped for the whole batch
    y = _targets("softmax", 1, 3, rng)
    report = check_gradients(net, x, y)
    assert report.difference < 1e-7
    mask = [layer for layer in net.layers if isinstance(layer, Dropout)][0]._mask[0]
    dropped, kept = np.flatnonzero(mask == 0), np.flatnonzero(mask != 0)
    assert len(dropped) > 0 and len(kept) > 0
    np.testing.assert_allclose(mask[kept], 1 / 0.6, rtol=1e-15)
    g = net.grad_tensors()
    np.testing.assert_array_equal(g["d0/W"][dropped], 0.0)
    np.testing.assert_array_equal(g["d0/b"][0, dropped], 0.0)
    np.testing.assert_array_equal(g["d3/W"][:, dropped], 0.0)
    assert np.all(np.abs(g["d0/W"][kept]).sum(axis=1) > 0)


def test_bias_before_batchnorm_gets_zero_gradient():
    net = _build([("dense", 4), ("bn",), ("act", "tanh"), ("dense", 2)], (3,), "softmax")
    rng = np.random.default_rng(2)
    net.loss_and_grad(rng.standard_normal((6, 3)), _targets("softmax", 6, 2, rng))
    np.testing.assert_allclose(net.grad_tensors()["d0/b"], 0.0, atol=1e-15)


def test_backprop_stops_at_the_first_layer_with_parameters():
    layers = [Flatten("flat"), Dropout("drop", 0.8, np.random.default_rng(0)), Dense("d1", 3), Dense("d2", 2)]
    net = Network(layers, make_loss("auto", "softmax"), (2, 2, 1), dtype=np.float64)
    net.initialize(np.random.default_rng(1))
    asked = []
    for layer in layers:
        layer.backward = lambda dy, need_dx=True, _b=layer.backward, _n=layer.name: asked.append((_n, need_dx)) or _b(dy, need_dx)
    rng = np.random.default_rng(2)
    net.loss_and_grad(rng.standard_normal((4, 2, 2, 1)), _targets("softmax", 4, 2, rng), l2=0.1)
    assert asked == [("d2", True), ("d1", False)]


def test_with_dtype_gives_an_independent_float64_copy():
    layers = [Dense("d1", 3), Activate("a1", "relu"), Dense("d2", 2)]
    net = Network(layers, make_loss("auto", "softmax"), (4,), dtype=np.float32)
    net.initialize(np.random.default_rng(0))
    clone = net.with_dtype(np.float64)
    assert clone.dtype == np.float64 and clone.theta.dtype == np.float64
    np.testing.assert_array_equal(clone.theta, net.theta.astype(np.float64))
    clone.theta[:] = 0
    assert np.any(net.theta != 0)
    assert all(np.shares_memory(p, clone.theta) for p in clone.tensors().values())
    rng = np.random.default_rng(1)
    x = rng.standard_normal((5, 4))
    report = check_gradients(net.with_dtype(np.float64), x, _targets("softmax", 5, 2, rng))
    assert report.difference < 1e-7


def test_gradient_check_refuses_float32():
    layers = [Dense("d1", 2)]
    net = Network(layers, make_loss("auto", "linear"), (3,), dtype=np.float32)
    with pytest.raises(ValueError, match="float64"):
        check_gradients(net, np.zeros((2, 3)), np.zeros((2, 2)))


def test_full_batch_gd_decreases_the_cost():
    net = _build([("dense", 6), ("act", "tanh"), ("dense", 3)], (4,), "softmax")
    rng = np.random.default_rng(3)
    x = rng.standard_normal((30, 4))
    y = _targets("softmax", 30, 3, rng)
    costs = []
    for _ in range(30):
        costs.append(net.loss_and_grad(x, y, l2=0.01))
        net.theta -= 0.5 * net.grad
    assert all(b < a for a, b in zip(costs, costs[1:]))
    assert costs[-1] < 0.8 * costs[0]


def test_float32_gradients_agree_with_float64():
    net64 = _build([("dense_nobias", 6), ("bn",), ("act", "relu"), ("drop", 0.8), ("dense", 3)], (4,), "softmax")
    net32 = net64.with_dtype(np.float32)
    assert net32.theta.dtype == np.float32
    net32.set_dropout_mode("off")
    net64.set_dropout_mode("off")
    rng = np.random.default_rng(5)
    x = rng.standard_normal((9, 4))
    y = _targets("softmax", 9, 3, rng)
    j32 = net32.loss_and_grad(x.astype(np.float32), y.astype(np.float32), l2=0.1)
    j64 = net64.loss_and_grad(x, y, l2=0.1)
    assert net32.grad.dtype == np.float32
    assert j32 == pytest.approx(j64, rel=1e-5)
    np.testing.assert_allclose(net32.grad, net64.grad, rtol=1e-3, atol=1e-5)


def test_reused_buffers_across_batch_sizes():
    net = _build([("dense_nobias", 5), ("bn",), ("act", "tanh"), ("drop", 0.7), ("dense", 3)], (4,), "softmax")
    net.set_dropout_mode("fixed")
    rng = np.random.default_rng(6)
    big, small = rng.standard_normal((8, 4)), rng.standard_normal((3, 4))
    yb, ys = _targets("softmax", 8, 3, rng), _targets("softmax", 3, 3, rng)
    net.loss_and_grad(big, yb)
    net.loss_and_grad(small, ys)  # shapes change: every scratch buffer must follow
    assert check_gradients(net, small, ys).difference < 1e-7
    assert check_gradients(net, big, yb).difference < 1e-7


def test_inference_outputs_are_not_overwritten_by_later_calls():
    net = _build([("dense", 5), ("act", "relu"), ("dense", 3)], (4,), "softmax")
    rng = np.random.default_rng(7)
    x1, x2 = rng.standard_normal((6, 4)), rng.standard_normal((6, 4))
    z1 = net.forward(x1)
    kept = z1.copy()
    net.forward(x2)
    net.forward(x2, training=True)
    np.testing.assert_array_equal(z1, kept)
    np.testing.assert_array_equal(net.forward(x1), kept)
    np.testing.assert_array_equal(net.forward(x1, training=True), kept)
