"""Learning-rate schedules α(epoch, t) (ALGORITHMS.md §11).

``epoch`` counts from 1 and ``t`` is the global optimizer step (from 1), so
inverse-time decay with α0 = 0.2 and rate 1 gives 0.1, 0.0667, 0.05, 0.04 in
epochs 1..4.
"""

from __future__ import annotations

import math
from collections.abc import Callable

Schedule = Callable[[int, int], float]


def make_schedule(name: str, lr0: float, **params) -> Schedule:
    if name == "constant":
        return lambda epoch, t: lr0
    if name == "inverse_time":
        rate = params.get("decay_rate", 1.0)
        return lambda epoch, t: lr0 / (1 + rate * epoch)
    if name == "exponential":
        base = params.get("base", 0.95)
        return lambda epoch, t: lr0 * base**epoch
    if name == "inv_sqrt":
        k, per_step = params.get("k", 1.0), params.get("per", "epoch") == "step"
        return lambda epoch, t: lr0 * k / math.sqrt(t if per_step else epoch)
    if name == "step":
        every, factor = params.get("every", 10), params.get("factor", 0.5)
        return lambda epoch, t: lr0 * factor ** (epoch // every)
    raise ValueError(f"unknown schedule '{name}'")
