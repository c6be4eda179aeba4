"""The compiled kernels: numba loops that do in one pass what NumPy does in several.

Each kernel does the reference's arithmetic (``numpy_ref.py``) element by element in
the same order — the same IEEE operations on the same operands, scalars rounded to
the array's dtype exactly as NumPy rounds a Python float — so the results agree to
the bit; ``tests/test_kernels.py`` holds every kernel to that.  What the kernels do
not cover (other activations, NumPy's ``exp``) they leave to the reference.  numba
compiles each kernel on its first call for a dtype and caches the machine code on
disk (``cache=True``), so only the first run on a machine pays for compiling.

The loops are serial and release the GIL; batch-sized passes run as two halves on the
kernels' one helper thread (``halves.py``), not in numba's own thread pool, which
fought OpenBLAS's threads for the two cores.  Loops index views from 0 and carry no
per-element branches or division checks (``error_model="numpy"``): LLVM vectorizes
only such loops (docs/explanation/kernels.md).
"""

from __future__ import annotations

import math
import os

import numpy as np
from numba import njit

from . import numpy_ref
from .halves import in_halves

NAME = "compiled"
_JIT = {"cache": True, "nogil": True, "error_model": "numpy"}


def _plain(*arrays):
    """Contiguous arrays of one dtype, which the loops take (anything else goes to the reference)."""
    return all(a.flags.c_contiguous and a.dtype == arrays[0].dtype for a in arrays)


# ------------------------------------------------------------------ pooling


@njit(**_JIT)
def _max_pool_forward(x, size, stride, by_rows, y, arg, record):
    """Per window and channel: the maximum by np.maximum's rules (NaN wins; a tie takes the later value, which
    matters for signed zeros) and, when ``record`` (training), the first tap holding it.  Taps are taken in
    (row, column) order, or ``by_rows`` as the reference does for windows that tile the map: each row's
    maximum first, then the maximum of the rows (the same result, except which tap a NaN window records)."""
    m, h, w, c = y.shape
    for n in range(m):
        for i in range(h):
            for j in range(w):
                r0, c0 = i * stride, j * stride
                for ch in range(c):
                    best = x[n, r0, c0, ch]
                    tap = 0
                    for u in range(size):
                        row_best = x[n, r0 + u, c0, ch] if by_rows else best
                        row_tap = u * size if by_rows else tap
                        for v in range(size):
                            value = x[n, r0 + u, c0 + v, ch]
                            row_tap = u * size + v if value > row_best else row_tap
                            row_best = row_best if row_best > value or row_best != row_best else value
                        rows_race = by_rows and u > 0  # the running maximum meets row u's: np.maximum's rules
                        tap = tap if rows_race and not row_best > best else row_tap
                        best = best if rows_race and (best > row_best or best != best) else row_best
                    y[n, i, j, ch] = best
                    if record:
                        arg[n, i, j, ch] = tap


@njit(**_JIT)
def _max_pool2_forward(x, y, arg, record):
    """``_max_pool_forward`` for 2×2 windows that tile the map, on rows of W·C floats with the four taps
    written out: the channel loop is innermost, branch-free and stores unconditionally (without
    ``record``, into the one scratch row ``arg`` then holds), so LLVM vectorizes it: 5–12× the general
    loop on one core."""
    m, h, w, c = y.shape
    rows = x.reshape(m, x.shape[1], x.shape[2] * c)
    out = y.reshape(m, h, w * c)
    taps = arg.reshape(arg.shape[0], arg.shape[1], w * c)
    for n in range(m):
        for i in range(h):
            top_row, bottom_row, best_row = rows[n, 2 * i], rows[n, 2 * i + 1], out[n, i]
            tap_row = taps[n, i] if record else taps[0, 0]
            for j in range(w):
                first = 2 * j * c
                for ch in range(c):
                    top, x01 = top_row[first + ch], top_row[first + c + ch]
                    bottom, x11 = bottom_row[first + ch], bottom_row[first + c + ch]
                    top_tap = 1 if x01 > top else 0
                    top = top if top > x01 or top != top else x01
                    bottom_tap = 3 if x11 > bottom else 2
                    bottom = bottom if bottom > x11 or bottom != bottom else x11
                    best_row[j * c + ch] = top if top > bottom or top != top else bottom
                    tap_row[j * c + ch] = bottom_tap if bottom > top else top_tap


@njit(**_JIT)
def _pool2_backward(dy, dx, arg, share):
    """``_pool_backward`` for 2×2 windows that tile the map: each output's dy, routed or shared, written
    to its four taps on rows of W·C floats (channels innermost, as in ``_max_pool2_forward``)."""
    m, h, w, c = dy.shape
    zero, routed = share - share, arg.size > 0
    grads = dy.reshape(m, h, w * c)
    taps = arg.reshape(m, h, w * c) if routed else arg.reshape(0, 0, 0)
    rows = dx.reshape(m, dx.shape[1], dx.shape[2] * c)
    for n in range(m):
        for i in range(h):
            for u in range(2):
                row = rows[n, 2 * i + u]
                for j in range(w):
                    for v in range(2):
                        k = 2 * u + v
                        for ch in range(c):
                            q = j * c + ch
                            factor = (share if taps[n, i, q] == k else zero) if routed else share
                            row[(2 * j + v) * c + ch] = grads[n, i, q] * factor


@njit(**_JIT)
def _pool_backward(dy, size, stride, tiled, dx, arg, share):
    """Each tap's share, as the reference computes it: dy·[k is the argmax] (max: ``arg`` not empty) or dy·share
    (average); assigned where windows tile the map, else added onto zeros tap by tap (the order in which a
    cell of overlapping windows sums its terms)."""
    m, h, w, c = dy.shape
    zero, routed = share - share, arg.size > 0
    if not tiled:
        dx[:] = 0
    for n in range(m):
        for u in range(size):
            for v in range(size):
                k = u * size + v
                for i in range(h):
                    for j in range(w):
                        cell = dx[n, i * stride + u, j * stride + v]
                        for ch in range(c):
                            factor = (share if arg[n, i, j, ch] == k else zero) if routed else share
                            term = dy[n, i, j, ch] * factor
                            cell[ch] = term if tiled else cell[ch] + term


@njit(**_JIT)
def _avg_pool_forward(x, size, stride, y, scale):
    m, h, w, c = y.shape
    for n in range(m):
        for i in range(h):
            for j in range(w):
                r0, c0 = i * stride, j * stride
                for ch in range(c):
                    total = x[n, r0, c0, ch]
                    for u in range(size):
                        for v in range(size):
                            if u or v:
                                total += x[n, r0 + u, c0 + v, ch]
                    y[n, i, j, ch] = total * scale


_NO_ARGMAX = np.empty((0, 0, 0, 0), np.uint8)


def max_pool_forward(x, size, stride, tiled, y, buffer=None):
    """One pass per window; the state is one tap index per output (uint8 up to 16×16 windows)."""
    arg = buffer("arg", y.shape, np.uint8 if size**2 <= 256 else np.int32) if buffer else None
    x = np.ascontiguousarray(x)

    def forward(lo, hi):
        if size == 2 and tiled:  # at inference its taps go to a scratch row that nobody reads
            taps = np.empty((1, 1, *y.shape[2:]), np.uint8) if arg is None else arg[lo:hi]
            _max_pool2_forward(x[lo:hi], y[lo:hi], taps, arg is not None)
        else:
            taps = _NO_ARGMAX if arg is None else arg[lo:hi]
            _max_pool_forward(x[lo:hi], size, stride, tiled, y[lo:hi], taps, arg is not None)

    in_halves(forward, len(x))
    return (arg,)


def _pool_backward_rows(dy, size, stride, tiled, dx, arg, share):
    """Both poolings' backward in batch halves: the 2×2 kernel where 2×2 windows tile the map, else the general one."""

    def backward(lo, hi):
        taps = arg if arg.size == 0 else arg[lo:hi]
        if size == 2 and tiled:
            _pool2_backward(dy[lo:hi], dx[lo:hi], taps, share)
        else:
            _pool_backward(dy[lo:hi], size, stride, tiled, dx[lo:hi], taps, share)

    in_halves(backward, len(dy))
    return dx


def max_pool_backward(state, dy, size, stride, tiled, dx, buffer):
    (arg,) = state
    return _pool_backward_rows(dy, size, stride, tiled, dx, arg, dy.dtype.type(1))


def avg_pool_forward(x, size, stride, y):
    in_halves(lambda lo, hi: _avg_pool_forward(x[lo:hi], size, stride, y[lo:hi], y.dtype.type(1.0 / size**2)), len(x))
    return y


def avg_pool_backward(dy, size, stride, tiled, dx):
    return _pool_backward_rows(dy, size, stride, tiled, dx, _NO_ARGMAX, dy.dtype.type(1.0 / size**2))


# ------------------------------------------------------------------ convolution patches


@njit(**_JIT)
def _gather_patches(x, cols, out_h, blocks, rows, width, step, stride, ph, pad_floats):
    """cols[(n, i, k), (u, o)] = the padded map's row s·i + u, float k·step + o (zero in the border)."""
    m, height, row_floats = x.shape
    for n in range(m):
        for i in range(out_h):
            for k in range(blocks):
                patch = cols[(n * out_h + i) * blocks + k]
                first = k * step - pad_floats
                lo, hi = max(0, -first), max(0, min(width, row_floats - first))
                for u in range(rows):
                    r = i * stride + u - ph
                    out = patch[u * width:(u + 1) * width]
                    if r < 0 or r >= height or lo >= hi:
                        out[:] = 0
                        continue
                    out[:lo] = 0
                    source = x[n, r, first + lo:first + hi]
                    inner = out[lo:hi]
                    for o in range(hi - lo):
                        inner[o] = source[o]
                    out[hi:] = 0


@njit(**_JIT)
def _scatter_patches(d_cols, dx, out_h, blocks, rows, width, step, stride, ph, pad_floats):
    """dx = 0, then every window gradient added at its place: the last block first, then by window row
    (the reference's order onto each float); terms landing in the padding are dropped."""
    m, height, row_floats = dx.shape
    dx[:] = 0
    for n in range(m):
        for k in range(blocks - 1, -1, -1):
            first = k * step - pad_floats
            lo, hi = max(0, -first), max(0, min(width, row_floats - first))
            if lo >= hi:
                continue
            for u in range(rows):
                for i in range(out_h):
                    r = i * stride + u - ph
                    if r < 0 or r >= height:
                        continue
                    target = dx[n, r, first + lo:first + hi]
                    term = d_cols[(n * out_h + i) * blocks + k, u * width + lo:u * width + hi]
                    for o in range(hi - lo):
                        target[o] += term[o]


def gather_patches(x, cols, geometry, stride, padding, padded):
    """Straight from the input into the patch matrix: no padded copy (``padded`` is never called)."""
    m, out_h, blocks, rows, width, step = geometry
    x = np.ascontiguousarray(x)
    flat, per_example = x.reshape(m, x.shape[1], -1), out_h * blocks
    pad_floats = padding[1] * x.shape[3]
    in_halves(lambda lo, hi: _gather_patches(flat[lo:hi], cols[lo * per_example:hi * per_example], out_h, blocks, rows,
                                              width, step, stride, padding[0], pad_floats), m)


def scatter_patches(d_cols, dx, geometry, stride, padding, padded):
    m, out_h, blocks, rows, width, step = geometry
    flat, per_example = dx.reshape(m, dx.shape[1], -1), out_h * blocks
    pad_floats = padding[1] * dx.shape[3]
    in_halves(lambda lo, hi: _scatter_patches(d_cols[lo * per_example:hi * per_example], flat[lo:hi], out_h, blocks,
                                               rows, width, step, stride, padding[0], pad_floats), m)
    return dx


# ------------------------------------------------------------------ activations and the loss


@njit(**_JIT)
def _leaky_relu(z, out, slope, leaky):
    """max(z, slope·z) (``leaky``) or max(z, 0) with np.maximum's rules: NaN wins, a tie gives the second operand."""
    for i in range(z.size):
        value = z[i]
        other = value * slope if leaky else slope
        out[i] = value if value > other or value != value else other


@njit(**_JIT)
def _leaky_relu_backward(z, dy, out, slope):
    """[z > 0 ? 1 : slope]·dy (the reference's mask, then times dy)."""
    for i in range(z.size):
        out[i] = (1 if z[i] > 0 else slope) * dy[i]


def _slope(activation):
    return {"relu": 0.0, "leaky_relu": activation.alpha}.get(activation.name)


def activate(activation, z, out):
    slope = _slope(activation)
    out = np.empty_like(z) if out is None else out
    if slope is None or not _plain(z, out):
        return numpy_ref.activate(activation, z, out)
    _elementwise(_leaky_relu, (z, out), z.dtype.type(slope), activation.name == "leaky_relu")
    return out


def activate_backward(activation, z, a, dy, out):
    slope = _slope(activation)
    if slope is None or not _plain(z, dy, out):
        return numpy_ref.activate_backward(activation, z, a, dy, out)
    _elementwise(_leaky_relu_backward, (z, dy, out), z.dtype.type(slope))
    return out


ELEMENTWISE_SPLIT = 1 << 18  # floats: below this an elementwise pass is over before a helper thread wakes up


def _elementwise(kernel, arrays, *scalars):
    """``kernel(*flat arrays, *scalars)``, as two halves of the elements when the arrays are large."""
    flat = [a.reshape(-1) for a in arrays]
    if flat[0].size < ELEMENTWISE_SPLIT:
        kernel(*flat, *scalars)
        return
    in_halves(lambda lo, hi: kernel(*(a[lo:hi] for a in flat), *scalars), flat[0].size)


@njit(**_JIT)
def _row_max(row):
    """max(row) by np.max's rules: a NaN wins."""
    top = row[0]
    for j in range(1, row.size):
        if row[j] > top or row[j] != row[j]:
            top = row[j]
    return top


@njit(**_JIT)
def _shift_rows(z, out):
    for n in range(z.shape[0]):
        top = _row_max(z[n])
        for j in range(z.shape[1]):
            out[n, j] = z[n, j] - top


# NumPy sums up to this many floats in one block of its pairwise summation; longer rows split in halves
# recursively, which numba cannot cache, so wider outputs keep the reference.
PAIRWISE_BLOCK = 128


@njit(cache=True, error_model="numpy")
def _pairwise_sum(a, zero):
    """NumPy's pairwise summation of a (at most PAIRWISE_BLOCK floats) in its order, so with its rounding:
    sequential below 8 floats, else eight running sums combined as a tree, then the rest."""
    n = a.size
    if n < 8:
        total = zero
        for i in range(n):
            total += a[i]
        return total
    r0, r1, r2, r3, r4, r5, r6, r7 = a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]
    i = 8
    while i < n - n % 8:
        r0 += a[i]
        r1 += a[i + 1]
        r2 += a[i + 2]
        r3 += a[i + 3]
        r4 += a[i + 4]
        r5 += a[i + 5]
        r6 += a[i + 6]
        r7 += a[i + 7]
        i += 8
    total = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        total += a[i]
        i += 1
    return total


@njit(**_JIT)
def _softmax_ce_finish(e, y, scale, zero):
    """e holds exp(z − max): divide each row by its (pairwise) sum, subtract Y, scale by 1/m."""
    for n in range(e.shape[0]):
        total = _pairwise_sum(e[n], zero)
        for j in range(e.shape[1]):
            e[n, j] = (e[n, j] / total - y[n, j]) * scale


def softmax_ce_grad(z, y, out):
    """(softmax(Z) − Y)/m; the exponentials stay NumPy's (its SIMD exp rounds differently from libm's)."""
    if not (_plain(z, y) and z.shape[1] <= PAIRWISE_BLOCK):
        return numpy_ref.softmax_ce_grad(z, y, out)
    out = np.empty_like(z) if out is None else out
    _shift_rows(z, out)
    np.exp(out, out=out)
    _softmax_ce_finish(out, y, z.dtype.type(1.0 / z.shape[0]), z.dtype.type(0))
    return out


@njit(**_JIT)
def _ce_terms(z, y, s, terms, row):
    """Per row: s = float64(z − max z); terms[0] = Σ_j y_j·s_j, terms[1] = max z·(1 − Σ_j y_j), the sums in
    NumPy's pairwise order (``row`` is scratch for one row's products)."""
    for n in range(z.shape[0]):
        top = _row_max(z[n])
        for j in range(z.shape[1]):
            s[n, j] = z[n, j] - top
            row[j] = y[n, j] * s[n, j]
        terms[0, n] = _pairwise_sum(row, 0.0)
        for j in range(z.shape[1]):
            row[j] = y[n, j]
        terms[1, n] = np.float64(top) * (1.0 - _pairwise_sum(row, 0.0))


@njit(**_JIT)
def _row_sums(e, sums):
    for n in range(e.shape[0]):
        sums[n] = _pairwise_sum(e[n], 0.0)


@njit(**_JIT)
def _ce_per_example(log_sums, terms):
    """(log Σ exp − Σ y·s) + max·(1 − Σ y), clipped at 0 as np.maximum(·, 0.0) does (NaN stays), into log_sums."""
    for n in range(log_sums.size):
        value = (log_sums[n] - terms[0, n]) + terms[1, n]
        log_sums[n] = value if value > 0.0 or value != value else 0.0


def softmax_ce_cost(z, y):
    """The reference's cost, its element-wise steps in loops; exp, log and the batch's sum stay NumPy's."""
    if not (_plain(z, y) and z.shape[1] <= PAIRWISE_BLOCK):
        return numpy_ref.softmax_ce_cost(z, y)
    m, k = z.shape
    s, terms, sums = np.empty((m, k)), np.empty((2, m)), np.empty(m)
    _ce_terms(z, y, s, terms, np.empty(k))
    np.exp(s, out=s)
    _row_sums(s, sums)
    np.log(sums, out=sums)
    _ce_per_example(sums, terms)
    return float(sums.sum() / m)


# ------------------------------------------------------------------ the convolutions' banded weights


@njit(**_JIT)
def _spread_band(w, band, block, t):
    for i in range(band.size):
        t[band[i]] = w[i // block]


@njit(**_JIT)
def _sum_band(d_t, band, block, dw, scratch, zero):
    """Each weight's band entries gathered into ``scratch``, then NumPy's reduction of a row: zero plus
    the row's pairwise sum (the zero decides the sign of an all-zero sum)."""
    for k in range(dw.size):
        for j in range(block):
            scratch[j] = d_t[band[k * block + j]]
        dw[k] = zero + _pairwise_sum(scratch, zero)


def spread_band(w, band, block, t):
    if not _plain(w, t):
        return numpy_ref.spread_band(w, band, block, t)
    _spread_band(w.reshape(-1), band, block, t.reshape(-1))


def sum_band(d_t, band, block, dw):
    if not _plain(d_t, dw) or block > PAIRWISE_BLOCK:
        return numpy_ref.sum_band(d_t, band, block, dw)
    _sum_band(d_t.reshape(-1), band, block, dw.reshape(-1), np.empty(block, dw.dtype), dw.dtype.type(0))


# ------------------------------------------------------------------ dense layers' biases


@njit(**_JIT)
def _add_bias(z, b):
    for n in range(z.shape[0]):
        row = z[n]
        for j in range(row.size):
            row[j] = row[j] + b[j]


@njit(**_JIT)
def _bias_gradient(dz, db):
    for j in range(db.size):
        db[j] = 0
    for n in range(dz.shape[0]):
        row = dz[n]
        for j in range(row.size):
            db[j] = db[j] + row[j]


def add_bias(z, b):
    if not _plain(z, b):
        return numpy_ref.add_bias(z, b)
    _add_bias(z, b.reshape(-1))


def bias_gradient(dz, db):
    """The reference's row-by-row sums; a single column NumPy sums pairwise, so that one stays NumPy's."""
    if not _plain(dz, db) or dz.shape[1] == 1:
        return numpy_ref.bias_gradient(dz, db)
    _bias_gradient(dz, db.reshape(-1))


# ------------------------------------------------------------------ mini-batches


@njit(**_JIT)
def _take_rows(x, rows, out):
    for i in range(rows.size):
        r = rows[i]
        if r < 0 or r >= x.shape[0]:
            raise IndexError("a mini-batch row is outside the split")
        source, target = x[r], out[i]
        for j in range(source.size):
            target[j] = source[j]


def take_rows(x, rows, out):
    """x[rows] into ``out``, a row at a time in a vectorized loop: NumPy's take copies each row with
    memmove, which on the project's AMD machine took twice as long for rows coming from memory."""
    if not (_plain(x, out) and x.ndim > 1):
        return numpy_ref.take_rows(x, rows, out)
    _take_rows(x.reshape(len(x), -1), rows, out.reshape(len(out), -1))
    return out


# ------------------------------------------------------------------ optimizers
#
# One pass over θ[lo:hi] per chunk: a chunk is a run of entries sharing a step count (a fine-tuning
# segment) and whether weight decay acts on them; usually the whole vector, or the weights and the rest.
# With per-entry learning-rate scales (the layers' lr_scale) every step is multiplied by its entry's;
# without them numba compiles the loop apart, with no multiplication and no extra array. Each line is
# one of the reference's whole-vector operations, in its order.


@njit(**_JIT)
def _add_l2(theta, grad, l2):
    """dθ += (λ2/m)·w on a range of weights."""
    for i in range(grad.size):
        grad[i] = grad[i] + l2 * theta[i]


@njit(**_JIT)
def _add_l1(theta, grad, l1):
    """dθ += (λ1/2m)·sign(w), kept in the array's dtype: ±λ1, +0 (λ1 − λ1) at zero, NaN for NaN."""
    for i in range(grad.size):
        w = theta[i]
        grad[i] = grad[i] + (l1 if w > 0 else (-l1 if w < 0 else (l1 - l1 if w == 0 else w)))


@njit(**_JIT)
def _scaled(x, scale, i):
    """x·scale[i], or x when the run has no per-entry scales (``scale`` None: that compiled loop reads no
    extra array, a fifth of Adam's memory traffic)."""
    if scale is None:
        return x
    return x * scale[i]


@njit(**_JIT)
def _gd(theta, grad, lr, scale):
    for i in range(theta.size):
        theta[i] = theta[i] - _scaled(grad[i] * lr, scale, i)


@njit(**_JIT)
def _momentum(theta, grad, v, lr, beta, grad_weight, nesterov, scale):
    for i in range(theta.size):
        g = grad[i] * grad_weight
        velocity = v[i] * beta + g
        v[i] = velocity
        step = (g + velocity * beta) if nesterov else velocity
        theta[i] = theta[i] - _scaled(step * lr, scale, i)


@njit(**_JIT)
def _rmsprop(theta, grad, s, lr, beta, one_minus_beta, epsilon, scale):
    for i in range(theta.size):
        g = grad[i]
        mean_square = s[i] * beta + (g * g) * one_minus_beta
        s[i] = mean_square
        theta[i] = theta[i] - _scaled((g / (np.sqrt(mean_square) + epsilon)) * lr, scale, i)


@njit(**_JIT)
def _adam(theta, grad, v, s, b1, one_minus_b1, b2, one_minus_b2, epsilon, factor, decay, decay_rate, scale):
    """decay 1: θ·(1 − αλ) before the step (AdamW); decay 2: θ − (αλ·scale)·θ, with per-entry scales."""
    for i in range(theta.size):
        g = grad[i]
        th = theta[i]
        th = th * decay_rate if decay == 1 else (th - _scaled(decay_rate, scale, i) * th if decay == 2 else th)
        first = v[i] * b1 + g * one_minus_b1
        second = s[i] * b2 + (g * g) * one_minus_b2
        v[i] = first
        s[i] = second
        theta[i] = th - _scaled((first / (np.sqrt(second) + epsilon)) * factor, scale, i)


def _chunks(optimizer, by_weights: bool):
    """(lo, hi, step count, decayed) runs of θ: cut at segment starts, and at the weight-decay ranges' ends
    when the optimizer decays weights."""
    n = optimizer.size
    starts = [int(lo) for lo in optimizer.segments]
    firsts = [int(t) for t in optimizer.segment_steps]
    ranges = [(r.start or 0, n if r.stop is None else min(r.stop, n)) for r in optimizer.decayed] if by_weights else []
    cuts = sorted({0, n, *starts, *(x for r in ranges for x in r if 0 <= x <= n)})
    for lo, hi in zip(cuts, cuts[1:]):
        segment = max(k for k, start in enumerate(starts) if start <= lo)
        yield lo, hi, optimizer.t - firsts[segment], any(a <= lo < b for a, b in ranges)


def add_penalty_gradient(theta, grad, ranges, l2, l1):
    """dθ += l2·w + l1·sign(w) on each of ``ranges`` (slices of θ), one loop per term, in the reference's order."""
    dtype = theta.dtype.type
    for part in ranges:
        if l2:
            _add_l2(theta[part], grad[part], dtype(l2))
        if l1:
            _add_l1(theta[part], grad[part], dtype(l1))


def optimizer_step(optimizer, theta, grad, lr):
    """The update fused into one pass over each chunk of θ (see ``Optimizer.update`` for the formulas)."""
    dtype = theta.dtype.type
    scale = optimizer.lr_scale
    wd = getattr(optimizer, "weight_decay", 0)
    for lo, hi, t, decayed in _chunks(optimizer, bool(wd)):
        th, g, sc = theta[lo:hi], grad[lo:hi], None if scale is None else scale[lo:hi]
        state = {name: a[lo:hi] for name, a in optimizer.state.items()}
        if optimizer.name == "gd":
            _gd(th, g, dtype(lr), sc)
        elif optimizer.name == "momentum":
            _momentum(th, g, state["v"], dtype(lr), dtype(optimizer.beta), dtype(optimizer.grad_weight),
                      optimizer.nesterov, sc)
        elif optimizer.name == "rmsprop":
            b = optimizer.beta
            _rmsprop(th, g, state["s"], dtype(lr), dtype(b), dtype(1 - b), dtype(optimizer.epsilon), sc)
        else:
            b1, b2 = optimizer.beta1, optimizer.beta2
            c2 = math.sqrt(1 - b2**t)
            decay = 0 if not decayed else (1 if optimizer.lr_scale is None else 2)
            rate = (1 - lr * wd) if decay == 1 else lr * wd
            _adam(th, g, state["v"], state["s"], dtype(b1), dtype(1 - b1), dtype(b2), dtype(1 - b2),
                  dtype(optimizer.epsilon * c2), dtype(lr * c2 / (1 - b1**t)), decay, dtype(rate), sc)


_KERNELS = (_max_pool_forward, _max_pool2_forward, _pool_backward, _pool2_backward, _avg_pool_forward,
            _gather_patches, _scatter_patches, _take_rows, _spread_band, _sum_band, _add_bias, _bias_gradient,
            _leaky_relu, _leaky_relu_backward, _row_max, _shift_rows, _pairwise_sum,
            _softmax_ce_finish, _ce_terms, _row_sums, _ce_per_example, _add_l2, _add_l1, _scaled, _gd, _momentum, _rmsprop, _adam)


def cached() -> bool:
    """Whether numba's disk cache has an entry for every kernel (else their first calls compile them). Read
    from numba's cache index files; when numba keeps them elsewhere than this numba version does, assume
    cached. (An index older than this file is not a sign of staleness: numba keeps using an index whose
    entries still match, so an upgrade that recompiles goes unannounced.)"""
    try:
        return all(os.path.exists(kernel._cache._cache_file._index_path) for kernel in _KERNELS)
    except AttributeError:
        return True
