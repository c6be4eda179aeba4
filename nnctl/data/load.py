"""From a data spec to ready splits, and the file readers behind `eval`, `predict` and `data info`.

Seeds: the data's randomness descends from ``np.random.SeedSequence(seed)`` under
spawn key ``DATA_SPAWN_KEY`` (the child that ``spawn`` would number 0xDA7A, far
beyond the few children training spawns for init, shuffling and dropout), and
that node spawns one child per use in ``DATA_STREAMS``. So the data never shares
a stream with training, and changing ``limit`` does not move generated points.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..spec.schema import DigitsSource, GeneratedSource
from . import generated, registry
from .dataset import Dataset, Splits, encode_labels, indices_for_names
from .errors import DataError
from .rows import blocks
from .sources import read_inputs, read_source, source_for_file
from .split import limit, split

DATA_SPAWN_KEY = 0xDA7A
DATA_STREAMS = ("generate", "limit", "split")


def data_streams(seed: int) -> dict[str, np.random.Generator]:
    """Independent generators for each random step of data loading, derived from the spec's seed."""
    root = np.random.SeedSequence(seed, spawn_key=(DATA_SPAWN_KEY,))
    return {name: np.random.default_rng(child) for name, child in zip(DATA_STREAMS, root.spawn(len(DATA_STREAMS)))}


def load_splits(data_spec, seed: int, datasets_dir: Path) -> Splits:
    """Read the source, check it, infer the task, apply ``limit``, then split."""
    rngs = data_streams(seed)
    task, pool, own_test, class_names = _read_encoded(data_spec.source, Path(datasets_dir), rngs["generate"])
    stratify = task == "classification" and data_spec.split.stratify
    if data_spec.limit is not None:
        pool = limit(pool, data_spec.limit, stratify, rngs["limit"])
    train, dev, test, train_dev = split(pool, own_test, data_spec.split, task, rngs["split"])
    return Splits(train, dev, test, train_dev, class_names, task)


def load_inference_input(path: Path) -> np.ndarray:
    """Inputs for `nnctl predict`: .npz (key x), .npy, CSV without labels, or HDF5 dataset x."""
    x = read_inputs(Path(path))
    _check_finite(x, "inputs", path)
    return x


def load_labelled_file(path: Path, class_names: list[str], task: str) -> Dataset:
    """A labelled file's main x/y pair, with labels mapped onto a trained model's classes."""
    pool, _, _ = read_source(source_for_file(Path(path)), Path.cwd())
    _check_finite(pool.x, "inputs", path)
    if task == "classification":
        return Dataset(pool.x, indices_for_names(pool.y, class_names, str(path)))
    if pool.y.dtype.kind not in "iuf":
        raise DataError(f"{path}: regression targets must be numbers")
    _check_finite(pool.y, "targets", path)
    return Dataset(pool.x, pool.y.reshape(len(pool.y), -1).astype(np.float64))


def describe_source(source: str, datasets_dir: Path) -> dict:
    """Facts for `nnctl data info`: a registry name is described without downloading it."""
    if source in registry.REGISTRY:
        return registry.registry_facts(source, Path(datasets_dir) / "cache")
    if source == "digits":
        spec = DigitsSource()
    elif source in generated.DESCRIPTIONS:
        spec = GeneratedSource(name=source)
    elif Path(source).is_file():
        spec = source_for_file(Path(source))
    else:
        known = ["digits", *generated.DESCRIPTIONS, *registry.REGISTRY]
        raise DataError(f"{source}: neither a data set name ({', '.join(known)}) nor an existing file")
    task, pool, own_test, class_names = _read_encoded(spec, Path(datasets_dir), np.random.default_rng(0))
    facts = {"name": source, "kind": spec.type, "task": task, "examples": len(pool),
             "test_examples": 0 if own_test is None else len(own_test), "input_shape": list(pool.x.shape[1:])}
    if task == "classification":
        facts["classes"] = len(class_names)
        facts["class_counts"] = dict(zip(class_names, np.bincount(pool.y, minlength=len(class_names)).tolist()))
    else:
        facts["targets"] = pool.y.shape[1]
    return facts


def _read_encoded(source, datasets_dir: Path, rng: np.random.Generator):
    """Read a source, refuse NaN/inf and mismatched test inputs, encode labels of pool and test alike."""
    where = _source_name(source)
    pool, own_test, names = read_source(source, datasets_dir, rng)
    parts = [pool] if own_test is None else [pool, own_test]
    for part in parts:
        _check_finite(part.x, "inputs", where)
        if part.y.dtype.kind == "f":
            _check_finite(part.y, "labels", where)
    if own_test is not None and own_test.x.shape[1:] != pool.x.shape[1:]:
        raise DataError(f"{where}: test inputs have shape {own_test.x.shape[1:]}, training inputs {pool.x.shape[1:]}")
    task, ys, class_names = encode_labels([part.y for part in parts], names, where)
    encoded = [Dataset(part.x, y) for part, y in zip(parts, ys)]
    return task, encoded[0], (encoded[1] if own_test is not None else None), class_names


def _source_name(source) -> str:
    """How messages name a source: its file, else its data set name."""
    for field in ("path", "images"):
        if getattr(source, field, None):
            return str(getattr(source, field))
    return getattr(source, "name", source.type)


def _check_finite(values, what: str, where) -> None:
    """Refuse NaN/inf, a block at a time (no full-size mask; rows on disk are read once)."""
    if values.dtype.kind not in "fc":
        return
    rows = 0
    for _, block in blocks(values):
        rows += int((~np.isfinite(block)).reshape(len(block), -1).any(axis=1).sum())
    if rows:
        raise DataError(f"{where}: NaN or infinite values in the {what} ({rows} rows)")
