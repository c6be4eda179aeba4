"""The whole experiment: one `Spec` holding every section."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from ...nn.vocabulary import LOSS_NAMES
from .base import Strict
from .data import DataSpec
from .logging import LoggingSpec
from .model import ModelSpec
from .search import SearchSpec
from .strategy import StrategySpec
from .train import CheckpointSpec, RegularizationSpec, TrainSpec, WatchSpec


class Spec(Strict):
    """A whole experiment: what to learn from, what to build, how to train it."""

    # A run directory is NAME-YYYYmmdd-HHMMSS[-N]: 100 characters keep it far below NAME_MAX (255).
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$", max_length=100)] = "experiment"
    """run directory prefix"""
    seed: Annotated[int, Field(ge=0)] = 0
    """one seed; independent streams for data, init, shuffling, dropout, augmentation"""
    precision: Literal["float32", "float64"] = "float32"
    """float32, or float64 (gradient checking always uses float64)"""
    task: Literal["classification", "regression"] | None = None
    """what the labels are: classes, or numbers to predict; unset: regression for a linear output with loss mse, else
    read from the labels (text or whole numbers are classes)"""
    data: DataSpec = Field(default_factory=DataSpec)
    """what to learn from"""
    model: ModelSpec
    """what to build"""
    loss: Literal[("auto", *LOSS_NAMES)] = "auto"
    """binary_cross_entropy (sigmoid), softmax_cross_entropy (softmax), mse (½ squared error); auto follows the output activation"""
    regularization: RegularizationSpec = Field(default_factory=RegularizationSpec)
    """penalties on the weights"""
    train: TrainSpec = Field(default_factory=TrainSpec)
    """how to train"""
    checkpoint: CheckpointSpec = Field(default_factory=CheckpointSpec)
    """what is saved, and when"""
    watch: WatchSpec = Field(default_factory=WatchSpec)
    """per-layer health records and the training warnings (docs/explanation/training-health.md)"""
    strategy: StrategySpec = Field(default_factory=StrategySpec)
    """what diagnose, eval and select judge the run against"""
    logging: LoggingSpec = Field(default_factory=LoggingSpec)
    """mirrors of the run in TensorBoard and MLflow while it trains"""
    search: SearchSpec | None = None
    """what `nnctl tune` searches (training ignores it); see docs/how-to/search.md"""

    def label_task(self) -> str | None:
        """How the labels are read: ``task`` when given, regression for a linear output trained with mse
        (whole-number targets included), else None: the labels decide (text or whole numbers are classes)."""
        if self.task is not None:
            return self.task
        out = self.model.layers[-1]
        return "regression" if getattr(out, "activation", None) == "linear" and self.loss in ("auto", "mse") else None
