"""The report's own view of a hyperparameter search: plain data the CLI fills from the search's record.

The report may not import the search package (workflows are peers), so the
pictures of a search take this view instead: each parameter's axis (its scale
as the search sampled it) and each trial's values, status and place in the
search's ranking. The ranking itself is the search's (`ranked`), never redone here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..errors import PlotError
from ..runs.status import FAILED, RANKED, TrialStatus
from .figures import SHORT_CHARS, short_labels
from .values import human


@dataclass(frozen=True)
class ParameterAxis:
    """One searched parameter as the pictures need it: ``kind`` as in the spec (log_uniform, choice, ...),
    whether it was sampled in log, and its sampled range (numbers) or its choices."""

    path: str
    kind: str
    log: bool  # sampled on a log scale (log_uniform, int_log_uniform, one_minus_log_uniform)
    bounds: tuple[float, float] | None = None  # [low, high] as in the spec; None for a choice
    choices: tuple = ()

    @property
    def categorical(self) -> bool:
        return self.kind == "choice"

    @property
    def one_minus(self) -> bool:
        """β-like parameters are sampled as 1 - β on a log scale, and drawn that way too."""
        return self.kind == "one_minus_log_uniform"

    @property
    def label(self) -> str:
        if self.categorical:
            return f"{self.path} (choice)"
        name = f"1 − {self.path}" if self.one_minus else self.path
        return f"{name} (log scale)" if self.log else name

    def plotted(self, value: Any) -> float:
        """Where ``value`` goes on a matplotlib axis: a category's index, 1 - β, or the value itself."""
        if self.categorical:
            return float(self.category(value))
        return 1.0 - float(value) if self.one_minus else float(value)

    def category(self, value: Any) -> int:
        for i, choice in enumerate(self.choices):
            if choice == value and type(choice) is type(value):
                return i
        return self.choices.index(value)

    def unit_position(self, value: Any) -> float:
        """``value`` as a fraction of the axis, 0 at the low end of the plotted range (or the first choice)
        and 1 at its high end, evenly spaced on the sampling scale (in log10 for log-sampled parameters)."""
        if self.categorical:
            return 0.5 if len(self.choices) == 1 else self.category(value) / (len(self.choices) - 1)
        return self.unit_of_plotted(self.plotted(value))

    def unit_of_plotted(self, x: float) -> float:
        """`unit_position` of a numeric value already on the plotted scale (a tick, 1 - β)."""
        lo, hi = self.plotted_range
        if self.log:
            lo, hi, x = math.log10(lo), math.log10(hi), math.log10(x)
        return 0.5 if hi == lo else (x - lo) / (hi - lo)

    @property
    def plotted_range(self) -> tuple[float, float]:
        """The sampled range on the plotted scale, low end first (1 - β reverses β's range)."""
        return tuple(sorted(self.plotted(end) for end in self.bounds))

    def format(self, value: Any) -> str:
        return human(value) if self.categorical or isinstance(value, int) else f"{value:.4g}"

    def choice_labels(self, chars: int = SHORT_CHARS) -> list[str]:
        """The choices as the pictures label them: as `format` writes them (the trials' tips too), shortened
        to ``chars`` by their start and end (``short_labels``)."""
        return short_labels([self.format(choice) for choice in self.choices], chars)


@dataclass
class TrialPoint:
    """One trial: its parameter values, how it ended, and the searched metric (None when it has none)."""

    index: int
    params: dict[str, Any]
    status: str
    value: float | None
    feasible: bool = True  # met every `satisfy` condition
    best_epoch: int | None = None
    epochs: int = 0
    run: str = ""
    satisfied: dict[str, float | None] = field(default_factory=dict)  # each `satisfy` metric at the best epoch
    message: str | None = None  # why it failed
    se: float | None = None  # cross-validated: the standard error of ``value``, a mean over fold runs
    parameters: int | None = None  # weights and biases of its network

    @property
    def outcome(self) -> str:
        """How the pictures mark it: ranked, unsatisfied, pruned, no value (failed, diverged), or unfinished."""
        if self.status in RANKED and self.value is not None:
            return "ranked" if self.feasible else "unsatisfied"
        if self.status == TrialStatus.pruned and self.value is not None:
            return "pruned"
        if self.status in (*FAILED, *RANKED):
            return "no value"
        return "unfinished"


@dataclass
class TuneView:
    name: str
    metric: str
    metric_label: str  # the metric with its unit, for y axes
    goal: str  # minimize | maximize
    method: str
    trials_planned: int
    parameters: list[ParameterAxis]
    trials: list[TrialPoint]  # by index
    ranked: list[int] = field(default_factory=list)  # trial indices, best first (the search's ranking)
    satisfy: dict[str, str] = field(default_factory=dict)
    ranked_by: str = ""  # the searched metric, when the view draws another one
    folds: str = ""  # cross-validated: "5 folds × 1 repeat" ("" for a search on one dev split)
    within_one_se: list[int] = field(default_factory=list)  # cross-validated: trials within one SE of the best
    chosen: int | None = None  # the search's pick (the best, or the one-standard-error rule's)
    refit: str = ""  # what the refit did, when the search asked for one

    @property
    def heading(self) -> str:
        """The metric and the goal, for titles: ``dev_cost (trials ranked by dev_error, minimize)``."""
        if self.ranked_by in ("", self.metric):
            return f"{self.metric} ({self.goal})"
        return f"{self.metric} (trials ranked by {self.ranked_by}, {self.goal})"

    @property
    def progress_label(self) -> str:
        if self.ranked_by in ("", self.metric):
            return f"best so far ({self.goal})"
        return f"{self.metric} of the best trial so far by {self.ranked_by} ({self.goal})"

    def trial(self, index: int) -> TrialPoint:
        return next(t for t in self.trials if t.index == index)

    @property
    def best(self) -> TrialPoint | None:
        return self.trial(self.ranked[0]) if self.ranked else None

    def scored(self) -> list[TrialPoint]:
        return [t for t in self.trials if t.value is not None]

    def require_values(self, where: str) -> None:
        """Refuse a search with nothing to draw: no trial has finished with a value yet."""
        if not self.scored():
            raise PlotError(f"{where}: no trial has finished with a value of {self.metric} yet "
                            f"({len(self.trials)} of {self.trials_planned} started); nothing to plot")

    def best_so_far(self) -> list[tuple[int, TrialPoint | None]]:
        """(trial index, the best ranked trial among trials 0..index), in index order: the search's progress
        had the trials finished in index order. Uses the search's ranking, so its goal and ties."""
        place = {index: rank for rank, index in enumerate(self.ranked)}
        leader, out = None, []
        for trial in self.trials:
            if trial.index in place and (leader is None or place[trial.index] < place[leader.index]):
                leader = trial
            out.append((trial.index, leader))
        return out
