"""events.jsonl: what happened in a run besides its metrics, one JSON object a line, appended and fsynced.

    {"event": "warning", "kind": "plateau", "step": 120, "epoch": 6, "key": "train.learning_rate",
     "where": "spec.yaml:14", "message": "...", "time": ...}
    {"event": "set", "key": "train.learning_rate", "from": 0.1, "to": 0.01, "step": 241, "epoch": 13, ...}

``step`` is the optimizer step the event concerns (a warning: the last step taken; a
change: the first step that used the new value). The file only grows: a resumed run
reads it to give each warning once.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from .atomic import append_line
from .names import EVENTS


def append_event(run_dir: Path, event: dict) -> None:
    append_line(Path(run_dir) / EVENTS, json.dumps({**event, "time": round(time.time(), 3)}, allow_nan=False))


def read_events(run_dir: Path) -> list[dict]:
    """Every complete event of the run, oldest first; none when it has no events file. Lines that are
    not JSON objects (a torn last line after a kill, an edit) are skipped."""
    try:
        lines = (Path(run_dir) / EVENTS).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    events = []
    for line in lines:
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(event, dict):
            events.append(event)
    return events
