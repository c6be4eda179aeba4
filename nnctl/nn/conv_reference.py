"""Convolution and pooling written the obvious way: a loop over output pixels.

The definitions of docs/explanation/algorithms.md#convolution,
one window at a time, with nothing to tune and nothing shared between windows.
They are slow (Python loops over every output pixel) and exist to be read and to
check the fast layers of ``conv.py`` against: the tests compare every stride,
padding and block width of `Conv2D` and every pooling route with these.

Shapes: x (m, H, W, C_in) NHWC; w (f_H, f_W, C_in, C_out); b (C_out,);
padding (p_H, p_W) zeros on each side.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def _windows(out_hw: tuple[int, int], kernel: tuple[int, int], stride: int):
    """(h, w, rows, columns): each output pixel and the slices of the (padded) input it reads."""
    for h in range(out_hw[0]):
        for w in range(out_hw[1]):
            yield h, w, slice(h * stride, h * stride + kernel[0]), slice(w * stride, w * stride + kernel[1])


def _out_hw(in_hw, kernel, stride) -> tuple[int, int]:
    return (in_hw[0] - kernel[0]) // stride + 1, (in_hw[1] - kernel[1]) // stride + 1


def _pad(x: np.ndarray, padding: tuple[int, int]) -> np.ndarray:
    return np.pad(x, ((0, 0), (padding[0], padding[0]), (padding[1], padding[1]), (0, 0)))


def conv2d_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int, padding: tuple[int, int]) -> np.ndarray:
    """Z[i, h, w, c] = Σ_{u,v,k} P[i, h·s + u, w·s + v, k]·W[u, v, k, c] + b[c], P the padded input."""
    p = _pad(x, padding)
    kernel = w.shape[:2]
    out_h, out_w = _out_hw(p.shape[1:3], kernel, stride)
    z = np.empty((x.shape[0], out_h, out_w, w.shape[3]), dtype=np.result_type(x, w))
    for h, col, rows, cols in _windows((out_h, out_w), kernel, stride):
        # (m, f_H, f_W, C_in) · (f_H, f_W, C_in, C_out) summed over the window: (m, C_out)
        z[:, h, col] = np.tensordot(p[:, rows, cols], w, axes=3) + b
    return z


def conv2d_backward(x: np.ndarray, w: np.ndarray, dz: np.ndarray, stride: int, padding: tuple[int, int]):
    """(dW, db, dX) for the upstream gradient dZ: every output pixel's window receives W·dZ and
    contributes window ⊗ dZ to dW; dX is the padded gradient without its border."""
    p = _pad(x, padding)
    dp, dw = np.zeros_like(p), np.zeros_like(w)
    for h, col, rows, cols in _windows(dz.shape[1:3], w.shape[:2], stride):
        dw += np.tensordot(p[:, rows, cols], dz[:, h, col], axes=([0], [0]))
        dp[:, rows, cols] += np.tensordot(dz[:, h, col], w, axes=([1], [3]))
    dx = dp[:, padding[0]:dp.shape[1] - padding[0], padding[1]:dp.shape[2] - padding[1]]
    return dw, dz.sum(axis=(0, 1, 2)), dx


def pool_forward(x: np.ndarray, size: int, stride: int, reduce: Callable = np.max) -> np.ndarray:
    """Each f×f window reduced per channel (``np.max``: max pooling, ``np.mean``: average pooling)."""
    out_h, out_w = _out_hw(x.shape[1:3], (size, size), stride)
    y = np.empty((x.shape[0], out_h, out_w, x.shape[3]), dtype=x.dtype)
    for h, col, rows, cols in _windows((out_h, out_w), (size, size), stride):
        y[:, h, col] = reduce(x[:, rows, cols], axis=(1, 2))
    return y


def max_pool_backward(x: np.ndarray, dy: np.ndarray, size: int, stride: int) -> np.ndarray:
    """dOut goes to the first maximum of each window in (row, column) order; overlaps accumulate."""
    dx = np.zeros_like(x)
    for h, col, rows, cols in _windows(dy.shape[1:3], (size, size), stride):
        window = x[:, rows, cols].reshape(x.shape[0], size * size, x.shape[3])
        first = np.argmax(window, axis=1)  # argmax returns the first maximum
        u, v = np.divmod(first, size)
        for i in range(x.shape[0]):
            for c in range(x.shape[3]):
                dx[i, rows.start + u[i, c], cols.start + v[i, c], c] += dy[i, h, col, c]
    return dx


def avg_pool_backward(x_shape: tuple[int, ...], dy: np.ndarray, size: int, stride: int) -> np.ndarray:
    """dOut/f² to every cell of its window; overlaps accumulate."""
    dx = np.zeros(x_shape, dtype=dy.dtype)
    for h, col, rows, cols in _windows(dy.shape[1:3], (size, size), stride):
        dx[:, rows, cols] += dy[:, h, col][:, None, None, :] / size**2
    return dx
