"""Per-feature count, mean, sum of squared deviations, min and max, merged block by block.

Streaming can look at each row once, so the statistics cannot be computed the
two-pass way. Each block's own mean and M2 = Σ(x − mean)² are computed in
float64, then merged with Chan et al.'s parallel update

    δ = mean_b − mean_a,  n = n_a + n_b
    mean = mean_a + δ·n_b/n,  M2 = M2_a + M2_b + δ²·n_a·n_b/n

which stays accurate where the naive Σx² − n·mean² cancels catastrophically.
"""

from __future__ import annotations

import numpy as np


class RunningMoments:
    def __init__(self):
        self.count = 0
        self.mean: np.ndarray | float = 0.0
        self.m2: np.ndarray | float = 0.0
        self.min: np.ndarray | None = None
        self.max: np.ndarray | None = None

    def update(self, block: np.ndarray) -> None:
        """Merge a block of rows (any numeric dtype; reduced over axis 0 in float64)."""
        n_b = len(block)
        if n_b == 0:
            return
        x = np.asarray(block, dtype=np.float64)
        mean_b = x.mean(axis=0)
        m2_b = np.square(x - mean_b).sum(axis=0)
        low, high = x.min(axis=0), x.max(axis=0)
        self.min = low if self.min is None else np.minimum(self.min, low)
        self.max = high if self.max is None else np.maximum(self.max, high)
        if self.count == 0:
            self.count, self.mean, self.m2 = n_b, mean_b, m2_b
            return
        n = self.count + n_b
        delta = mean_b - self.mean
        self.mean = self.mean + delta * (n_b / n)
        self.m2 = self.m2 + m2_b + np.square(delta) * (self.count * n_b / n)
        self.count = n

    @property
    def std(self) -> np.ndarray:
        """Population standard deviation (divisor n), as NumPy's ``std`` gives by default."""
        return np.sqrt(self.m2 / self.count)
