"""Read run directories for listing and comparing: status, epochs, best metric, metrics, spec values.

Only reads files (spec.yaml, checkpoint.h5's attributes, metrics.h5), so it
works on runs from any machine and on every trial of a tune directory, and
never loads a network.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import yaml

from ..conditions import Condition, Form
from ..errors import RunError
from . import rundir
from .metrics_log import MetricLog


@dataclass
class RunSummary:
    """One run directory as `runs list` shows it; ``values`` holds metrics at the best epoch and spec values."""

    name: str
    path: Path
    status: str
    epochs: int
    epochs_planned: int | None
    monitor: str | None
    best_value: float | None
    best_epoch: int | None
    spec: dict[str, Any] = field(default_factory=dict)  # flattened: train.learning_rate -> 0.1
    metrics: dict[str, float] = field(default_factory=dict)  # at the best epoch (the last when none)

    def value(self, key: str) -> Any:
        """A column by name: a field, a metric, or a spec path."""
        builtin = {"name": self.name, "status": self.status, "epochs": self.epochs, "best": self.best_value,
                   "best_epoch": self.best_epoch, "monitor": self.monitor, "path": str(self.path)}
        if key in builtin:
            return builtin[key]
        if key in self.metrics:
            return self.metrics[key]
        return self.spec.get(key)


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """A nested spec as {'model.layers[0].units': 64, ...}: the same paths `--set` takes."""
    out: dict[str, Any] = {}
    if isinstance(data, dict):
        for key, value in data.items():
            out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(data, list) and data:
        for index, value in enumerate(data):
            out.update(flatten(value, f"{prefix}[{index}]"))
    else:
        out[prefix] = data
    return out


def is_run_dir(path: Path) -> bool:
    return (path / rundir.SPEC_FILE).is_file() and any((path / f).exists() for f in (rundir.LATEST, rundir.INITIAL))


def find_runs(directory: Path) -> list[Path]:
    """The run directories directly inside ``directory`` (a runs folder or a tune directory), by name;
    ``latest``, the link to the newest run, is not a run of its own."""
    directory = Path(directory)
    if not directory.is_dir():
        raise RunError(f"{directory}: no such directory")
    if is_run_dir(directory):
        return [directory]
    return sorted(p for p in directory.iterdir() if p.name != rundir.LATEST_LINK and p.is_dir() and is_run_dir(p))


def read_epochs(run: Path) -> dict[str, list[float]]:
    """metrics.h5's per-epoch columns (empty when the run has not finished an epoch)."""
    path = Path(run) / rundir.METRICS
    if not path.exists():
        return {}
    return MetricLog.load(path).epoch


def summarise_run(run: Path) -> RunSummary:
    run = Path(run)
    try:
        spec = yaml.safe_load((run / rundir.SPEC_FILE).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as err:
        raise RunError(f"{run / rundir.SPEC_FILE}: unreadable ({err})") from None
    progress, epoch, batch = _checkpoint_progress(run)
    planned = (spec.get("train") or {}).get("epochs")
    reason = progress.get("stop_reason")
    if reason in ("early_stopping", "pruned", "interrupted", "diverged"):
        status = reason
    elif planned is not None and epoch >= planned and batch == 0:
        status = "completed"
    else:
        status = "incomplete"  # still running, or killed between checkpoints
    best = progress.get("best") or {}
    columns = read_epochs(run)
    n = len(next(iter(columns.values()), []))
    at = (best.get("epoch") or n) - 1
    metrics = {name: values[at] for name, values in columns.items() if 0 <= at < len(values) and name != "epoch"}
    return RunSummary(run.name, run, status, epoch, planned, best.get("metric"), best.get("value"), best.get("epoch"),
                      flatten(spec), metrics)


def _checkpoint_progress(run: Path) -> tuple[dict, int, int]:
    path = run / rundir.LATEST
    if not path.exists():
        return {}, 0, 0
    try:
        with h5py.File(path, "r") as f:
            return json.loads(f.attrs["progress"]), int(f.attrs["epoch"]), int(f.attrs["batch"])
    except (OSError, KeyError, json.JSONDecodeError) as err:
        raise RunError(f"{path}: not a readable checkpoint ({err})") from None


def differing_keys(runs: list[RunSummary], skip: tuple[str, ...] = ("name",)) -> list[str]:
    """Spec paths whose values are not the same in every listed run, in spec order."""
    keys: dict[str, None] = {}
    for run in runs:
        keys.update(dict.fromkeys(run.spec))
    return [k for k in keys if k not in skip and len({json.dumps(r.spec.get(k), sort_keys=True) for r in runs}) > 1]


# ---------------------------------------------------------------- filters and sorting


FILTER = Form(("<", "<=", ">", ">=", "==", "!=", "="), "--filter 'dev_error<0.05'", names="KEY", numbers=False)


def parse_filter(text: str) -> Condition:
    """'dev_error<0.05' as a condition on a metric or spec path; the value is read as YAML (numbers, words, true)."""
    return FILTER.parse(text, "--filter")


def matches(run: RunSummary, condition: Condition) -> bool:
    return condition.holds(run.value(condition.key))
