"""How far a regression run's predictions are from its targets, in the targets' own units.

For targets y and predictions ŷ of m rows and k targets: MSE = Σ(ŷ − y)² / (m·k),
RMSE = √MSE, MAE = Σ|ŷ − y| / (m·k), and R² = 1 − Σ(ŷ − y)² / Σ(y − ȳ)² per target
(ȳ the mean of the rows scored), averaged over the targets. R² is left out when
a target is constant in the rows scored (its denominator is 0). All in float64.
"""

from __future__ import annotations

import numpy as np


def regression_scores(y: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
    residual = np.asarray(predicted, dtype=np.float64).reshape(y.shape) - y
    mse = float(np.mean(residual**2))
    scores = {"mse": mse, "rmse": float(np.sqrt(mse)), "mae": float(np.mean(np.abs(residual)))}
    total = ((y - y.mean(axis=0)) ** 2).sum(axis=0)
    if len(y) and np.all(total > 0):
        scores["r2"] = float(np.mean(1 - (residual**2).sum(axis=0) / total))
    return scores
