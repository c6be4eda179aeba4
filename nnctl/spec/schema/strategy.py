"""The ``strategy:`` section: what `nnctl diagnose`, `eval` and `select` judge a run against."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from .base import PositiveFloat, Probability, Strict


class StrategySpec(Strict):
    """What `nnctl diagnose`, `eval` and `select` judge a run against (the notes' ML strategy)."""

    human_error: Annotated[float, Field(ge=0, lt=1)] | None = None
    """human-level error, the Bayes proxy: typical human 0.03, doctor 0.01, expert 0.007, team of experts 0.005 (take the best); unset: 0"""
    weights: dict[str, PositiveFloat] = Field(default_factory=dict)
    """class name → weight in the weighted error Σw·1[ŷ≠y]/Σw, e.g. {cat: 1, unacceptable: 10}; classes not named weigh 1"""
    group_by: str | int | None = None
    """a CSV source's column (header name or number) whose values group the errors (per-group error and their mean)"""
    train_fraction: Probability = 1.0
    """train on this nested, stratified share of the training split; dev and test untouched (what diagnose --learning-curve varies)"""
