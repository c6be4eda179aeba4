"""From a data spec to ready splits, and the file readers behind `eval`, `predict` and `data info`.

Seeds: the data's randomness descends from ``np.random.SeedSequence(s)``, s the data
seed (``data.split.seed``, else the spec's ``seed``), under
spawn key ``DATA_SPAWN_KEY`` (the child that ``spawn`` would number 0xDA7A, far
beyond the few children training spawns for init, shuffling and dropout), and
that node spawns one child per use in ``DATA_STREAMS``. So the data never shares
a stream with training, and changing ``limit`` does not move generated points.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..literal import listing
from ..spec.schema import DigitsSource, GeneratedSource, RegistrySource
from . import generated, registry
from .assign import assign
from .csv_table import CsvTable
from .dataset import Dataset, Splits, indices_for_names, regression_targets
from .errors import DataChangedError, DataError
from .files import existing
from .parts import PartInfo, PartSet, check_finite, read_parts, read_source_parts, resolve
from .relabel import Changes, apply_recorded, relabel
from .schema import InputSchema, Overrides, fill_missing, fit_fill, fit_target, inputs_of, locate, read_new_table
from .sources import CSV_SUFFIXES, label_matrix, label_origin, read_inputs, read_source, source_for_file

DATA_SPAWN_KEY = 0xDA7A
DATA_STREAMS = ("generate", "limit", "split")
log = logging.getLogger("nnctl.data")


def data_streams(seed: int) -> dict[str, np.random.Generator]:
    """Independent generators for each random step of data loading, derived from the data seed."""
    root = np.random.SeedSequence(seed, spawn_key=(DATA_SPAWN_KEY,))
    return {name: np.random.default_rng(child) for name, child in zip(DATA_STREAMS, root.spawn(len(DATA_STREAMS)))}


def data_seed(data_spec, seed: int) -> int:
    """``data.split.seed`` when given, else the run's seed: it alone fixes generated points, limit and split."""
    return seed if data_spec.split.seed is None else data_spec.split.seed


@dataclass
class LoadedData:
    """Splits plus what a run records about them: the parts' fingerprints and the label corrections."""

    splits: Splits
    corrections: dict[str, Changes] = field(default_factory=dict)


def load_data(data_spec, seed: int, datasets_dir: Path, task: str | None = None) -> LoadedData:
    """Read the parts, deal the splits (seeded by ``data_seed``), apply corrected labels, fill missing inputs
    from the training split, check the classes. ``task``: how to read the labels (see `encode_labels`)."""
    rngs = data_streams(data_seed(data_spec, seed))
    found = read_parts(data_spec, Path(datasets_dir), rngs["generate"], task)
    dealt = assign(data_spec, found, rngs)
    corrections = relabel(dealt, data_spec.relabel, found, data_spec.base_dir) if data_spec.relabel else {}
    schema = found.schema
    if data_spec.missing is not None:
        how = data_spec.missing
        fill = None
        if how.strategy != "drop_rows":
            fill = fit_fill(dealt["train"].x, how.strategy, how.value, found.parts[0].info.where())
            _fill_splits(dealt, fill)
        schema = replace(schema, missing={"strategy": how.strategy, "fill": None if fill is None else fill.ravel().tolist()})
    if data_spec.normalize_target == "standardize":
        if found.task != "regression":
            raise DataError(f"{found.parts[0].info.where()}: data.normalize_target applies to regression targets; "
                            f"these labels are {found.task}")
        schema = replace(schema, target=fit_target(dealt["train"].y))
        _standardize_targets(dealt, schema)
    splits = replace(_splits(dealt, found), schema=schema)
    check_classes(splits, found.parts[0].info.where())
    return LoadedData(splits, corrections)


def load_splits(data_spec, seed: int, datasets_dir: Path, task: str | None = None) -> Splits:
    """The splits a spec deals (see `load_data`)."""
    return load_data(data_spec, seed, datasets_dir, task).splits


def recorded_splits(data_spec, seed: int, datasets_dir: Path, parts: list[PartInfo], rows: dict[str, tuple[np.ndarray, np.ndarray]],
                    corrections: dict[str, Changes], class_names: list[str], task: str | None = None,
                    schema: InputSchema | None = None) -> Splits:
    """A run's splits rebuilt from its record: the same parts (checked by fingerprint), the recorded rows,
    labels read as the run's ``task``, missing inputs filled with the fill values ``schema`` recorded.

    ``rows`` maps each split to its (part, row) arrays. A part whose
    fingerprint differs is a DataError naming the file that changed.
    """
    found = read_parts(data_spec, Path(datasets_dir), data_streams(data_seed(data_spec, seed))["generate"], task)
    verify(found, parts)
    if found.class_names != list(class_names):
        raise DataError(f"{parts[0].where()}: classes [{listing(found.class_names)}] differ from the run's [{listing(class_names)}]")
    dealt: dict[str, Dataset | None] = {name: None for name in ("train", "dev", "test", "train_dev")}
    for name, (part, row) in rows.items():
        dealt[name] = gather(found, part, row)
        if name in corrections:
            apply_recorded(dealt[name], corrections[name])
    fill = ((schema.missing or {}).get("fill") if schema is not None else None)
    if fill is not None:
        _fill_splits(dealt, np.asarray(fill, dtype=np.float64).reshape(found.parts[0].data.x.shape[1:]))
    if schema is not None and schema.target is not None:
        _standardize_targets(dealt, schema)
    return replace(_splits(dealt, found), schema=schema or found.schema)


def _standardize_targets(dealt: dict[str, Dataset | None], schema: InputSchema) -> None:
    for data in dealt.values():
        if data is not None:
            data.y = schema.standardized(data.y)


def _fill_splits(dealt: dict[str, Dataset | None], fill: np.ndarray) -> None:
    """Replace each split's missing inputs (NaN) by the fill values, in place of its inputs array."""
    for data in dealt.values():
        if data is not None:
            data.x = fill_missing(data.x, fill)


def verify(found: PartSet, recorded: list[PartInfo]) -> None:
    """Refuse data that is not what the run was trained on: another set of parts, or other bytes."""
    keys = [p.info.key for p in found.parts]
    if keys != [p.key for p in recorded]:
        raise DataError(f"the spec now names the data parts {keys}, the run recorded {[p.key for p in recorded]}")
    for part, then in zip(found.parts, recorded):
        now = part.info
        if now.sha256 == then.sha256 and now.rows == then.rows:
            continue
        changed = [f for f, old in zip(now.files, then.files) if f.sha256 != old.sha256] or now.files
        where = changed[0].path if changed else then.key
        raise DataChangedError(f"{where}: the data changed since the run was trained (SHA-256 {now.sha256[:12]}…, recorded "
                               f"{then.sha256[:12]}…; {now.rows} rows, recorded {then.rows}); restore the file it was trained on")


def gather(found: PartSet, part: np.ndarray, row: np.ndarray) -> Dataset:
    """The examples at (part, row), in that order."""
    if len(found.parts) == 1 or (len(part) and (part == part[0]).all()):
        return found.parts[int(part[0]) if len(part) else 0].data.take(row)
    x_dtype = np.result_type(*(p.data.x for p in found.parts))  # byte images beside float64 parts: float64
    x = np.empty((len(row),) + found.parts[0].data.x.shape[1:], dtype=x_dtype)
    y = np.empty((len(row),) + found.parts[0].data.y.shape[1:], dtype=found.parts[0].data.y.dtype)
    for number in np.unique(part):
        mine = part == number
        x[mine], y[mine] = found.parts[number].data.x[row[mine]], found.parts[number].data.y[row[mine]]
    return Dataset(x, y, row.astype(np.int64), part.astype(np.int64))


def _splits(dealt: dict[str, Dataset | None], found: PartSet) -> Splits:
    return Splits(dealt["train"], dealt["dev"], dealt["test"], dealt["train_dev"], found.class_names, found.task,
                  [p.info for p in found.parts], found.schema)


def check_classes(splits: Splits, where: str) -> None:
    """One class only is an error; a class that dev/test has and train never saw is a warning."""
    if splits.task != "classification":
        return
    seen = np.unique(splits.train.y)
    if len(seen) < 2:
        only = splits.class_names[int(seen[0])] if len(seen) else "none"
        raise DataError(f"{where}: the training split holds one class only ({only!r}); a classifier needs at least two")
    for name in splits.named():
        warn_unseen_classes(splits, name)


def unseen_classes(splits: Splits, name: str) -> dict[str, int]:
    """{class: rows} of the classes split ``name`` has and the training split never saw."""
    if splits.task != "classification" or name == "train":
        return {}
    data = getattr(splits, name)
    unseen = np.setdiff1d(np.unique(data.y), np.unique(splits.train.y))
    return {splits.class_names[int(c)]: int((data.y == c).sum()) for c in unseen}


def warn_unseen_classes(splits: Splits, name: str) -> None:
    """Warn about each class that split ``name`` has and the training split never saw."""
    for label, rows in unseen_classes(splits, name).items():
        log.warning("class %r has %d rows in %s but none in train: the model never learned it, so every one of them counts as an error",
                    label, rows, name)


def load_inference_input(path: Path, n_features: int | None = None, label_column: int | str | None = None,
                         header: bool | str = "auto", delimiter: str = ",", ignore_columns: list[int | str] = ()) -> np.ndarray:
    """Inputs for `nnctl predict` without a recorded schema: .npz (key x), .npy, CSV or HDF5 dataset x.

    A CSV file with one column more than the model's ``n_features`` (or with
    ``label_column`` given) has its label column dropped, with a note.
    """
    found = read_inputs(Path(path), delimiter, header)
    if not isinstance(found, CsvTable):
        check_finite(found, "inputs", path)
        return found
    ignored = {found.column_index(c, "ignore_columns") for c in ignore_columns}
    columns = [j for j in range(found.width) if j not in ignored]
    if label_column is not None or (n_features is not None and len(columns) == n_features + 1):
        column = found.column_index(-1 if label_column is None else label_column, "--label-column")
        log.info("%s: dropped %s, the label column (%d columns, the model takes %s)", path, found.column_name(column),
                    len(columns), n_features if n_features is not None else len(columns) - 1)
        columns.remove(column)
    return found.numbers(columns)


@dataclass
class NewInputs:
    """A new file's inputs, and the values of the run's id columns it has (name → text, in row order)."""

    x: np.ndarray
    ids: dict[str, np.ndarray] = field(default_factory=dict)


def read_through(schema: InputSchema | None, path: Path, overrides: Overrides) -> CsvTable | None:
    """The file as a table to read through the run's schema, or None when the schema does not apply
    (a run that recorded none or read arrays, a file that is not CSV)."""
    if schema is None or schema.kind != "csv" or not Path(path).name.lower().endswith(CSV_SUFFIXES):
        return None
    return read_new_table(schema, existing(path), overrides)


def inference_inputs(path: Path, schema: InputSchema | None, overrides: Overrides, n_features: int | None) -> NewInputs:
    """Inputs for `nnctl predict`: a CSV file read through the run's schema (columns by name, ids kept), anything
    else as `load_inference_input` reads it."""
    table = read_through(schema, path, overrides)
    if table is None:
        return NewInputs(load_inference_input(path, n_features, overrides.label_column, overrides.header or "auto",
                                              overrides.delimiter or ",", overrides.ignore_columns))
    located = locate(schema, table, overrides, need_labels=False)
    if located.labels:
        log.info("%s: left out the label %s", path, ", ".join(table.column_name(j) for j in located.labels))
    ids = {name: np.char.strip(table.cells[:, j]) for name, j in zip(located.id_names, located.ids)}
    return NewInputs(inputs_of(schema, table, located), ids)


def load_labelled_file(path: Path, class_names: list[str], task: str, source=None, schema: InputSchema | None = None,
                       overrides: Overrides | None = None) -> Dataset:
    """A labelled file's main x/y pair, labels mapped onto a model's classes: a CSV file read through the run's
    ``schema`` (see `inference_inputs`), else as ``source`` says, else by its suffix."""
    table = None if source is not None and overrides is None else read_through(schema, path, overrides or Overrides())
    if table is not None:
        located = locate(schema, table, overrides or Overrides(), need_labels=True)
        several = task == "multilabel" or len(located.labels) > 1
        y = label_matrix(table, located.labels) if several else table.labels(located.labels[0])
        pool = Dataset(inputs_of(schema, table, located), y, label_origin=None if several else label_origin(table, located.labels[0]))
        indexed = False
    else:
        found = read_source(source or source_for_file(Path(path)), Path.cwd())
        pool, indexed = found.pool, found.names is not None  # the file names the classes: labels index them
    check_finite(pool.x, "inputs", path)
    if task == "classification":
        return Dataset(pool.x, indices_for_names(pool.y, class_names, str(path), pool.label_origin, indexed))
    if task == "multilabel":
        y = pool.y.reshape(len(pool.y), -1).astype(np.float64) if pool.y.dtype.kind in "iufb" else None
        if y is None or y.shape[1] != len(class_names) or not np.all(np.isin(y, (0, 1)) | np.isnan(y)):
            raise DataError(f"{path}: expected {len(class_names)} label columns of 0/1 (NaN: missing), one per task "
                            f"({', '.join(class_names)})")
        return Dataset(pool.x, y)
    y = regression_targets(pool.y, str(path), pool.label_origin)
    check_finite(y, "targets", path)
    return Dataset(pool.x, y)


def source_spec(source: str):
    """The source a command-line word names: digits, a generated set, a registry entry or a data file."""
    if source == "digits":
        return DigitsSource()
    if source in generated.DESCRIPTIONS:
        return GeneratedSource(name=source)
    if source in registry.REGISTRY:
        return RegistrySource(name=source)
    if Path(source).is_file():
        return source_for_file(resolve(source, None))
    known = ["digits", *generated.DESCRIPTIONS, *registry.REGISTRY]
    raise DataError(f"{source}: neither a data set name ({', '.join(known)}) nor an existing file")


def describe_source(source: str, datasets_dir: Path, spec_source=None) -> dict:
    """Facts for `nnctl data info`: a registry name is described without downloading it.

    ``spec_source`` (a source model, e.g. from ``--source-yaml``) reads a file with explicit options.
    """
    if spec_source is None and source in registry.REGISTRY:
        return registry.registry_facts(source, Path(datasets_dir) / "cache")
    spec = spec_source if spec_source is not None else source_spec(source)
    found = read_source_parts(spec, datasets_dir)
    pool, test = found.parts[0], found.own_test()
    facts = {"name": source, "kind": spec.type, "task": found.task, "examples": pool.info.rows,
             "test_examples": test.info.rows if test else 0,
             "input_shape": list(pool.data.x.shape[1:]), "sha256": pool.info.sha256}
    if found.task == "classification":
        counts = np.bincount(np.concatenate([p.data.y for p in found.parts]), minlength=len(found.class_names))
        facts["classes"] = len(found.class_names)
        facts["class_counts"] = dict(zip(found.class_names, counts.tolist()))
    elif found.task == "multilabel":
        labels = np.concatenate([p.data.y for p in found.parts])
        facts["tasks"] = found.class_names
        facts["positives"] = dict(zip(found.class_names, np.nansum(labels, axis=0).astype(int).tolist()))
        facts["missing_labels"] = dict(zip(found.class_names, np.isnan(labels).sum(axis=0).tolist()))
    else:
        facts["targets"] = pool.data.y.shape[1]
    return facts
