"""Gradient clipping, applied to dθ between backprop and the optimizer step."""

from __future__ import annotations

import numpy as np


def clip_gradient(grad: np.ndarray, norm: float | None, value: float | None) -> None:
    """Rescale ``grad`` to at most ``norm`` in L2, or clip each entry to [-value, value], in place."""
    if norm is not None:
        total = float(np.linalg.norm(grad))
        if total > norm:
            grad *= norm / total
    else:
        np.clip(grad, -value, value, out=grad)
