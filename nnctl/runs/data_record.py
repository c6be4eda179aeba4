"""data.h5: the data a run was trained on, so every later reader sees the same rows.

Layout, readable with h5py or h5dump and no nnctl installed (sealed like every run file, see seal.py):

    /splits/<split>/part        int32 (n,)  which part each row comes from (index into ``parts``)
    /splits/<split>/row         int64 (n,)  the row number within that part (0-based)
    /corrections/<split>/part   int32 (k,)  label corrections (data.relabel) applied to that split:
    /corrections/<split>/row    int64 (k,)  the corrected rows,
    /corrections/<split>/old    int64 (k,)  their class index before
    /corrections/<split>/new    int64 (k,)  and after
    attributes  format_version, nnctl_version, task, class_names (JSON),
                seed (the data seed that dealt the split), base_dir (the spec file's
                directory, against which relative data paths resolve),
                parts (JSON list of {key, rows, sha256, files: [{written, path, sha256}]}),
                relabel (JSON {written, path, sha256} of the relabel file, or null)

Splits are ``train``, ``dev``, ``test`` and, when the spec asks for it,
``train_dev``. A part is one table of the data spec (``data.source``,
``data.source.test``, ``data.split.dev``, ``data.sources[1].source``...);
its ``sha256`` is of its files' bytes (each file's own hash is listed too) or,
for generated sets, of the arrays. Written once, atomically, when a run starts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import __version__
from ..errors import RunError
from .atomic import atomic_h5
from .seal import open_sealed

DATA_FILE = "data.h5"
FORMAT_VERSION = 1
SPLIT_NAMES = ("train", "dev", "test", "train_dev")
CORRECTION_FIELDS = ("part", "row", "old", "new")


@dataclass
class DataRecord:
    task: str
    class_names: list[str]
    seed: int
    base_dir: str | None
    parts: list[dict]
    splits: dict[str, tuple[np.ndarray, np.ndarray]]  # split → (part, row)
    corrections: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # split → {part, row, old, new}
    relabel: dict | None = None

    def corrected_counts(self) -> dict[str, int]:
        """How many labels were corrected in each split (0 for splits left as they were)."""
        return {name: int(len(self.corrections[name]["row"])) if name in self.corrections else 0 for name in self.splits}


def save_data_record(run_dir: Path, record: DataRecord) -> Path:
    path = Path(run_dir) / DATA_FILE
    with atomic_h5(path) as f:
        for name, (part, row) in record.splits.items():
            group = f.create_group(f"splits/{name}")
            group.create_dataset("part", data=np.asarray(part, dtype=np.int32))
            group.create_dataset("row", data=np.asarray(row, dtype=np.int64))
        for name, changes in record.corrections.items():
            group = f.create_group(f"corrections/{name}")
            for key in CORRECTION_FIELDS:
                group.create_dataset(key, data=np.asarray(changes[key], dtype=np.int32 if key == "part" else np.int64))
        attrs = f.attrs
        attrs["format_version"] = FORMAT_VERSION
        attrs["nnctl_version"] = __version__
        attrs["task"] = record.task
        attrs["class_names"] = json.dumps(record.class_names)
        attrs["seed"] = record.seed
        attrs["base_dir"] = record.base_dir or ""
        attrs["parts"] = json.dumps(record.parts)
        attrs["relabel"] = json.dumps(record.relabel)
    return path


def load_data_record(run_dir: Path) -> DataRecord | None:
    """The run's data record, or None for a run made before runs recorded their data."""
    path = Path(run_dir) / DATA_FILE
    if not path.is_file():
        return None
    try:
        with open_sealed(path, RunError) as f:
            version = int(f.attrs.get("format_version", -1))
            if version != FORMAT_VERSION:
                raise RunError(f"{path}: data record format {version} is not supported (expected {FORMAT_VERSION})")
            splits = {name: (f[f"splits/{name}/part"][()].astype(np.int64), f[f"splits/{name}/row"][()])
                      for name in SPLIT_NAMES if f"splits/{name}" in f}
            corrections = {name: {key: f[f"corrections/{name}/{key}"][()].astype(np.int64) for key in CORRECTION_FIELDS}
                           for name in SPLIT_NAMES if f"corrections/{name}" in f}
            a = f.attrs
            return DataRecord(str(a["task"]), json.loads(a["class_names"]), int(a["seed"]), str(a["base_dir"]) or None,
                              json.loads(a["parts"]), splits, corrections, json.loads(a["relabel"]))
    except (KeyError, ValueError) as err:
        raise RunError(f"{path}: not a readable nnctl data record ({err})") from None


def corrected_label_counts(run_dir: Path) -> dict[str, int] | None:
    """Labels corrected by ``data.relabel`` per split (e.g. {"train": 0, "dev": 3, "test": 2}); None without a record."""
    record = load_data_record(run_dir)
    return None if record is None else record.corrected_counts()
