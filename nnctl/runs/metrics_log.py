"""metrics.h5: the per-iteration cost and the per-epoch metrics of a run.

    /iteration/<name>   one row per optimizer step (cost, learning_rate)
    /epoch/<name>       one row per epoch (epoch, train_cost, dev_accuracy, ..., wall_time)
    /health/...         per-layer health every N steps (health_log.py)
    attribute run_id    the run it belongs to (its checkpoints carry the same id)

Saving costs what was added since the last save, not the length of the log:
new rows are appended to metrics.journal beside it (hash-chained JSON lines,
see journal.py), and metrics.h5 is rewritten whole (atomically, sealed) only
when the journal has grown as large as it — so each row is rewritten a bounded
number of times — and whenever a run ends or stops. The journal names the
metrics.h5 it continues by that file's seal; a journal left from before the
last rewrite is ignored. A finished run has metrics.h5 alone, readable with
h5py; while a run trains, nnctl's readers see metrics.h5 plus its journal.
A resumed run truncates the log to the lengths its checkpoint recorded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from ..errors import MetricLogError
from .atomic import atomic_h5
from .health_log import HealthLog
from .identity import check_belongs
from .journal import append_record, create_journal, read_journal
from .names import METRICS_JOURNAL
from .seal import read_sealed, sealed_digest

JOURNAL_FORMAT = "nnctl-metrics-journal/1"


@dataclass
class _OnDisk:
    """What the files at the log's path hold, when this log wrote them."""

    steps: int = 0  # rows in metrics.h5 and its journal
    epochs: int = 0
    health: int = 0  # health records
    rewritten_values: int = 0  # numbers in metrics.h5
    journal_values: int = 0  # numbers in the journal
    seal: str | None = None  # metrics.h5's digest, which the journal names
    tip: str | None = None  # the journal's last digest (None: no journal since the rewrite)


class MetricLog:
    def __init__(self, run_id: str | None = None):
        self.run_id = run_id
        self.iteration: dict[str, list[float]] = {"cost": [], "learning_rate": []}
        self.epoch: dict[str, list[float]] = {}
        self.health = HealthLog()
        self._disk: _OnDisk | None = None  # None: unknown (not written by this log): the next save rewrites

    def add_step(self, cost: float, learning_rate: float) -> None:
        self.iteration["cost"].append(float(cost))  # plain floats: the journal writes them as JSON
        self.iteration["learning_rate"].append(float(learning_rate))

    def add_epoch(self, row: dict[str, float]) -> None:
        """Append a row; a column new in it reads NaN before, a column missing from it NaN here."""
        n = self.n_epochs
        for name, value in row.items():
            column = self.epoch.get(name)
            if column is None:
                column = self.epoch[name] = [math.nan] * n
            column.append(float(value))
        for column in self.epoch.values():
            if len(column) == n:
                column.append(math.nan)

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
        if self._disk and (self._disk.steps > n_steps or self._disk.epochs > n_epochs):
            self._disk = None  # the files hold rows this log no longer has

    def last(self) -> dict[str, float]:
        return {name: column[-1] for name, column in self.epoch.items() if column}

    # ------------------------------------------------------------ writing

    def save(self, path: Path, whole: bool = False) -> None:
        """Make the log durable at ``path``: append the new rows to the journal, or rewrite metrics.h5
        (``whole``, when the journal would outgrow it, or when this log did not write the files)."""
        disk = self._disk
        if whole or disk is None or disk.journal_values + self._values_since(disk) >= disk.rewritten_values:
            self._rewrite(Path(path))
        else:
            self._append(Path(path), disk)

    def _values_since(self, disk: _OnDisk) -> int:
        return (2 * (self.n_steps - disk.steps) + len(self.epoch) * (self.n_epochs - disk.epochs)
                + self.health.values_since(disk.health))

    def _rewrite(self, path: Path) -> None:
        with atomic_h5(path) as f:
            if self.run_id:
                f.attrs["run_id"] = self.run_id
            for group_name, columns in (("iteration", self.iteration), ("epoch", self.epoch)):
                group = f.create_group(group_name)
                for name, values in columns.items():
                    data = np.asarray(values, dtype=np.float64)
                    group.create_dataset(name, data=data, maxshape=(None,), chunks=(max(min(len(data), 4096), 1),))
            if len(self.health):
                self.health.write(f)
        self._disk = _OnDisk(self.n_steps, self.n_epochs, len(self.health), seal=sealed_digest(path))
        self._disk.rewritten_values = self._values_since(_OnDisk())
        path.with_name(METRICS_JOURNAL).unlink(missing_ok=True)  # everything it held is in metrics.h5 now

    def _append(self, path: Path, disk: _OnDisk) -> None:
        record = {
            "at": [disk.steps, disk.epochs],
            "iteration": {name: column[disk.steps:] for name, column in self.iteration.items()},
            "epoch": {name: column[disk.epochs:] for name, column in self.epoch.items()},
        }
        if len(self.health) > disk.health:
            record["health"] = self.health.since(disk.health)
        journal = path.with_name(METRICS_JOURNAL)
        if disk.tip is None:
            header = {"format": JOURNAL_FORMAT, "run_id": self.run_id, "continues": disk.seal,
                      "at": [disk.steps, disk.epochs]}
            disk.tip = create_journal(journal, header, record)
        else:
            disk.tip = append_record(journal, disk.tip, record)
        disk.journal_values += self._values_since(disk)
        disk.steps, disk.epochs, disk.health = self.n_steps, self.n_epochs, len(self.health)

    # ------------------------------------------------------------ reading

    @classmethod
    def load(cls, path: Path) -> MetricLog:
        """Read a log (metrics.h5 and the journal continuing it), checked field by field; refuse
        (MetricLogError) what is not one, or another run's, rather than starting a new history."""
        path = Path(path)
        f, seal = read_sealed(path, MetricLogError)
        with f:
            log = cls(_run_id(f.attrs.get("run_id"), path))
            check_belongs(path, log.run_id, MetricLogError)
            log.iteration = {}
            for group_name, columns in (("iteration", log.iteration), ("epoch", log.epoch)):
                group = f.get(group_name)
                if not isinstance(group, h5py.Group):
                    raise MetricLogError(f"{path}: not an nnctl metric log (no /{group_name} group)")
                for name, dataset in group.items():
                    if not isinstance(dataset, h5py.Dataset) or dataset.ndim != 1 or dataset.dtype.kind not in "fiu":
                        raise MetricLogError(f"{path}: /{group_name}/{name} is not a column of numbers")
                    columns[name] = dataset[()].astype(np.float64).tolist()
            log.health = HealthLog.read(f, str(path))
        journal = path.with_name(METRICS_JOURNAL)
        if seal is not None and journal.is_file():
            log._extend_from(journal, seal)
        log._check(path)
        return log

    def _extend_from(self, journal: Path, seal: str) -> None:
        header, records = read_journal(journal, MetricLogError)
        if header.get("continues") != seal:
            return  # left from before metrics.h5 was last rewritten: everything in it is there
        if header.get("format") != JOURNAL_FORMAT or header.get("run_id") != self.run_id:
            raise MetricLogError(f"{journal}: damaged: its header does not continue this metrics.h5")
        for number, record in enumerate(records, 2):
            if not (isinstance(record, dict) and record.get("at") == [self.n_steps, self.n_epochs]
                    and _columns(record.get("iteration")) and _columns(record.get("epoch"))
                    and set(record["iteration"]) == set(self.iteration)):
                raise MetricLogError(f"{journal}: damaged: line {number} does not continue the log")
            for name, values in record["iteration"].items():
                self.iteration[name] += map(float, values)
            rows = record["epoch"]
            if len({len(v) for v in rows.values()}) > 1:
                raise MetricLogError(f"{journal}: damaged: line {number} has epoch columns of different lengths")
            for row in zip(*rows.values()):
                self.add_epoch(dict(zip(rows, row)))
            if "health" in record and not self.health.extend(record["health"]):
                raise MetricLogError(f"{journal}: damaged: line {number} does not continue the health record")

    def _check(self, path: Path) -> None:
        """The columns a trainer writes, of one length per group, the epochs numbered 1, 2, ..."""
        missing = sorted({"cost", "learning_rate"} - set(self.iteration))
        if missing:
            raise MetricLogError(f"{path}: not an nnctl metric log (no /iteration/{missing[0]})")
        for group_name, columns in (("iteration", self.iteration), ("epoch", self.epoch)):
            if len({len(column) for column in columns.values()}) > 1:
                raise MetricLogError(f"{path}: the /{group_name} columns have different lengths")
        if self.epoch and self.epoch.get("epoch") != [float(k) for k in range(1, self.n_epochs + 1)]:
            raise MetricLogError(f"{path}: damaged: /epoch/epoch does not number the epochs 1, 2, ...")

    @classmethod
    def placeholder(cls, n_steps: int, n_epochs: int, run_id: str | None = None) -> MetricLog:
        """A log of the given lengths whose history is lost: NaN rows, only the epoch numbers known."""
        log = cls(run_id)
        log.iteration = {name: [math.nan] * n_steps for name in log.iteration}
        log.epoch = {"epoch": [float(k) for k in range(1, n_epochs + 1)]} if n_epochs else {}
        return log


def _run_id(value, path: Path) -> str | None:
    if value is None:
        return None  # written before runs had ids
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str) or not value:
        raise MetricLogError(f"{path}: damaged: attribute run_id is not text")
    return value


def _columns(value) -> bool:
    """A journal record's columns: names to lists of numbers."""
    return isinstance(value, dict) and all(
        isinstance(name, str) and isinstance(column, list)
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in column)
        for name, column in value.items())
