"""The per-layer health record of metrics.h5 (docs/explanation/training-health.md).

    /health/step            the optimizer step of each record (1, 1 + N, 1 + 2N, ...)
    /health/<layer>/<stat>  one row per record: grad_norm, weight_norm, update_ratio,
                            act_mean, act_std, dead, saturated (NaN where it does not apply)

Attributes: ``/health`` has ``layers`` (JSON list, input to output) and ``every``
(N); each layer group has ``activation`` (its g, or "" for the output layer).
"""

from __future__ import annotations

import json

import h5py
import numpy as np

from ..errors import MetricLogError

STATS = ("grad_norm", "weight_norm", "update_ratio", "act_mean", "act_std", "dead", "saturated")


class HealthLog:
    def __init__(self, layers: dict[str, str] | None = None, every: int = 0):
        self.layers = dict(layers or {})  # name → activation, input to output
        self.every = every
        self.step: list[int] = []
        self.columns: dict[str, dict[str, list[float]]] = {name: {s: [] for s in STATS} for name in self.layers}

    def __len__(self) -> int:
        return len(self.step)

    def add(self, step: int, rows: dict[str, dict[str, float]]) -> None:
        """One record: ``rows[layer][stat]`` for every layer and stat."""
        self.step.append(step)
        for name, columns in self.columns.items():
            for stat, column in columns.items():
                column.append(float(rows[name][stat]))

    def truncate(self, n_steps: int) -> None:
        """Drop the records of steps after ``n_steps`` (a resumed run replays them)."""
        keep = sum(1 for step in self.step if step <= n_steps)
        del self.step[keep:]
        for columns in self.columns.values():
            for column in columns.values():
                del column[keep:]

    def values_since(self, k: int) -> int:
        """How many numbers the records from the k-th on hold."""
        return (len(self.step) - k) * (1 + len(STATS) * len(self.layers))

    def since(self, k: int) -> dict:
        """The records from the k-th on, as JSON-able columns (a metrics journal record's ``health``)."""
        return {"layers": self.layers, "every": self.every, "step": self.step[k:],
                "columns": {name: {stat: column[k:] for stat, column in columns.items()}
                            for name, columns in self.columns.items()}}

    def extend(self, part) -> bool:
        """Append ``since``'s output; False (nothing appended) when it does not continue this record."""
        if not isinstance(part, dict) or not isinstance(part.get("step"), list):
            return False
        if not self.layers and not self.step and isinstance(part.get("layers"), dict):
            self.__init__(part["layers"], int(part.get("every", 0)))
        columns, n = part.get("columns"), len(part["step"])
        if (part.get("layers") != self.layers or not isinstance(columns, dict) or set(columns) != set(self.layers)
                or any(not isinstance(columns[name], dict) or set(columns[name]) != set(STATS)
                       or any(len(columns[name][stat]) != n for stat in STATS) for name in self.layers)):
            return False
        self.step += [int(s) for s in part["step"]]
        for name, stats in columns.items():
            for stat, values in stats.items():
                self.columns[name][stat] += [float(v) for v in values]
        return True

    def series(self, stat: str) -> dict[str, np.ndarray]:
        """``stat`` per layer, input to output."""
        return {name: np.asarray(self.columns[name][stat]) for name in self.layers}

    def write(self, f: h5py.File) -> None:
        group = f.create_group("health")
        group.attrs["layers"] = json.dumps(list(self.layers))
        group.attrs["every"] = self.every
        group.create_dataset("step", data=np.asarray(self.step, dtype=np.int64), maxshape=(None,))
        for name, columns in self.columns.items():
            layer = group.create_group(name)
            layer.attrs["activation"] = self.layers[name]
            for stat, values in columns.items():
                layer.create_dataset(stat, data=np.asarray(values, dtype=np.float64), maxshape=(None,))

    @classmethod
    def read(cls, f: h5py.File, path: str) -> HealthLog:
        """The record in open metrics.h5 ``f`` (``path`` names it in errors); empty when the run has none."""
        group = f.get("health")
        if group is None:
            return cls()
        try:
            names = json.loads(group.attrs["layers"])
            log = cls({name: str(group[name].attrs["activation"]) for name in names}, int(group.attrs["every"]))
            log.step = [int(s) for s in group["step"][()]]
            for name in names:
                for stat in STATS:
                    column = group[name][stat][()]
                    if column.shape != (len(log.step),):
                        raise ValueError(f"/health/{name}/{stat} has {column.shape[0]} rows, /health/step {len(log.step)}")
                    log.columns[name][stat] = column.astype(np.float64).tolist()
        except (KeyError, ValueError, TypeError) as err:
            raise MetricLogError(f"{path}: /health is damaged ({err})") from None
        return log
