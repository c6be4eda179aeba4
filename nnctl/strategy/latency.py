"""Prediction latency per example, the notes' satisficing "running time" metric.

Measured as a deployed classifier sees it: one example at a time (a batch of
one), over the first few dev examples, after a warm-up call; the median of
several passes damps a busy machine's outliers.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from ..nn.network import Network

LATENCY_EXAMPLES = 64
LATENCY_PASSES = 5


def predict_ms(net: Network, x: np.ndarray, examples: int = LATENCY_EXAMPLES, passes: int = LATENCY_PASSES) -> float:
    """Median over ``passes`` of the mean milliseconds to predict one example of ``x[:examples]``."""
    rows = x[:examples]
    net.predict(rows[:1])
    per_pass = []
    for _ in range(passes):
        start = time.perf_counter()
        for i in range(len(rows)):
            net.predict(rows[i:i + 1])
        per_pass.append((time.perf_counter() - start) * 1000 / len(rows))
    return statistics.median(per_pass)
