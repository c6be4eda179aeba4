"""Weight initialization rules (docs/explanation/algorithms.md#initialization).

Only the standard deviation differs between the random rules, so each is a
function of the fan-in and fan-out, and a gain multiplies it.  For convolutions
fan_in = f*f*C_prev and fan_out = f*f*C.  The notes' hand-made 3×3 edge
detectors are fixed rules (``fixed:<name>``): every filter, on every input
channel, starts as that kernel (cross-correlated, as the layers compute).
"""

from __future__ import annotations

import math

import numpy as np

STD_RULES = {
    "zeros": lambda fan_in, fan_out, scale: 0.0,
    "random": lambda fan_in, fan_out, scale: scale,
    "xavier": lambda fan_in, fan_out, scale: math.sqrt(1.0 / fan_in),
    "glorot": lambda fan_in, fan_out, scale: math.sqrt(2.0 / (fan_in + fan_out)),
    "he": lambda fan_in, fan_out, scale: math.sqrt(2.0 / fan_in),
}

GAINED_RULES = ("xavier", "glorot", "he")  # the rules a gain applies to

# The notes' 3×3 kernels: vertical edges respond to a change from left to right (bright left: positive),
# horizontal edges from top to bottom; Sobel and Scharr weight the middle row (column) more.
FIXED_KERNELS = {
    "vertical_edge": ((1, 0, -1), (1, 0, -1), (1, 0, -1)),
    "horizontal_edge": ((1, 1, 1), (0, 0, 0), (-1, -1, -1)),
    "sobel": ((1, 0, -1), (2, 0, -2), (1, 0, -1)),
    "scharr": ((3, 0, -3), (10, 0, -10), (3, 0, -3)),
}
FIXED_PREFIX = "fixed:"


def default_initializer(activation: str) -> str:
    """He for the ReLU family, Xavier for the saturating ones."""
    return "he" if activation in ("relu", "leaky_relu", "elu") else "xavier"


def init_weights(out: np.ndarray, rule: str, fan_in: int, fan_out: int, rng: np.random.Generator, scale: float,
                 gain: float = 1.0):
    """Fill ``out`` in place with N(0, (gain·std)^2) draws for the given rule (``scale`` is "random"'s std),
    or with a fixed kernel (``fixed:<name>``, for (3, 3, C_in, C_out) convolution weights; draws nothing)."""
    if rule.startswith(FIXED_PREFIX):
        kernel = np.asarray(FIXED_KERNELS[rule[len(FIXED_PREFIX):]], dtype=out.dtype)
        if out.shape[:2] != kernel.shape:
            raise ValueError(f"the fixed kernel '{rule[len(FIXED_PREFIX):]}' is 3×3; this layer's kernel is {out.shape[:2]}")
        out[...] = kernel[:, :, None, None]
        return
    std = STD_RULES[rule](fan_in, fan_out, scale) * (gain if rule in GAINED_RULES else 1.0)
    out[...] = rng.standard_normal(out.shape) * std
