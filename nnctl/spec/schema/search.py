"""The ``search:`` section of a spec: what `nnctl tune` samples and how it ranks trials.

It lives in the spec leaf so a spec with a search section validates (with
file:line:key errors) like any other; training ignores the section.  Bounds are
values, not exponents: ``log_uniform: [1.0e-4, 1]`` samples 10^r with
r ~ U[-4, 0).  Ends, stated once here and in the manual (docs/how-to/search.md):

- ``uniform: [lo, hi]``            lo <= x < hi
- ``log_uniform: [lo, hi]``        lo <= x < hi, uniform in log10 x (0 < lo)
- ``int_uniform: [lo, hi]``        every integer lo..hi, both ends included
- ``int_log_uniform: [lo, hi]``    lo..hi inclusive, uniform in log (1 <= lo)
- ``one_minus_log_uniform: [lo, hi]``  lo < x <= hi with 1 - x log-uniform (x < 1)
- ``choice: [a, b, ...]``          each value with equal probability
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_serializer, model_validator

from ...conditions import Condition, ConditionError, Form
from .base import Strict

# [lo, hi]: YAML writes a list, which a strict tuple refuses; the ends themselves stay strict (no true, no "1e-3")
FloatPair = Annotated[tuple[float, float], Field(strict=False)]
IntPair = Annotated[tuple[int, int], Field(strict=False)]

DISTRIBUTIONS = ("choice", "uniform", "int_uniform", "log_uniform", "int_log_uniform", "one_minus_log_uniform")
MAX_GRID = 10_000  # combinations of a grid search: each is validated before the search starts, then trained
SATISFY = Form(("<=", ">=", "<", ">", "=="), "satisfy: {dev_error: '<= 0.05'}", names="")


class ParameterSpec(Strict):
    """One searched value: exactly one distribution key."""

    choice: Annotated[list[Any], Field(min_length=1)] | None = None
    """[a, b, ...]: each value with equal probability"""
    uniform: FloatPair | None = None
    """[lo, hi]: lo <= x < hi"""
    int_uniform: IntPair | None = None
    """[lo, hi]: every integer lo..hi, both ends included"""
    log_uniform: FloatPair | None = None
    """[lo, hi]: 10^r, r ~ U[log10 lo, log10 hi); lo <= x < hi, 0 < lo"""
    int_log_uniform: IntPair | None = None
    """[lo, hi]: integers lo..hi inclusive, uniform in log; 1 <= lo"""
    one_minus_log_uniform: FloatPair | None = None
    """[lo, hi]: x = 1 - 10^r with 1 - x log-uniform; lo < x <= hi < 1 (momentum, Adam's betas)"""

    @model_validator(mode="after")
    def _one_distribution(self):
        given = [name for name in DISTRIBUTIONS if getattr(self, name) is not None]
        if len(given) != 1:
            found = ", ".join(given) if given else "none"
            raise ValueError(f"give exactly one distribution ({', '.join(DISTRIBUTIONS)}); found {found}")
        kind = given[0]
        if kind == "choice":
            return self
        lo, hi = getattr(self, kind)
        if not lo < hi:
            raise ValueError(f"{kind}: the bounds are inverted or equal ([{lo:g}, {hi:g}]); write [low, high] with low < high")
        if kind == "log_uniform" and lo <= 0:
            raise ValueError(f"log_uniform: bounds must be > 0 on a log scale, got {lo:g}")
        if kind == "int_log_uniform" and lo < 1:
            raise ValueError(f"int_log_uniform: bounds must be >= 1 on a log scale, got {lo}")
        if kind == "one_minus_log_uniform" and not (0 <= lo and hi < 1):
            raise ValueError(f"one_minus_log_uniform: bounds must lie in [0, 1) so that 1 - x > 0, got [{lo:g}, {hi:g}]")
        return self

    def grid_count(self, points: int) -> int:
        """How many values a grid of ``points`` per range gives this parameter (at most: rounded integers may merge)."""
        if self.kind == "choice":
            return len(self.choice)
        low, high = self.args
        return min(high - low + 1, points) if self.kind in ("int_uniform", "int_log_uniform") else points

    @model_serializer
    def _as_written(self) -> dict:
        """Dump as the user writes it, ``{log_uniform: [lo, hi]}``, not every distribution key."""
        args = self.args
        return {self.kind: list(args) if isinstance(args, tuple) else args}

    @property
    def kind(self) -> str:
        return next(name for name in DISTRIBUTIONS if getattr(self, name) is not None)

    @property
    def args(self) -> Any:
        return getattr(self, self.kind)


class PruneSpec(Strict):
    """Median stopping: after ``after_epochs``, stop a trial worse than the median of finished ones at that epoch."""

    rule: Literal["median"] = "median"
    """median: worse than the median of finished trials at the same epoch"""
    after_epochs: Annotated[int, Field(ge=1)] = 3
    """the first epoch at which a trial may be stopped"""
    min_trials: Annotated[int, Field(ge=1)] = 3
    """finished trials needed (at that epoch) before anything is pruned"""


class CvSpec(Strict):
    """k-fold cross-validation: each trial trains one run per fold of the training pool (train + dev; test untouched)."""

    folds: Annotated[int, Field(ge=2)] = 5
    """k: the pool is dealt into k folds; fold run i trains on the other k - 1 and is judged on fold i"""
    stratify: bool = True
    """keep the class proportions in every fold (classification)"""
    repeats: Annotated[int, Field(ge=1)] = 1
    """deal the pool into k folds this many times (each from its own stream of the data seed)"""
    choose: Literal["best", "one_se"] = "best"
    """best: the best mean; one_se: the trial with the fewest trainable parameters among those whose mean is within
    one standard error of the best (ties: the better mean)"""


class SearchSpec(Strict):
    """Random (default), grid or TPE search over ``--set`` paths of the rest of the spec."""

    metric: str | None = None
    """the per-epoch metric that ranks trials (a dev metric; never test); default: checkpoint.monitor"""
    goal: Literal["minimize", "maximize"] | None = None
    """default: minimize for cost/error/mse/mae and times, else maximize"""
    satisfy: dict[str, str] = Field(default_factory=dict)
    """satisficing metrics, e.g. {epoch_time: '<= 0.5'}: unmet trials are kept but not ranked"""
    method: Literal["random", "grid", "tpe"] = "random"
    """random (the notes' advice), grid (every combination), tpe (Optuna's sampler; the tune extra)"""
    trials: Annotated[int, Field(ge=1)] | None = None
    """how many trials; default 20 (grid: every combination)"""
    seed: Annotated[int, Field(ge=0)] = 0
    """trial i's values depend on this seed, i and the parameter's path alone"""
    grid_points: Annotated[int, Field(ge=2)] = 5
    """grid: values per continuous range, evenly spaced on its scale"""
    startup_trials: Annotated[int, Field(ge=1)] = 10
    """tpe: random trials before the model takes over"""
    parameters: Annotated[dict[str, ParameterSpec], Field(min_length=1)]
    """--set path: one distribution, e.g. train.learning_rate: {log_uniform: [1.0e-4, 1]}"""
    prune: PruneSpec | None = None
    """early termination of unpromising trials (optional)"""
    cv: CvSpec | None = None
    """rank trials by the mean over k folds of the training pool, with its standard error (small data)"""
    refit: bool = False
    """train the chosen trial once more on the whole pool (train + dev) for its best epoch (with cv: the folds'
    mean best epoch); the search's result, runs/latest"""

    @field_validator("parameters")
    @classmethod
    def _grid_within_bounds(cls, parameters: dict[str, ParameterSpec], info: ValidationInfo) -> dict[str, ParameterSpec]:
        """A grid is counted, not built, here (a million points per range made tune build every combination), and
        has at least the trials asked for, so `spec check` says what `tune` would."""
        if info.data.get("method") != "grid" or "grid_points" not in info.data:
            return parameters
        counts = [p.grid_count(info.data["grid_points"]) for p in parameters.values()]
        size = math.prod(counts)
        if size > MAX_GRID:
            raise ValueError(f"the grid has {size:,} combinations ({' × '.join(f'{n:,}' for n in counts)} values, with "
                             f"grid_points: {info.data['grid_points']:,}); at most {MAX_GRID:,}: fewer points or "
                             "parameters, or method: random")
        trials = info.data.get("trials")
        if trials is not None and trials > size:
            raise ValueError(f"the grid has only {size:,} combinations, fewer than search.trials: {trials:,}; ask for "
                             "at most that many trials, or more grid points")
        return parameters

    @model_validator(mode="after")
    def _cv_without_pruning(self):
        if self.cv is not None and self.prune is not None:
            raise ValueError("prune and cv: the median rule compares single runs, not fold means; drop one")
        return self

    @field_validator("satisfy")
    @classmethod
    def _conditions(cls, value: dict[str, str]) -> dict[str, str]:
        try:
            satisfy_conditions(value)
        except ConditionError as err:
            raise ValueError(str(err)) from None
        return value


def satisfy_conditions(satisfy: dict[str, str]) -> list[Condition]:
    """A search's ``satisfy`` entries (``dev_error: '<= 0.05'``) as conditions on their metrics."""
    return [SATISFY.parse_bound(metric, condition, f"satisfy.{metric}") for metric, condition in satisfy.items()]
