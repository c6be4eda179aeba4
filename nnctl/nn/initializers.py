"""Weight initialization rules (docs/explanation/algorithms.md#initialization).

Only the standard deviation differs between rules, so each rule is a function
of the fan-in and fan-out.  For convolutions fan_in = f*f*C_prev and
fan_out = f*f*C.
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


def default_initializer(activation: str) -> str:
    """He for the ReLU family, Xavier for the saturating ones."""
    return "he" if activation in ("relu", "leaky_relu", "elu") else "xavier"


def init_weights(out: np.ndarray, rule: str, fan_in: int, fan_out: int, rng: np.random.Generator, scale: float):
    """Fill ``out`` in place with N(0, std^2) draws for the given rule (``scale`` is "random"'s std)."""
    std = STD_RULES[rule](fan_in, fan_out, scale)
    out[...] = rng.standard_normal(out.shape) * std
