"""The notes' exponentially weighted average with bias correction (docs/explanation/algorithms.md#ewa).

v_0 = 0, v_t = β·v_(t−1) + (1−β)·θ_t, and v̂_t = v_t / (1 − β^t): without the
correction the first values are pulled towards 0, because the weights of the
first t terms only sum to 1 − β^t.
"""

from __future__ import annotations

import numpy as np


def ewma(values, beta: float) -> np.ndarray:
    """Bias-corrected exponentially weighted averages v̂_1 … v̂_T of ``values`` (float64)."""
    if not 0.0 <= beta < 1.0:
        raise ValueError(f"beta must be in [0, 1), got {beta}")
    values = np.asarray(values, dtype=np.float64)
    out = np.empty_like(values)
    v, weight = 0.0, 0.0  # weight = 1 − β^t, accumulated the same way as v
    for t, theta in enumerate(values):
        v = beta * v + (1.0 - beta) * theta
        weight = beta * weight + (1.0 - beta)
        out[t] = v / weight
    return out
