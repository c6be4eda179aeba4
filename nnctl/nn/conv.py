"""Convolution, pooling and residual layers on NHWC maps (ALGORITHMS.md §14).

Convolution is an im2col GEMM: a strided view lists every window of the padded
input, one copy makes it the contiguous patch matrix, one matrix product does the
layer and one more gives dW.  With few channels the copy, not the arithmetic,
dominates (PERFORMANCE.md), so the patch matrix is laid out for long contiguous
runs: patches ordered (u, v, channel) so a window row of fW·C′ floats is one run,
or, for single-channel stride-1 inputs, stored transposed so each run is a whole
output row.  The input gradient is one batched GEMM giving each kernel tap's
contribution as a contiguous NHWC map, then fH·fW slice-adds; measured on LeNet's
second layer this beats correlating the padded dZ with the flipped filters
(2.0 ms against 6.6 ms), whose 6-column GEMM runs BLAS at a quarter of its speed.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .activations import ACTIVATIONS
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


def _windows(p, kernel, stride, out_hw, k_major):
    """Read-only view of every window of a C-contiguous NHWC array.

    (m, H_out, W_out, fH, fW·C) rows of the patch matrix, or with ``k_major`` its
    columns (fH, fW·C, m, H_out, W_out).  Within an image row fW neighbouring
    pixels' channels are adjacent, so (v, channel) merges into one axis.
    """
    m, h, w, c = p.shape
    sc = p.itemsize  # strides from the shape: NumPy may report any stride for a length-1 axis
    sw, sh, sm = c * sc, w * c * sc, h * w * c * sc
    fh, fw = kernel
    if k_major:
        return as_strided(p, (fh, fw * c, m, *out_hw), (sh, sc, sm, sh * stride, sw * stride), writeable=False)
    return as_strided(p, (m, *out_hw, fh, fw * c), (sm, sh * stride, sw * stride, sh, sc), writeable=False)


class Conv2D(Layer):
    """2-D cross-correlation with C filters of fH×fW×C′ plus a per-filter bias."""

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
    ):
        super().__init__(name)
        self.filters, self.kernel, self.stride = filters, _pair(kernel), stride
        self.init, self.init_scale, self.use_bias = init, init_scale, use_bias
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
        self.channels_in = input_shape[2]
        self._padded_hw = (input_shape[0] + 2 * self.padding[0], input_shape[1] + 2 * self.padding[1])
        # Transposed patches copy whole output rows, but only when those are contiguous.
        self._k_major = self.channels_in == 1 and self.stride == 1
        return (*self.out_hw, self.filters)

    def param_shapes(self):
        shapes = {"W": (*self.kernel, self.channels_in, self.filters)}
        if self.use_bias:
            shapes["b"] = (1, 1, 1, self.filters)
        return shapes

    def initialize(self, rng):
        area = self.kernel[0] * self.kernel[1]
        init_weights(self.params["W"], self.init, area * self.channels_in, area * self.filters, rng, self.init_scale)
        if self.use_bias:
            self.params["b"].fill(0)

    def forward(self, x, training):
        m = x.shape[0]
        (ph, pw), (h, w) = self.padding, self.in_shape[:2]
        if ph or pw:
            p = self._padded(m, x.dtype, training)
            p[:, ph:ph + h, pw:pw + w] = x
        else:
            p = np.ascontiguousarray(x)
        view = _windows(p, self.kernel, self.stride, self.out_hw, self._k_major)
        cols = self._out("cols", view.shape, x.dtype, training)
        np.copyto(cols, view)
        n_taps = self.kernel[0] * self.kernel[1] * self.channels_in
        self._cols = cols.reshape(n_taps, -1).T if self._k_major else cols.reshape(-1, n_taps)
        z = self._out("z", (m, *self.out_hw, self.filters), x.dtype, training)
        np.matmul(self._cols, self.params["W"].reshape(n_taps, self.filters), out=z.reshape(-1, self.filters))
        if self.use_bias:  # added per output row (W_out·C floats) rather than per C-float pixel
            z.reshape(-1, self.out_hw[1] * self.filters)[...] += np.tile(self.params["b"].ravel(), self.out_hw[1])
        return z

    def _padded(self, m, dtype, training):
        """Padded-input scratch: its border is never written, so it is zeroed only when (re)allocated."""
        shape = (m, *self._padded_hw, self.channels_in)
        if not training:
            return np.zeros(shape, dtype)
        old = self._buffers.get("padded")
        buf = self._buffer("padded", shape, dtype)
        if buf is not old:
            buf.fill(0)
        return buf

    def backward(self, dy, need_dx=True):
        dz = dy.reshape(-1, self.filters)
        np.matmul(self._cols.T, dz, out=self.grads["W"].reshape(-1, self.filters))
        if self.use_bias:
            ones = self._buffer("ones", (dz.shape[0],), dz.dtype)
            ones.fill(1)
            np.matmul(ones, dz, out=self.grads["b"].reshape(self.filters))
        if not need_dx:
            return None
        m, (fh, fw), c_in = dy.shape[0], self.kernel, self.channels_in
        # tap k's contribution dZ · W[u, v]ᵀ for every output pixel, as a contiguous map
        per_tap = self._buffer("per_tap", (fh * fw, dz.shape[0], c_in), dy.dtype)
        np.matmul(dz, self.params["W"].reshape(fh * fw, c_in, self.filters).transpose(0, 2, 1), out=per_tap)
        dx = self._buffer("dx", (m, *self.in_shape), dy.dtype)
        (ph, pw), (h, w) = self.padding, self.in_shape[:2]
        dp = self._buffer("dpadded", (m, *self._padded_hw, c_in), dy.dtype) if ph or pw else dx
        dp.fill(0)
        for k, view in _taps(dp, self.kernel, self.stride, self.out_hw):
            view += per_tap[k].reshape(m, *self.out_hw, c_in)
        if dp is not dx:
            np.copyto(dx, dp[:, ph:ph + h, pw:pw + w])
        return dx


class _Pool(Layer):
    """Shared shape logic and backward routing of the parameter-free f×f poolings.

    Both work tap by tap (``_taps``): f² strided slices, each covering every
    window at once, so no Python loop runs over examples or pixels.
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
        y = self._out("y", (x.shape[0], *self.out_hw, x.shape[3]), x.dtype, training)
        if self._tiled:
            self._forward_tiled(np.ascontiguousarray(x), y, training)
        else:
            taps = (view for _, view in _taps(x, self.kernel, self.stride, self.out_hw))
            self._arg = self._running_max(taps, y, "arg", training)
        return y

    def _forward_tiled(self, x, y, training):
        m, c, f, (h, w) = x.shape[0], x.shape[3], self.size, self.out_hw
        rows = x.reshape(m, h * f, w, f * c)
        row_max = self._out("row_max", (m, h * f, w, c), x.dtype, training)
        self._arg_v = self._running_max((rows[..., v * c:(v + 1) * c] for v in range(f)), row_max, "arg_v", training)
        pairs = row_max.reshape(m, h, f, w * c)
        self._arg_u = self._running_max((pairs[:, :, u] for u in range(f)), y.reshape(m, h, w * c), "arg_u", training)

    def _running_max(self, views, out, key, training):
        """Max of ``views`` into ``out``; in training also the index of the first view holding it.

        A view that beats the running maximum is the argmax unless a later one beats
        it too, so the argmax is the largest k whose view beat the running maximum.
        """
        views = iter(views)
        np.copyto(out, next(views))
        arg = None
        if training:
            arg = self._buffer(key, out.shape, np.uint8 if self.size**2 <= 256 else np.int32)
            better = self._buffer("better_" + key, out.shape, np.bool_)
            arg.fill(0)
        for k, view in enumerate(views, start=1):
            if training:
                np.greater(view, out, out=better)
                np.maximum(arg, np.multiply(better, k, dtype=arg.dtype), out=arg)
            np.maximum(out, view, out=out)
        return arg

    def backward(self, dy, need_dx=True):
        if not self._tiled:
            return super().backward(dy, need_dx)
        m, c, f, (h, w) = dy.shape[0], dy.shape[3], self.size, self.out_hw
        dx = self._buffer("dx", (m, *self.in_shape), dy.dtype)
        d_row_max = self._buffer("d_row_max", (m, h, f, w * c), dy.dtype)
        for u in range(f):
            np.multiply(dy.reshape(m, h, w * c), self._arg_u == u, out=d_row_max[:, :, u])
        rows, d_row_max = dx.reshape(m, h * f, w, f * c), d_row_max.reshape(m, h * f, w, c)
        for v in range(f):
            np.multiply(d_row_max, self._arg_v == v, out=rows[..., v * c:(v + 1) * c])
        return dx

    def _share(self, k):
        return self._arg == k


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
    """A = g(body(x) + shortcut(x)); the shortcut is x itself or a projection (1×1 conv) when shapes change.

    The skip path lets the gradient reach x without passing through the body,
    so deep stacks stay trainable.
    """

    def __init__(self, name: str, body: list[Layer], activation: str = "relu", projection: Conv2D | None = None):
        super().__init__(name)
        self.body, self.projection = list(body), projection
        self.activation = ACTIVATIONS[activation]
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
