"""Convolution and pooling layers on NHWC maps (docs/explanation/algorithms.md#convolution).

The definitions, one output pixel at a time, are in ``conv_reference.py``; the
tests hold every layer here to them.  What follows is the fast path.

Convolution is a GEMM over output *blocks*: b neighbouring output pixels of a row
share one patch, the (fH, (b−1)·s + fW, C′) window that covers all of them, and
one small banded weight matrix T (each filter repeated b times along the band)
turns that patch into the block's b·C outputs.  b = 1 is classic im2col; a
larger b shrinks the patch copy (windows overlap less) and widens the GEMM from
C to b·C columns, where BLAS runs at full speed (see ``MIN_COLUMNS``).

The banded matrix, on the smallest example: one input channel, one filter
[w0 w1] (fH = 1, fW = 2), stride 1, blocks of b = 3 outputs.  A block reads a
window of (b−1)·s + fW = 4 inputs [x0 x1 x2 x3], and T is 4 × 3, the filter
shifted by s rows in each of the b columns:

    [x0 x1 x2 x3] · | w0  0   0  |  =  [w0·x0 + w1·x1,  w0·x1 + w1·x2,  w0·x2 + w1·x3]
                    | w1  w0  0  |
                    | 0   w1  w0 |
                    | 0   0   w1 |

In general W[u, v, c′, c] sits in T at row (u, j·s + v, c′) and column (j, c)
for each block position j; every other entry stays zero.  dW is the sum of dT
over those b positions, and the input gradient is dZ · Tᵀ, a window gradient per
block, added back onto the input map.  Copying the patches and adding the window
gradients back is the active kernels' work (``kernels/``: the reference copies
from a strided view of the padded input and adds in a few slice-adds, the
compiled kernels in one pass per example).  A trailing column of ones in the
patch matrix meets T's last row, the biases, so the same product adds them.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import numpy as np

from . import kernels
from .initializers import init_weights
from .kernels.numpy_ref import taps
from .layers import Layer


def _pair(value: int | tuple[int, int]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)


def _output_size(name, input_shape, kernel, stride, padding) -> tuple[int, int]:
    """⌊(n + 2p − f)/s⌋ + 1 per spatial axis, or a ValueError saying which layer cannot fit."""
    if len(input_shape) != 3:
        raise ValueError(f"{name}: needs (height, width, channels) inputs, got shape {tuple(input_shape)}")
    sizes = tuple((n + 2 * p - f) // stride + 1 for n, f, p in zip(input_shape[:2], kernel, padding))
    if min(sizes) <= 0:
        raise ValueError(
            f"{name}: input {tuple(input_shape)} is too small for kernel {kernel} with stride {stride} "
            f"and padding {padding} (output size {sizes[0]}×{sizes[1]})"
        )
    return sizes


# The narrowest runs, in floats, that the convolution lets BLAS or NumPy work on: GEMMs
# narrower than MIN_COLUMNS (b·filters columns) and the input gradient's adds on runs
# shorter than MIN_RUN (b·stride·channels_in floats) run far below speed.  MIN_RUN,
# measured on a LeNet-5 training step (B = 128, float32, one thread, NumPy kernels):
# 23.9 ms at 1 (plain im2col), 19.1 ms at 8, 16.0 ms at 16 and 15.4 ms at 24, then
# slower again as T fills with zeros: 17.6 ms at 32, 22.0 ms at 48.  MIN_COLUMNS, with
# the compiled kernels on two threads (steps alternated in one process,
# docs/explanation/kernels.md#measurements): LeNet-5's first convolution (6 filters, no
# input gradient) in blocks of 7 pixels (42 columns) took 4–6 % less per step than in
# blocks of 4 (24 columns), and blocks of 2 or 14 were slower than both.
MIN_RUN = 24
MIN_COLUMNS = 32


def _block_width(out_w: int, filters: int, band: int | None = None) -> int:
    """The block of b output pixels a patch covers: b divides the output width.

    The smallest divisor making b·filters at least MIN_COLUMNS and b·``band`` (band =
    stride·channels_in; None when no input gradient is needed) at least MIN_RUN, but at
    most twice the b that needs: a prime width would otherwise make every block a whole
    row and T mostly zeros.
    """
    wanted = max(-(-MIN_COLUMNS // filters), -(-MIN_RUN // band) if band else 1)
    divisors = [b for b in range(1, min(out_w, 2 * wanted) + 1) if out_w % b == 0]
    return next((b for b in divisors if b >= wanted), divisors[-1])


class BlockGeometry(NamedTuple):
    """How a batch's padded input map, seen as (m, H, W·C′), divides into the patches of
    output blocks: one patch per (example, output row, block)."""

    m: int  # examples
    out_h: int  # output rows
    blocks: int  # blocks per output row: out_w / b
    rows: int  # input rows a patch reads: fH
    width: int  # floats a patch reads per input row: ((b−1)·s + fW)·C′
    step: int  # floats between the patches of neighbouring blocks: b·s·C′


def _zero(a):
    a.fill(0)


class Conv2D(Layer):
    """2-D cross-correlation with C filters of fH×fW×C′ plus a per-filter bias.

    It computes ``conv_reference.conv2d_forward`` and ``conv2d_backward`` with the
    banded GEMMs of the module docstring.
    """

    penalized = ("W",)

    def __init__(
        self,
        name: str,
        filters: int,
        kernel: int | tuple[int, int],
        stride: int = 1,
        padding: str | int = "valid",
        init: str = "he",
        init_scale: float = 0.01,
        use_bias: bool = True,
        init_gain: float = 1.0,
    ):
        super().__init__(name)
        self.filters, self.kernel, self.stride = filters, _pair(kernel), stride
        self.init, self.init_scale, self.use_bias, self.init_gain = init, init_scale, use_bias, init_gain
        if filters < 1 or min(self.kernel) < 1 or stride < 1:
            raise ValueError(f"{name}: filters {filters}, kernel {self.kernel} and stride {stride} must be positive")
        if padding == "valid":
            self.padding = (0, 0)
        elif padding == "same":
            if stride != 1 or any(f % 2 == 0 for f in self.kernel):
                raise ValueError(f"{name}: 'same' padding needs stride 1 and odd kernel sizes, got kernel {self.kernel}, stride {stride}")
            self.padding = tuple((f - 1) // 2 for f in self.kernel)
        elif isinstance(padding, int) and not isinstance(padding, bool) and padding >= 0:
            self.padding = (padding, padding)
        else:
            raise ValueError(f"{name}: padding must be 'valid', 'same' or a non-negative integer, got {padding!r}")

    def build(self, input_shape):
        self.out_hw = _output_size(self.name, input_shape, self.kernel, self.stride, self.padding)
        self.in_shape = tuple(input_shape)
        self.channels_in = c = input_shape[2]
        self._padded_hw = (input_shape[0] + 2 * self.padding[0], input_shape[1] + 2 * self.padding[1])
        (fh, fw), s, f = self.kernel, self.stride, self.filters
        self.block = b = _block_width(self.out_hw[1], f, s * c if self.input_gradient else None)
        self._window = (b - 1) * s + fw  # input columns one block of b outputs reads
        # Where each weight W[u, v, c, f] sits in T (fH·window·C, b·F): row (u, j·s + v, c),
        # column (j, f), for each block position j; ordered (u, v, c, f, j) to match W repeated b times.
        u, v, ci, fi, j = np.meshgrid(*(np.arange(n) for n in (fh, fw, c, f, b)), indexing="ij")
        self._band = ((((u * self._window + j * s + v) * c + ci) * b + j) * f + fi).ravel()
        return (*self.out_hw, f)

    def param_shapes(self):
        shapes = {"W": (*self.kernel, self.channels_in, self.filters)}
        if self.use_bias:
            shapes["b"] = (1, 1, 1, self.filters)
        return shapes

    def initialize(self, rng):
        area = self.kernel[0] * self.kernel[1]
        init_weights(self.params["W"], self.init, area * self.channels_in, area * self.filters, rng, self.init_scale,
                     self.init_gain)
        if self.use_bias:
            self.params["b"].fill(0)

    def _geometry(self, m) -> BlockGeometry:
        (h, w), b = self.out_hw, self.block
        return BlockGeometry(m, h, w // b, self.kernel[0], self._window * self.channels_in, b * self.stride * self.channels_in)

    def forward(self, x, training):
        m = x.shape[0]
        g = self._geometry(m)
        # The patch matrix ends with a column of ones that T's last row turns into the bias.
        k = g.rows * g.width
        cols = self._scratch("cols", (m * g.out_h * g.blocks, k + self.use_bias), x.dtype, training, self._ones_column)
        padded = partial(self._scratch, "padded", (m, *self._padded_hw, self.channels_in), x.dtype, training, _zero)
        kernels.active().gather_patches(x, cols, g, self.stride, self.padding, padded)
        self._cols = cols
        z = self._out("z", (m, *self.out_hw, self.filters), x.dtype, training)
        np.matmul(cols, self._banded(x.dtype), out=z.reshape(cols.shape[0], -1))
        return z

    def _ones_column(self, cols):
        if self.use_bias:
            cols[:, -1] = 1

    def _banded(self, dtype):
        """T with the current weights (and the bias as its last row); off the band it stays zero."""
        shape = (self.kernel[0] * self._window * self.channels_in + self.use_bias, self.block * self.filters)
        t = self._scratch("banded", shape, dtype, True, _zero)
        kernels.active().spread_band(self.params["W"], self._band, self.block, t)
        if self.use_bias:
            t[-1] = np.tile(self.params["b"].ravel(), self.block)
        return t

    def _scratch(self, key, shape, dtype, training, prepare):
        """Scratch that never leaves the layer, with entries no pass overwrites (a zero border, the
        ones column): ``prepare`` writes them only when the array is new.  Inference keeps its own,
        so evaluating in chunks neither reallocates it per chunk nor touches the training pass's."""
        key = key if training else key + "@inference"
        old = self._buffers.get(key)
        buf = self._buffer(key, shape, dtype)
        if buf is not old:
            prepare(buf)
        return buf

    def backward(self, dy, need_dx=True):
        m, out_h, blocks, rows, width, step = self._geometry(dy.shape[0])
        dz = dy.reshape(self._cols.shape[0], -1)
        banded = self._buffers["banded"]
        if not self.frozen:
            d_banded = self._buffer("d_banded", banded.shape, dy.dtype)
            np.matmul(self._cols.T, dz, out=d_banded)
            kernels.active().sum_band(d_banded, self._band, self.block, self.grads["W"])
            if self.use_bias:  # the ones column's row of dT: Σ dZ per (block position, filter)
                np.sum(d_banded[-1].reshape(self.block, self.filters), axis=0, out=self.grads["b"].reshape(self.filters))
        if not need_dx:
            return None
        k = rows * width
        d_cols = self._buffer("d_cols", (self._cols.shape[0], k), dy.dtype)
        np.matmul(dz, banded[:k].T, out=d_cols)
        dx = self._buffer("dx", (m, *self.in_shape), dy.dtype)
        padded = partial(self._buffer, "dpadded", (m, *self._padded_hw, self.channels_in), dy.dtype)
        return kernels.active().scatter_patches(d_cols, dx, self._geometry(m), self.stride, self.padding, padded)


class _Pool(Layer):
    """Shared shape logic of the parameter-free f×f poolings; the work is the active kernels'."""

    def __init__(self, name: str, size: int, stride: int | None = None):
        super().__init__(name)
        self.size, self.stride = size, stride or size
        self.kernel = (size, size)
        if size < 1 or self.stride < 1:
            raise ValueError(f"{name}: pool size {size} and stride {self.stride} must be positive")

    def build(self, input_shape):
        self.out_hw = _output_size(self.name, input_shape, self.kernel, self.stride, (0, 0))
        self.in_shape = tuple(input_shape)
        # Windows that tile the map: every input cell is in exactly one window, so the
        # backward assigns each tap's values instead of zero-filling and accumulating.
        f = self.size
        self._tiled = self.stride == f and input_shape[0] % f == 0 and input_shape[1] % f == 0
        return (*self.out_hw, input_shape[2])

    def _output(self, x, training):
        return self._out("y", (x.shape[0], *self.out_hw, x.shape[3]), x.dtype, training)

    def _dx(self, dy):
        return self._buffer("dx", (dy.shape[0], *self.in_shape), dy.dtype)


class MaxPool(_Pool):
    """Window maximum per channel; the gradient goes to the first argmax of each window
    (in (row, column) order: ties go to the earliest tap)."""

    def forward(self, x, training):
        self._x = x
        implementation = kernels.active()
        self._backward = implementation.max_pool_backward  # the argmax state is the forward kernels' own
        y = self._output(x, training)
        self._state = implementation.max_pool_forward(x, self.size, self.stride, self._tiled, y, self._buffer if training else None)
        return y

    def backward(self, dy, need_dx=True):
        return self._backward(self._state, dy, self.size, self.stride, self._tiled, self._dx(dy), self._buffer)

    def switches(self):
        return [arg.copy() for arg in self._state]

    def ties(self, eps: float) -> int:
        """Windows of the last forward pass whose two largest taps lie within eps of each other: where
        rounding can move the gradient to another tap (the float32 benchmark check counts them)."""
        values = np.stack([view for _, view in taps(self._x, self.size, self.stride, self.out_hw)])
        if len(values) < 2:
            return 0
        top2 = np.partition(values, len(values) - 2, axis=0)[-2:]
        return int(np.count_nonzero(top2[1] - top2[0] <= eps))


class AvgPool(_Pool):
    """Window mean per channel; the gradient is spread evenly, dOut/(f·f)."""

    def forward(self, x, training):
        return kernels.active().avg_pool_forward(x, self.size, self.stride, self._output(x, training))

    def backward(self, dy, need_dx=True):
        return kernels.active().avg_pool_backward(dy, self.size, self.stride, self._tiled, self._dx(dy))


class GlobalAvgPool(Layer):
    """Mean over height and width: (m, H, W, C) → (m, C), a parameter-free head for any map size."""

    def build(self, input_shape):
        self.in_shape = tuple(input_shape)
        return (input_shape[2],)

    def forward(self, x, training):
        return np.mean(x, axis=(1, 2), out=self._out("y", (x.shape[0], x.shape[3]), x.dtype, training))

    def backward(self, dy, need_dx=True):
        dx = self._buffer("dx", (dy.shape[0], *self.in_shape), dy.dtype)
        np.multiply(dy[:, None, None, :], 1.0 / (self.in_shape[0] * self.in_shape[1]), out=dx)
        return dx
