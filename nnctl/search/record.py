"""A tune directory on disk, and reading a finished (or interrupted) search back.

    runs/<name>-tune-<timestamp>/
        tune.json      format, nnctl version, SHA-256 of spec.yaml, parent search (refine)
        spec.yaml      the resolved spec with its resolved search section
        trials.jsonl   append-only events, one JSON object a line, fsynced:
                       start {trial, params, run}, end {trial, status, value, ...}, child {tune},
                       with cv: fold {trial, fold, status, value, ...} per fold run, and
                       refit {trial, status, ...} for the chosen trial retrained on the whole pool,
                       test {run, metrics, ...}: the search's result on the test split (once, on request)
        trial-0000/    an ordinary run directory per trial (eval, gradcheck work on it),
                       or with cv the trial's fold runs: trial-0000/fold-0, fold-1, ...
        folds.json     with cv: the pool's rows and the fold of each (see search/folds_record.py)
        refit/         with refit: the search's result, an ordinary run (runs/latest points at it)

Only appends ever touch trials.jsonl, so a kill at any instant loses at most a
torn last line: ignored on reading, and cut off before the next append so the
new event starts a line of its own.  Every event and tune.json are checked field
by field (types, ranges, a trial ending twice with different results); anything
that does not hold, or a spec.yaml that no longer matches its checksum, is a
directory edited by hand and is refused rather than guessed at.  One search
process at a time runs a tune directory (``search_lock``).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import math
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import TuneDirError
from ..runs import rundir
from ..runs.atomic import atomic_write_json
from ..runs.status import FINISHED, RANKED, TrialStatus
from ..spec import SpecError, parse_spec
from .space import Distribution, Space

log = logging.getLogger(__name__)

FORMAT = 1
TUNE_FILE, SPEC_FILE, TRIALS_FILE, STOP_FILE = "tune.json", "spec.yaml", "trials.jsonl", "STOP"
REFIT_DIR = "refit"


def trial_dir_name(index: int) -> str:
    return f"trial-{index:04d}"


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def create_tune_dir(runs_dir: Path, name: str, spec_yaml: str, parent: Path | None = None) -> Path:
    """A new, uniquely named tune directory holding the resolved spec and its manifest."""
    tune_dir = rundir.create_run_dir(runs_dir, f"{name}-tune")
    (tune_dir / SPEC_FILE).write_text(spec_yaml, encoding="utf-8")
    manifest = {
        "format": FORMAT, "nnctl_version": __version__, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "spec_sha256": _sha256(spec_yaml), "parent": os.path.relpath(parent, tune_dir) if parent else None,
    }
    atomic_write_json(tune_dir / TUNE_FILE, manifest, indent=2)
    (tune_dir / TRIALS_FILE).touch()
    return tune_dir


def append_event(tune_dir: Path, event: dict) -> None:
    """Append one event line and fsync it: a crash after this returns cannot lose the event.  A torn last
    line (a kill mid-append) is cut off first, so the event starts a line of its own; the file's lock keeps
    another writer (a refine recording a child) out meanwhile."""
    line = json.dumps({**event, "time": round(time.time(), 3)}, allow_nan=False) + "\n"
    fd = os.open(Path(tune_dir) / TRIALS_FILE, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        with suppress(OSError):  # a filesystem without locks: the coordinator stays the only regular writer
            fcntl.flock(fd, fcntl.LOCK_EX)
        _cut_torn_tail(fd)
        os.write(fd, line.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)


def _cut_torn_tail(fd: int, step: int = 4096) -> None:
    """Truncate the file after its last newline (nothing when it ends with one, or is empty)."""
    end = size = os.fstat(fd).st_size
    if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
        return
    while end > 0:
        start = max(0, end - step)
        newline = os.pread(fd, end - start, start).rfind(b"\n")
        if newline >= 0:
            os.ftruncate(fd, start + newline + 1)
            return
        end = start
    os.ftruncate(fd, 0)


@contextmanager
def search_lock(tune_dir: Path) -> Iterator[None]:
    """Hold the tune directory (a lock on the folder itself, no file added) for one search process: a second
    `nnctl tune --resume` of it while the first runs would hand the same trials out twice.  The lock goes
    with the process: a kill releases it."""
    fd = os.open(tune_dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise TuneDirError(f"{tune_dir}: another nnctl tune is running this search; wait for it to end "
                               "or stop it, then resume") from None
        except OSError as err:  # a filesystem without locks (some network mounts): run, and say so
            log.warning("%s: cannot lock the tune directory (%s); make sure no other nnctl tune runs this search",
                        tune_dir, err.strerror or err)
        yield
    finally:
        os.close(fd)


def finite_or_none(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


# ---------------------------------------------------------------- reading back


@dataclass
class TrialRecord:
    """One trial as the log tells it; ``value`` is the searched metric at ``best_epoch``."""

    index: int
    params: dict[str, Any]
    run_dir: Path
    status: TrialStatus = TrialStatus.pending
    value: float | None = None
    best_epoch: int | None = None
    epochs: int = 0
    curve: list[float | None] = field(default_factory=list)  # the metric per epoch
    satisfied: dict[str, float | None] = field(default_factory=dict)
    feasible: bool = True
    message: str | None = None
    seconds: float | None = None
    se: float | None = None  # with cv: the standard error of ``value``, the mean over the fold runs
    fold_values: list[float] = field(default_factory=list)  # with cv: each fold run's value
    parameters: int | None = None  # weights and biases of the trial's network
    folds: dict[int, dict] = field(default_factory=dict)  # with cv: fold run → its last event


@dataclass
class SearchRecord:
    """A tune directory read back: what was searched, how, and every trial so far."""

    tune_dir: Path
    spec_yaml: str
    metric: str
    goal: str
    method: str
    seed: int
    trials_planned: int
    parameters: list[Distribution]
    trials: list[TrialRecord]
    parent: Path | None
    children: list[Path]
    fold_runs: int | None = None  # with cv: fold runs per trial (folds × repeats)
    choose: str = "best"  # with cv: best, or one_se (the simplest trial within one SE of the best)
    refit: dict | None = None  # the refit event, once the chosen trial was retrained on the whole pool
    test: dict | None = None  # the test event: the result evaluated on the test split, at most once

    @property
    def minimize(self) -> bool:
        return self.goal == "minimize"

    def ranked(self) -> list[TrialRecord]:
        """Finished, feasible trials, best first (ties: lower index first)."""
        done = [t for t in self.trials if t.status in RANKED and t.value is not None and t.feasible]
        return sorted(done, key=lambda t: (t.value if self.minimize else -t.value, t.index))

    @property
    def done(self) -> int:
        """How many trials have ended (a running or interrupted one has not)."""
        return sum(t.status in FINISHED for t in self.trials)

    def completed_curves(self) -> list[list[float | None]]:
        """The per-epoch metric of every trial that ran to its end: the median rule's reference."""
        return [t.curve for t in self.trials if t.status in RANKED]


def read_manifest(tune_dir: Path) -> tuple[dict, str]:
    """tune.json and spec.yaml, checked for the format, the nnctl version and the spec's checksum."""
    tune_dir = Path(tune_dir)
    manifest_path = tune_dir / TUNE_FILE
    if not tune_dir.is_dir():
        raise TuneDirError(f"{tune_dir}: no such tune directory")
    if not manifest_path.is_file():
        raise TuneDirError(f"{tune_dir}: not a tune directory (no {TUNE_FILE}; `nnctl tune SPEC` makes one)")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        spec_yaml = (tune_dir / SPEC_FILE).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise TuneDirError(f"{tune_dir}: unreadable tune directory ({err})") from None
    if not isinstance(manifest, dict) or _kind(manifest.get("format")) != "integer" or manifest["format"] != FORMAT:
        raise TuneDirError(f"{manifest_path}: tune directory format {manifest.get('format') if isinstance(manifest, dict) else '?'} "
                           f"is not supported (expected {FORMAT})")
    _check_fields(manifest, MANIFEST_FIELDS, str(manifest_path))
    if manifest.get("nnctl_version") != __version__:
        raise TuneDirError(f"{manifest_path}: made by nnctl {manifest.get('nnctl_version')}, this is nnctl {__version__}; "
                           "continue it with the version that made it, or start a new search")
    if manifest.get("spec_sha256") != _sha256(spec_yaml):
        raise TuneDirError(f"{tune_dir / SPEC_FILE}: edited after the search started (checksum differs from {TUNE_FILE}); "
                           "start a new search for a changed spec")
    return manifest, spec_yaml


def read_events(tune_dir: Path) -> list[tuple[int, dict]]:
    """(line number, event) of every complete line; a torn last line (a kill mid-append) is dropped."""
    path = Path(tune_dir) / TRIALS_FILE
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise TuneDirError(f"{path}: cannot read ({err.strerror})") from None
    lines = raw.split(b"\n")
    complete = lines[:-1]  # the part after the last newline is empty or torn
    events = []
    for number, line in enumerate(complete, start=1):
        try:
            event = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise TuneDirError(f"{path}:{number}: not a JSON event (edited by hand?)") from None
        if not isinstance(event, dict) or event.get("event") not in ("start", "end", "child", "fold", "refit", "test"):
            raise TuneDirError(f"{path}:{number}: unknown event (edited by hand?)")
        events.append((number, event))
    return events


# What each field may hold ("integer" excludes booleans, "number" is a finite int or float); others are not read.
MANIFEST_FIELDS = {"nnctl_version": ("string",), "created": ("string",), "spec_sha256": ("string",),
                   "parent": ("string", "null")}
_RUN_END = {"trial": ("integer",), "status": ("string",), "value": ("number", "null"), "best_epoch": ("integer", "null"),
            "epochs": ("integer",), "curve": ("array",), "satisfy": ("object",), "feasible": ("boolean",),
            "message": ("string", "null"), "seconds": ("number", "null"), "parameters": ("integer", "null"),
            "time": ("number",)}
EVENT_FIELDS = {
    "start": {"trial": ("integer",), "params": ("object",), "run": ("string",), "time": ("number",)},
    "end": {**_RUN_END, "se": ("number", "null"), "fold_values": ("array",)},
    "fold": {**_RUN_END, "fold": ("integer",)},
    "refit": {**_RUN_END, "run": ("string",), "epochs_planned": ("integer",)},
    "test": {"run": ("string",), "examples": ("integer",), "metrics": ("object",), "time": ("number",)},
    "child": {"tune": ("string",), "time": ("number",)},
}


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number" if math.isfinite(value) else "non-finite number"
    if isinstance(value, str):
        return "string"  # a TrialStatus too: it is written as its word
    return {list: "array", dict: "object"}.get(type(value), type(value).__name__)


def _check_fields(record: dict, fields: dict[str, tuple[str, ...]], where: str) -> None:
    """Each known field holds what it may: anything else was not written by nnctl."""
    for name, kinds in fields.items():
        if name not in record:
            continue
        kind = _kind(record[name])
        if kind not in kinds and not (kind == "integer" and "number" in kinds):
            raise TuneDirError(f"{where}: {name} is a {kind}, expected {' or '.join(kinds)} (edited by hand?)")


def _check_end(event: dict, where: str) -> None:
    """An end event's numbers in range: epochs ≥ 0, the best epoch among them, a curve of numbers."""
    epochs = event.get("epochs", 0)
    if epochs < 0 or (event.get("best_epoch") is not None and not 1 <= event["best_epoch"] <= max(epochs, 1)):
        raise TuneDirError(f"{where}: best_epoch {event.get('best_epoch')} is not one of the trial's {epochs} epochs (edited by hand?)")
    bad = [v for v in [*event.get("curve", []), *event.get("satisfy", {}).values()] if _kind(v) not in ("number", "integer", "null")]
    if bad:
        raise TuneDirError(f"{where}: curve and satisfy hold numbers or null, not {bad[0]!r} (edited by hand?)")


def _require(event: dict, keys: tuple[str, ...], where: str) -> None:
    missing = [k for k in keys if k not in event]
    if missing:
        raise TuneDirError(f"{where}: event without {', '.join(missing)} (edited by hand?)")


def load_search(tune_dir: str | Path) -> SearchRecord:
    """Read a tune directory: its parameter distributions and every trial's params, status, value and run dir.

    Raises TuneDirError for a directory from another nnctl version or edited by hand.
    """
    tune_dir = Path(tune_dir)
    manifest, spec_yaml = read_manifest(tune_dir)
    try:
        spec = parse_spec(spec_yaml, str(tune_dir / SPEC_FILE))
    except SpecError as err:
        raise TuneDirError(f"{err} (edited by hand?)") from None
    search = spec.search
    if search is None or search.metric is None or search.goal is None or search.trials is None:
        raise TuneDirError(f"{tune_dir / SPEC_FILE}: not a resolved search spec (edited by hand?)")
    space = Space(search)
    record = SearchRecord(
        tune_dir, spec_yaml, search.metric, search.goal, search.method, search.seed, search.trials,
        space.distributions, [], (tune_dir / manifest["parent"]).resolve() if manifest.get("parent") else None, [],
        search.cv.folds * search.cv.repeats if search.cv else None, search.cv.choose if search.cv else "best",
    )
    for number, event in read_events(tune_dir):
        apply_event(record, space, event, f"{tune_dir / TRIALS_FILE}:{number}")
    return record


def apply_event(record: SearchRecord, space: Space, event: dict, where: str) -> None:
    """Fold one event into ``record`` (reading a log back, or live as the search writes it)."""
    _check_fields(event, EVENT_FIELDS[event["event"]], where)
    if event["event"] == "child":
        _require(event, ("tune",), where)
        record.children.append((record.tune_dir / event["tune"]).resolve())
        return
    if event["event"] == "test":
        _require(event, ("run", "metrics"), where)
        record.test = event
        return
    _require(event, ("trial",), where)
    index = event["trial"]
    if not isinstance(index, int) or not 0 <= index < record.trials_planned:
        raise TuneDirError(f"{where}: trial {index!r} is outside this search's {record.trials_planned} trials (edited by hand?)")
    known = {t.index: t for t in record.trials}
    if event["event"] == "start":
        _require(event, ("params",), where)
        if index in known:
            return  # a resumed search restarting a trial it had started
        _check_params(space, record.method, index, event["params"], where)
        record.trials.append(TrialRecord(index, event["params"], record.tune_dir / trial_dir_name(index), status=TrialStatus.running))
        record.trials.sort(key=lambda t: t.index)
        return
    if index not in known:
        raise TuneDirError(f"{where}: trial {index} ends before it starts (edited by hand?)")
    _require(event, ("status",), where)
    _check_end(event, where)
    if event["event"] == "refit":
        record.refit = event
        return
    if event["event"] == "fold":
        _require(event, ("fold",), where)
        fold = event["fold"]
        if record.fold_runs is None or not 0 <= fold < record.fold_runs:
            raise TuneDirError(f"{where}: fold run {fold!r} is outside this search's folds (edited by hand?)")
        known[index].folds[fold] = event
        return
    trial = known[index]
    if trial.status in FINISHED:
        if _outcome(event) != (trial.status, trial.value, trial.best_epoch, trial.epochs):
            raise TuneDirError(f"{where}: trial {index} ends a second time with another result "
                               f"({event['status']} {event.get('value')}, was {trial.status} {trial.value}) (edited by hand?)")
        return  # the same end recorded twice
    _apply_end(trial, event, where)


def _outcome(event: dict) -> tuple:
    return event["status"], event.get("value"), event.get("best_epoch"), event.get("epochs", 0)


def _check_params(space: Space, method: str, index: int, params: Any, where: str) -> None:
    """Random and grid trials are a function of (seed, index): anything else was written by someone else."""
    names = [d.path for d in space.distributions]
    if not isinstance(params, dict) or sorted(params) != sorted(names):
        raise TuneDirError(f"{where}: trial {index}'s parameters do not match the search's (edited by hand?)")
    tpe_sampled = method == "tpe" and index >= space.search.startup_trials
    if not tpe_sampled and json.loads(json.dumps(space.trial(index))) != params:
        raise TuneDirError(f"{where}: trial {index}'s values are not the ones its seed gives (edited by hand?)")


def _apply_end(trial: TrialRecord, event: dict, where: str) -> None:
    status = event["status"]
    if status not in (*FINISHED, TrialStatus.interrupted):
        raise TuneDirError(f"{where}: unknown trial status {status!r} (edited by hand?)")
    trial.status = TrialStatus(status)
    trial.value = event.get("value")
    trial.best_epoch = event.get("best_epoch")
    trial.epochs = event.get("epochs", 0)
    trial.curve = event.get("curve", [])
    trial.satisfied = event.get("satisfy", {})
    trial.feasible = event.get("feasible", True)
    trial.message = event.get("message")
    trial.seconds = event.get("seconds")
    trial.se = event.get("se")
    trial.fold_values = event.get("fold_values", [])
    trial.parameters = event.get("parameters")
