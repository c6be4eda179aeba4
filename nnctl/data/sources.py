"""Readers that turn each kind of source into a training pool and, if it has one, its own test set.

Labels come back as stored (numbers or strings, one column flattened to (m,));
``load.py`` decides the task and encodes them. Inputs come back as numbers in
their natural shape, a 3-D image stack gaining a channel axis; HDF5 inputs stay
on disk as ``DiskRows`` until a split is read or streamed.
"""

from __future__ import annotations

import csv
import gzip
import io
import zipfile
import zlib
from contextlib import contextmanager
from pathlib import Path

import h5py
import numpy as np

from ..spec.schema import CsvSource, Hdf5Source, NpzSource
from . import generated, registry
from .dataset import Dataset
from .errors import DataError
from .rows import DiskRows

IDX_LABELS_MAGIC = 2049
IDX_IMAGES_MAGIC = 2051
UNREADABLE = (OSError, EOFError, zlib.error, ValueError, zipfile.BadZipFile, csv.Error)  # UnicodeDecodeError is a ValueError

SourceResult = tuple[Dataset, Dataset | None, list[str] | None]


def read_source(source, datasets_dir: Path, rng: np.random.Generator | None = None) -> SourceResult:
    """Read any spec source; ``rng`` drives generated sets (a fixed seed 0 stream if omitted)."""
    match source.type:
        case "digits":
            pool = read_csv(Path(datasets_dir) / registry.DIGITS_FILE, -1, False, ",")
            return Dataset(pool.x.reshape(-1, 8, 8, 1), pool.y), None, None
        case "registry":
            paths = registry.fetch(source.name, source.mirror, Path(datasets_dir) / "cache")
            return read_idx_pair(paths["images"], paths["labels"]), read_idx_pair(paths["test_images"], paths["test_labels"]), None
        case "generated":
            x, y = generated.make(source.name, source.samples, source.noise, source.classes, rng or np.random.default_rng(0))
            return Dataset(x, y), None, None
        case "hdf5":
            return read_hdf5(source)
        case "npz":
            return read_npz(source)
        case "csv":
            return read_csv(Path(source.path), source.label_column, source.header, source.delimiter), None, None
        case "idx":
            test = None
            if _wants_pair(source.test_images, source.test_labels, "test_images", "test_labels"):
                test = read_idx_pair(source.test_images, source.test_labels)
            return read_idx_pair(source.images, source.labels), test, None
    raise DataError(f"unknown source type '{source.type}'")


def source_for_file(path: Path):
    """The source spec that reads a labelled file, chosen by its suffix (HDF5 also by its keys)."""
    name = Path(path).name.lower()
    if name.endswith((".h5", ".hdf5")):
        keys = _hdf5_keys(Path(path))
        for x, y in (("x", "y"), ("train_set_x", "train_set_y"), ("test_set_x", "test_set_y")):
            if x in keys:
                own_test = {} if x == "train_set_x" else {"test_x": None, "test_y": None}
                return Hdf5Source(path=str(path), x=x, y=y, **own_test)
        raise DataError(f"{path}: no dataset named x, train_set_x or test_set_x (has: {', '.join(sorted(keys))})")
    if name.endswith(".npz"):
        return NpzSource(path=str(path))
    if name.endswith((".csv", ".csv.gz")):
        return CsvSource(path=str(path))
    raise DataError(f"{path}: cannot tell the format from the name (expected .h5, .hdf5, .npz, .csv or .csv.gz)")


def read_inputs(path: Path) -> np.ndarray:
    """Unlabelled inputs: .npz (key x), .npy, CSV (all columns; a header row is skipped) or HDF5 (dataset x,
    else train_set_x or test_set_x)."""
    path = existing(path)
    name = path.name.lower()
    if name.endswith(".npy"):
        with reading(path, ".npy"):
            return as_inputs(np.load(path, allow_pickle=False), path)
    if name.endswith((".csv", ".csv.gz")):
        rows = csv_rows(path, ",")
        if rows and not _numeric(rows[0]):
            rows = rows[1:]
        return as_inputs(_floats(_table(rows, path), path), path)
    if name.endswith(".npz"):
        with reading(path, ".npz"), np.load(path, allow_pickle=False) as archive:
            return as_inputs(_npz_get(archive, "x", path), path)
    if name.endswith((".h5", ".hdf5")):
        with reading(path, "HDF5"), h5py.File(path, "r") as f:
            key = next((k for k in ("x", "train_set_x", "test_set_x") if k in f), "x")  # also `data convert`'s layout
            return as_inputs(_h5_get(f, key, path), path)
    raise DataError(f"{path}: cannot tell the format from the name (expected .npz, .npy, .csv or .h5)")


# ---------------------------------------------------------------- per format


def read_hdf5(source: Hdf5Source) -> SourceResult:
    """Named datasets; the test pair and class names are optional and skipped when absent."""
    path = existing(source.path)
    with reading(path, "HDF5"), h5py.File(path, "r") as f:
        pool = pair(path, _h5_rows(f, source.x, path), _h5_get(f, source.y, path))
        test = None
        if source.test_x and source.test_y and source.test_x in f and source.test_y in f:
            test = pair(path, _h5_rows(f, source.test_x, path), _h5_get(f, source.test_y, path))
        names = None
        if source.classes and source.classes in f:
            names = [v.decode() if isinstance(v, bytes) else str(v) for v in np.ravel(_h5_get(f, source.classes, path))]
    return pool, test, names


def read_npz(source: NpzSource) -> SourceResult:
    """Arrays of a .npz archive; a test pair only when both of its keys are named."""
    path = existing(source.path)
    with reading(path, ".npz"), np.load(path, allow_pickle=False) as archive:
        pool = pair(path, _npz_get(archive, source.x, path), _npz_get(archive, source.y, path))
        test = None
        if _wants_pair(source.test_x, source.test_y, "test_x", "test_y"):
            test = pair(path, _npz_get(archive, source.test_x, path), _npz_get(archive, source.test_y, path))
    return pool, test, None


def read_csv(path: Path, label_column: int | str, header: bool, delimiter: str) -> Dataset:
    """One example a row, the label in ``label_column`` (an index, negative from the end, or a header name)."""
    rows = csv_rows(path, delimiter)
    names = rows.pop(0) if header and rows else None
    table = _table(rows, path)
    column = _label_index(label_column, names, table.shape[1], path)
    labels = np.char.strip(table[:, column])
    y = labels.astype(np.float64) if _numeric(labels) else labels
    return pair(path, _floats(np.delete(table, column, axis=1), path), y)


def read_idx_pair(images: str | Path, labels: str | Path) -> Dataset:
    return pair(Path(images), read_idx(images, IDX_IMAGES_MAGIC), read_idx(labels, IDX_LABELS_MAGIC))


def read_idx(path: str | Path, magic: int) -> np.ndarray:
    """An unsigned-byte IDX file (raw or gzip): big-endian magic, one size per dimension, the data."""
    path = existing(path)
    with reading(path, "IDX"), open_maybe_gzip(path) as f:
        data = f.read()
    found = int.from_bytes(data[:4], "big")
    if found != magic:
        raise DataError(f"{path}: IDX magic number {found}, expected {magic} ({'images' if magic == IDX_IMAGES_MAGIC else 'labels'})")
    ndim = magic & 0xFF
    dims = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    body = np.frombuffer(data, dtype=np.uint8, offset=min(len(data), 4 + 4 * ndim))
    if body.size != int(np.prod(dims)):
        raise DataError(f"{path}: IDX header says {dims} but the file holds {body.size} values")
    return body.reshape(dims)


# ---------------------------------------------------------------- shared helpers


@contextmanager
def reading(path: Path, kind: str):
    """Report a library's complaint about a file's contents as a one-line DataError."""
    try:
        yield
    except UNREADABLE as err:
        raise DataError(f"{path}: not a readable {kind} file ({err})") from None


def existing(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    return path


def open_maybe_gzip(path: Path):
    """A binary stream of the file's bytes, decompressed when it starts with the gzip magic."""
    with open(path, "rb") as f:
        compressed = f.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if compressed else open(path, "rb")


def csv_rows(path: str | Path, delimiter: str) -> list[list[str]]:
    path = existing(path)
    with reading(path, "CSV"), open_maybe_gzip(path) as raw:
        return [row for row in csv.reader(io.TextIOWrapper(raw, encoding="utf-8"), delimiter=delimiter) if row]


def as_inputs(x, where: Path):
    """Numeric inputs in their stored dtype (float32 stays float32: one copy, not a float64 twin;
    anything else becomes float64); a vector becomes one column, an (m, H, W) stack gains a channel axis."""
    if isinstance(x, DiskRows):
        return x.with_channel() if x.ndim in (1, 3) else x
    try:
        x = np.asarray(x)
        x = x if x.dtype.kind in "iuf" else x.astype(np.float64)
    except (TypeError, ValueError):
        raise DataError(f"{where}: inputs are not numeric") from None
    if x.ndim == 1:
        return x[:, None]
    return x[..., None] if x.ndim == 3 else x


def pair(where: Path, x: np.ndarray, y: np.ndarray) -> Dataset:
    """A Dataset from raw arrays: y of shape (1, m) or (m, 1) is flattened, bytes become text."""
    x = as_inputs(x, where)
    y = np.asarray(y)
    if y.ndim == 2 and (y.shape == (1, len(x)) or y.shape[1] == 1):
        y = y.ravel()
    if y.dtype.kind == "S":
        y = y.astype(str)
    if len(y) != len(x):
        raise DataError(f"{where}: x has {len(x)} rows but y has {len(y)}")
    return Dataset(x, y)


def _wants_pair(a: str | None, b: str | None, name_a: str, name_b: str) -> bool:
    """Whether an optional pair of names is given; giving only one of them is a mistake."""
    if bool(a) != bool(b):
        raise DataError(f"give both {name_a} and {name_b}, or neither")
    return bool(a)


def _table(rows: list[list[str]], path: Path) -> np.ndarray:
    if not rows:
        raise DataError(f"{path}: no data rows")
    widths = sorted({len(row) for row in rows})
    if len(widths) > 1:
        raise DataError(f"{path}: rows have different numbers of columns ({widths[0]} to {widths[-1]})")
    return np.array(rows, dtype=str)


def _numeric(values) -> bool:
    try:
        np.asarray(values, dtype=str).astype(np.float64)
    except ValueError:
        return False
    return True


def _floats(table: np.ndarray, path: Path) -> np.ndarray:
    try:
        return table.astype(np.float64)
    except ValueError as err:
        raise DataError(f"{path}: non-numeric feature values ({err})") from None


def _label_index(label_column: int | str, names: list[str] | None, width: int, path: Path) -> int:
    if isinstance(label_column, str):
        if names is None:
            raise DataError(f"{path}: label column '{label_column}' is a name, but the file is read without a header")
        stripped = [name.strip() for name in names]
        if label_column not in stripped:
            raise DataError(f"{path}: no column named '{label_column}' (has: {', '.join(stripped)})")
        return stripped.index(label_column)
    if not -width <= label_column < width:
        raise DataError(f"{path}: label column {label_column} is out of range for {width} columns")
    return label_column % width


def _h5_get(f: h5py.File, key: str, path: Path) -> np.ndarray:
    _h5_check(f, key, path)
    return f[key][()]


def _h5_check(f: h5py.File, key: str, path: Path) -> None:
    if key not in f or not isinstance(f[key], h5py.Dataset):
        raise DataError(f"{path}: no dataset '{key}' (has: {', '.join(sorted(f.keys()))})")


def _h5_rows(f: h5py.File, key: str, path: Path) -> DiskRows:
    """A dataset's rows left on disk, read when a split needs them (see rows.py)."""
    _h5_check(f, key, path)
    return DiskRows(path, key)


def _hdf5_keys(path: Path) -> set[str]:
    with reading(path, "HDF5"), h5py.File(existing(path), "r") as f:
        return set(f.keys())


def _npz_get(archive, key: str, path: Path) -> np.ndarray:
    if key not in archive.files:
        raise DataError(f"{path}: no array '{key}' (has: {', '.join(archive.files)})")
    return archive[key]
