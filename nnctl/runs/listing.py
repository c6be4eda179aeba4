"""Read run directories for listing and comparing: status, epochs, best metric, metrics, spec values.

Only reads files (spec.yaml, checkpoint.h5, metrics.h5), so it works on runs
from any machine and on every trial of a tune directory, and never builds a
network. Each file is read as every other command reads it: the spec within
the spec reader's limits, checkpoint.h5 and metrics.h5 sealed, checked field
by field and against the run's id. A damaged run is one line in a listing,
never the end of it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..conditions import Condition, Form
from ..errors import NnctlError, RunError
from ..literal import quoted
from ..spec.yaml_reader import read_yaml
from . import rundir
from .checkpoint import read_progress
from .metrics_log import MetricLog
from .names import METRICS_JOURNAL


@dataclass
class RunSummary:
    """One run directory as `runs list` shows it; ``values`` holds metrics at the best epoch and spec values."""

    name: str
    path: Path
    status: str
    epochs: int | None  # None: a damaged run
    epochs_planned: int | None
    monitor: str | None
    best_value: float | None
    best_epoch: int | None
    spec: dict[str, Any] = field(default_factory=dict)  # flattened: train.learning_rate -> 0.1
    metrics: dict[str, float] = field(default_factory=dict)  # at the best epoch (the last when none)
    problem: str | None = None  # why a damaged run could not be summarised (its status is then "damaged")

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


def summarise_runs(directory: Path) -> list[RunSummary]:
    """The runs of a runs folder or tune directory (``find_runs``), a damaged one as a row of status "damaged"
    whose ``problem`` says why: one bad run does not hide the others. A run directory given itself is
    summarised or refused, as `runs show` does."""
    if is_run_dir(Path(directory)):
        return [summarise_run(directory)]
    summaries = []
    for run in find_runs(directory):
        try:
            summaries.append(summarise_run(run))
        except NnctlError as err:
            summaries.append(RunSummary(Path(run).name, Path(run), "damaged", None, None, None, None, None, problem=str(err)))
    return summaries


def summarise_run(run: Path) -> RunSummary:
    """One run's summary; a damaged file in it is an NnctlError naming the file."""
    run = Path(run)
    spec = read_run_spec(run)
    progress, epoch, batch = _checkpoint_progress(run)
    train = spec.get("train")
    planned = train.get("epochs") if isinstance(train, dict) else None
    reason = progress.get("stop_reason")
    if reason in ("early_stopping", "pruned", "interrupted", "diverged"):
        status = reason
    elif isinstance(planned, int) and epoch >= planned and batch == 0:
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


def read_run_spec(run: Path) -> dict[str, Any]:
    """The run's spec.yaml as plain data, read within the spec reader's limits (an alias bomb is refused,
    not expanded); not validated against today's schema, so runs of older versions still list."""
    path = Path(run) / rundir.SPEC_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise RunError(f"{path}: unreadable ({getattr(err, 'strerror', None) or err})") from None
    spec = read_yaml(text, str(path))[0]
    if spec is None:
        return {}
    if not isinstance(spec, dict):
        raise RunError(f"{path}: damaged: holds a {type(spec).__name__}, not a spec (a mapping of keys)")
    return spec


def _checkpoint_progress(run: Path) -> tuple[dict, int, int]:
    """(progress, epochs, batches) of checkpoint.h5, read sealed and checked like every checkpoint; nothing
    when the run has not written one yet."""
    path = run / rundir.LATEST
    if not path.exists():
        problem = missing_checkpoint(path)
        if problem:
            raise RunError(problem)
        return {}, 0, 0
    return read_progress(path)


def missing_checkpoint(path: Path) -> str | None:
    """Why a run whose checkpoint.h5 (``path``) is not there cannot go on from initial.h5, or None when it can:
    killed between writing the two, with nothing after (starting over from there would lose its history)."""
    remedy = (f"restore checkpoint.h5 from a copy of the run, or train a new run from this one "
              f"(model.init_from: {{run: {path.parent}}})")
    if path.is_symlink():
        return f"{path}: a link to {quoted(os.readlink(path))}, which does not exist; {remedy}"
    witness = trained_past_start(path.parent)
    if witness is None:
        return None
    return f"{path}: missing, yet {witness.name} shows the run trained past its start, so it is not started over; {remedy}"


def trained_past_start(run: Path) -> Path | None:
    """A file that shows the run trained past its first checkpoint (best.h5, a metric journal, a metric log
    with rows, or one that cannot be read), or None."""
    for name in (rundir.BEST, METRICS_JOURNAL):
        if (run / name).exists() or (run / name).is_symlink():
            return run / name
    path = run / rundir.METRICS
    if not (path.exists() or path.is_symlink()):
        return None
    try:
        return path if MetricLog.load(path).n_steps else None
    except RunError:
        return path


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
