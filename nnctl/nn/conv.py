"""Convolution, pooling and residual layers on NHWC maps (docs/explanation/algorithms.md#convolution).

The definitions, one output pixel at a time, are in ``conv_reference.py``; the
tests hold every layer here to them.  What follows is the fast path.

Convolution is a GEMM over output *blocks*: b neighbouring output pixels of a row
share one patch, the (fH, (b−1)·s + fW, C′) window that covers all of them, and
one small banded weight matrix T (each filter repeated b times along the band)
turns that patch into the block's b·C outputs.  b = 1 is classic im2col; a
larger b shrinks the patch copy (windows overlap less) and widens the GEMM from
C to b·C columns, where BLAS runs at full speed (see ``MIN_RUN``).

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
block, added back onto the input map in a few slice-adds (fH per band of b·s
columns, or per block when a row has few blocks: ``_add_windows``).  Patches are copied from a strided view of the padded input, each
window row one contiguous run; a trailing column of ones meets T's last row,
the biases, so the same product adds them.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .activations import make_activation
from .initializers import init_weights
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


def _taps(a, kernel, stride, out_hw):
    """(k, view) per kernel tap k = u·fW + v: the strided slice of NHWC ``a`` holding
    element (u, v) of every window at once."""
    s, (h, w) = stride, out_hw
    for u in range(kernel[0]):
        for v in range(kernel[1]):
            yield u * kernel[1] + v, a[:, u:u + s * h:s, v:v + s * w:s]


# The shortest run, in floats, that the convolution lets BLAS or NumPy work on: GEMMs
# narrower than this (b·filters columns) and the input gradient's slice-adds on
# shorter runs (b·stride·channels_in floats) run far below speed.  Measured on a
# LeNet-5 training step (B = 128, float32, one thread): 23.9 ms at 1 (plain
# im2col, blocks of 1 and 1), 19.1 ms at 8, 16.0 ms at 16 and 15.4 ms at 24 (blocks
# of 4 and 5), then slower again as T fills with zeros: 17.6 ms at 32, 22.0 ms at 48.
MIN_RUN = 24


def _block_width(out_w: int, filters: int, band: int | None = None, min_run: int = MIN_RUN) -> int:
    """The block of b output pixels a patch covers: b divides the output width.

    The smallest divisor making both b·filters and b·``band`` (band = stride·channels_in;
    None when no input gradient is needed) at least ``min_run``, but at most twice the
    b that needs: a prime width would otherwise make every block a whole row and T
    mostly zeros.
    """
    wanted = max(-(-min_run // filters), -(-min_run // band) if band else 1)
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


def _block_view(a, m, out_h, blocks, rows, width, stride, block_step, writeable=False):
    """(m, out_h, blocks, rows, width) view of an (m, H, W·C) map with unit-stride rows: for
    output row i and block k, ``rows`` rows from row s·i, ``width`` floats from k·block_step.

    Patches of neighbouring blocks overlap when width > block_step, so a writeable view
    aliases memory: only ``_add_by_band`` writes through one, and only in bands where no
    two patches share a float."""
    sm, row, sc = a.strides
    return as_strided(a, (m, out_h, blocks, rows, width), (sm, stride * row, block_step * sc, row, sc),
                      writeable=writeable)


def _add_windows(target, d_windows, stride, block_step):
    """Add each block's window gradient (m, out_h, blocks, rows, width) onto the (m, H, W·C)
    map it was read from, by whichever route needs fewer slice-adds."""
    blocks, width = d_windows.shape[2], d_windows.shape[4]
    add = _add_by_block if blocks <= -(-width // block_step) else _add_by_band
    add(target, d_windows, stride, block_step)


# The two routes add the same terms in the same order onto each float (the last block's
# first, then by window row), so they agree to the bit (tests/test_conv.py).

def _add_by_block(target, d_windows, stride, block_step):
    """One slice-add per (block, window row), covering that row of every output row's window:
    few, long runs when a row has few blocks (conv layers late in a network)."""
    m, out_h, blocks, rows, width = d_windows.shape
    for k in range(blocks - 1, -1, -1):
        lo = k * block_step
        for u in range(rows):
            target[:, u:u + stride * (out_h - 1) + 1:stride, lo:lo + width] += d_windows[:, :, k, u]


def _add_by_band(target, d_windows, stride, block_step):
    """One slice-add per (band of ``block_step`` floats, window row), covering every block: within
    a band no two blocks overlap."""
    m, out_h, blocks, rows, width = d_windows.shape
    for lo in range(0, width, block_step):
        band = min(block_step, width - lo)
        for u in range(rows):
            view = _block_view(target[:, u:, lo:], m, out_h, blocks, 1, band, stride, block_step, writeable=True)
            view[:, :, :, 0] += d_windows[:, :, :, u, lo:lo + band]


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
        (ph, pw), (h, w) = self.padding, self.in_shape[:2]
        padded = ph or pw
        p = (self._scratch("padded", (m, *self._padded_hw, self.channels_in), x.dtype, training, _zero) if padded
             else np.ascontiguousarray(x))
        m, out_h, blocks, rows, width, step = self._geometry(m)
        view = _block_view(p.reshape(m, self._padded_hw[0], -1), m, out_h, blocks, rows, width, self.stride, step)
        # The patch matrix ends with a column of ones that T's last row turns into the bias.
        k = rows * width
        cols = self._scratch("cols", (m * out_h * blocks, k + self.use_bias), x.dtype, training, self._ones_column)
        patches = cols.reshape(m, out_h, blocks, -1)[..., :k].reshape(view.shape)

        def copy(lo, hi):
            if padded:
                p[lo:hi, ph:ph + h, pw:pw + w] = x[lo:hi]
            np.copyto(patches[lo:hi], view[lo:hi])

        _in_halves(copy, m)
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
        t.ravel()[self._band] = np.repeat(self.params["W"].ravel(), self.block)
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
            np.sum(d_banded.ravel()[self._band].reshape(-1, self.block), axis=1, out=self.grads["W"].reshape(-1))
            if self.use_bias:  # the ones column's row of dT: Σ dZ per (block position, filter)
                np.sum(d_banded[-1].reshape(self.block, self.filters), axis=0, out=self.grads["b"].reshape(self.filters))
        if not need_dx:
            return None
        k = rows * width
        d_cols = self._buffer("d_cols", (self._cols.shape[0], k), dy.dtype)
        np.matmul(dz, banded[:k].T, out=d_cols)
        d_cols = d_cols.reshape(m, out_h, blocks, rows, width)
        dx = self._buffer("dx", (m, *self.in_shape), dy.dtype)
        (ph, pw), (h, w) = self.padding, self.in_shape[:2]
        dp = self._buffer("dpadded", (m, *self._padded_hw, self.channels_in), dy.dtype) if ph or pw else dx

        def add(lo, hi):
            dp[lo:hi].fill(0)
            _add_windows(dp[lo:hi].reshape(hi - lo, self._padded_hw[0], -1), d_cols[lo:hi], self.stride, step)
            if dp is not dx:
                np.copyto(dx[lo:hi], dp[lo:hi, ph:ph + h, pw:pw + w])

        _in_halves(add, m)
        return dx


def _running_max(views, out, arg=None, better=None):
    """Max of ``views`` into ``out``; with ``arg`` (training) also the index of the first view holding it.

    A view that beats the running maximum is the argmax unless a later one beats
    it too, so the argmax is the largest k whose view beat the running maximum.
    """
    views = iter(views)
    np.copyto(out, next(views))
    if arg is not None:
        arg.fill(0)
    for k, view in enumerate(views, start=1):
        if arg is not None:
            np.greater(view, out, out=better)
            np.maximum(arg, np.multiply(better, k, dtype=arg.dtype), out=arg)
        np.maximum(out, view, out=out)


# The data movement between GEMMs (max-pooling both ways, the convolutions' patch copies and
# input-gradient slice-adds) runs on two threads, one half of the batch each: NumPy releases
# the GIL inside its loops, and this work is single-threaded otherwise while BLAS threads
# idle (asleep, see train/blas_threads.py). Every example's values are computed exactly as
# in one pass. Below SPLIT_ROWS examples the hand-off costs more than it saves.
SPLIT_ROWS = 32
_CORES = os.cpu_count() or 1
_HELPER: ThreadPoolExecutor | None = None


def _in_halves(work, m: int) -> None:
    """``work(lo, hi)`` over rows [0, m) as two halves, one on a helper thread, or whole when m is small."""
    global _HELPER
    if m < SPLIT_ROWS or _CORES < 2:
        work(0, m)
        return
    if _HELPER is None:
        _HELPER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nnctl-halves")
    half = m // 2
    first = _HELPER.submit(work, 0, half)
    try:
        work(half, m)
    finally:
        first.result()  # never return (or raise) while the helper still writes the buffers


class _Pool(Layer):
    """Shared shape logic and backward routing of the parameter-free f×f poolings.

    They work tap by tap (``_taps``): f² strided slices, each covering every
    window at once, so no Python loop runs over examples or pixels (max pooling
    over tiling windows has a faster route of its own).
    """

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
        # backward assigns each tap's slice instead of zero-filling and accumulating.
        f = self.size
        self._tiled = self.stride == f and input_shape[0] % f == 0 and input_shape[1] % f == 0
        return (*self.out_hw, input_shape[2])

    def _share(self, k):
        """The factor of dOut that tap k receives."""
        raise NotImplementedError

    def backward(self, dy, need_dx=True):
        dx = self._buffer("dx", (dy.shape[0], *self.in_shape), dy.dtype)
        if not self._tiled:
            dx.fill(0)
        for k, view in _taps(dx, self.kernel, self.stride, self.out_hw):
            if self._tiled:
                np.multiply(dy, self._share(k), out=view)
            else:
                view += dy * self._share(k)
        return dx


class MaxPool(_Pool):
    """Window maximum per channel; the gradient goes to the first argmax of each window.

    Windows that tile the map take a faster two-stage route: the maximum over each
    window row's f neighbours (runs of C floats), then over the window's f rows
    (runs of W_out·C floats).  Strict ``>`` in both stages keeps the earliest tap
    in (row, column) order, as the tap-by-tap route does.
    """

    def forward(self, x, training):
        self._x = x
        y = self._out("y", (x.shape[0], *self.out_hw, x.shape[3]), x.dtype, training)
        if self._tiled:
            self._forward_tiled(np.ascontiguousarray(x), y, training)
        else:
            taps = (view for _, view in _taps(x, self.kernel, self.stride, self.out_hw))
            self._arg, better = self._argmax_buffers("arg", y.shape, training)
            _running_max(taps, y, self._arg, better)
        return y

    def _forward_tiled(self, x, y, training):
        m, c, f, (h, w) = x.shape[0], x.shape[3], self.size, self.out_hw
        row_max = self._out("row_max", (m, h * f, w, c), x.dtype, training)
        arg_v, better_v = self._argmax_buffers("arg_v", row_max.shape, training)
        arg_u, better_u = self._argmax_buffers("arg_u", (m, h, w * c), training)

        def rows(lo, hi):
            n = hi - lo
            pixels = x[lo:hi].reshape(n, h * f, w, f * c)
            _running_max((pixels[..., v * c:(v + 1) * c] for v in range(f)), row_max[lo:hi],
                         *(a if a is None else a[lo:hi] for a in (arg_v, better_v)))
            pairs = row_max[lo:hi].reshape(n, h, f, w * c)
            _running_max((pairs[:, :, u] for u in range(f)), y[lo:hi].reshape(n, h, w * c),
                         *(a if a is None else a[lo:hi] for a in (arg_u, better_u)))

        _in_halves(rows, m)
        self._arg_v, self._arg_u = arg_v, arg_u

    def _argmax_buffers(self, key, shape, training):
        """The argmax (uint8 tap index) and comparison buffers of a running maximum; none at inference."""
        if not training:
            return None, None
        dtype = np.uint8 if self.size**2 <= 256 else np.int32
        return self._buffer(key, shape, dtype), self._buffer("better_" + key, shape, np.bool_)

    def backward(self, dy, need_dx=True):
        if not self._tiled:
            return super().backward(dy, need_dx)
        m, c, f, (h, w) = dy.shape[0], dy.shape[3], self.size, self.out_hw
        dx = self._buffer("dx", (m, *self.in_shape), dy.dtype)
        d_row_max = self._buffer("d_row_max", (m, h, f, w * c), dy.dtype)

        def rows(lo, hi):
            n = hi - lo
            for u in range(f):
                np.multiply(dy[lo:hi].reshape(n, h, w * c), self._arg_u[lo:hi] == u, out=d_row_max[lo:hi, :, u])
            pixels, d_rows = dx[lo:hi].reshape(n, h * f, w, f * c), d_row_max[lo:hi].reshape(n, h * f, w, c)
            for v in range(f):
                np.multiply(d_rows, self._arg_v[lo:hi] == v, out=pixels[..., v * c:(v + 1) * c])

        _in_halves(rows, m)
        return dx

    def _share(self, k):
        return self._arg == k

    def switches(self):
        return [self._arg_v.copy(), self._arg_u.copy()] if self._tiled else [self._arg.copy()]

    def ties(self, eps: float) -> int:
        """Windows of the last forward pass whose two largest taps lie within eps of each other: where
        rounding can move the gradient to another tap (the float32 benchmark check counts them)."""
        taps = np.stack([view for _, view in _taps(self._x, self.kernel, self.stride, self.out_hw)])
        if len(taps) < 2:
            return 0
        top2 = np.partition(taps, len(taps) - 2, axis=0)[-2:]
        return int(np.count_nonzero(top2[1] - top2[0] <= eps))


class AvgPool(_Pool):
    """Window mean per channel; the gradient is spread evenly, dOut/(f·f)."""

    def forward(self, x, training):
        y = self._out("y", (x.shape[0], *self.out_hw, x.shape[3]), x.dtype, training)
        taps = _taps(x, self.kernel, self.stride, self.out_hw)
        np.copyto(y, next(taps)[1])
        for _, view in taps:
            y += view
        y *= 1.0 / self.size**2
        return y

    def _share(self, k):
        return 1.0 / self.size**2


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


class Residual(Layer):
    """A = g(body(x) + shortcut(x)); the shortcut is x itself, or a projection when the body changes
    the shape (a 1×1 convolution on images, a dense layer on flat inputs).

    The skip path lets the gradient reach x without passing through the body,
    so deep stacks stay trainable.
    """

    def __init__(self, name: str, body: list[Layer], activation: str = "relu", projection: Layer | None = None,
                 alpha: float | None = None):
        super().__init__(name)
        self.body, self.projection = list(body), projection
        self.activation = make_activation(activation, alpha)
        if self.activation.grad is None:
            raise ValueError(f"{name}: '{activation}' cannot be a residual block's activation")

    def build(self, input_shape):
        shape = tuple(input_shape)
        for layer in self.body:
            shape = tuple(layer.build(shape))
        shortcut = tuple(self.projection.build(input_shape)) if self.projection else tuple(input_shape)
        if shape != shortcut:
            raise ValueError(
                f"{self.name}: the body maps {tuple(input_shape)} to {shape} but the "
                f"{'projection' if self.projection else 'identity shortcut'} gives {shortcut}; "
                "add or fix the projection so both match"
            )
        return shape

    def children(self):
        return self.body + ([self.projection] if self.projection else [])

    def forward(self, x, training):
        h = x
        for layer in self.body:
            h = layer.forward(h, training)
        shortcut = self.projection.forward(x, training) if self.projection else x
        self._z = np.add(h, shortcut, out=self._out("z", h.shape, h.dtype, training))
        self._a = self.activation.forward(self._z, out=self._out("a", h.shape, h.dtype, training))
        return self._a

    def kinks(self, eps):
        return self.activation.kinks(self._z, eps)

    def switches(self):
        return [self._z > 0] if self.activation.kinked else []

    def backward(self, dy, need_dx=True):
        dz = self.activation.grad(self._z, self._a, out=self._buffer("dz", dy.shape, dy.dtype))
        dz *= dy
        d = dz
        for i in range(len(self.body) - 1, -1, -1):
            d = self.body[i].backward(d, need_dx=need_dx or i > 0)
        d_short = self.projection.backward(dz, need_dx) if self.projection else dz
        if not need_dx:
            return None
        return np.add(d, d_short, out=self._buffer("dx", d.shape, d.dtype))
