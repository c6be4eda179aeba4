"""eval.json: what `nnctl eval` measured on a run, so `select` can rank runs without re-measuring.

Per checkpoint file (best.h5, checkpoint.h5, ...), tied to its size and
modification time so a retrained or resumed checkpoint never passes off old
numbers as its own:

    {"format_version": 1,
     "checkpoints": {"best.h5": {"size": ..., "mtime_ns": ..., "predict_ms": 0.21,
                                 "latency": {"split": "dev", "examples": 64, "passes": 5},
                                 "splits": {"dev": {"examples": 300, "metrics": {...},
                                                    "threshold": null, "weights": {}, "group_by": null,
                                                    "groups": {...}, "unseen_classes": {"c": 2}}}}}}

Written by atomic replacement (a kill leaves the old file or the new one).
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import RunError
from ..runs.atomic import atomic_write_json

EVAL_FILE = "eval.json"
FORMAT_VERSION = 1


def _stamp(checkpoint: Path) -> dict:
    stat = Path(checkpoint).stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _read(run_dir: Path) -> dict:
    path = Path(run_dir) / EVAL_FILE
    if not path.exists():
        return {"format_version": FORMAT_VERSION, "checkpoints": {}}
    try:
        record = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise RunError(f"{path}: unreadable evaluation record ({err}); delete it and run nnctl eval again") from None
    if not isinstance(record, dict) or not isinstance(record.get("checkpoints"), dict):
        raise RunError(f"{path}: not an nnctl evaluation record; delete it and run nnctl eval again")
    return record


def recorded(run_dir: Path, checkpoint: Path) -> dict:
    """The record of ``checkpoint`` if it still describes the file on disk, else an empty one."""
    entry = _read(run_dir)["checkpoints"].get(Path(checkpoint).name)
    if entry and all(entry.get(key) == value for key, value in _stamp(checkpoint).items()):
        return entry
    return {"splits": {}}


def record(run_dir: Path, checkpoint: Path, split: str, result: dict, latency: dict | None) -> None:
    """Store one split's evaluation (and the latency measured with it) for ``checkpoint``."""
    whole = _read(run_dir)
    entry = recorded(run_dir, checkpoint) | _stamp(checkpoint)
    entry["splits"] = {**entry.get("splits", {}), split: result}
    if latency is not None:
        entry["predict_ms"] = latency["predict_ms"]
        entry["latency"] = {key: value for key, value in latency.items() if key != "predict_ms"}
    whole["checkpoints"][Path(checkpoint).name] = entry
    atomic_write_json(Path(run_dir) / EVAL_FILE, whole)


def flat_metrics(entry: dict) -> dict[str, float]:
    """``dev_accuracy``-style names for every recorded split metric, plus ``predict_ms``."""
    flat = {f"{split}_{name}": value for split, result in entry.get("splits", {}).items()
            for name, value in result["metrics"].items()}
    if "predict_ms" in entry:
        flat["predict_ms"] = entry["predict_ms"]
    return flat
