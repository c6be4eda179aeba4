"""Corrected labels (``data.relabel``), applied to dev and test together, as the notes advise.

The notes' rule when cleaning up incorrectly labelled examples: apply the same
process to the dev and test sets so they keep coming from one distribution;
the training set may stay as it is (deep learning is robust to random label
noise there), so training rows are corrected only with ``relabel.train: true``.

The file is a CSV of ``row,label`` (row numbers of the source, counted from 0
like ``Dataset.rows``; label a class name or index), or ``part,row,label``
where part is a key of the run's data record such as ``data.source.test``.
A header line is detected and skipped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from .csv_table import read_table
from .dataset import Dataset, indices_for_names
from .errors import DataError
from .parts import PartSet, resolve
from .sources import label_origin

log = logging.getLogger("nnctl.data")
CORRECTED_ALWAYS = ("dev", "test")


@dataclass
class Changes:
    """The rows of one split whose label was corrected: (part, row) and the class before and after."""

    part: np.ndarray
    row: np.ndarray
    old: np.ndarray
    new: np.ndarray

    def __len__(self) -> int:
        return len(self.row)


def changes_within(changes: Changes, data: Dataset) -> Changes:
    """The changes to rows ``data`` holds (a share or a fold of the split they were made in)."""
    kept = set(zip(data.parts().tolist(), data.source_rows().tolist()))
    mask = np.array([(p, r) in kept for p, r in zip(changes.part.tolist(), changes.row.tolist())], dtype=bool)
    return Changes(changes.part[mask], changes.row[mask], changes.old[mask], changes.new[mask])


def relabel(splits: dict[str, Dataset | None], relabel_spec, found: PartSet, base_dir: str | None) -> dict[str, Changes]:
    """Correct the listed rows in dev and test (and train/train_dev when asked); return what changed per split."""
    if found.task != "classification":
        raise DataError("data.relabel: corrected labels apply to classification data only")
    part, row, new = read_corrections(relabel_spec.file, base_dir, found)
    targets = CORRECTED_ALWAYS + (("train", "train_dev") if relabel_spec.train else ())
    changes, placed = {}, np.zeros(len(row), dtype=bool)
    for name, data in splits.items():
        if data is None:
            continue
        hit, where = _locate(data, part, row)
        placed |= hit
        if name in targets:
            changes[name] = set_labels(data, where, new[hit])
        elif hit.any():
            log.warning("data.relabel: %d corrected rows are in %s and were left as they are (set data.relabel.train: true "
                        "to correct them too)", int(hit.sum()), name)
    if not placed.all():
        log.warning("data.relabel: %d listed rows are in no split (left out by limit or row counts)", int((~placed).sum()))
    return changes


def read_corrections(written: str, base_dir: str | None, found: PartSet) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(part, row, new class) of each line of a relabel file, every row checked against its part."""
    table = read_table(resolve(written, base_dir), header="auto")
    if table.width not in (2, 3):
        raise DataError(f"{written}: expected 2 columns (row,label) or 3 (part,row,label), found {table.width}")
    keys = {p.info.key: i for i, p in enumerate(found.parts)}
    if table.width == 3:
        unknown = [i for i, key in enumerate(table.cells[:, 0]) if key.strip() not in keys]
        if unknown:
            raise DataError(f"{written}:{table.lines[unknown[0]]}: no part named {table.cells[unknown[0], 0].strip()!r} "
                            f"(parts: {', '.join(keys)})")
        part = np.array([keys[key.strip()] for key in table.cells[:, 0]], dtype=np.int64)
    else:
        part = np.zeros(len(table.cells), dtype=np.int64)
    row_column = table.width - 2
    row = table.numbers([row_column])[:, 0]
    for i, (p, r) in enumerate(zip(part, row)):
        if r != int(r) or not 0 <= r < found.parts[p].info.rows:
            raise DataError(f"{written}:{table.lines[i]}: {table.column_name(row_column)}: row {r:g} is not a row of "
                            f"{found.parts[p].info.key} (0..{found.parts[p].info.rows - 1})")
    keyed = part * (1 + max(p.info.rows for p in found.parts)) + row.astype(np.int64)
    _, first, counts = np.unique(keyed, return_index=True, return_counts=True)
    if (counts > 1).any():
        twice = np.flatnonzero(keyed == keyed[first[counts > 1][0]])[1]
        raise DataError(f"{written}:{table.lines[twice]}: row {int(row[twice])} is corrected twice")
    label_column = table.width - 1
    new = indices_for_names(table.labels(label_column), found.class_names, written, label_origin(table, label_column))
    return part, row.astype(np.int64), new


def set_labels(data: Dataset, where: np.ndarray, new: np.ndarray) -> Changes:
    """Set the labels at positions ``where`` of ``data`` (in place) and say what changed."""
    old = data.y[where].copy()
    data.y[where] = new
    changed = old != new
    return Changes(data.parts()[where][changed], data.source_rows()[where][changed], old[changed], new[changed])


def apply_recorded(data: Dataset, changes: Changes) -> None:
    """Re-apply a run's recorded corrections to its split (a reader rebuilding the run's data)."""
    hit, where = _locate(data, changes.part, changes.row)
    if not hit.all():
        raise DataError("the run's recorded label corrections name rows that are not in its split")
    data.y[where] = changes.new


def _locate(data: Dataset, part: np.ndarray, row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Which (part, row) pairs are in ``data``, and their positions there."""
    stride = 1 + int(max(data.source_rows().max(initial=0), row.max(initial=0)))
    keys = data.parts() * stride + data.source_rows()
    wanted = part * stride + row
    order = np.argsort(keys, kind="stable")
    found = np.searchsorted(keys[order], wanted)
    found = np.minimum(found, len(keys) - 1) if len(keys) else found
    hit = np.zeros(len(wanted), dtype=bool) if not len(keys) else keys[order][found] == wanted
    return hit, order[found[hit]]
