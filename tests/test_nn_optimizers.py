"""Optimizers on the flat θ (docs/explanation/algorithms.md#optimizers).

Expected values are computed here from the formulas with plain Python floats, one
coordinate at a time, never by calling the code under test.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

from nnctl.nn import optimizers
from nnctl.nn.optimizers import FLUSH_EVERY, flush_denormals
from nnctl.spec.schema import OPTIMIZER_SPECS

THETA0 = [1.0, -2.0, 0.5]
GRADS = [[0.5, -1.0, 0.0], [0.2, 0.3, -4.0], [-0.4, 0.1, 2.0]]
LR = 0.1


def make_optimizer(name, size, dtype, n_decayed=0, **hyper):
    """The core's optimizer with the spec's defaults for the hyperparameters not given (the core has none)."""
    defaults = OPTIMIZER_SPECS[name]().model_dump(exclude={"name"})
    return optimizers.make_optimizer(name, size, dtype, n_decayed, **{**defaults, **hyper})


def run(name, steps=3, lr=LR, n_decayed=0, **hyper):
    """θ after each of ``steps`` steps with the GRADS sequence."""
    opt = make_optimizer(name, 3, np.float64, n_decayed, **hyper)
    theta = np.array(THETA0)
    history = []
    for g in GRADS[:steps]:
        opt.step(theta, np.array(g), lr)
        history.append(theta.copy())
    return history, opt


def assert_history(history, expected, rtol=1e-14):
    assert len(history) == len(expected)
    for got, want in zip(history, expected):
        np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-16)


# ---------------------------------------------------------------- GD


def test_gd_hand_values():
    history, opt = run("gd")
    assert_history(history, [
        [1.0 - 0.05, -2.0 + 0.1, 0.5],
        [1.0 - 0.05 - 0.02, -2.0 + 0.1 - 0.03, 0.5 + 0.4],
        [1.0 - 0.05 - 0.02 + 0.04, -2.0 + 0.1 - 0.03 - 0.01, 0.5 + 0.4 - 0.2],
    ])
    assert opt.t == 3


# ---------------------------------------------------------------- momentum


def momentum_reference(beta, dampened, nesterov):
    w = 1 - beta if dampened else 1.0
    out, theta, v = [], list(THETA0), [0.0, 0.0, 0.0]
    for g in GRADS:
        for i in range(3):
            v[i] = beta * v[i] + w * g[i]
            step = beta * v[i] + w * g[i] if nesterov else v[i]
            theta[i] -= LR * step
        out.append(list(theta))
    return out


def test_momentum_dampened_hand_values():
    history, _ = run("momentum")
    # step 1: v = 0.1·g1 = (0.05, −0.1, 0); step 2: v = 0.9·v + 0.1·g2 = (0.065, −0.06, −0.4)
    np.testing.assert_allclose(history[0], [1.0 - 0.005, -2.0 + 0.01, 0.5], rtol=1e-15)
    np.testing.assert_allclose(history[1], [1.0 - 0.005 - 0.0065, -2.0 + 0.01 + 0.006, 0.5 + 0.04], rtol=1e-14)
    assert_history(history, momentum_reference(0.9, True, False))


def test_momentum_undamped_hand_values():
    history, _ = run("momentum", dampened=False)
    # v = g1; then v = 0.9·g1 + g2 = (0.65, −0.6, −4)
    np.testing.assert_allclose(history[0], [1.0 - 0.05, -2.0 + 0.1, 0.5], rtol=1e-15)
    np.testing.assert_allclose(history[1], [1.0 - 0.05 - 0.065, -2.0 + 0.1 + 0.06, 0.5 + 0.4], rtol=1e-14)
    assert_history(history, momentum_reference(0.9, False, False))


def test_momentum_other_beta():
    history, _ = run("momentum", beta=0.5)
    assert_history(history, momentum_reference(0.5, True, False))


@pytest.mark.parametrize("dampened", [True, False])
def test_nesterov_hand_values(dampened):
    history, _ = run("momentum", nesterov=True, dampened=dampened)
    w = 0.1 if dampened else 1.0
    # step 1: v = w·g; θ −= α(β·v + w·g) = α·w·g·(1 + β)
    np.testing.assert_allclose(history[0], [1.0 - LR * w * 0.5 * 1.9, -2.0 + LR * w * 1.9, 0.5], rtol=1e-14)
    assert_history(history, momentum_reference(0.9, dampened, True))
    assert not np.allclose(history[1], momentum_reference(0.9, dampened, False)[1])


# ---------------------------------------------------------------- RMSprop


def test_rmsprop_hand_values():
    history, _ = run("rmsprop")
    # step 1: s = 0.1·g², θ −= α·g/(√(0.1)|g| + ε)
    r = math.sqrt(0.1)
    np.testing.assert_allclose(history[0], [1.0 - LR * 0.5 / (r * 0.5 + 1e-8), -2.0 + LR * 1.0 / (r + 1e-8), 0.5],
                               rtol=1e-15)
    theta, s = list(THETA0), [0.0] * 3
    expected = []
    for g in GRADS:
        for i in range(3):
            s[i] = 0.9 * s[i] + 0.1 * g[i] ** 2
            theta[i] -= LR * g[i] / (math.sqrt(s[i]) + 1e-8)
        expected.append(list(theta))
    assert_history(history, expected)


def test_rmsprop_epsilon_and_beta():
    history, _ = run("rmsprop", steps=1, beta=0.5, epsilon=0.25)
    # s = 0.5·g²; step = α·g/(√0.5·|g| + 0.25)
    np.testing.assert_allclose(history[0], [1.0 - LR * 0.5 / (math.sqrt(0.5) * 0.5 + 0.25),
                                            -2.0 + LR * 1.0 / (math.sqrt(0.5) + 0.25), 0.5], rtol=1e-15)


# ---------------------------------------------------------------- Adam


def adam_reference(lr=LR, b1=0.9, b2=0.999, eps=1e-8, wd=0.0, n_decayed=0, steps=3):
    out, theta, v, s = [], list(THETA0), [0.0] * 3, [0.0] * 3
    for t, g in enumerate(GRADS[:steps], start=1):
        for i in range(3):
            if i < n_decayed:
                theta[i] -= lr * wd * theta[i]
            v[i] = b1 * v[i] + (1 - b1) * g[i]
            s[i] = b2 * s[i] + (1 - b2) * g[i] ** 2
            v_hat = v[i] / (1 - b1 ** t)
            s_hat = s[i] / (1 - b2 ** t)
            theta[i] -= lr * v_hat / (math.sqrt(s_hat) + eps)
        out.append(list(theta))
    return out


def test_adam_bias_correction_first_two_steps():
    history, opt = run("adam")
    # t = 1: v̂ = g, ŝ = g², so the step is α·g/(|g| + ε) ≈ α·sign(g)
    np.testing.assert_allclose(history[0], [1.0 - LR * 0.5 / (0.5 + 1e-8), -2.0 + LR * 1.0 / (1.0 + 1e-8), 0.5],
                               rtol=1e-14)
    assert history[0][0] == pytest.approx(0.9, abs=1e-8)
    # t = 2, coordinate 0: v = 0.9·0.05 + 0.1·0.2 = 0.065, s = 0.999·0.00025 + 0.001·0.04 = 0.00028975
    v_hat = 0.065 / (1 - 0.9**2)  # 0.342105...
    s_hat = 0.00028975 / (1 - 0.999**2)
    assert v_hat == pytest.approx(0.3421052631578947, rel=1e-14)
    step2 = LR * v_hat / (math.sqrt(s_hat) + 1e-8)
    assert step2 == pytest.approx(0.0898575, rel=1e-6)
    assert history[1][0] == pytest.approx(history[0][0] - step2, rel=1e-14)
    # without the bias correction the second step would be 0.1·0.065/√0.00028975 ≈ 0.382
    assert abs(LR * 0.065 / (math.sqrt(0.00028975) + 1e-8) - step2) > 0.25
    assert_history(history, adam_reference(), rtol=1e-13)
    assert opt.t == 3


def test_adam_hyperparameters():
    history, _ = run("adam", beta1=0.5, beta2=0.9, epsilon=1e-3)
    assert_history(history, adam_reference(b1=0.5, b2=0.9, eps=1e-3), rtol=1e-13)


def test_adamw_decay_only_on_the_first_n_decayed():
    opt = make_optimizer("adam", 4, np.float64, 2, weight_decay=0.1)
    theta = np.array([1.0, -2.0, 3.0, -4.0])
    opt.step(theta, np.zeros(4), 0.01)  # zero gradient: the Adam step is 0/(0 + ε) = 0
    np.testing.assert_array_equal(theta, [1.0 * (1 - 0.001), -2.0 * (1 - 0.001), 3.0, -4.0])
    history, _ = run("adam", n_decayed=2, weight_decay=0.5)
    assert_history(history, adam_reference(wd=0.5, n_decayed=2), rtol=1e-13)
    assert history[-1][2] == pytest.approx(adam_reference()[-1][2], rel=1e-14)  # the third entry is not decayed


def test_adam_without_weight_decay_ignores_n_decayed():
    history, _ = run("adam", n_decayed=3)
    assert_history(history, adam_reference(), rtol=1e-13)


def test_adam_converges_on_a_quadratic():
    opt = make_optimizer("adam", 1, np.float64)
    w = np.zeros(1)
    for _ in range(1000):
        opt.step(w, 2 * (w - 5.0), 0.1)
    assert abs(w[0] - 5.0) < 1e-4


# ---------------------------------------------------------------- state round trip


@pytest.mark.parametrize("name, hyper", [
    ("gd", {}), ("momentum", {}), ("momentum", {"nesterov": True}), ("rmsprop", {}), ("adam", {}),
    ("adam", {"weight_decay": 0.01}),
])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_state_dict_round_trip_continues_bit_identically(name, hyper, dtype):
    rng = np.random.default_rng(0)
    grads = rng.standard_normal((10, 6)).astype(dtype)
    a = make_optimizer(name, 6, dtype, 3, **hyper)
    theta_a = rng.standard_normal(6).astype(dtype)
    for g in grads[:5]:
        a.step(theta_a, g, 0.01)
    saved = copy.deepcopy(a.state_dict())
    assert saved["t"] == 5
    assert set(saved) == {"t", *a.moments}
    theta_b = theta_a.copy()
    b = make_optimizer(name, 6, dtype, 3, **hyper)
    b.load_state_dict(saved)
    for g in grads[5:]:
        a.step(theta_a, g, 0.01)
        b.step(theta_b, g, 0.01)
        assert np.array_equal(theta_a, theta_b)
    assert b.t == a.t == 10
    for key in a.moments:
        assert np.array_equal(a.state[key], b.state[key])


def test_loading_state_without_t_would_change_adam():
    # the step counter matters: a fresh t restarts the bias correction
    rng = np.random.default_rng(1)
    a = make_optimizer("adam", 2, np.float64)
    theta = np.ones(2)
    for _ in range(5):
        a.step(theta, rng.standard_normal(2), 0.01)
    state = copy.deepcopy(a.state_dict())
    b = make_optimizer("adam", 2, np.float64)
    b.load_state_dict({**state, "t": 0})
    ta, tb, g = theta.copy(), theta.copy(), np.array([0.3, -0.2])
    a.step(ta, g, 0.01)
    b.step(tb, g, 0.01)
    assert not np.array_equal(ta, tb)


# ---------------------------------------------------------------- denormals


def test_flush_denormals_float64():
    tiny = np.finfo(np.float64).tiny
    arr = np.array([1e-310, -1e-320, 1e-300, 0.0, tiny, -tiny, 1.0])
    flush_denormals(arr)
    np.testing.assert_array_equal(arr, [0.0, 0.0, 1e-300, 0.0, tiny, -tiny, 1.0])


def test_flush_denormals_float32():
    tiny = np.finfo(np.float32).tiny
    arr = np.array([1e-40, -1e-42, 1e-37, tiny, -5.0], dtype=np.float32)
    flush_denormals(arr)
    np.testing.assert_array_equal(arr, np.array([0.0, 0.0, 1e-37, tiny, -5.0], dtype=np.float32))


def test_optimizer_flushes_its_moments_every_flush_every_steps():
    assert FLUSH_EVERY == 128
    opt = make_optimizer("momentum", 2, np.float32, beta=1.0, dampened=False)  # v keeps its value
    opt.state["v"][...] = [1e-40, 1.0]  # a denormal float32 and a normal number
    theta = np.zeros(2, dtype=np.float32)
    zero = np.zeros(2, dtype=np.float32)
    for _ in range(FLUSH_EVERY - 1):
        opt.step(theta, zero, 0.0)
    assert opt.state["v"][0] == np.float32(1e-40)  # not yet
    opt.step(theta, zero, 0.0)
    assert opt.state["v"][0] == 0.0 and opt.state["v"][1] == 1.0


def test_make_optimizer_names():
    assert set(optimizers.OPTIMIZERS) == {"gd", "momentum", "rmsprop", "adam"}
    with pytest.raises(ValueError, match="unknown optimizer 'nadam'"):  # one kind of error, as for an unknown schedule
        optimizers.make_optimizer("nadam", 5, np.float32)
    for name in optimizers.OPTIMIZERS:
        opt = make_optimizer(name, 5, np.float32, 2)
        assert opt.decayed == [slice(0, 2)] and opt.t == 0
        assert all(arr.dtype == np.float32 and arr.shape == (5,) and not arr.any() for arr in opt.state.values())
