"""Search spaces: each parameter's distribution, and trial i's values from (seed, i) alone.

Every parameter draws from its own stream, seeded by (search seed, trial index,
CRC-32 of its path): trial i is the same whether it runs first, last, on
another machine or after a resume, and adding a parameter leaves the values of
the others unchanged.  Sampling happens on the parameter's own scale (the notes'
advice): log-uniform draws r ~ U[log10 lo, log10 hi) and returns 10^r, and
one-minus-log-uniform draws 1 - x that way (β = 1 - 10^r).
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..spec.schema.search import ParameterSpec, SearchSpec


@dataclass(frozen=True)
class Distribution:
    """One parameter's distribution: ``kind`` as in the spec, numeric ``low``/``high`` or ``choices``."""

    path: str
    kind: str
    low: float | None = None
    high: float | None = None
    choices: tuple | None = None

    @classmethod
    def from_spec(cls, path: str, spec: ParameterSpec) -> Distribution:
        if spec.kind == "choice":
            return cls(path, "choice", choices=tuple(spec.choice))
        low, high = spec.args
        return cls(path, spec.kind, low, high)

    def to_spec(self) -> dict:
        """The spec form, ``{log_uniform: [lo, hi]}``, for writing a refined search."""
        if self.kind == "choice":
            return {"choice": list(self.choices)}
        return {self.kind: [self.low, self.high]}

    @property
    def log(self) -> bool:
        """Whether the parameter is sampled (and best plotted) on a log scale."""
        return self.kind in ("log_uniform", "int_log_uniform", "one_minus_log_uniform")

    @property
    def integer(self) -> bool:
        return self.kind in ("int_uniform", "int_log_uniform")

    # ---------------------------------------------------------- the unit scale
    # u in [0, 1) maps onto the parameter's own scale; refine and TPE use the same map.

    def from_unit(self, u: float) -> Any:
        """The value at position ``u`` in [0, 1) of the sampling scale."""
        if self.kind == "choice":
            return self.choices[min(int(u * len(self.choices)), len(self.choices) - 1)]
        if self.kind == "uniform":
            return float(self.low + u * (self.high - self.low))
        if self.kind == "log_uniform":
            return float(10.0 ** (math.log10(self.low) + u * (math.log10(self.high) - math.log10(self.low))))
        if self.kind == "one_minus_log_uniform":
            lo, hi = math.log10(1.0 - self.high), math.log10(1.0 - self.low)
            return float(1.0 - 10.0 ** (lo + u * (hi - lo)))
        if self.kind == "int_uniform":
            return int(min(self.low + math.floor(u * (self.high - self.low + 1)), self.high))
        # int_log_uniform: uniform in log over [lo, hi + 1), floored, so each end is reachable
        lo, hi = math.log(self.low), math.log(self.high + 1)
        return int(min(math.floor(math.exp(lo + u * (hi - lo))), self.high))

    def to_scale(self, value: float) -> float:
        """A numeric value on the axis it is sampled uniformly along (log10, log10(1 - x) or itself)."""
        if self.kind in ("log_uniform", "int_log_uniform"):
            return math.log10(value)
        if self.kind == "one_minus_log_uniform":
            return math.log10(1.0 - value)
        return float(value)

    def from_scale(self, position: float) -> float:
        """The inverse of ``to_scale``."""
        if self.kind in ("log_uniform", "int_log_uniform"):
            return 10.0 ** position
        if self.kind == "one_minus_log_uniform":
            return 1.0 - 10.0 ** position
        return position

    def sample(self, rng: np.random.Generator) -> Any:
        if self.kind == "choice":
            return self.choices[int(rng.integers(len(self.choices)))]
        if self.kind == "int_uniform":
            return int(rng.integers(int(self.low), int(self.high) + 1))
        return self.from_unit(float(rng.random()))

    def grid(self, points: int) -> list:
        """Evenly spaced values on the sampling scale, both ends included; every integer when few."""
        if self.kind == "choice":
            return list(self.choices)
        if self.integer and self.high - self.low + 1 <= points:
            return list(range(int(self.low), int(self.high) + 1))
        lo, hi = self.to_scale(self.low), self.to_scale(self.high)
        values = [self.from_scale(lo + (hi - lo) * k / (points - 1)) for k in range(points)]
        if self.integer:
            values = sorted({int(round(v)) for v in values})
        return [float(v) if not self.integer else v for v in values]


def parameter_rng(seed: int, index: int, path: str) -> np.random.Generator:
    """The stream of one parameter in one trial: a function of (seed, trial index, path) alone."""
    return np.random.default_rng([seed, index, zlib.crc32(path.encode("utf-8"))])


class Space:
    """The parameters of a search and the trials they define."""

    def __init__(self, search: SearchSpec):
        self.search = search
        self.distributions = [Distribution.from_spec(path, p) for path, p in search.parameters.items()]
        self._axes = [d.grid(search.grid_points) for d in self.distributions] if search.method == "grid" else None
        self._order: np.ndarray | None = None

    @property
    def grid_size(self) -> int | None:
        """The grid's combinations, counted (the schema bounds them), never listed."""
        return None if self._axes is None else math.prod(len(axis) for axis in self._axes)

    def random_trial(self, index: int) -> dict[str, Any]:
        return {d.path: d.sample(parameter_rng(self.search.seed, index, d.path)) for d in self.distributions}

    def trial(self, index: int) -> dict[str, Any]:
        """Trial ``index``'s values (random and grid; TPE asks its sampler after the startup trials)."""
        if self._axes is not None:
            return self._grid_point(index)
        return self.random_trial(index)

    def _grid_point(self, index: int) -> dict[str, Any]:
        """Combination ``index`` of the grid in an order shuffled by the seed, so a cut-short grid still covers the box.

        The order is a permutation of the combinations' numbers in ``itertools.product`` order (the last parameter
        varying fastest), each number decoded into one value a parameter: only the numbers are held, not the dicts.
        """
        if self._order is None:
            self._order = np.random.default_rng([self.search.seed, self.grid_size]).permutation(self.grid_size)
        number = int(self._order[index])
        values = []
        for axis in reversed(self._axes):
            number, position = divmod(number, len(axis))
            values.append(axis[position])
        return dict(zip((d.path for d in self.distributions), reversed(values)))

    def edge_values(self) -> list[dict[str, Any]]:
        """Trials made of each range's ends and every choice: validating these checks everything a sampler can pick."""
        axes = [d.grid(2) if d.kind != "choice" else list(d.choices) for d in self.distributions]
        longest = max(len(axis) for axis in axes)
        return [{d.path: axis[k % len(axis)] for d, axis in zip(self.distributions, axes)} for k in range(longest)]
