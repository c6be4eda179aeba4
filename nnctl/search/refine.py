"""Coarse to fine: a new search whose ranges shrink to the region of the best trials.

On each parameter's own sampling scale (log10 x for log-uniform, log10(1 - x)
for one-minus-log-uniform, x otherwise) the new range is the span of the top
trials' values widened by a quarter of that span on each side (or, when they
all agree, by a tenth of the old range), and never wider than the old range.
A choice keeps only the values the top trials used.
"""

from __future__ import annotations

import math

import yaml

from ..errors import NnctlError
from .record import SearchRecord
from .space import Distribution

MARGIN = 0.25  # of the top trials' span, on each side
MIN_WIDTH = 0.10  # of the old range, when the top trials agree


def refine_distribution(d: Distribution, values: list) -> Distribution:
    """``d`` narrowed around ``values`` (the top trials' values of this parameter)."""
    if d.kind == "choice":
        kept = tuple(c for c in d.choices if c in values)
        return Distribution(d.path, "choice", choices=kept)
    old_lo, old_hi = sorted((d.to_scale(d.low), d.to_scale(d.high)))
    positions = [d.to_scale(v) for v in values]
    lo, hi = min(positions), max(positions)
    pad = MARGIN * (hi - lo) if hi > lo else MIN_WIDTH * (old_hi - old_lo) / 2
    lo, hi = max(old_lo, lo - pad), min(old_hi, hi + pad)
    new_low, new_high = sorted((d.from_scale(lo), d.from_scale(hi)))
    # The sampler's own bounds: keep them inside the old ones despite rounding on the way back from the scale.
    new_low, new_high = max(d.low, new_low), min(d.high, new_high)
    if d.integer:
        new_low, new_high = math.floor(new_low), math.ceil(new_high)
        if new_low == new_high:
            new_low, new_high = max(int(d.low), new_low - 1), min(int(d.high), new_high + 1)
        return Distribution(d.path, d.kind, int(new_low), int(new_high))
    return Distribution(d.path, d.kind, float(new_low), float(new_high))


def refined_spec(parent: SearchRecord, top: int, trials: int | None) -> str:
    """The parent's spec with its search narrowed to the ``top`` best trials, as YAML."""
    best = parent.ranked()[:top]
    if not best:
        raise NnctlError(f"{parent.tune_dir}: no finished trial to refine around (run or resume the search first)")
    data = yaml.safe_load(parent.spec_yaml)
    search = data["search"]
    search["parameters"] = {
        d.path: refine_distribution(d, [t.params[d.path] for t in best]).to_spec() for d in parent.parameters
    }
    if trials is not None:
        search["trials"] = trials
    if search["method"] == "grid":
        search["method"] = "random"  # the notes: sample the smaller box densely at random
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False)
