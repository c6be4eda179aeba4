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
                relabel (JSON {written, path, sha256} of the relabel file, or null),
                schema (JSON: the input contract, see nnctl/data/schema.py; absent in older runs),
                run_id (the id the run's checkpoints and metric log carry; absent in older runs)

Splits are ``train``, ``dev``, ``test`` and, when the spec asks for it,
``train_dev``. A part is one table of the data spec (``data.source``,
``data.source.test``, ``data.split.dev``, ``data.sources[1].source``...);
its ``sha256`` is of its files' bytes (each file's own hash is listed too) or,
for generated sets, of the arrays. Written once, atomically, when a run starts.
Read back, every field is checked (type, shape, range) before anything uses it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from .. import __version__
from ..errors import RunError
from .atomic import atomic_h5
from .seal import open_sealed

DATA_FILE = "data.h5"
FORMAT_VERSION = 1
SPLIT_NAMES = ("train", "dev", "test", "train_dev")
CORRECTION_FIELDS = ("part", "row", "old", "new")
TASKS = ("classification", "multilabel", "regression")
REPAIR = ("restore it from a copy of the run, or delete it to re-derive the split from the spec "
          "(the same rows only while the data files are unchanged)")


class DamagedRecord(RunError):
    """A data.h5 that is there but cannot be trusted: the message names the file, the field and the repair."""

    def __init__(self, path: Path, what: str):
        super().__init__(f"{path}: damaged data record: {what}; {REPAIR}")


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
    schema: dict | None = None  # the input contract (nnctl.data.schema); None in runs made before it was recorded
    run_id: str | None = None  # the run's id (runs/identity.py); None in runs made before it was recorded

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
        if record.schema is not None:
            attrs["schema"] = json.dumps(record.schema)
        if record.run_id is not None:
            attrs["run_id"] = record.run_id
    return path


def load_data_record(run_dir: Path) -> DataRecord | None:
    """The run's data record, every field checked; None for a run made before runs recorded their data.

    Only a data.h5 that is not there at all means an old run: a directory, a
    dangling link or anything else under that name is a damaged record.
    """
    path = Path(run_dir) / DATA_FILE
    if not path.is_file():
        if path.is_symlink():
            raise DamagedRecord(path, f"a link to {path.readlink()}, which does not exist")
        if path.exists():
            raise DamagedRecord(path, "not a file")
        return None
    return _read_record(path, lambda reader: reader.record())


def recorded_run_id(run_dir: Path) -> str | None:
    """The run id data.h5 records (its seal checked, nothing else read); None without a record or an id in it."""
    path = Path(run_dir) / DATA_FILE
    if not (path.exists() or path.is_symlink()):
        return None
    return _read_record(path, lambda reader: reader.run_id())


def _read_record(path: Path, read):
    """``read(reader)`` on the sealed data.h5 at ``path``, any failure one line naming the file and the repair."""
    try:
        opened = open_sealed(path, RunError)
    except RunError as err:
        raise RunError(f"{err}; {REPAIR}") from None
    with opened as f:
        try:
            return read(_Reader(f, path))
        except (KeyError, ValueError, TypeError, OSError) as err:  # h5py's own errors for damaged objects in a readable file
            raise DamagedRecord(path, (str(err).splitlines() or [type(err).__name__])[0]) from None


class _Reader:
    """Reads data.h5 field by field, refusing any of the wrong type, shape or range."""

    def __init__(self, f: h5py.File, path: Path):
        self.f, self.path = f, path

    def damaged(self, what: str) -> DamagedRecord:
        return DamagedRecord(self.path, what)

    def record(self) -> DataRecord:
        version = self.integer("format_version")
        if version != FORMAT_VERSION:
            raise RunError(f"{self.path}: data record format {version} is not supported (expected {FORMAT_VERSION})")
        task = self.text("task")
        if task not in TASKS:
            raise self.damaged(f"attribute 'task' is {task!r}, not one of {', '.join(TASKS)}")
        class_names = self.json("class_names", list)
        if not all(isinstance(name, str) for name in class_names):
            raise self.damaged("attribute 'class_names' is not a list of names")
        parts = self.json("parts", list)
        if not parts:
            raise self.damaged("attribute 'parts' lists no part")
        for number, part in enumerate(parts):
            self.check_part(number, part)
        relabel = self.json("relabel", (dict, type(None)))
        if relabel is not None:
            self.check_file(relabel, "relabel")
        splits = self.splits(parts)
        return DataRecord(task, class_names, self.integer("seed"), self.text("base_dir") or None, parts, splits,
                          self.corrections(parts, splits, len(class_names)), relabel,
                          self.json("schema", dict) if "schema" in self.f.attrs else None, self.run_id())

    def run_id(self) -> str | None:
        if "run_id" not in self.f.attrs:
            return None
        value = self.text("run_id")
        if not value:
            raise self.damaged("attribute 'run_id' is empty")
        return value

    # ---------------------------------------------------------------- attributes

    def raw(self, name: str):
        if name not in self.f.attrs:
            raise self.damaged(f"attribute '{name}' is missing")
        return self.f.attrs[name]

    def integer(self, name: str) -> int:
        value = self.raw(name)
        if isinstance(value, np.ndarray) and value.shape == ():
            value = value.item()
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 0:
            raise self.damaged(f"attribute '{name}' is {_shown(value)}, not a count")
        return int(value)

    def text(self, name: str) -> str:
        value = self.raw(name)
        if isinstance(value, bytes):
            try:
                value = value.decode("utf-8")
            except UnicodeDecodeError:
                raise self.damaged(f"attribute '{name}' is not UTF-8 text") from None
        if not isinstance(value, str):
            raise self.damaged(f"attribute '{name}' is {_shown(value)}, not text")
        return value

    def json(self, name: str, kind):
        try:
            value = json.loads(self.text(name))
        except json.JSONDecodeError:
            raise self.damaged(f"attribute '{name}' is not valid JSON") from None
        if not isinstance(value, kind):
            raise self.damaged(f"attribute '{name}' holds a JSON {type(value).__name__}, not what it records")
        return value

    def check_part(self, number: int, part) -> None:
        where = f"part {number} of attribute 'parts'"
        if not isinstance(part, dict) or not isinstance(part.get("key"), str) or not isinstance(part.get("sha256"), str):
            raise self.damaged(f"{where} lacks its key or sha256")
        rows = part.get("rows")
        if isinstance(rows, bool) or not isinstance(rows, int) or rows < 0:
            raise self.damaged(f"{where} has rows {_shown(rows)}, not a count")
        files = part.get("files")
        if not isinstance(files, list):
            raise self.damaged(f"{where} has no list of files")
        for entry in files:
            self.check_file(entry, where)

    def check_file(self, entry, where: str) -> None:
        if not isinstance(entry, dict) or not all(isinstance(entry.get(k), str) for k in ("written", "path", "sha256")):
            raise self.damaged(f"a file of {where} lacks its written path, path or sha256")

    # ---------------------------------------------------------------- datasets

    def group(self, name: str) -> h5py.Group | None:
        if name not in self.f:
            return None
        found = self.f.get(name)
        if not isinstance(found, h5py.Group):
            raise self.damaged(f"/{name} is not a group")
        unknown = sorted(set(found) - set(SPLIT_NAMES))
        if unknown:
            raise self.damaged(f"/{name}/{unknown[0]} is not a split")
        return found

    def integers(self, name: str, length: int | None, low: int, high) -> np.ndarray:
        """A 1-D integer dataset of ``length`` values (any length when None), each in [low, high)."""
        found = self.f.get(name)
        if not isinstance(found, h5py.Dataset):
            raise self.damaged(f"/{name} is missing")
        if found.dtype.kind not in "iu" or found.ndim != 1:
            raise self.damaged(f"/{name} is {found.dtype} {found.shape}, not a list of whole numbers")
        if length is not None and len(found) != length:
            raise self.damaged(f"/{name} holds {len(found)} values, its neighbours {length}")
        values = found[()].astype(np.int64)
        bad = (values < low) | (values >= high)
        if bad.any():
            raise self.damaged(f"/{name} holds {values[bad][0]}, outside {low}..{np.max(high) - 1}")
        return values

    def splits(self, parts: list[dict]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        group = self.group("splits")
        if group is None or "train" not in group:
            raise self.damaged("/splits/train is missing")
        sizes = np.array([part["rows"] for part in parts], dtype=np.int64)
        found = {}
        for name in SPLIT_NAMES:
            if name in group:
                part = self.integers(f"splits/{name}/part", None, 0, len(parts))
                found[name] = (part, self.integers(f"splits/{name}/row", len(part), 0, sizes[part]))
        return found

    def corrections(self, parts: list[dict], splits: dict, n_classes: int) -> dict[str, dict[str, np.ndarray]]:
        group = self.group("corrections")
        if group is None:
            return {}
        sizes = np.array([part["rows"] for part in parts], dtype=np.int64)
        found = {}
        for name in group:
            if name not in splits:
                raise self.damaged(f"/corrections/{name} corrects a split the record does not have")
            part = self.integers(f"corrections/{name}/part", None, 0, len(parts))
            found[name] = {"part": part, "row": self.integers(f"corrections/{name}/row", len(part), 0, sizes[part]),
                           **{key: self.integers(f"corrections/{name}/{key}", len(part), 0, max(n_classes, 1))
                              for key in ("old", "new")}}
        return found


def _shown(value) -> str:
    """A stored value as an error shows it: short, whatever it is."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def corrected_label_counts(run_dir: Path) -> dict[str, int] | None:
    """Labels corrected by ``data.relabel`` per split (e.g. {"train": 0, "dev": 3, "test": 2}); None without a record."""
    record = load_data_record(run_dir)
    return None if record is None else record.corrected_counts()
