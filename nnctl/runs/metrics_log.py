"""metrics.h5: the per-iteration cost and the per-epoch metrics of a run.

    /iteration/<name>   one row per optimizer step (cost, learning_rate)
    /epoch/<name>       one row per epoch (epoch, train_cost, dev_accuracy, ..., wall_time)

Datasets are chunked and resizable so other tools can append; nnctl rewrites
the file atomically each epoch, so a kill never leaves it corrupt.  A resumed
run truncates the log to the lengths its checkpoint recorded.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from .atomic import atomic_h5


class MetricLog:
    def __init__(self):
        self.iteration: dict[str, list[float]] = {"cost": [], "learning_rate": []}
        self.epoch: dict[str, list[float]] = {}

    def add_step(self, cost: float, learning_rate: float) -> None:
        self.iteration["cost"].append(cost)
        self.iteration["learning_rate"].append(learning_rate)

    def add_epoch(self, row: dict[str, float]) -> None:
        n = self.n_epochs
        for name, value in row.items():
            self.epoch.setdefault(name, [float("nan")] * n).append(float(value))
        for column in self.epoch.values():
            if len(column) == n:
                column.append(float("nan"))

    @property
    def n_steps(self) -> int:
        return len(self.iteration["cost"])

    @property
    def n_epochs(self) -> int:
        return len(next(iter(self.epoch.values()), []))

    def truncate(self, n_steps: int, n_epochs: int) -> None:
        for column in self.iteration.values():
            del column[n_steps:]
        for column in self.epoch.values():
            del column[n_epochs:]

    def last(self) -> dict[str, float]:
        return {name: column[-1] for name, column in self.epoch.items() if column}

    def save(self, path: Path) -> None:
        with atomic_h5(path) as f:
            for group_name, columns in (("iteration", self.iteration), ("epoch", self.epoch)):
                group = f.create_group(group_name)
                for name, values in columns.items():
                    data = np.asarray(values, dtype=np.float64)
                    group.create_dataset(name, data=data, maxshape=(None,), chunks=(max(min(len(data), 4096), 1),))

    @classmethod
    def load(cls, path: Path) -> MetricLog:
        log = cls()
        with h5py.File(path, "r") as f:
            for group_name, columns in (("iteration", log.iteration), ("epoch", log.epoch)):
                for name, dataset in f.get(group_name, {}).items():
                    columns[name] = dataset[()].tolist()
        return log
