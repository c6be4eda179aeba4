"""The compiled kernels: numba loops over the batch (or over θ) on every core, one pass where NumPy makes several.

Each kernel does the reference's arithmetic (``numpy_ref.py``) element by element in
the same order — the same IEEE operations on the same operands, scalars rounded to
the array's dtype exactly as NumPy rounds a Python float — so the results agree to
the bit; ``tests/test_kernels.py`` holds every kernel to that.  What the kernels do
not cover (other activations, NumPy's ``exp``) they leave to the reference.  numba
compiles each kernel on its first call for a dtype and caches the machine code on
disk (``cache=True``), so only the first run on a machine pays for compiling.
"""

from __future__ import annotations

import math
import os

import numba
import numpy as np
from numba import njit, prange

from . import numpy_ref

NAME = "compiled"
_JIT = {"parallel": True, "cache": True}
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")  # the process's share of the cores, when set


def limit_threads() -> None:
    """The parallel loops use as many threads as BLAS may (a search worker's share of the cores), at most numba's."""
    limit = next((os.environ[name] for name in THREAD_VARIABLES if os.environ.get(name, "").isdigit()), None)
    if limit is not None and int(limit) >= 1:
        numba.set_num_threads(min(int(limit), numba.config.NUMBA_NUM_THREADS))


# ------------------------------------------------------------------ pooling


@njit(**_JIT)
def _max_pool_forward(x, size, stride, y, arg):
    """Per window and channel: the maximum by np.maximum's rules (NaN wins; a tie takes the later value, which
    matters for signed zeros) and, when ``arg`` is not empty (training), the first tap holding it."""
    m, h, w, c = y.shape
    record = arg.size > 0
    for n in prange(m):
        for i in range(h):
            for j in range(w):
                r0, c0 = i * stride, j * stride
                for ch in range(c):
                    y[n, i, j, ch] = x[n, r0, c0, ch]
                    if record:
                        arg[n, i, j, ch] = 0
                for u in range(size):
                    for v in range(size):
                        if u == 0 and v == 0:
                            continue
                        for ch in range(c):
                            value = x[n, r0 + u, c0 + v, ch]
                            best = y[n, i, j, ch]
                            if record and value > best:
                                arg[n, i, j, ch] = u * size + v
                            if not (best > value or best != best):  # np.maximum(best, value)
                                y[n, i, j, ch] = value


@njit(cache=True)
def _tap_share(dy, arg, share, n, i, j, ch, k):
    """What tap k of window (i, j) gets: dy·share (average) or dy·[k is the argmax] (max: ``arg`` not empty)."""
    if arg.size:
        return dy[n, i, j, ch] * (1 if arg[n, i, j, ch] == k else 0)
    return dy[n, i, j, ch] * share


@njit(**_JIT)
def _pool_backward(dy, size, stride, tiled, dx, arg, share):
    """Each tap's share, as the reference computes it: assigned where windows tile the map (row by row of
    dx), else added onto zeros tap by tap (the order in which a cell of overlapping windows sums its terms)."""
    m, h, w, c = dy.shape
    for n in prange(m):
        if tiled:
            for i in range(h):
                for u in range(size):
                    for j in range(w):
                        for v in range(size):
                            for ch in range(c):
                                dx[n, i * size + u, j * size + v, ch] = _tap_share(dy, arg, share, n, i, j, ch, u * size + v)
            continue
        dx[n] = 0
        for u in range(size):
            for v in range(size):
                for i in range(h):
                    for j in range(w):
                        for ch in range(c):
                            dx[n, i * stride + u, j * stride + v, ch] += _tap_share(dy, arg, share, n, i, j, ch, u * size + v)


@njit(**_JIT)
def _avg_pool_forward(x, size, stride, y, scale):
    m, h, w, c = y.shape
    for n in prange(m):
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
    arg = buffer("arg", y.shape, np.uint8 if size**2 <= 256 else np.int32) if buffer else _NO_ARGMAX
    _max_pool_forward(x, size, stride, y, arg)
    return (arg,)


def max_pool_backward(state, dy, size, stride, tiled, dx, buffer):
    _pool_backward(dy, size, stride, tiled, dx, state[0], dy.dtype.type(1))
    return dx


def avg_pool_forward(x, size, stride, y):
    _avg_pool_forward(x, size, stride, y, y.dtype.type(1.0 / size**2))
    return y


def avg_pool_backward(dy, size, stride, tiled, dx):
    _pool_backward(dy, size, stride, tiled, dx, _NO_ARGMAX, dy.dtype.type(1.0 / size**2))
    return dx


# ------------------------------------------------------------------ convolution patches


@njit(**_JIT)
def _gather_patches(x, cols, out_h, blocks, rows, width, step, stride, ph, pad_floats):
    """cols[(n, i, k), (u, o)] = the padded map's row s·i + u, float k·step + o (zero in the border)."""
    m, height, row_floats = x.shape
    for n in prange(m):
        for i in range(out_h):
            for k in range(blocks):
                row = (n * out_h + i) * blocks + k
                first = k * step - pad_floats
                lo, hi = max(0, -first), min(width, row_floats - first)
                for u in range(rows):
                    r = i * stride + u - ph
                    at = u * width
                    if r < 0 or r >= height:
                        for o in range(width):
                            cols[row, at + o] = 0
                        continue
                    for o in range(lo):
                        cols[row, at + o] = 0
                    for o in range(lo, hi):
                        cols[row, at + o] = x[n, r, first + o]
                    for o in range(max(lo, hi), width):
                        cols[row, at + o] = 0


@njit(**_JIT)
def _scatter_patches(d_cols, dx, out_h, blocks, rows, width, step, stride, ph, pad_floats):
    """dx = 0, then every window gradient added at its place: the last block first, then by window row
    (the reference's order onto each float); terms landing in the padding are dropped."""
    m, height, row_floats = dx.shape
    for n in prange(m):
        dx[n] = 0
        for k in range(blocks - 1, -1, -1):
            first = k * step - pad_floats
            lo, hi = max(0, -first), min(width, row_floats - first)
            for u in range(rows):
                for i in range(out_h):
                    r = i * stride + u - ph
                    if r < 0 or r >= height:
                        continue
                    row, at = (n * out_h + i) * blocks + k, u * width
                    for o in range(lo, hi):
                        dx[n, r, first + o] += d_cols[row, at + o]


def gather_patches(x, cols, geometry, stride, padding, padded):
    """Straight from the input into the patch matrix: no padded copy (``padded`` is never called)."""
    m, out_h, blocks, rows, width, step = geometry
    x = np.ascontiguousarray(x)
    channels = x.shape[3]
    _gather_patches(x.reshape(m, x.shape[1], -1), cols, out_h, blocks, rows, width, step, stride,
                    padding[0], padding[1] * channels)


def scatter_patches(d_cols, dx, geometry, stride, padding, padded):
    m, out_h, blocks, rows, width, step = geometry
    _scatter_patches(d_cols, dx.reshape(m, dx.shape[1], -1), out_h, blocks, rows, width, step, stride,
                     padding[0], padding[1] * dx.shape[3])
    return dx


# ------------------------------------------------------------------ activations and the loss


@njit(**_JIT)
def _leaky_relu(z, out, slope, leaky):
    """max(z, slope·z) (``leaky``) or max(z, 0) with np.maximum's rules: NaN wins, a tie gives the second operand."""
    for i in prange(z.size):
        value = z[i]
        other = value * slope if leaky else slope
        out[i] = value if value > other or value != value else other


@njit(**_JIT)
def _leaky_relu_backward(z, dy, out, slope):
    """[z > 0 ? 1 : slope]·dy (the reference's mask, then times dy)."""
    for i in prange(z.size):
        out[i] = (1 if z[i] > 0 else slope) * dy[i]


def _slope(activation):
    return {"relu": 0.0, "leaky_relu": activation.alpha}.get(activation.name)


def activate(activation, z, out):
    slope = _slope(activation)
    if slope is None or not z.flags.c_contiguous:
        return numpy_ref.activate(activation, z, out)
    out = np.empty_like(z) if out is None else out
    _leaky_relu(z.reshape(-1), out.reshape(-1), z.dtype.type(slope), activation.name == "leaky_relu")
    return out


def activate_backward(activation, z, a, dy, out):
    slope = _slope(activation)
    if slope is None or not (z.flags.c_contiguous and dy.flags.c_contiguous):
        return numpy_ref.activate_backward(activation, z, a, dy, out)
    _leaky_relu_backward(z.reshape(-1), dy.reshape(-1), out.reshape(-1), z.dtype.type(slope))
    return out


@njit(**_JIT)
def _shift_rows(z, out):
    for n in prange(z.shape[0]):
        top = z[n, 0]
        for j in range(1, z.shape[1]):
            if z[n, j] > top or z[n, j] != z[n, j]:
                top = z[n, j]
        for j in range(z.shape[1]):
            out[n, j] = z[n, j] - top


# NumPy sums up to this many floats in one block of its pairwise summation; longer rows split in halves
# recursively, which numba cannot cache, so wider outputs keep the reference.
PAIRWISE_BLOCK = 128


@njit(cache=True)
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
    for n in prange(e.shape[0]):
        total = _pairwise_sum(e[n], zero)
        for j in range(e.shape[1]):
            e[n, j] = (e[n, j] / total - y[n, j]) * scale


def softmax_ce_grad(z, y, out):
    """(softmax(Z) − Y)/m; the exponentials stay NumPy's (its SIMD exp rounds differently from libm's)."""
    if not (z.flags.c_contiguous and y.flags.c_contiguous and y.dtype == z.dtype and z.shape[1] <= PAIRWISE_BLOCK):
        return numpy_ref.softmax_ce_grad(z, y, out)
    out = np.empty_like(z) if out is None else out
    _shift_rows(z, out)
    np.exp(out, out=out)
    _softmax_ce_finish(out, y, z.dtype.type(1.0 / z.shape[0]), z.dtype.type(0))
    return out


# ------------------------------------------------------------------ optimizers
#
# One pass over θ[lo:hi] per chunk: a chunk is a run of entries sharing a step count (a fine-tuning
# segment) and whether they are penalized weights; usually the whole vector, or the weights and the rest.
# ``terms`` = (penalized, λ2/m, λ1/(2m), clipping, clip value): the gradient terms the reference adds to dθ
# before the update, and clipping by value; the final dθ is written back, as the reference leaves it.
# ``scale`` is the per-entry learning-rate scale (empty: none). Each line is one of the reference's
# whole-vector operations, in its order.


@njit(cache=True)
def _gradient(theta, grad, i, penalized, l2, l1, clipping, clip):
    g = grad[i]
    if penalized:
        w = theta[i]
        if l2 != 0:
            g = g + l2 * w
        if l1 != 0:  # + λ1·sign(w), kept in the array's dtype: ±λ1, +0 (λ1 − λ1) at zero, NaN for NaN
            if w > 0:
                g = g + l1
            elif w < 0:
                g = g - l1
            elif w == 0:
                g = g + (l1 - l1)
            else:
                g = g + w
    if clipping:  # np.clip(g, −c, c): NaN passes through
        if g == g and not g > -clip:
            g = -clip
        if g == g and not g < clip:
            g = clip
    if penalized or clipping:
        grad[i] = g
    return g


@njit(**_JIT)
def _gd(theta, grad, lo, hi, lr, scale, penalized, l2, l1, clipping, clip):
    for i in prange(lo, hi):
        step = _gradient(theta, grad, i, penalized, l2, l1, clipping, clip) * lr
        if scale.size:
            step = step * scale[i]
        theta[i] = theta[i] - step


@njit(**_JIT)
def _momentum(theta, grad, v, lo, hi, lr, beta, grad_weight, nesterov, scale, penalized, l2, l1, clipping, clip):
    for i in prange(lo, hi):
        g = _gradient(theta, grad, i, penalized, l2, l1, clipping, clip) * grad_weight
        velocity = v[i] * beta + g
        v[i] = velocity
        step = (g + velocity * beta) if nesterov else velocity
        step = step * lr
        if scale.size:
            step = step * scale[i]
        theta[i] = theta[i] - step


@njit(**_JIT)
def _rmsprop(theta, grad, s, lo, hi, lr, beta, one_minus_beta, epsilon, scale, penalized, l2, l1, clipping, clip):
    for i in prange(lo, hi):
        g = _gradient(theta, grad, i, penalized, l2, l1, clipping, clip)
        mean_square = s[i] * beta + (g * g) * one_minus_beta
        s[i] = mean_square
        step = (g / (np.sqrt(mean_square) + epsilon)) * lr
        if scale.size:
            step = step * scale[i]
        theta[i] = theta[i] - step


@njit(**_JIT)
def _adam(theta, grad, v, s, lo, hi, b1, one_minus_b1, b2, one_minus_b2, epsilon, factor, decay, decay_rate, scale,
          penalized, l2, l1, clipping, clip):
    """decay 1: θ·(1 − αλ) before the step (AdamW); decay 2: θ − (αλ·scale)·θ, with per-entry scales."""
    for i in prange(lo, hi):
        g = _gradient(theta, grad, i, penalized, l2, l1, clipping, clip)
        th = theta[i]
        if decay == 1:
            th = th * decay_rate
        elif decay == 2:
            th = th - (decay_rate * scale[i]) * th
        first = v[i] * b1 + g * one_minus_b1
        second = s[i] * b2 + (g * g) * one_minus_b2
        v[i] = first
        s[i] = second
        step = (first / (np.sqrt(second) + epsilon)) * factor
        if scale.size:
            step = step * scale[i]
        theta[i] = th - step


def _chunks(optimizer, by_weights: bool):
    """(lo, hi, step count, penalized) runs of θ: cut at segment starts, and at the penalized weights' range
    ends when something acts on the weights alone (weight decay, L1/L2)."""
    n = optimizer.size
    starts = [int(lo) for lo in optimizer.segments]
    firsts = [int(t) for t in optimizer.segment_steps]
    ranges = [(r.start or 0, n if r.stop is None else min(r.stop, n)) for r in optimizer.decayed] if by_weights else []
    cuts = sorted({0, n, *starts, *(x for r in ranges for x in r if 0 <= x <= n)})
    for lo, hi in zip(cuts, cuts[1:]):
        segment = max(k for k, start in enumerate(starts) if start <= lo)
        yield lo, hi, optimizer.t - firsts[segment], any(a <= lo < b for a, b in ranges)


def optimizer_step(optimizer, theta, grad, lr, terms=None):
    """The update fused into one pass over each chunk of θ (see ``Optimizer.update`` for the formulas),
    with ``terms`` (``GradientTerms``) applied to dθ on the way."""
    dtype = theta.dtype.type
    scale = optimizer.lr_scale if optimizer.lr_scale is not None else np.empty(0, theta.dtype)
    l2, l1 = (terms.l2, terms.l1) if terms else (0.0, 0.0)
    clipping = terms is not None and terms.clip_value is not None
    gradient = (dtype(l2), dtype(l1), clipping, dtype(terms.clip_value if clipping else 0))
    name = optimizer.name
    wd = getattr(optimizer, "weight_decay", 0)
    for lo, hi, t, weights in _chunks(optimizer, bool(wd or l2 or l1)):
        if name == "gd":
            _gd(theta, grad, lo, hi, dtype(lr), scale, weights, *gradient)
        elif name == "momentum":
            _momentum(theta, grad, optimizer.state["v"], lo, hi, dtype(lr), dtype(optimizer.beta), dtype(optimizer.grad_weight),
                      optimizer.nesterov, scale, weights, *gradient)
        elif name == "rmsprop":
            b = optimizer.beta
            _rmsprop(theta, grad, optimizer.state["s"], lo, hi, dtype(lr), dtype(b), dtype(1 - b), dtype(optimizer.epsilon),
                     scale, weights, *gradient)
        else:
            b1, b2 = optimizer.beta1, optimizer.beta2
            c2 = math.sqrt(1 - b2**t)
            decay = 0 if not (weights and wd) else (1 if optimizer.lr_scale is None else 2)
            rate = (1 - lr * wd) if decay == 1 else lr * wd
            _adam(theta, grad, optimizer.state["v"], optimizer.state["s"], lo, hi, dtype(b1), dtype(1 - b1), dtype(b2),
                  dtype(1 - b2), dtype(optimizer.epsilon * c2), dtype(lr * c2 / (1 - b1**t)), decay, dtype(rate), scale,
                  weights, *gradient)


_KERNELS = (_max_pool_forward, _tap_share, _pool_backward, _avg_pool_forward, _gather_patches, _scatter_patches,
            _leaky_relu, _leaky_relu_backward, _shift_rows, _pairwise_sum, _softmax_ce_finish, _gradient, _gd, _momentum, _rmsprop, _adam)


def cached() -> bool:
    """Whether numba's disk cache has an entry for every kernel, written after this file last changed (else
    their first calls compile them). Read from numba's cache index files; when numba keeps them elsewhere
    than this numba version does, assume cached."""
    try:
        index_files = [kernel._cache._cache_file._index_path for kernel in _KERNELS]
    except AttributeError:
        return True
    source = os.path.getmtime(__file__)
    return all(os.path.exists(path) and os.path.getmtime(path) >= source for path in index_files)
