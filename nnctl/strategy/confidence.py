"""Binomial confidence intervals for error rates measured on finite splits.

Wilson's score interval, not the normal approximation: it stays inside [0, 1]
and is honest at 0 errors or on a few dozen examples, exactly where the notes'
"small dev set" warning matters.
"""

from __future__ import annotations

import math

Z95 = 1.959963984540054  # the standard normal's 97.5 % quantile: a two-sided 95 % interval


def wilson_interval(error: float, n: float, z: float = Z95) -> tuple[float, float]:
    """(low, high) around an error rate measured on ``n`` examples (``n`` may be an effective, weighted size)."""
    if n <= 0:
        return 0.0, 1.0
    z2n = z * z / n
    centre = (error + z2n / 2) / (1 + z2n)
    half = z / (1 + z2n) * math.sqrt(error * (1 - error) / n + z2n / (4 * n))
    return max(0.0, centre - half), min(1.0, centre + half)
