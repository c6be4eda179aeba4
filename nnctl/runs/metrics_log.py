"""metrics.h5: the per-iteration cost and the per-epoch metrics of a run.

    /iteration/<name>   one row per optimizer step (cost, learning_rate)
    /epoch/<name>       one row per epoch (epoch, train_cost, dev_accuracy, ..., wall_time)
    /health/...         per-layer health every N steps (health_log.py)

Datasets are chunked and resizable so other tools can append; nnctl rewrites
the file atomically each epoch, so a kill never leaves it corrupt.  A resumed
run truncates the log to the lengths its checkpoint recorded.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from ..errors import MetricLogError
from .atomic import atomic_h5
from .health_log import HealthLog
from .seal import open_sealed


class MetricLog:
    def __init__(self):
        self.iteration: dict[str, list[float]] = {"cost": [], "learning_rate": []}
        self.epoch: dict[str, list[float]] = {}
        self.health = HealthLog()

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
        self.health.truncate(n_steps)

    def last(self) -> dict[str, float]:
        return {name: column[-1] for name, column in self.epoch.items() if column}

    def save(self, path: Path) -> None:
        with atomic_h5(path) as f:
            for group_name, columns in (("iteration", self.iteration), ("epoch", self.epoch)):
                group = f.create_group(group_name)
                for name, values in columns.items():
                    data = np.asarray(values, dtype=np.float64)
                    group.create_dataset(name, data=data, maxshape=(None,), chunks=(max(min(len(data), 4096), 1),))
            if len(self.health):
                self.health.write(f)

    @classmethod
    def load(cls, path: Path) -> MetricLog:
        """Read a log, refusing (MetricLogError) a file that is not one rather than starting a new history."""
        log = cls()
        with open_sealed(path, MetricLogError) as f:
            for group_name, columns in (("iteration", log.iteration), ("epoch", log.epoch)):
                group = f.get(group_name)
                if not isinstance(group, h5py.Group):
                    raise MetricLogError(f"{path}: not an nnctl metric log (no /{group_name} group)")
                for name, dataset in group.items():
                    if not isinstance(dataset, h5py.Dataset) or dataset.ndim != 1 or dataset.dtype.kind not in "fiu":
                        raise MetricLogError(f"{path}: /{group_name}/{name} is not a column of numbers")
                    columns[name] = dataset[()].astype(np.float64).tolist()
            log.health = HealthLog.read(f, str(path))
        for group_name, columns in (("iteration", log.iteration), ("epoch", log.epoch)):
            if len({len(column) for column in columns.values()}) > 1:
                raise MetricLogError(f"{path}: the /{group_name} columns have different lengths")
        return log

    @classmethod
    def placeholder(cls, n_steps: int, n_epochs: int) -> MetricLog:
        """A log of the given lengths whose history is lost: NaN rows, only the epoch numbers known."""
        log = cls()
        log.iteration = {name: [float("nan")] * n_steps for name in log.iteration}
        log.epoch = {"epoch": [float(k) for k in range(1, n_epochs + 1)]} if n_epochs else {}
        return log
