"""The reference kernels: whole-array NumPy passes, the definition the compiled kernels must match.

Strided passes with short inner loops (pooling, the convolutions' patch copies and
input-gradient slice-adds) run on two threads, one half of the batch each
(``halves.in_halves``); everything else is one ufunc at a time.  ``conv_reference.py`` is
the slow, obvious definition that both implementations are tested against.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..activations import softmax
from .halves import in_halves

NAME = "numpy"


def taps(a, size, stride, out_hw):
    """(k, view) per tap k = u·f + v of an f×f window: the strided slice of NHWC ``a`` holding
    element (u, v) of every window at once."""
    s, (h, w) = stride, out_hw
    for u in range(size):
        for v in range(size):
            yield u * size + v, a[:, u:u + s * h:s, v:v + s * w:s]


# ------------------------------------------------------------------ pooling


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


def _argmax_buffers(buffer, key, shape, size):
    """The argmax (uint8 tap index) and comparison buffers of a running maximum; none at inference."""
    if buffer is None:
        return None, None
    dtype = np.uint8 if size**2 <= 256 else np.int32
    return buffer(key, shape, dtype), buffer("better_" + key, shape, np.bool_)


def max_pool_forward(x, size, stride, tiled, y, buffer=None):
    """y = the maximum of each window; returns the argmax state backward needs (``buffer`` given: training).

    Windows that tile the map take a faster two-stage route: the maximum over each
    window row's f neighbours (runs of C floats), then over the window's f rows
    (runs of W_out·C floats).  Strict ``>`` in both stages keeps the earliest tap
    in (row, column) order, as the tap-by-tap route does.
    """
    if not tiled:
        arg, better = _argmax_buffers(buffer, "arg", y.shape, size)
        _running_max((view for _, view in taps(x, size, stride, y.shape[1:3])), y, arg, better)
        return (arg,)
    x = np.ascontiguousarray(x)
    m, c, f, (h, w) = x.shape[0], x.shape[3], size, y.shape[1:3]
    row_max = buffer("row_max", (m, h * f, w, c), x.dtype) if buffer else np.empty((m, h * f, w, c), x.dtype)
    arg_v, better_v = _argmax_buffers(buffer, "arg_v", row_max.shape, size)
    arg_u, better_u = _argmax_buffers(buffer, "arg_u", (m, h, w * c), size)

    def rows(lo, hi):
        n = hi - lo
        pixels = x[lo:hi].reshape(n, h * f, w, f * c)
        _running_max((pixels[..., v * c:(v + 1) * c] for v in range(f)), row_max[lo:hi],
                     *(a if a is None else a[lo:hi] for a in (arg_v, better_v)))
        pairs = row_max[lo:hi].reshape(n, h, f, w * c)
        _running_max((pairs[:, :, u] for u in range(f)), y[lo:hi].reshape(n, h, w * c),
                     *(a if a is None else a[lo:hi] for a in (arg_u, better_u)))

    in_halves(rows, m)
    return arg_v, arg_u


def max_pool_backward(state, dy, size, stride, tiled, dx, buffer):
    """dx: dy routed to each window's first maximum (overlapping windows add up)."""
    if not tiled:
        (arg,) = state
        return _pool_backward(dy, size, stride, tiled, dx, lambda k: arg == k)
    arg_v, arg_u = state
    m, c, f, (h, w) = dy.shape[0], dy.shape[3], size, dy.shape[1:3]
    d_row_max = buffer("d_row_max", (m, h, f, w * c), dy.dtype)

    def rows(lo, hi):
        n = hi - lo
        for u in range(f):
            np.multiply(dy[lo:hi].reshape(n, h, w * c), arg_u[lo:hi] == u, out=d_row_max[lo:hi, :, u])
        pixels, d_rows = dx[lo:hi].reshape(n, h * f, w, f * c), d_row_max[lo:hi].reshape(n, h * f, w, c)
        for v in range(f):
            np.multiply(d_rows, arg_v[lo:hi] == v, out=pixels[..., v * c:(v + 1) * c])

    in_halves(rows, m)
    return dx


def _pool_backward(dy, size, stride, tiled, dx, share):
    """Tap by tap, each tap k receives dy·share(k): assigned where windows tile the map, else added onto zeros."""
    if not tiled:
        dx.fill(0)
    for k, view in taps(dx, size, stride, dy.shape[1:3]):
        if tiled:
            np.multiply(dy, share(k), out=view)
        else:
            view += dy * share(k)
    return dx


def avg_pool_forward(x, size, stride, y):
    """y = the mean of each window: the taps summed in (row, column) order, then scaled by 1/f²."""
    window = taps(x, size, stride, y.shape[1:3])
    np.copyto(y, next(window)[1])
    for _, view in window:
        y += view
    y *= 1.0 / size**2
    return y


def avg_pool_backward(dy, size, stride, tiled, dx):
    share = 1.0 / size**2
    return _pool_backward(dy, size, stride, tiled, dx, lambda k: share)


# ------------------------------------------------------------------ convolution patches


def block_view(a, m, out_h, blocks, rows, width, stride, block_step, writeable=False):
    """(m, out_h, blocks, rows, width) view of an (m, H, W·C) map with unit-stride rows: for
    output row i and block k, ``rows`` rows from row s·i, ``width`` floats from k·block_step.

    Patches of neighbouring blocks overlap when width > block_step, so a writeable view
    aliases memory: only ``_add_by_band`` writes through one, and only in bands where no
    two patches share a float."""
    sm, row, sc = a.strides
    return as_strided(a, (m, out_h, blocks, rows, width), (sm, stride * row, block_step * sc, row, sc),
                      writeable=writeable)


def gather_patches(x, cols, geometry, stride, padding, padded):
    """Copy every block's window of the (zero-padded) input into its row of ``cols`` (the patch matrix,
    whose trailing bias column is left alone); ``padded()`` gives zero-bordered scratch of the padded map."""
    m, out_h, blocks, rows, width, step = geometry
    (ph, pw), (h, w) = padding, x.shape[1:3]
    padded = padded() if ph or pw else None
    p = padded if padded is not None else np.ascontiguousarray(x)
    view = block_view(p.reshape(m, p.shape[1], -1), m, out_h, blocks, rows, width, stride, step)
    patches = cols.reshape(m, out_h, blocks, -1)[..., :rows * width].reshape(view.shape)

    def copy(lo, hi):
        if padded is not None:
            p[lo:hi, ph:ph + h, pw:pw + w] = x[lo:hi]
        np.copyto(patches[lo:hi], view[lo:hi])

    in_halves(copy, m)


def scatter_patches(d_cols, dx, geometry, stride, padding, padded):
    """The transpose of ``gather_patches``: each block's window gradient (a row of ``d_cols``) added onto
    the input gradient ``dx`` at the window's place; ``padded()`` gives scratch of the padded map's shape."""
    m, out_h, blocks, rows, width, step = geometry
    (ph, pw), (h, w) = padding, dx.shape[1:3]
    d_windows = d_cols.reshape(m, out_h, blocks, rows, width)
    dp = padded() if ph or pw else dx

    def add(lo, hi):
        dp[lo:hi].fill(0)
        add_windows(dp[lo:hi].reshape(hi - lo, dp.shape[1], -1), d_windows[lo:hi], stride, step)
        if dp is not dx:
            np.copyto(dx[lo:hi], dp[lo:hi, ph:ph + h, pw:pw + w])

    in_halves(add, m)
    return dx


def add_windows(target, d_windows, stride, block_step):
    """Add each block's window gradient (m, out_h, blocks, rows, width) onto the (m, H, W·C)
    map it was read from, by whichever route needs fewer slice-adds."""
    blocks, width = d_windows.shape[2], d_windows.shape[4]
    add = add_by_block if blocks <= -(-width // block_step) else add_by_band
    add(target, d_windows, stride, block_step)


# The two routes add the same terms in the same order onto each float (the last block's
# first, then by window row), so they agree to the bit (tests/test_conv.py).

def add_by_block(target, d_windows, stride, block_step):
    """One slice-add per (block, window row), covering that row of every output row's window:
    few, long runs when a row has few blocks (conv layers late in a network)."""
    m, out_h, blocks, rows, width = d_windows.shape
    for k in range(blocks - 1, -1, -1):
        lo = k * block_step
        for u in range(rows):
            target[:, u:u + stride * (out_h - 1) + 1:stride, lo:lo + width] += d_windows[:, :, k, u]


def add_by_band(target, d_windows, stride, block_step):
    """One slice-add per (band of ``block_step`` floats, window row), covering every block: within
    a band no two blocks overlap."""
    m, out_h, blocks, rows, width = d_windows.shape
    for lo in range(0, width, block_step):
        band = min(block_step, width - lo)
        for u in range(rows):
            view = block_view(target[:, u:, lo:], m, out_h, blocks, 1, band, stride, block_step, writeable=True)
            view[:, :, :, 0] += d_windows[:, :, :, u, lo:lo + band]


# ------------------------------------------------------------------ activations and the loss


def activate(activation, z, out):
    """a = g(z) into ``out`` (None: a new array)."""
    return activation.forward(z, out=out)


def activate_backward(activation, z, a, dy, out):
    """dz = g'(z)·dy into ``out``: the derivative (for ReLU the 0/1 mask), then times dy."""
    dz = activation.grad(z, a, out=out)
    dz *= dy
    return dz


def softmax_ce_cost(z, y):
    """Mean cross-entropy of softmax(Z) against Y, per example on the shifted logits s = z − max(z) in
    float64: log Σ_k exp(s_k) − Σ_j y_j s_j + max(z)·(1 − Σ_j y_j), negatives clipped (losses.py says why)."""
    zmax = z.max(axis=1, keepdims=True)
    s = (z - zmax).astype(np.float64)
    y = y.astype(np.float64, copy=False)
    per_example = np.log(np.exp(s).sum(axis=1)) - (y * s).sum(axis=1) + zmax[:, 0] * (1.0 - y.sum(axis=1))
    return float(np.maximum(per_example, 0.0).sum() / z.shape[0])


def softmax_ce_grad(z, y, out):
    """dJ/dZ = (softmax(Z) − Y)/m of softmax with cross-entropy."""
    a = softmax(z, out=out)
    a -= y
    a *= 1.0 / z.shape[0]
    return a


# ------------------------------------------------------------------ the convolutions' banded weights


def spread_band(w, band, block, t):
    """T's band from the filters: each weight repeated ``block`` times, at flat positions ``band`` of T."""
    t.ravel()[band] = np.repeat(w.ravel(), block)


def sum_band(d_t, band, block, dw):
    """dW from dT: each weight's ``block`` band positions summed."""
    np.sum(d_t.ravel()[band].reshape(-1, block), axis=1, out=dw.reshape(-1))


# ------------------------------------------------------------------ dense layers' biases


def add_bias(z, b):
    """Z += b, the bias row added to every example's row."""
    z += b


def bias_gradient(dz, db):
    """db = Σ of dZ's rows (NumPy adds the rows in order, onto zeros)."""
    np.sum(dz, axis=0, keepdims=True, out=db)


# ------------------------------------------------------------------ mini-batches


def take_rows(x, rows, out):
    """x[rows] into ``out`` (a mini-batch drawn from a split; ``rows`` in [0, len(x)))."""
    return np.take(x, rows, axis=0, out=out)


# ------------------------------------------------------------------ optimizers


def add_penalty_gradient(theta, grad, ranges, l2, l1):
    """dθ += l2·w + l1·sign(w) on the weights, each of ``ranges`` (slices of θ) in turn (l2 = λ2/m, l1 = λ1/(2m))."""
    for part in ranges:
        w, dw = theta[part], grad[part]
        if l2:
            dw += l2 * w
        if l1:
            dw += l1 * np.sign(w)


def optimizer_step(optimizer, theta, grad, lr):
    """The optimizer's own whole-vector update (``Optimizer.update``): it is the definition."""
    optimizer.update(theta, grad, lr)
