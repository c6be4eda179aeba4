"""The kernel layer (nnctl/nn/kernels): the compiled kernels give the reference's bits, kernel by kernel and
over whole training runs, and both agree with the loop definitions of nnctl/nn/conv_reference.py.

"The same bits" is checked on the raw bytes, so signed zeros and NaNs count too.
"""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest

from nnctl.errors import MissingExtraError
from nnctl.nn import kernels
from nnctl.nn.activations import ACTIVATIONS
from nnctl.nn.conv import AvgPool, Conv2D, MaxPool
from nnctl.nn.conv_reference import avg_pool_backward, conv2d_backward, conv2d_forward, max_pool_backward, pool_forward
from nnctl.nn.kernels import choice
from nnctl.nn.optimizers import make_optimizer
from tests.conftest import h5_datasets, invoke, invoke_json, train_run, write_spec

compiled_only = pytest.mark.skipif(not choice.compiled_installed(), reason="the fast extra (numba) is not installed")
DTYPES = [np.float32, np.float64]


def same_bits(a, b) -> bool:
    a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def in_both(run):
    """``run()`` under each implementation; asserts that every array it returns has the same bits, and
    returns the reference's results."""
    results = {}
    for name in ("numpy", "compiled"):
        with kernels.using(name):
            results[name] = [np.array(a, copy=True) for a in run()]
    for k, (ref, fast) in enumerate(zip(results["numpy"], results["compiled"])):
        assert same_bits(ref, fast), f"result {k} differs: max |Δ| {np.nanmax(np.abs(ref - fast))}"
    return results["numpy"]


@pytest.fixture(params=[1, 2], ids=["1 thread", "2 threads"])
def threads(request, monkeypatch):
    """Every pass whole on one thread, and (almost) every pass as two halves on two: the split must not change a bit."""
    from nnctl.nn.kernels import halves

    monkeypatch.setattr(halves, "SPLIT_ROWS", 10**9 if request.param == 1 else 2)
    monkeypatch.setattr(halves, "cores", lambda: 2)
    if choice.compiled_installed():
        from nnctl.nn.kernels import compiled

        monkeypatch.setattr(compiled, "ELEMENTWISE_SPLIT", 10**9 if request.param == 1 else 2)
    return request.param


def tied(rng, shape, dtype):
    """Values from a handful of levels, so that most windows hold tied maxima; a few signed zeros and -inf."""
    x = rng.integers(-2, 3, shape).astype(dtype) * dtype(0.5)
    flat = x.reshape(-1)
    flat[rng.integers(0, flat.size, 7)] = -0.0
    flat[rng.integers(0, flat.size, 3)] = -np.inf
    return x


# ---------------------------------------------------------------- pooling

POOLS = [  # size, stride, input (H, W, C): tiling, overlapping, gaps, odd sizes, leftovers
    (2, 2, (8, 6, 3)),
    (2, 2, (6, 4, 16)),
    (2, 2, (7, 9, 4)),
    (3, 2, (7, 9, 2)),
    (2, 3, (8, 8, 2)),
    (3, 3, (7, 8, 5)),
    (1, 1, (3, 3, 2)),
    (2, 1, (5, 5, 1)),
    (4, 4, (8, 12, 6)),
]


def pool_layer(kind, size, stride, shape):
    layer = kind("p", size, stride)
    layer.build(shape)
    return layer


@compiled_only
@pytest.mark.parametrize(("size", "stride", "shape"), POOLS)
@pytest.mark.parametrize("m", [5, 40])  # 40: the reference's two batch halves
@pytest.mark.parametrize("dtype", DTYPES)
def test_max_pool_gives_the_same_bits_and_the_reference_values(size, stride, shape, m, dtype, threads):
    rng = np.random.default_rng(size * 10 + stride)
    x = tied(rng, (m, *shape), dtype)
    layer = pool_layer(MaxPool, size, stride, shape)
    dy = rng.standard_normal((m, *layer.out_hw, shape[2])).astype(dtype)
    dy.reshape(-1)[::5] *= -1

    def run():
        inference = layer.forward(x, training=False).copy()
        y = layer.forward(x, training=True)
        return inference, y, layer.backward(dy)

    inference, y, dx = in_both(run)
    assert same_bits(inference, y)
    np.testing.assert_array_equal(y, pool_forward(x, size, stride))
    expected = max_pool_backward(x, dy, size, stride)  # each window's first maximum gets its dy
    if stride >= size:
        np.testing.assert_array_equal(dx, expected)
    else:  # overlapping windows add up in another order there
        tol = 1e-6 if dtype == np.float32 else 1e-15
        np.testing.assert_allclose(dx, expected, rtol=tol, atol=tol)


@compiled_only
@pytest.mark.parametrize(("size", "stride", "shape"), POOLS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_avg_pool_gives_the_same_bits_and_the_reference_values(size, stride, shape, dtype, threads):
    rng = np.random.default_rng(size + stride)
    x = rng.standard_normal((7, *shape)).astype(dtype)
    layer = pool_layer(AvgPool, size, stride, shape)
    dy = rng.standard_normal((7, *layer.out_hw, shape[2])).astype(dtype)
    y, dx = in_both(lambda: (layer.forward(x, training=True), layer.backward(dy)))
    tol = 1e-6 if dtype == np.float32 else 1e-14
    np.testing.assert_allclose(y, pool_forward(x, size, stride, np.mean), rtol=tol, atol=tol)
    np.testing.assert_allclose(dx, avg_pool_backward(x.shape, dy, size, stride), rtol=tol, atol=tol)


@compiled_only
@pytest.mark.parametrize(("size", "stride", "shape"), [(2, 2, (6, 8, 3)), (3, 3, (6, 9, 2)), (2, 1, (5, 5, 2)), (3, 2, (7, 7, 2))])
def test_max_pool_with_nans_gives_the_same_bits(size, stride, shape, threads):
    """A NaN wins its window and keeps the tap it first appeared in, in both implementations."""
    rng = np.random.default_rng(3)
    x = tied(rng, (40, *shape), np.float32)
    x.reshape(-1)[rng.integers(0, x.size, 25)] = np.nan
    layer = pool_layer(MaxPool, size, stride, shape)
    dy = rng.standard_normal((40, *layer.out_hw, shape[2])).astype(np.float32)
    y, dx = in_both(lambda: (layer.forward(x, training=True), layer.backward(dy)))
    assert np.isnan(y).any() and not np.isnan(dx).any()


@compiled_only
def test_max_pool_backward_uses_the_kernels_of_its_forward_pass():
    """The argmax state is each implementation's own: a switch between forward and backward must not mix them."""
    layer = pool_layer(MaxPool, 2, 2, (4, 4, 1))
    x = np.arange(32, dtype=np.float64).reshape(2, 4, 4, 1)
    with kernels.using("compiled"):
        layer.forward(x, training=True)
    dx = layer.backward(np.ones((2, 2, 2, 1)))
    np.testing.assert_array_equal(dx, max_pool_backward(x, np.ones((2, 2, 2, 1)), 2, 2))


# ---------------------------------------------------------------- convolution: patch gather and scatter-add

CONVS = [  # filters, kernel, stride, padding, input (H, W, C)
    (6, 5, 1, "same", (28, 28, 1)),    # LeNet-5's conv1
    (16, 5, 1, "valid", (14, 14, 6)),  # and conv2
    (3, 3, 2, 1, (7, 7, 2)),
    (2, (3, 5), 1, "same", (6, 7, 2)),
    (4, 3, 3, 2, (9, 11, 3)),
    (5, 1, 2, 0, (6, 6, 4)),
    (2, 4, 1, "valid", (5, 6, 1)),
    (3, 2, 2, 3, (5, 5, 2)),           # padding wider than the stride: windows entirely in the border
]


@compiled_only
@pytest.mark.parametrize(("filters", "kernel", "stride", "padding", "shape"), CONVS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_convolution_gives_the_same_bits_and_the_reference_values(filters, kernel, stride, padding, shape, dtype, threads):
    from tests.test_conv import built

    rng = np.random.default_rng(filters)
    m = 33
    x = rng.standard_normal((m, *shape)).astype(dtype)
    layer = built(Conv2D("c", filters, kernel, stride, padding), shape, dtype=dtype, rng=rng)
    layer.params["b"][...] = rng.standard_normal(filters)
    dz = rng.standard_normal((m, *layer.out_hw, filters)).astype(dtype)

    def run():
        inference = layer.forward(x, training=False).copy()
        z = layer.forward(x, training=True)
        dx = layer.backward(dz)
        return inference, z, dx, layer.grads["W"], layer.grads["b"]

    inference, z, dx, dw, db = in_both(run)
    assert same_bits(inference, z)
    w, b = layer.params["W"].astype(np.float64), layer.params["b"].ravel().astype(np.float64)
    tol = 2e-4 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(z, conv2d_forward(x.astype(np.float64), w, b, stride, layer.padding), rtol=tol, atol=tol)
    ref_dw, ref_db, ref_dx = conv2d_backward(x.astype(np.float64), w, dz.astype(np.float64), stride, layer.padding)
    np.testing.assert_allclose(dx, ref_dx, rtol=tol, atol=tol)
    np.testing.assert_allclose(dw, ref_dw, rtol=tol, atol=tol * 10)
    np.testing.assert_allclose(db.ravel(), ref_db, rtol=tol, atol=tol * 10)


# ---------------------------------------------------------------- activations and the loss gradient

SPECIAL = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-45, -1e-45, 1e-300, -3.5, 2.25, 1e30, -1e30]


@compiled_only
@pytest.mark.parametrize("name", ["relu", "leaky_relu", "tanh", "elu"])  # tanh, elu: the reference's, through the same door
@pytest.mark.parametrize("dtype", DTYPES)
def test_activation_and_mask_give_the_same_bits(name, dtype, threads):
    rng = np.random.default_rng(1)
    z = np.concatenate([np.array(SPECIAL), rng.standard_normal(5000)]).astype(dtype).reshape(-1, 4)
    dy = np.concatenate([np.array(SPECIAL[::-1]), rng.standard_normal(5000)]).astype(dtype).reshape(-1, 4)
    activation = ACTIVATIONS[name]

    def run():
        kernel = kernels.active()
        with np.errstate(all="ignore"):
            a = kernel.activate(activation, z, np.empty_like(z))
            return a, kernel.activate_backward(activation, z, a, dy, np.empty_like(z))

    a, dz = in_both(run)
    with np.errstate(all="ignore"):
        assert same_bits(a, activation.forward(z))

    def into_strided_outputs():  # outputs that are views with gaps: written in place, never into a copy
        kernel, a_out, dz_out = kernels.active(), np.full((len(z), 5), 7, dtype), np.full((len(z), 5), 7, dtype)
        with np.errstate(all="ignore"):
            kernel.activate(activation, z, a_out[:, :4])
            kernel.activate_backward(activation, z, a, dy, dz_out[:, 1:])
        return a_out, dz_out

    a_out, dz_out = in_both(into_strided_outputs)
    assert same_bits(a_out[:, :4], a) and same_bits(dz_out[:, 1:], dz) and np.all(a_out[:, 4] == 7)


@compiled_only
@pytest.mark.parametrize("classes", [1, 2, 7, 8, 9, 10, 16, 17, 128, 129, 300])  # NumPy's pairwise sum: every branch
@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_cross_entropy_gradient_gives_the_same_bits(classes, dtype, threads):
    rng = np.random.default_rng(classes)
    z = (rng.standard_normal((37, classes)) * rng.choice([0.1, 3.0, 30.0], (37, 1))).astype(dtype)
    y = np.eye(classes, dtype=dtype)[rng.integers(0, classes, 37)]
    from nnctl.nn.losses import make_loss

    loss = make_loss("softmax_cross_entropy", "softmax")
    (d,) = in_both(lambda: [loss.grad(z, y, out=np.empty_like(z))])
    exp = np.exp(z.astype(np.float64) - z.max(axis=1, keepdims=True))
    tol = 1e-6 if dtype == np.float32 else 1e-15
    np.testing.assert_allclose(d, (exp / exp.sum(axis=1, keepdims=True) - y) / len(z), rtol=tol, atol=tol / len(z))


@compiled_only
@pytest.mark.parametrize("classes", [1, 2, 7, 8, 9, 10, 16, 17, 128, 129])
@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_cross_entropy_cost_gives_the_same_bits(classes, dtype):
    rng = np.random.default_rng(classes)
    m = 300  # the batch's sum: NumPy's pairwise summation past one block
    z = (rng.standard_normal((m, classes)) * rng.choice([0.1, 3.0, 30.0, 300.0], (m, 1))).astype(dtype)
    y = np.eye(classes, dtype=dtype)[rng.integers(0, classes, m)]
    y[::4] = rng.dirichlet(np.ones(classes), len(y[::4]))  # soft targets too
    from nnctl.nn.losses import make_loss

    loss = make_loss("softmax_cross_entropy", "softmax")
    (cost,) = in_both(lambda: [loss.cost(z, y)])
    z64, y64 = z.astype(np.float64), y.astype(np.float64)
    exact = np.mean([np.log(np.exp(zi - zi.max()).sum()) + zi.max() - yi @ zi for zi, yi in zip(z64, y64)])
    assert cost == pytest.approx(exact, rel=1e-6 if dtype == np.float32 else 1e-12)  # float32: z − max z rounds
    with np.errstate(invalid="ignore"):
        z[7, 0] = np.nan
        assert all(np.isnan(in_both(lambda: [loss.cost(z, y)])))


def test_softmax_cross_entropy_cost_of_hand_computed_logits():
    """z = (0, ln 3): softmax (1/4, 3/4); L = −ln p of the labelled class, the mean of ln 4 and ln(4/3)."""
    from nnctl.nn.losses import make_loss

    z = np.array([[0.0, math.log(3.0)], [0.0, math.log(3.0)]])
    y = np.array([[1.0, 0.0], [0.0, 1.0]])
    for name in ("numpy", "compiled") if choice.compiled_installed() else ("numpy",):
        with kernels.using(name):
            assert make_loss("auto", "softmax").cost(z, y) == pytest.approx((math.log(4) + math.log(4 / 3)) / 2, rel=1e-15)


@compiled_only
@pytest.mark.parametrize("block", [1, 3, 7, 8, 9, 16, 20])  # NumPy's pairwise sum of a row: both branches
@pytest.mark.parametrize("dtype", DTYPES)
def test_banded_weights_and_their_gradient_give_the_same_bits(block, dtype):
    """T's band filled from W, and dW summed from dT's band, on a scattered band with blocks of mixed
    magnitudes, one of signed zeros only, and one with a NaN."""
    rng = np.random.default_rng(block)
    weights = 12
    band = rng.permutation(weights * block * 3)[:weights * block]
    w = rng.standard_normal((3, 4)).astype(dtype)
    d_t = (rng.standard_normal((weights * block * 3,)) * rng.choice([1.0, 1e-4, 1e4], weights * block * 3)).astype(dtype)
    d_t[band[:block]] = -0.0
    d_t[band[block]] = np.nan

    def banded():
        t, dw = np.zeros((weights * block, 3), dtype), np.empty_like(w)
        kernels.active().spread_band(w, band, block, t)
        kernels.active().sum_band(d_t.reshape(-1, 3), band, block, dw)
        return t, dw

    t, dw = in_both(banded)
    assert same_bits(t.ravel()[band], np.repeat(w.ravel(), block))
    assert same_bits(dw.ravel()[0], dtype(0.0)) and np.isnan(dw.ravel()[1])
    np.testing.assert_allclose(dw.ravel()[2:], d_t[band].astype(np.float64).reshape(-1, block).sum(axis=1)[2:],
                               rtol=1e-3 if dtype == np.float32 else 1e-12, atol=1)


@compiled_only
@pytest.mark.parametrize("shape", [(1, 1), (300, 1), (300, 2), (300, 3), (128, 10), (5, 256), (300, 300)])
@pytest.mark.parametrize("dtype", DTYPES)
def test_dense_bias_add_and_gradient_give_the_same_bits(shape, dtype):
    """Columns of mixed magnitudes (so the order of the sum shows), of signed zeros only, and with a NaN."""
    rng = np.random.default_rng(shape[0] * shape[1])
    dz = (rng.standard_normal(shape) * rng.choice([1.0, 1e-4, 1e4], (shape[0], 1))).astype(dtype)
    dz[:, 0] = -0.0
    if shape[1] > 2:
        dz[shape[0] // 2, 2] = np.nan
    b = rng.standard_normal((1, shape[1])).astype(dtype)
    b[0, 0] = -0.0

    def dense():
        z, db = dz.copy(), np.empty_like(b)
        kernels.active().add_bias(z, b)
        kernels.active().bias_gradient(dz, db)
        return z, db

    z, db = in_both(dense)
    assert same_bits(z, dz + b)
    assert same_bits(db[0, 0], dtype(0.0))
    np.testing.assert_allclose(db[0], dz.astype(np.float64).sum(axis=0), rtol=1e-3 if dtype == np.float32 else 1e-12, atol=1)


@compiled_only
@pytest.mark.parametrize("dtype", DTYPES + [np.int64])
def test_mini_batch_rows_give_the_same_bits(dtype):
    from nnctl.train.batches import MiniBatches

    rng = np.random.default_rng(3)
    x = rng.standard_normal((50, 4, 3, 2)).astype(dtype)
    x.reshape(-1)[::7] = -0.0 if dtype != np.int64 else -1
    y = np.eye(3, dtype=dtype)[rng.integers(0, 3, 50)]
    batches = MiniBatches(x, y, 16)

    def epoch():
        batches.new_epoch(np.random.default_rng(0))
        return [a.copy() for k in range(batches.count) for a in batches[k]]  # a batch is a reused buffer

    taken = in_both(epoch)
    order = np.random.default_rng(0).permutation(50)
    assert same_bits(taken[-2], x[order[48:]]) and same_bits(taken[1], y[order[:16]])


@compiled_only
def test_mini_batch_rows_outside_the_split_raise():
    from nnctl.nn.kernels import compiled

    x = np.zeros((5, 3), np.float32)
    with pytest.raises(IndexError):
        compiled.take_rows(x, np.array([0, 5]), np.empty((2, 3), np.float32))


# ---------------------------------------------------------------- optimizers: one fused pass over θ

OPTIMIZERS = {
    "gd": ("gd", {}),
    "momentum": ("momentum", {"beta": 0.9, "dampened": True, "nesterov": False}),
    "momentum undampened": ("momentum", {"beta": 0.8, "dampened": False, "nesterov": False}),
    "nesterov": ("momentum", {"beta": 0.9, "dampened": True, "nesterov": True}),
    "rmsprop": ("rmsprop", {"beta": 0.9, "epsilon": 1e-8}),
    "adam": ("adam", {"beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8, "weight_decay": 0.0}),
    "adamw": ("adam", {"beta1": 0.9, "beta2": 0.99, "epsilon": 1e-7, "weight_decay": 0.05}),
}


def optimizer_run(key, size, dtype, steps, lr_scale=False, grow=False):
    """θ, the last dθ and the optimizer's state after ``steps`` steps of gradients with zeros and tiny values
    (denormal moments get flushed at step 128), weight decay on two ranges of weights (some of them exactly
    zero), a new segment half-way when ``grow``."""
    name, hyper = OPTIMIZERS[key]
    rng = np.random.default_rng(size)
    start = size // 2 if grow else size
    decayed = [(0, start // 3), (start // 2, start)]
    opt = make_optimizer(name, start, dtype, decayed, **hyper)
    theta = rng.standard_normal(size).astype(dtype)
    theta[::11] = 0
    for t in range(steps):
        if grow and t == steps // 2:
            scale = np.linspace(0.5, 2, size).astype(dtype) if lr_scale else None
            opt.grow(size, [(0, size // 3), (size // 2, size)], scale)
        elif lr_scale and t == 0:
            opt.lr_scale = np.linspace(0.1, 1, start).astype(dtype)
        n = opt.size
        grad = (rng.standard_normal(n) * rng.choice([1.0, 1e-3, 0.0], n)).astype(dtype)
        opt.step(theta[:n], grad, 0.01 / (1 + t % 7))
    return [theta, grad, *opt.state.values()]


@compiled_only
@pytest.mark.parametrize("key", OPTIMIZERS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("size", "lr_scale", "grow"), [(1, False, False), (1001, False, False), (1001, True, False),
                                                        (400, False, True), (400, True, True)])
def test_optimizer_updates_give_the_same_bits(key, dtype, size, lr_scale, grow, threads):
    in_both(lambda: optimizer_run(key, size, dtype, 130, lr_scale, grow))


PENALTIES = {"l2 l1": (0.01, 0.002), "l2": (0.01, 0.0), "l1": (0.0, 0.003)}


@compiled_only
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("penalty", PENALTIES)
def test_penalty_gradient_gives_the_same_bits(dtype, penalty):
    """λ2/m·w + λ1/(2m)·sign(w) on two ranges of weights holding zeros of both signs, NaN, ±inf and
    denormals, added onto gradients with signed zeros."""
    rng = np.random.default_rng(3)
    theta = rng.standard_normal(1001).astype(dtype)
    theta[::11] = 0
    theta[5::13] = -0.0
    theta[[7, 8, 9, 10]] = [np.nan, np.inf, -np.inf, np.finfo(dtype).tiny / 4]
    grad = (rng.standard_normal(1001) * rng.choice([1.0, 1e-3, 0.0, -0.0], 1001)).astype(dtype)
    ranges = [slice(0, 333), slice(500, 1001)]

    def run():
        g = grad.copy()
        kernels.active().add_penalty_gradient(theta, g, ranges, *PENALTIES[penalty])
        return [g]

    in_both(run)


@pytest.mark.parametrize("implementation", ["numpy", pytest.param("compiled", marks=compiled_only)])
def test_penalty_gradient_is_the_l2_and_l1_terms_on_the_weights_only(implementation):
    """dθ gets λ2/m·w + λ1/(2m)·sign(w) (here λ2/m = 0.25, λ1/2m = 0.05) on the given ranges only."""
    theta, grad = np.array([2.0, -3.0, 5.0, 0.0]), np.array([0.1, 0.2, 0.3, -4.0])
    with kernels.using(implementation):
        kernels.active().add_penalty_gradient(theta, grad, [slice(0, 2), slice(3, 4)], 0.25, 0.05)
    np.testing.assert_array_equal(grad, [0.1 + 0.5 + 0.05, 0.2 - 0.75 - 0.05, 0.3, -4.0])


# ---------------------------------------------------------------- selection


def test_selection_resolves_auto_and_restores(monkeypatch):
    assert kernels.active().NAME == "numpy"
    expected = "compiled" if choice.compiled_installed() else "numpy"
    assert choice.resolve("auto") == expected
    with kernels.using("auto") as chosen:
        assert chosen.NAME == expected == kernels.active().NAME
    assert kernels.active().NAME == "numpy"
    monkeypatch.setattr(choice, "compiled_installed", lambda: False)
    assert kernels.select("auto") == "numpy"


@compiled_only
@pytest.mark.parametrize("dtype", DTYPES)
def test_selecting_for_a_dtype_compiles_every_kernel_before_training(dtype, monkeypatch):
    from nnctl.nn.kernels import compiled

    assert kernels.select("compiled", dtype) == "compiled"
    called = [kernel for kernel in compiled._KERNELS if kernel.signatures]  # the others are inlined into them
    assert len(called) >= 13
    in_float64 = {compiled._row_sums, compiled._ce_per_example}  # the cost's sums, in float64 for every network
    for kernel in called:
        name = "float64" if kernel in in_float64 else np.dtype(dtype).name
        assert any(name in str(signature) for signature in kernel.signatures), kernel
    assert not kernels.compile_pending("compiled") and not kernels.compile_pending("numpy")
    real = compiled.os.path.exists
    monkeypatch.setattr(compiled.os.path, "exists", lambda path: real(path) and "_adam" not in path)
    assert kernels.compile_pending("compiled")  # one kernel without a cache entry: the next run compiles


def test_compiled_without_numba_is_one_clear_line(monkeypatch):
    monkeypatch.setattr(kernels, "compiled_installed", lambda: False)
    monkeypatch.setitem(sys.modules, "numba", None)  # importing it fails
    with pytest.raises(MissingExtraError, match=r"train.kernels: compiled needs numba: pip install 'nnctl\[fast\]'"):
        kernels.select("compiled")
    assert kernels.active().NAME == "numpy"


def test_spec_show_names_the_kernels_a_run_would_use(tiny_spec, monkeypatch):
    installed = choice.compiled_installed()
    auto = invoke("spec", "show", tiny_spec, "--no-layers").stderr
    assert ("kernels: compiled, numba" if installed else "kernels: numpy (train.kernels: auto; pip install") in auto
    assert "kernels: numpy (train.kernels: numpy)" in invoke("spec", "show", tiny_spec, "--no-layers", "--set", "train.kernels=numpy").stderr
    monkeypatch.setattr(choice, "compiled_installed", lambda: False)
    missing = invoke("spec", "show", tiny_spec, "--no-layers", "--set", "train.kernels=compiled").stderr
    assert "numba is not installed: training will stop; pip install 'nnctl[fast]'" in missing


# ---------------------------------------------------------------- whole runs: the same bits, and resume across both

CNN_SPEC = """\
name: kcnn
seed: 5
data: {source: digits, limit: 240, split: {train: 0.75, dev: 0.25, test: 0.0}}
model:
  layers:
    - {type: conv2d, filters: 4, kernel: 3, padding: same}
    - {type: maxpool, size: 2}
    - {type: conv2d, filters: 6, kernel: 3, stride: 2, padding: 1}
    - {type: avgpool, size: 2}
    - {units: 12, activation: leaky_relu}
    - {units: 10, activation: softmax}
train: {epochs: 4, batch_size: 32, learning_rate: 0.01, optimizer: {name: adam, weight_decay: 0.01}, clip: {value: 0.05}}
regularization: {l2: 0.02, l1: 0.01}
"""


@compiled_only
def test_training_and_resume_give_the_same_bits_on_either_kernels(tmp_path):
    spec = write_spec(tmp_path, CNN_SPEC)
    compiled = train_run(spec, tmp_path / "c", "train.kernels=compiled")
    reference = train_run(spec, tmp_path / "n", "train.kernels=numpy")
    halves = train_run(spec, tmp_path / "h", "train.kernels=numpy", "train.epochs=2")
    invoke_json("train", "--resume", halves, "--set", "train.epochs=4", "--set", "train.kernels=compiled", "--quiet")
    runs = [h5_datasets(run / "checkpoint.h5") for run in (compiled, reference, halves)]
    keys = [k for k in runs[0] if k.startswith(("params/", "optimizer/"))]
    assert keys
    for key in keys:
        assert same_bits(runs[0][key], runs[1][key]) and same_bits(runs[0][key], runs[2][key]), key
    from nnctl.runs.checkpoint import load_checkpoint

    assert load_checkpoint(compiled / "checkpoint.h5").progress["kernels"] == "compiled"
    assert load_checkpoint(halves / "checkpoint.h5").progress["kernels"] == "compiled"
    assert load_checkpoint(reference / "checkpoint.h5").progress["kernels"] == "numpy"
    assert math.isfinite(float(h5_datasets(reference / "metrics.h5")["epoch/dev_cost"][-1]))


def test_batch_halves_follow_the_process_share_of_the_cores(monkeypatch):
    """A search worker pinned to one BLAS thread must not start a second thread for the kernels either."""
    from nnctl.nn.kernels import halves

    def calls_for(share):
        monkeypatch.setenv("OPENBLAS_NUM_THREADS", share)
        seen = []
        halves.in_halves(lambda lo, hi: seen.append((lo, hi)), 128)
        return sorted(seen)

    assert calls_for("1") == [(0, 128)]
    assert calls_for("2") == [(0, 64), (64, 128)]
    monkeypatch.delenv("OPENBLAS_NUM_THREADS")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    seen = []
    halves.in_halves(lambda lo, hi: seen.append((lo, hi)), 128)
    assert seen == [(0, 128)]


def test_batch_halves_hand_back_the_helpers_error_and_stay_usable(monkeypatch):
    from nnctl.nn.kernels import halves

    monkeypatch.setattr(halves, "cores", lambda: 2)

    def failing(lo, hi):
        if lo == 0:
            raise ValueError("first half failed")

    with pytest.raises(ValueError, match="first half failed"):
        halves.in_halves(failing, 64)
    seen = []
    halves.in_halves(lambda lo, hi: seen.append((lo, hi)), 64)
    assert sorted(seen) == [(0, 32), (32, 64)]


def test_batch_halves_from_two_threads_at_once_give_every_row_once(monkeypatch):
    """Trials in threads (a Dask worker) share the one helper: a caller that finds it busy works alone."""
    import threading

    from nnctl.nn.kernels import halves

    monkeypatch.setattr(halves, "cores", lambda: 2)
    counts = np.zeros((4, 256), np.int64)

    def caller(k):
        for _ in range(50):
            halves.in_halves(lambda lo, hi: np.add.at(counts[k], np.arange(lo, hi), 1), 256)

    threads = [threading.Thread(target=caller, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert (counts == 50).all()
