"""The names of a run's files and checkpoints, importable without h5py.

The CLI declares ``--checkpoint`` with `CheckpointName` in command signatures,
which `nnctl --help` reads; keeping it here (no HDF5, no NumPy) keeps the help fast.
"""

from __future__ import annotations

from enum import StrEnum

SPEC_FILE = "spec.yaml"
INITIAL, LATEST, BEST, METRICS = "initial.h5", "checkpoint.h5", "best.h5", "metrics.h5"
EVENTS = "events.jsonl"  # warnings and settings changed on resume, one JSON object a line (runs/events.py)
METRICS_JOURNAL = "metrics.journal"  # rows appended since metrics.h5 was last rewritten (runs/metrics_log.py)


class CheckpointName(StrEnum):
    """The checkpoints a run keeps, by the name users pick them with (``--checkpoint``)."""

    best = "best"
    latest = "latest"
    initial = "initial"


CHECKPOINT_FILES = {CheckpointName.best: BEST, CheckpointName.latest: LATEST, CheckpointName.initial: INITIAL}
