"""The gradient-checking library must catch broken backward passes and name the right tensor (docs/explanation/algorithms.md#gradient-checking)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nnctl.nn.gradcheck import TensorCheck, check_gradients, classify, relative_difference
from nnctl.nn.layers import Activate, BatchNorm, Dense, Layer
from nnctl.nn.losses import Loss, SoftmaxCrossEntropy, make_loss
from nnctl.nn.network import Network

M = 4


# ---------------------------------------------------------------- deliberately broken pieces


class WrongSignBias(Dense):
    """db with the wrong sign; dW and dA_prev are right."""

    def backward(self, dy, need_dx=True):
        dx = super().backward(dy, need_dx)
        self.grads["b"] *= -1
        return dx


class NoActivationGrad(Activate):
    """Forgets the g'(Z) factor: dZ = dA."""

    def backward(self, dy, need_dx=True):
        return dy.copy()


class BatchNormMissingTerm(BatchNorm):
    """Drops the −ẑ·mean(g·ẑ) term of dZ; dγ and dβ are right."""

    def backward(self, dy, need_dx=True):
        g_out = dy.reshape(-1, self.channels)
        np.sum(g_out * self._zhat, axis=0, keepdims=True, out=self.grads["gamma"])
        np.sum(g_out, axis=0, keepdims=True, out=self.grads["beta"])
        g = g_out * self.params["gamma"]
        return ((g - g.mean(axis=0, keepdims=True)) * self._inv_std).reshape(dy.shape)


class CrossEntropyWithoutMean(SoftmaxCrossEntropy):
    """dZ = A − Y instead of (A − Y)/m."""

    def grad(self, z, y, out=None):
        return super().grad(z, y, out=out) * z.shape[0]


def _data(n_in=3, n_out=3, m=M, seed=1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((m, n_in)), np.eye(n_out)[rng.integers(0, n_out, m)]


def _net(layers, loss=None, n_in=3, seed=0):
    net = Network(layers, loss or make_loss("auto", "softmax"), (n_in,), dtype=np.float64)
    rng = np.random.default_rng(seed)
    net.initialize(rng)
    net.theta += 0.1 * rng.standard_normal(net.theta.size)
    return net


def _mlp(activate=Activate, output=Dense, loss=None):
    """h (5 tanh units) → out (3 classes): the small net whose pieces the tests below break one at a time."""
    return _net([Dense("h", 5, init="xavier"), activate("act", "tanh"), output("out", 3, init="xavier")], loss)


def _verdicts(report):
    return {t.key: t.verdict() for t in report.tensors}


def _by_key(report):
    return {t.key: t for t in report.tensors}


def _worst(report):
    return max(report.tensors, key=lambda t: t.difference)


# ---------------------------------------------------------------- a correct net passes


def test_correct_network_passes_every_tensor():
    report = check_gradients(_mlp(), *_data())
    assert report.verdict() == "pass"
    assert _verdicts(report) == {"h/W": "pass", "out/W": "pass", "h/b": "pass", "out/b": "pass"}


# ---------------------------------------------------------------- broken nets are pinned down


def test_wrong_sign_in_db_is_pinned_to_that_bias():
    report = check_gradients(_mlp(output=WrongSignBias), *_data())
    tensors = _by_key(report)
    assert _worst(report).key == "out/b"
    assert tensors["out/b"].verdict() == "fail"
    assert tensors["out/b"].difference == pytest.approx(1.0, rel=1e-6)  # ‖−g − g‖ / (‖g‖ + ‖g‖)
    for key in ("h/W", "h/b", "out/W"):
        assert tensors[key].verdict() == "pass", (key, tensors[key].difference)
    assert report.verdict() == "fail"
    # the worst coordinates show the flipped sign: analytic = −numerical
    for index, analytic, numerical in tensors["out/b"].worst:
        assert 0 <= index < 3
        assert analytic == pytest.approx(-numerical, rel=1e-5)


def test_missing_activation_derivative_fails_only_upstream_tensors():
    report = check_gradients(_mlp(activate=NoActivationGrad), *_data())
    assert _verdicts(report) == {"h/W": "fail", "h/b": "fail", "out/W": "pass", "out/b": "pass"}
    assert _worst(report).key in ("h/W", "h/b")


def test_missing_batchnorm_term_fails_the_weights_before_it():
    net = _net([Dense("h", 5, init="xavier", use_bias=False), BatchNormMissingTerm("bn"),
                Activate("act", "tanh"), Dense("out", 3, init="xavier")])
    report = check_gradients(net, *_data())
    tensors = _by_key(report)
    assert _worst(report).key == "h/W"
    assert tensors["h/W"].verdict() == "fail"
    for key in ("bn/gamma", "bn/beta", "out/W", "out/b"):
        assert tensors[key].verdict() == "pass", (key, tensors[key].difference)


def test_loss_missing_one_over_m_fails_everything_by_the_factor_m():
    report = check_gradients(_mlp(loss=CrossEntropyWithoutMean()), *_data())
    # analytic = m · numerical: relative difference (m − 1)/(m + 1) = 0.6 for m = 4
    for t in report.tensors:
        assert t.verdict() == "fail"
        assert t.difference == pytest.approx((M - 1) / (M + 1), rel=1e-6)
    assert report.difference == pytest.approx(0.6, rel=1e-6)
    assert report.verdict() == "fail"


def test_missing_penalty_gradient_fails_weights_and_not_biases(monkeypatch):
    net = _mlp()
    x, y = _data()
    original = net.loss_and_grad

    def forgets_penalty_gradient(x, y, l2=0.0, l1=0.0):
        return original(x, y) + net.penalty(len(x), l2, l1)  # right J, gradient without the λ terms

    monkeypatch.setattr(net, "loss_and_grad", forgets_penalty_gradient)
    report = check_gradients(net, x, y, l2=1.0, l1=0.5)
    assert _verdicts(report) == {"h/W": "fail", "out/W": "fail", "h/b": "pass", "out/b": "pass"}
    assert _worst(report).key in ("h/W", "out/W")
    # with the real method the same check passes
    monkeypatch.undo()
    assert check_gradients(net, x, y, l2=1.0, l1=0.5).verdict() == "pass"


# ---------------------------------------------------------------- sampling


def test_max_checks_samples_and_reports_sampled():
    net = _mlp(output=WrongSignBias)
    x, y = _data()
    report = check_gradients(net, x, y, max_checks=4, rng=np.random.default_rng(9))
    tensors = _by_key(report)
    assert (tensors["h/W"].checked, tensors["h/W"].size, tensors["h/W"].sampled) == (4, 15, True)
    assert (tensors["h/b"].checked, tensors["h/b"].size, tensors["h/b"].sampled) == (4, 5, True)
    assert (tensors["out/W"].checked, tensors["out/W"].size, tensors["out/W"].sampled) == (4, 15, True)
    assert (tensors["out/b"].checked, tensors["out/b"].size, tensors["out/b"].sampled) == (3, 3, False)
    assert tensors["out/b"].verdict() == "fail" and tensors["h/W"].verdict() == "pass"
    for t in report.tensors:
        assert all(0 <= index < t.size for index, _, _ in t.worst)
        assert len({index for index, _, _ in t.worst}) == len(t.worst) == min(5, t.checked)
    again = check_gradients(net, x, y, max_checks=4, rng=np.random.default_rng(9))
    assert [sorted(i for i, _, _ in t.worst) for t in again.tensors] == \
        [sorted(i for i, _, _ in t.worst) for t in report.tensors]


# ---------------------------------------------------------------- verdicts and the difference formula


def test_verdict_thresholds():
    assert classify(0.0) == "pass"
    assert classify(1e-7) == "pass"
    assert classify(1.01e-7) == "warn"
    assert classify(1e-5) == "warn"
    assert classify(1.01e-5) == "fail"
    assert classify(0.5) == "fail"
    assert classify(2e-6, warn=1e-5, fail=1e-3) == "pass"


def test_tensor_verdict_unresolved_only_within_rounding_noise():
    noisy = TensorCheck("h/W", 10, 10, difference=1e-3, error=1e-12, resolution=1e-10)
    assert noisy.verdict() == "unresolved"
    real = TensorCheck("h/W", 10, 10, difference=1e-3, error=1e-6, resolution=1e-10)
    assert real.verdict() == "fail"
    fine = TensorCheck("h/W", 10, 10, difference=1e-9, error=0.0, resolution=1e-10)
    assert fine.verdict() == "pass"


def test_relative_difference_hand_values():
    assert relative_difference(np.zeros(3), np.zeros(3)) == 0.0
    assert relative_difference(np.array([3.0, 4.0]), np.zeros(2)) == 1.0
    assert relative_difference(np.array([1.0, 2.0]), np.array([1.0, 2.0])) == 0.0
    # ‖(0, 1)‖ / (‖(1, 1)‖ + ‖(1, 0)‖) = 1 / (√2 + 1)
    assert relative_difference(np.array([1.0, 1.0]), np.array([1.0, 0.0])) == pytest.approx(1 / (math.sqrt(2) + 1),
                                                                                             rel=1e-15)


def test_two_sided_versus_one_sided_on_theta_cubed():
    def f(t):
        return t ** 3

    eps = 0.01
    two_sided = (f(1 + eps) - f(1 - eps)) / (2 * eps)
    one_sided = (f(1 + eps) - f(1)) / eps
    assert two_sided == pytest.approx(3.0001, abs=1e-12)
    assert one_sided == pytest.approx(3.0301, abs=1e-12)
    assert two_sided - 3 == pytest.approx(eps ** 2, rel=1e-8)  # O(ε²)
    assert one_sided - 3 == pytest.approx(0.0301, rel=1e-8)  # O(ε): 3ε + ε²


class Cube(Layer):
    """One parameter w; the output is x·w³ (backward: dW = Σ dy·x·3w², dx = dy·w³)."""

    def param_shapes(self):
        return {"w": (1, 1)}

    def forward(self, x, training):
        self._x = x
        return x * self.params["w"] ** 3

    def backward(self, dy, need_dx=True):
        self.grads["w"][...] = (dy * self._x).sum() * 3 * self.params["w"] ** 2
        return dy * self.params["w"] ** 3 if need_dx else None


class SumLoss(Loss):
    """J = (1/m) Σ z, so on x = [[1]] the network's J(θ) is exactly θ³."""

    name = "sum"

    def __init__(self):
        super().__init__("linear")

    def cost(self, z, y):
        return float(z.sum() / z.shape[0])

    def grad(self, z, y, out=None):
        return np.full_like(z, 1.0 / z.shape[0])


def _cube(theta=1.0):
    net = Network([Cube("cube")], SumLoss(), (1,), dtype=np.float64)
    net.theta[0] = theta
    return net


def test_check_gradients_uses_the_two_sided_difference():
    cube = _cube()
    x, y = np.ones((1, 1)), np.zeros((1, 1))
    assert cube.loss_and_grad(x, y) == 1.0 and cube.grad[0] == 3.0
    report = check_gradients(cube, x, y, eps=0.01)
    (t,) = report.tensors
    index, analytic, numerical = t.worst[0]
    assert (index, analytic) == (0, 3.0)
    assert numerical == pytest.approx(3.0001, abs=1e-10)  # one-sided would give 3.0301
    assert t.difference == pytest.approx(1e-4 / 6.0001, rel=1e-6)
    assert t.verdict() == "fail"  # 1.67e-5 > 1e-5
    assert cube.theta[0] == 1.0  # θ restored
    tight = check_gradients(_cube(), x, y, eps=1e-3)
    assert tight.tensors[0].worst[0][2] == pytest.approx(3.000001, abs=1e-9)
    assert tight.verdict() == "warn"  # 1.67e-7
