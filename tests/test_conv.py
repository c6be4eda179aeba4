"""Convolution, pooling and residual layers: the notes' vectors (docs/explanation/algorithms.md#convolution),
agreement with the loop reference of nnctl/nn/conv_reference.py, and float64 gradient checks."""

from __future__ import annotations

import numpy as np
import pytest

import nnctl.nn.conv as conv
from nnctl.nn.conv import AvgPool, Conv2D, GlobalAvgPool, MaxPool
from nnctl.nn.conv_reference import avg_pool_backward, conv2d_backward, conv2d_forward, max_pool_backward, pool_forward
from nnctl.nn.gradcheck import check_gradients
from nnctl.nn.kernels import halves, numpy_ref
from nnctl.nn.layers import Activate, BatchNorm, Dense, Flatten
from nnctl.nn.losses import make_loss
from nnctl.nn.network import Network
from nnctl.nn.residual import Residual

IMAGE_6X6 = [[3, 0, 1, 2, 7, 4], [1, 5, 8, 9, 3, 1], [2, 7, 2, 5, 1, 3],
             [0, 1, 3, 1, 7, 8], [4, 2, 1, 6, 2, 8], [2, 4, 5, 2, 3, 9]]
# The 7×7 input of the notes' stride-2 example (their printed output has two errata, see docs/explanation/algorithms.md#convolution).
IMAGE_7X7 = [[2, 3, 7, 4, 6, 2, 9], [6, 6, 9, 8, 7, 4, 3], [3, 4, 8, 3, 8, 9, 7], [7, 8, 3, 6, 6, 3, 4],
             [4, 2, 1, 8, 3, 4, 6], [3, 2, 4, 1, 9, 8, 3], [0, 1, 3, 9, 2, 1, 4]]
POOL_4X4 = [[1, 3, 2, 1], [2, 9, 1, 1], [1, 3, 2, 3], [5, 6, 1, 2]]


def built(layer, input_shape, dtype=np.float64, rng=None):
    """``layer`` with its parameters bound and initialized, as a Network would do it."""
    layer.build(input_shape)
    for key, shape in layer.param_shapes().items():
        layer.params[key] = np.zeros(shape, dtype)
        layer.grads[key] = np.zeros(shape, dtype)
    layer.initialize(rng or np.random.default_rng(0))
    return layer


def single_filter(kernel, stride=1, padding="valid", input_hw=None):
    """A bias-free one-filter conv on one-channel images, with the given filter values."""
    kernel = np.asarray(kernel, dtype=np.float64)
    layer = built(Conv2D("c", 1, kernel.shape, stride, padding, use_bias=False), (*input_hw, 1))
    layer.params["W"][...] = kernel[:, :, None, None]
    return layer


def image(rows):
    return np.asarray(rows, dtype=np.float64)[None, :, :, None]


# ------------------------------------------------------------ the notes' vectors

def test_vertical_edge_filter():
    layer = single_filter([[1, 0, -1]] * 3, input_hw=(6, 6))
    out = layer.forward(image(IMAGE_6X6), training=False)
    assert out[0, :, :, 0].tolist() == [[-5, -4, 0, 8], [-10, -2, 2, 3], [0, -2, -4, -7], [-3, -2, -3, -16]]


def test_strided_convolution_with_corrected_values():
    layer = single_filter([[3, 4, 4], [1, 0, 2], [-1, 0, 3]], stride=2, input_hw=(7, 7))
    out = layer.forward(image(IMAGE_7X7), training=False)
    assert out[0, :, :, 0].tolist() == [[91, 100, 88], [69, 91, 117], [44, 72, 74]]


@pytest.mark.parametrize("pool, expected", [(MaxPool, [[9, 2], [6, 3]]), (AvgPool, [[3.75, 1.25], [3.75, 2.0]])])
def test_pooling_vectors(pool, expected):
    layer = pool("p", 2)
    layer.build((4, 4, 1))
    assert layer.forward(image(POOL_4X4), training=True)[0, :, :, 0].tolist() == expected


@pytest.mark.parametrize(
    "input_shape, kernel, stride, padding, expected",
    [
        ((6, 6, 3), 3, 1, "valid", (4, 4, 2)),
        ((6, 6, 3), 3, 1, "same", (6, 6, 2)),
        ((6, 6, 3), 5, 1, "same", (6, 6, 2)),
        ((7, 7, 1), 3, 2, "valid", (3, 3, 2)),
        ((7, 7, 1), 3, 2, 1, (4, 4, 2)),  # ⌊(7 + 2 − 3)/2⌋ + 1
        ((8, 8, 1), 3, 2, 0, (3, 3, 2)),  # ⌊5/2⌋ + 1, rounding down
        ((5, 9, 1), (1, 3), 1, "valid", (5, 7, 2)),
        ((3, 3, 1), 3, 1, "valid", (1, 1, 2)),
    ],
)
def test_conv_output_size(input_shape, kernel, stride, padding, expected):
    assert Conv2D("c", 2, kernel, stride, padding).build(input_shape) == expected


def test_output_size_not_positive_is_a_clear_error():
    with pytest.raises(ValueError, match=r"conv9: input \(4, 4, 3\) is too small for kernel \(5, 5\) with stride 1"):
        Conv2D("conv9", 2, 5).build((4, 4, 3))
    with pytest.raises(ValueError, match="pool3"):
        MaxPool("pool3", 3).build((2, 2, 1))


@pytest.mark.parametrize("kwargs", [{"padding": "same", "kernel": 4}, {"padding": "same", "kernel": 3, "stride": 2},
                                    {"padding": "full", "kernel": 3}, {"padding": -1, "kernel": 3}])
def test_invalid_padding_is_rejected(kwargs):
    with pytest.raises(ValueError, match="c: .*padding"):
        Conv2D("c", 2, **kwargs)


@pytest.mark.parametrize("filters, kernel, channels, count", [(10, 3, 3, 280), (6, 5, 3, 456), (16, 5, 6, 2416)])
def test_parameter_counts(filters, kernel, channels, count):
    shapes = built(Conv2D("c", filters, kernel), (32, 32, channels)).param_shapes().values()
    assert sum(int(np.prod(s)) for s in shapes) == count


def test_lenet5_shapes_and_parameter_count():
    layers = [Conv2D("c1", 6, 5), Activate("a1", "relu"), MaxPool("p1", 2), Conv2D("c2", 16, 5),
              Activate("a2", "relu"), MaxPool("p2", 2), Flatten("f"), Dense("d1", 120), Activate("a3", "relu"),
              Dense("d2", 84), Activate("a4", "relu"), Dense("d3", 10)]
    net = Network(layers, make_loss("auto", "softmax"), (32, 32, 1))
    assert net.shapes[:7] == [(32, 32, 1), (28, 28, 6), (28, 28, 6), (14, 14, 6), (10, 10, 16), (10, 10, 16),
                              (5, 5, 16)]
    assert net.shapes[7] == (400,)
    assert net.theta.size == 61706


# ------------------------------------------------------------ agreement with the loop reference (conv_reference.py)

@pytest.mark.parametrize(
    "input_shape, kernel, stride, padding",
    [((7, 7, 1), 3, 1, "valid"), ((7, 7, 1), 3, 2, 1), ((8, 6, 3), (3, 2), 2, "valid"),
     ((6, 6, 2), 5, 1, "same"), ((9, 8, 4), (1, 3), 3, 2), ((5, 5, 3), 1, 2, 0)],
)
def test_conv_forward_matches_the_reference(input_shape, kernel, stride, padding):
    rng = np.random.default_rng(1)
    layer = built(Conv2D("c", 3, kernel, stride, padding), input_shape)
    layer.params["b"][...] = rng.standard_normal(layer.params["b"].shape)
    x = rng.standard_normal((2, *input_shape))
    expected = conv2d_forward(x, layer.params["W"], layer.params["b"].ravel(), stride, layer.padding)
    for training in (True, False):
        np.testing.assert_allclose(layer.forward(x, training), expected, atol=1e-12)


@pytest.mark.parametrize(
    "input_shape, kernel, stride, padding",
    [((7, 7, 1), 3, 1, "valid"), ((9, 9, 2), 3, 2, 1), ((8, 9, 3), (3, 2), 2, "valid"), ((6, 6, 2), 5, 1, "same"),
     ((9, 8, 4), (1, 3), 3, 2), ((5, 6, 3), 1, 2, 0)],
)
def test_every_block_width_gives_the_reference_results(monkeypatch, input_shape, kernel, stride, padding):
    """Blocks of b output pixels share a patch; every divisor b of the output width must agree with the reference."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, *input_shape))
    width = built(Conv2D("c", 3, kernel, stride, padding), input_shape).out_hw[1]
    for block in (b for b in range(1, width + 1) if width % b == 0):
        monkeypatch.setattr(conv, "_block_width", lambda *geometry, block=block: block)
        layer = built(Conv2D("c", 3, kernel, stride, padding), input_shape)
        assert layer.block == block
        layer.params["b"][...] = rng.standard_normal(layer.params["b"].shape)
        z = layer.forward(x, training=True)
        np.testing.assert_allclose(z, conv2d_forward(x, layer.params["W"], layer.params["b"].ravel(), stride, layer.padding),
                                   atol=1e-12)
        dz = rng.standard_normal(z.shape)
        dx = layer.backward(dz)
        dw, db, dx_loops = conv2d_backward(x, layer.params["W"], dz, stride, layer.padding)
        np.testing.assert_allclose(layer.grads["W"], dw, atol=1e-12)
        np.testing.assert_allclose(layer.grads["b"].ravel(), db, atol=1e-12)
        np.testing.assert_allclose(dx, dx_loops, atol=1e-12)


def test_block_width_widens_narrow_gemms_and_short_gradient_runs():
    assert conv._block_width(28, 6) == 7  # 6 filters want ≥ 6 pixels for 32 GEMM columns: 7 divides 28
    assert conv._block_width(12, 6) == 6
    assert conv._block_width(10, 16) == 2
    assert conv._block_width(10, 16, 6) == 5  # dX slice-adds of 6-channel pixels want runs of ≥ 4 pixels
    assert conv._block_width(14, 64, 64) == 1  # wide enough already: classic im2col
    assert conv._block_width(7, 2) == 7  # no divisor reaches 32 columns: the whole row
    assert conv._block_width(14, 6) == 7  # no divisor is 6: the next one up, within twice that
    assert conv._block_width(28, 6, 1) == 28  # one input channel: the gradient's runs want 24 pixels
    assert conv._block_width(223, 6) == 1  # a prime width: not a whole-row block of 223 pixels


def test_only_the_first_trainable_layer_plans_without_an_input_gradient(monkeypatch):
    """The network tells its first trainable layer before building it, so each layer is built once."""
    builds = []
    real_build = Conv2D.build
    monkeypatch.setattr(Conv2D, "build", lambda self, shape: builds.append(self.name) or real_build(self, shape))
    layers = [MaxPool("p0", 1), Conv2D("c1", 6, 5, padding="same"), MaxPool("p1", 2), Conv2D("c2", 16, 5), Flatten("f"),
              Dense("d", 3)]
    Network(layers, make_loss("auto", "softmax"), (28, 28, 1), dtype=np.float64)
    assert [layer.trainable for layer in layers] == [False, True, False, True, False, True]
    assert (layers[1].input_gradient, layers[1].block) == (False, 7)
    assert (layers[3].input_gradient, layers[3].block) == (True, 5)
    assert builds == ["c1", "c2"]


@pytest.mark.parametrize("input_shape, size, stride", [((4, 4, 2), 2, None), ((7, 7, 3), 3, 2), ((5, 7, 2), 2, 2),
                                                       ((6, 6, 1), 2, 1), ((6, 5, 2), 3, 3)])
@pytest.mark.parametrize("pool, reduce", [(MaxPool, np.max), (AvgPool, np.mean)])
def test_pooling_matches_the_reference(input_shape, size, stride, pool, reduce):
    layer = pool("p", size, stride)
    layer.build(input_shape)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, *input_shape))
    x[0, :2, :2] = 1.0  # a window of tied maxima: the gradient goes to its first cell
    expected = pool_forward(x, size, stride or size, reduce)
    for training in (False, True):
        np.testing.assert_allclose(layer.forward(x, training), expected, atol=1e-12)
    dy = rng.standard_normal(expected.shape)
    dx = layer.backward(dy)
    if pool is MaxPool:  # the same cells receive gradient; overlapping windows may add in another order
        expected_dx = max_pool_backward(x, dy, size, stride or size)
        np.testing.assert_array_equal(dx != 0, expected_dx != 0)
    else:
        expected_dx = avg_pool_backward(x.shape, dy, size, stride or size)
    np.testing.assert_allclose(dx, expected_dx, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("stride", [1, 2])
def test_max_pool_routes_ties_to_first_argmax_and_accumulates_overlaps(stride):
    layer = MaxPool("p", 2, stride)
    layer.build((3, 3, 1))
    layer.forward(np.ones((1, 3, 3, 1)), training=True)
    dx = layer.backward(np.ones((1, *layer.out_hw, 1)))[0, :, :, 0]
    expected = [[1, 1, 0], [1, 1, 0], [0, 0, 0]] if stride == 1 else [[1, 0, 0], [0, 0, 0], [0, 0, 0]]
    assert dx.tolist() == expected


def test_tiled_max_pool_breaks_ties_in_row_then_column_order():
    layer = MaxPool("p", 2)
    layer.build((4, 4, 1))
    x = np.zeros((1, 4, 4, 1))
    x[0, 0, 1] = x[0, 1, 0] = x[0, 1, 1] = 1  # top-left window: three tied maxima, first is (0, 1)
    x[0, 2:, 2:] = 5  # bottom-right window: all four tied
    layer.forward(x, training=True)
    dx = layer.backward(np.ones((1, 2, 2, 1)))[0, :, :, 0]
    assert dx.tolist() == [[0, 1, 1, 0], [0, 0, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]]  # all-zero windows: first cell


def test_inference_does_not_overwrite_training_buffers():
    rng = np.random.default_rng(3)
    layers = [Conv2D("c", 2, 3, padding=1), MaxPool("p", 2), AvgPool("q", 2), GlobalAvgPool("g")]
    net = Network(layers, make_loss("auto", "softmax"), (8, 8, 1), dtype=np.float64)
    net.initialize(rng)
    x = rng.standard_normal((2, 8, 8, 1))
    out = net.forward(x, training=True)
    kept = out.copy()
    net.forward(rng.standard_normal((2, 8, 8, 1)), training=False)
    np.testing.assert_array_equal(out, kept)


# ------------------------------------------------------------ gradient checks

def gradcheck(layers, input_shape, m=3, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    net = Network(layers + [Flatten("flat"), Dense("out", classes, init="xavier")], make_loss("auto", "softmax"),
                  input_shape, dtype=np.float64)
    net.initialize(rng)
    for slot in net.slots:  # non-zero biases and batch-norm shifts so their gradients are exercised
        if slot.param in ("b", "beta"):
            slot.layer.params[slot.param][...] = 0.1 * rng.standard_normal(slot.shape)
    x = rng.standard_normal((m, *input_shape))
    y = np.eye(classes)[rng.integers(0, classes, m)]
    return check_gradients(net, x, y)


def assert_gradients_pass(report):
    for tensor in report.tensors:
        assert tensor.difference < 1e-7, (tensor.key, tensor.difference, tensor.worst)


GRADCHECK_CASES = {
    "conv stride 2 pad 1": lambda: ([Conv2D("c", 3, 3, 2, 1), Activate("a", "tanh")], (7, 7, 2)),
    "conv same, rectangular": lambda: ([Conv2D("c", 2, (3, 5), padding="same"), Activate("a", "tanh"),
                                        Conv2D("c2", 2, 3, 2)], (6, 7, 2)),
    "conv wide padding": lambda: ([Conv2D("c", 2, 2, 3, 3), Activate("a", "tanh"), Conv2D("c2", 2, 2)], (5, 5, 1)),
    "max pool": lambda: ([Conv2D("c", 2, 3), Activate("a", "tanh"), MaxPool("p", 2)], (6, 6, 1)),
    "avg pool": lambda: ([Conv2D("c", 2, 3), Activate("a", "tanh"), AvgPool("p", 2)], (6, 6, 1)),
    "overlapping pools": lambda: ([Conv2D("c", 2, 3), MaxPool("p", 3, 2), Conv2D("c2", 2, 1), AvgPool("q", 2, 1)],
                                  (9, 9, 1)),
    "batch norm after conv": lambda: ([Conv2D("c", 3, 3, use_bias=False), BatchNorm("bn"), Activate("a", "relu")],
                                      (5, 5, 2)),
    "residual identity": lambda: ([Conv2D("c0", 3, 3, padding="same"), Residual(
        "r", [Conv2D("c1", 3, 3, padding="same", use_bias=False), BatchNorm("bn"), Activate("a", "tanh"),
              Conv2D("c2", 3, 3, padding="same")], "tanh")], (5, 5, 2)),
    "residual projection": lambda: ([Residual(
        "r", [Conv2D("c1", 4, 3, 2, 1), Activate("a", "tanh"), Conv2D("c2", 4, 3, padding="same")], "tanh",
        projection=Conv2D("proj", 4, 1, 2))], (6, 6, 2)),
    "global average pool": lambda: ([Conv2D("c", 4, 3), Activate("a", "tanh"), GlobalAvgPool("g")], (5, 5, 2)),
}


@pytest.mark.parametrize("case", GRADCHECK_CASES)
def test_gradients(case):
    layers, input_shape = GRADCHECK_CASES[case]()
    assert_gradients_pass(gradcheck(layers, input_shape))


def test_gradient_check_catches_a_dropped_input_gradient_term(monkeypatch):
    """Leaving out the last kernel row's share of dA_prev must fail the check."""
    real_add = numpy_ref.add_windows

    def all_but_last_row(target, d_windows, stride, step):
        real_add(target, d_windows[:, :, :, :-1], stride, step)

    def two_convs():  # fresh layers for each check: a Network binds the layers it is built from
        layers, input_shape = GRADCHECK_CASES["conv stride 2 pad 1"]()
        return layers + [Conv2D("c2", 2, 2)], input_shape

    assert_gradients_pass(gradcheck(*two_convs()))
    monkeypatch.setattr(numpy_ref, "add_windows", all_but_last_row)
    report = gradcheck(*two_convs())
    assert report.tensors[0].key == "c/W" and report.tensors[0].difference > 1e-3


def test_residual_shape_mismatch_is_a_clear_error():
    block = Residual("r", [Conv2D("c", 4, 3, padding="same")], "relu")
    with pytest.raises(ValueError, match=r"r: the body maps \(5, 5, 2\) to \(5, 5, 4\) but the identity shortcut"):
        block.build((5, 5, 2))


def test_relu_after_max_pool_gives_bitwise_the_same_outputs_and_gradients():
    """The build runs a ReLU that feeds a max-pool after the pool; nothing observable may change."""
    from nnctl.train.build import _pool_before_relu

    def layers():
        return [Conv2D("c", 3, 3, padding="same"), Activate("a", "relu"), MaxPool("p", 2), Flatten("f"), Dense("d", 3)]

    rng = np.random.default_rng(5)
    x = rng.standard_normal((4, 6, 6, 2))
    x[0] = 0  # all-zero windows: every pre-activation is the bias, ties everywhere
    y = np.eye(3)[rng.integers(0, 3, 4)]
    nets = []
    for order in (layers(), _pool_before_relu(layers())):
        net = Network(order, make_loss("auto", "softmax"), (6, 6, 2), dtype=np.float64)
        net.initialize(np.random.default_rng(6))
        net.layers[0].params["b"][...] = [-0.5, 0.0, 0.5]
        nets.append(net)
    assert [type(layer) for layer in nets[1].layers][1:3] == [MaxPool, Activate]
    costs = [net.loss_and_grad(x, y) for net in nets]
    assert costs[0] == costs[1]
    np.testing.assert_array_equal(nets[0].grad, nets[1].grad)
    np.testing.assert_array_equal(nets[0].forward(x), nets[1].forward(x))


def test_max_pool_counts_windows_whose_two_largest_taps_tie_within_eps():
    layer = MaxPool("p", 2)
    layer.build((4, 4, 1))
    x = np.arange(16, dtype=np.float64).reshape(1, 4, 4, 1) * 10  # every window's top two differ by 10
    x[0, 0, 0] = x[0, 1, 1] - 1e-9  # top-left: 50 vs 50 - 1e-9
    x[0, 2, 2] = x[0, 3, 3]  # bottom-right: an exact tie
    layer.forward(x, training=True)
    assert layer.ties(0) == 1 and layer.ties(1e-8) == 2 and layer.ties(10) == 4


@pytest.mark.parametrize("m", [31, 32, 77])  # below SPLIT_ROWS: one thread; at and above it: two halves
def test_max_pool_over_batch_halves_equals_the_reference_exactly(m):
    assert halves.SPLIT_ROWS == 32
    layer = MaxPool("p", 2)
    layer.build((8, 6, 3))
    rng = np.random.default_rng(m)
    x = rng.standard_normal((m, 8, 6, 3)).astype(np.float32)
    x[:, :2, :2] = 0.5  # tied windows
    expected = pool_forward(x, 2, 2)
    for training in (False, True):
        np.testing.assert_array_equal(layer.forward(x, training), expected)
    dy = rng.standard_normal(expected.shape).astype(np.float32)
    np.testing.assert_array_equal(layer.backward(dy), max_pool_backward(x, dy, 2, 2))


@pytest.mark.parametrize("padding", ["same", "valid"])
def test_convolution_over_batch_halves_is_the_one_pass_result_exactly(monkeypatch, padding):
    """From SPLIT_ROWS examples the patch copies and the input gradient's slice-adds run over two batch
    halves on two threads; every value must be the one a single pass gives (and the reference's)."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((40, 9, 9, 2)).astype(np.float32)
    results = []
    for split in (halves.SPLIT_ROWS, 10**9):
        monkeypatch.setattr(halves, "SPLIT_ROWS", split)
        layer = built(Conv2D("c", 4, 3, 1, padding), (9, 9, 2))
        layer.params["b"][...] = 0.1
        z = layer.forward(x, training=True).copy()
        dz = np.random.default_rng(6).standard_normal(z.shape).astype(np.float32)
        dx = layer.backward(dz).copy()
        results.append((z, dx, layer.grads["W"].copy(), layer.grads["b"].copy()))
    for split, one_pass in zip(*results):
        np.testing.assert_array_equal(split, one_pass)
    z, dx = results[0][:2]
    np.testing.assert_allclose(z, conv2d_forward(x.astype(np.float64), layer.params["W"], layer.params["b"].ravel(), 1, layer.padding),
                               rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dx, conv2d_backward(x.astype(np.float64), layer.params["W"], dz, 1, layer.padding)[2], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(("m", "out_h", "blocks", "rows", "width", "step", "stride"), [
    (4, 10, 2, 5, 54, 30, 1),   # LeNet-5's conv2 (blocks of 5 over 6 channels)
    (3, 4, 2, 3, 15, 12, 2),    # stride 2
    (2, 7, 7, 3, 24, 16, 1),    # many blocks per row
    (2, 5, 1, 3, 21, 21, 1),    # one block: the whole row
    (2, 3, 4, 2, 2, 6, 3),      # windows narrower than the step: gaps between blocks
])
def test_the_block_and_band_routes_of_the_input_gradient_agree_to_the_bit(m, out_h, blocks, rows, width, step, stride):
    rng = np.random.default_rng(3)
    d_windows = rng.standard_normal((m, out_h, blocks, rows, width)).astype(np.float32)
    shape = (m, stride * (out_h - 1) + rows, (blocks - 1) * step + width)
    by_block, by_band = np.zeros(shape, np.float32), np.zeros(shape, np.float32)
    numpy_ref.add_by_block(by_block, d_windows, stride, step)
    numpy_ref.add_by_band(by_band, d_windows, stride, step)
    assert np.array_equal(by_block, by_band)
    assert by_band.view(np.uint32).tolist() == by_block.view(np.uint32).tolist()  # signed zeros too
    expected = np.zeros(shape)  # every term added once, in float64
    for i in range(out_h):
        for k in range(blocks):
            expected[:, stride * i:stride * i + rows, k * step:k * step + width] += d_windows[:, i, k]
    np.testing.assert_allclose(by_block, expected, rtol=0, atol=1e-5)
