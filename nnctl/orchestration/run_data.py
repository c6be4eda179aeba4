"""A run's data record (data.h5): written when the run starts, read back by every reader of its splits.

The record stores which (part, row) went to each split and the parts'
fingerprints; rebuilding a run's data reads the same parts again, refuses
them when their bytes changed, and takes the recorded rows, so no reader
re-derives a split.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path

import numpy as np

from ..data import LoadedData, Splits, load_splits, recorded_splits
from ..data.files import file_sha256
from ..data.load import data_seed
from ..data.parts import FileInfo, PartInfo, resolve
from ..data.relabel import Changes
from ..data.schema import InputSchema
from ..runs.data_record import DATA_FILE, DamagedRecord, DataRecord, load_data_record, save_data_record
from ..spec import Spec

log = logging.getLogger("nnctl.runs")


def record_of(loaded: LoadedData, spec: Spec, run_id: str | None = None) -> DataRecord:
    """What data.h5 holds for freshly dealt splits, for the run ``run_id``."""
    splits = loaded.splits
    relabel = None
    if spec.data.relabel is not None:
        path = resolve(spec.data.relabel.file, spec.data.base_dir)
        relabel = {"written": spec.data.relabel.file, "path": str(path), "sha256": file_sha256(path)}
    return DataRecord(
        task=splits.task,
        class_names=list(splits.class_names),
        seed=data_seed(spec.data, spec.seed),
        base_dir=spec.data.base_dir,
        parts=[asdict(part) for part in splits.parts],
        splits={name: (data.parts(np.int32), data.source_rows()) for name, data in splits.named().items()},  # as stored
        corrections={name: {"part": c.part, "row": c.row, "old": c.old, "new": c.new} for name, c in loaded.corrections.items()},
        relabel=relabel,
        schema=None if splits.schema is None else splits.schema.to_record(),
        run_id=run_id,
    )


def write_record(run_dir: Path, loaded: LoadedData, spec: Spec, run_id: str) -> None:
    save_data_record(run_dir, record_of(loaded, spec, run_id))


def run_splits(run_dir: Path, spec: Spec, datasets_dir: Path) -> Splits:
    """The run's splits as recorded; a run without a record (made before nnctl recorded splits) re-derives them, with a warning."""
    record = load_data_record(run_dir)
    if record is None:
        log.warning("%s has no data record (data.h5; the run predates recorded splits): re-deriving its split from the spec, "
                    "which gives the same rows only if the data files are unchanged", run_dir)
        return load_splits(spec.data, spec.seed, datasets_dir, spec.label_task())
    data_spec = spec.data.model_copy()
    data_spec.base_dir = record.base_dir
    parts = [PartInfo(p["key"], p["rows"], p["sha256"], [FileInfo(**f) for f in p["files"]]) for p in record.parts]
    corrections = {name: Changes(c["part"], c["row"], c["old"], c["new"]) for name, c in record.corrections.items()}
    return recorded_splits(data_spec, record.seed, datasets_dir, parts, record.splits, corrections, record.class_names,
                           record.task, _schema(run_dir, record))


def run_schema(run_dir: Path) -> InputSchema | None:
    """The input contract the run recorded; None for a run made before runs recorded one."""
    record = load_data_record(run_dir)
    return None if record is None else _schema(run_dir, record)


def note_without_schema(run_dir: Path) -> None:
    """Say once that a run reads new files the old way, having recorded no input contract."""
    log.info("%s recorded no input schema: new files are read by position, as the command-line options say", run_dir)


def _schema(run_dir: Path, record: DataRecord) -> InputSchema | None:
    if record.schema is None:
        return None
    try:
        return InputSchema.from_record(record.schema)
    except (TypeError, ValueError) as err:
        raise DamagedRecord(Path(run_dir) / DATA_FILE, f"attribute 'schema': {err}") from None
