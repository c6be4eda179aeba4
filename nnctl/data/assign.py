"""Which rows of which parts go to train, dev, test and train-dev.

One source: ``data.split`` deals its pool (after ``limit``); a source's own
test/dev sets, dev/test files and index files of row numbers take the place of
their share. Several sources (``data.sources``), as in the notes' mismatched
distributions: ``use: train`` sources go wholly to training, a ``use: target``
source is dealt into train/dev/test by its own shares, ``use: dev``/``use:
test`` sources are that split. ``train_dev`` is then carved from the training
rows of every source together, so it follows the training distribution.
"""

from __future__ import annotations

import numpy as np

from ..errors import BuildError
from .dataset import Dataset, concat
from .errors import DataError
from .parts import PartSet, index_table, resolve
from .split import limit, share_out, split


def assign(data_spec, found: PartSet, rngs: dict[str, np.random.Generator]) -> dict[str, Dataset | None]:
    """The four splits (train_dev None unless requested) as Datasets carrying (part, row) of every row."""
    if data_spec.sources is None:
        return _one_source(data_spec, found, rngs)
    return _several_sources(data_spec, found, rngs)


def _one_source(data_spec, found: PartSet, rngs) -> dict[str, Dataset | None]:
    stratify = found.task == "classification" and data_spec.split.stratify
    pool = found.parts[0].data
    given: dict[str, Dataset] = {}
    given_by: dict[str, str] = {}
    taken = _index_files(data_spec, len(pool))
    named = [(p.info.key, p.data) for p in found.parts[1:]] + [(f"data.split.{role}", pool.take(rows)) for role, rows in taken.items()]
    for key, data in named:
        role = key.rsplit(".", 1)[-1]
        if role in given:
            raise BuildError(key, f"the {role} split is already given by {given_by[role]}; give it once")
        given[role], given_by[role] = data, key
    if taken:
        keep = np.setdiff1d(np.arange(len(pool)), np.concatenate(list(taken.values())))
        pool = pool.take(keep)
    if data_spec.limit is not None:
        pool = limit(pool, data_spec.limit, stratify, rngs["limit"])
    train, dev, test, train_dev = split(pool, given, data_spec.split, found.task, rngs["split"])
    return {"train": train, "dev": dev, "test": test, "train_dev": train_dev}


def _index_files(data_spec, m: int) -> dict[str, np.ndarray]:
    """Rows of the source named by dev/test index files: in range, no repeats, no row in both."""
    taken: dict[str, np.ndarray] = {}
    for role in ("dev", "test"):
        value = getattr(data_spec.split, role)
        table = index_table(resolve(value, data_spec.base_dir)) if isinstance(value, str) else None
        if table is None:
            continue
        rows = table.cells[:, 0].astype(np.int64)
        bad = np.flatnonzero((rows < 0) | (rows >= m))
        if len(bad):
            raise DataError(f"{value}:{table.lines[bad[0]]}: row {rows[bad[0]]} is out of range (the source has rows 0..{m - 1})")
        _, first, counts = np.unique(rows, return_index=True, return_counts=True)
        if (counts > 1).any():
            repeated = np.flatnonzero(np.isin(rows, rows[first[counts > 1]]))
            raise DataError(f"{value}:{table.lines[repeated[1]]}: row {rows[repeated[1]]} is listed twice")
        for other, other_rows in taken.items():
            both = np.flatnonzero(np.isin(rows, other_rows))
            if len(both):
                raise DataError(f"{value}:{table.lines[both[0]]}: row {rows[both[0]]} is also in the {other} file "
                                f"({getattr(data_spec.split, other)}); dev and test must not overlap")
        if not len(rows):
            raise DataError(f"{value}: the {role} index file lists no rows")
        taken[role] = rows
    return taken


def _several_sources(data_spec, found: PartSet, rngs) -> dict[str, Dataset | None]:
    stratify = found.task == "classification" and data_spec.split.stratify
    pieces: dict[str, list[Dataset]] = {name: [] for name in ("train", "dev", "test")}
    for i, use in enumerate(data_spec.sources):
        key = f"data.sources[{i}]"
        own = {p.info.key.rsplit(".", 1)[-1]: p.data for p in found.parts if p.info.key.startswith(f"{key}.source.")}
        pool = found.parts[found.by_key(f"{key}.source")].data
        if use.use != "target":
            if own:
                raise BuildError(f"{key}.source", f"has its own {' and '.join(own)} examples, which only a 'use: target' source can use")
            pieces[use.use].append(pool)
            continue
        shares = {name: 0.0 if name in own else value for name, value in use.shares().items()}
        dealt = share_out(pool, shares, stratify, rngs["split"], key, renormalize=bool(own))
        dealt.update(own)
        for name in ("train", "dev", "test"):
            if shares.get(name, 0) > 0 or name in own:
                if len(dealt[name]) == 0:
                    raise BuildError(key, f"its {name} share is empty ({len(pool)} examples); give it a larger share")
                pieces[name].append(dealt[name])
    splits = {name: concat(parts) if parts else _empty(found) for name, parts in pieces.items()}
    if not len(splits["train"]):
        raise BuildError("data.sources", "no training examples (mark a source 'use: train' or give a target a train share)")
    train_dev = None
    if data_spec.split.train_dev > 0:
        carve = data_spec.split.train_dev
        rest = 1.0 - carve if carve < 1 else len(splits["train"]) - carve
        if rest <= 0:
            raise BuildError("data.split.train_dev", f"{carve:g} leaves no training rows ({len(splits['train'])} in all)")
        dealt = share_out(splits["train"], {"train": rest, "train_dev": carve}, stratify, rngs["split"], "data.split.train_dev")
        splits["train"], train_dev = dealt["train"], dealt["train_dev"]
        if not len(train_dev):
            raise BuildError("data.split.train_dev",
                             f"the train_dev split is empty ({len(splits['train'])} training examples); give it a larger share")
    return {**splits, "train_dev": train_dev}


def _empty(found: PartSet) -> Dataset:
    return found.parts[0].data.take(np.empty(0, dtype=np.int64))

