"""Learning-rate schedules α(epoch, t) (docs/explanation/algorithms.md#schedules).

``epoch`` counts from 1 and ``t`` is the global optimizer step (from 1), so
inverse-time decay with α0 = 0.2 and rate 1 gives 0.1, 0.0667, 0.05, 0.04 in
epochs 1..4.  Each rule takes α0 and its own parameters, with no defaults:
the spec's schema holds them, once.
"""

from __future__ import annotations

import math
from collections.abc import Callable

Schedule = Callable[[int, int], float]


def constant(lr0: float) -> Schedule:
    return lambda epoch, t: lr0


def inverse_time(lr0: float, decay_rate: float) -> Schedule:
    """α0 / (1 + decay_rate·epoch)."""
    return lambda epoch, t: lr0 / (1 + decay_rate * epoch)


def exponential(lr0: float, base: float) -> Schedule:
    """α0 · base^epoch."""
    return lambda epoch, t: lr0 * base**epoch


def inv_sqrt(lr0: float, k: float, per: str) -> Schedule:
    """α0 · k / √epoch, or / √t when ``per`` is "step"."""
    per_step = per == "step"
    return lambda epoch, t: lr0 * k / math.sqrt(t if per_step else epoch)


def step(lr0: float, every: int, factor: float) -> Schedule:
    """α0 · factor^⌊epoch / every⌋."""
    return lambda epoch, t: lr0 * factor ** (epoch // every)


SCHEDULES: dict[str, Callable[..., Schedule]] = {rule.__name__: rule for rule in (constant, inverse_time, exponential, inv_sqrt, step)}


def make_schedule(name: str, lr0: float, **params) -> Schedule:
    if name not in SCHEDULES:
        raise ValueError(f"unknown schedule '{name}'")
    return SCHEDULES[name](lr0, **params)
