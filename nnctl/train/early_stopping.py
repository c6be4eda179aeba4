"""Early stopping: when the monitored metric has stopped improving."""

from __future__ import annotations

from .evaluate import lower_is_better


class EarlyStopping:
    """Stop after ``patience`` epochs without an improvement of more than ``min_delta``."""

    def __init__(self, monitor: str, patience: int, min_delta: float):
        self.monitor, self.patience, self.min_delta = monitor, patience, min_delta
        self.sign = 1.0 if lower_is_better(monitor) else -1.0  # compare as "lower is better"
        self.best: float | None = None
        self.waited = 0

    @classmethod
    def from_spec(cls, spec, monitor: str):
        return None if spec is None else cls(monitor, spec.patience, spec.min_delta)

    def update(self, row: dict[str, float]) -> bool:
        """Record this epoch's metrics; True when training should stop."""
        value = self.sign * row[self.monitor]
        if self.best is None or value < self.best - self.min_delta:
            self.best, self.waited = value, 0
            return False
        self.waited += 1
        return self.waited >= self.patience

    def state(self) -> dict:
        return {"best": self.best, "waited": self.waited}

    def load_state(self, state: dict) -> None:
        self.best, self.waited = state["best"], state["waited"]
