"""Readers that turn each kind of source into a training pool and, if it has one, its own test set.

Labels come back as stored (numbers or strings, one column flattened to (m,));
``load.py`` decides the task and encodes them. Inputs come back as numbers in
their natural shape, a 3-D image stack gaining a channel axis; HDF5 inputs stay
on disk as ``DiskRows`` until a split is read or streamed.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from ..literal import clipped, listing, quoted
from ..spec.schema import CsvSource, Hdf5Source, NpzSource
from . import generated, registry
from .csv_table import CSV_SUFFIXES, MISSING_WORDS, CsvTable, read_table, unusual_characters
from .dataset import Dataset, LabelOrigin, finite_number, is_multilabel
from .errors import DataError
from .files import check_room, existing, open_maybe_gzip, reading
from .rows import DiskRows, check_inputs
from .schema import InputSchema, Overrides, Roles, column_roles, locate

log = logging.getLogger("nnctl.data")
IDX_LABELS_MAGIC = 2049
IDX_IMAGES_MAGIC = 2051


@dataclass
class SourceData:
    """What one source holds: its pool and, when it has them, its own test and dev examples.

    ``files`` lists the files each part was read from (for fingerprints);
    ``names`` are class names the files themselves declare; ``sha256`` holds
    the hashes of files already verified while reading (registry downloads);
    ``schema`` is how a CSV file's columns were read (None for arrays).
    """

    pool: Dataset
    test: Dataset | None = None
    dev: Dataset | None = None
    names: list[str] | None = None
    files: dict[str, list[Path]] = field(default_factory=dict)
    sha256: dict[Path, str] = field(default_factory=dict)
    schema: InputSchema | None = None


def read_source(source, datasets_dir: Path, rng: np.random.Generator | None = None, missing: str | None = None) -> SourceData:
    """Read any spec source (its paths already resolved); ``rng`` drives generated sets (seed 0 if omitted);
    ``missing`` is the data.missing strategy for a CSV file's empty cells (None: they are an error)."""
    match source.type:
        case "digits":
            table = read_table(registry.BUNDLED_DIGITS, header=False)
            pool = csv_dataset(table, column_roles(table))
            return SourceData(Dataset(pool.x.reshape(-1, 8, 8, 1), pool.y), files={"pool": [registry.BUNDLED_DIGITS]})
        case "registry":
            paths = registry.fetch(source.name, source.mirror, Path(datasets_dir) / "cache")
            verified = {paths[f.role]: f.sha256 for f in registry.entry(source.name).files}  # fetch checked each file's bytes
            return SourceData(read_idx_pair(paths["images"], paths["labels"]), read_idx_pair(paths["test_images"], paths["test_labels"]),
                              files={"pool": [paths["images"], paths["labels"]], "test": [paths["test_images"], paths["test_labels"]]},
                              sha256=verified)
        case "generated":
            x, y = generated.make(source.name, source.samples, source.noise, source.n_classes, rng or np.random.default_rng(0))
            return SourceData(Dataset(x, y), files={"pool": []})
        case "hdf5":
            pool, test, names = read_hdf5(source)
            return SourceData(pool, test, names=names, files={"pool": [Path(source.path)], "test": [Path(source.path)]})
        case "npz":
            pool, test = read_npz(source)
            return SourceData(pool, test, files={"pool": [Path(source.path)], "test": [Path(source.path)]})
        case "csv":
            return read_csv_source(source, missing)
        case "idx":
            test = None
            if _wants_pair(source.test_images, source.test_labels, "test_images", "test_labels"):
                test = read_idx_pair(source.test_images, source.test_labels)
            return SourceData(read_idx_pair(source.images, source.labels), test,
                              files={"pool": [Path(source.images), Path(source.labels)],
                                     "test": [Path(p) for p in (source.test_images, source.test_labels) if p]})
    raise DataError(f"unknown source type '{source.type}'")


def source_for_file(path: Path, **options):
    """The source spec that reads a labelled file, chosen by its suffix (HDF5 also by its keys).

    ``options`` (e.g. ``header``, ``label_column``) are fields of that source type.
    """
    name = Path(path).name.lower()
    if name.endswith((".h5", ".hdf5")):
        keys = _hdf5_keys(Path(path))
        for x, y in (("x", "y"), ("train_set_x", "train_set_y"), ("test_set_x", "test_set_y")):
            if x in keys:
                own_test = {} if x == "train_set_x" else {"test_x": None, "test_y": None}
                return _with_options(Hdf5Source, path, {"x": x, "y": y, **own_test}, options)
        raise DataError(f"{path}: no dataset named x, train_set_x or test_set_x (has: {', '.join(sorted(keys))})")
    if name.endswith(".npz"):
        return _with_options(NpzSource, path, {}, options)
    if name.endswith(CSV_SUFFIXES):
        return _with_options(CsvSource, path, {"delimiter": "\t"} if name.endswith(".tsv") else {}, options)
    raise DataError(f"{path}: cannot tell the format from the name (expected .h5, .hdf5, .npz, .csv or .csv.gz)")


def _with_options(kind, path: Path, defaults: dict, options: dict):
    """A source of ``kind`` for ``path``; an option that kind does not have is a DataError naming it."""
    unknown = sorted(set(options) - set(kind.model_fields))
    if unknown:
        raise DataError(f"{path}: option '{unknown[0]}' does not apply to a {kind.model_fields['type'].default} file")
    return kind(**{**defaults, **options, "path": str(path)})


def read_inputs(path: Path, delimiter: str = ",", header: bool | str = "auto") -> np.ndarray | CsvTable:
    """Unlabelled inputs: .npz (key x), .npy or HDF5 (dataset x) as an array; a CSV file as its table
    (a header detected), so the caller decides which columns are inputs."""
    path = existing(path)
    name = path.name.lower()
    if name.endswith(".npy"):
        with reading(path, ".npy"), open(path, "rb") as f:
            return as_inputs(_npy_read(f, path, "the array"), path, "the array")
    if name.endswith(CSV_SUFFIXES):
        return read_table(path, "\t" if name.endswith(".tsv") else delimiter, header)
    if name.endswith(".npz"):
        with reading(path, ".npz"), np.load(path, allow_pickle=False) as archive:
            return as_inputs(_npz_get(archive, "x", path), path, quoted("x"))
    if name.endswith((".h5", ".hdf5")):
        with reading(path, "HDF5"), h5py.File(path, "r") as f:
            key = next((k for k in ("x", "train_set_x", "test_set_x") if k in f), "x")  # also `data convert`'s layout
            return as_inputs(_h5_get(f, key, path), path, f"dataset {quoted(key)}")
    raise DataError(f"{path}: cannot tell the format from the name (expected .npz, .npy, .csv or .h5)")


# ---------------------------------------------------------------- per format


def read_hdf5(source: Hdf5Source) -> tuple[Dataset, Dataset | None, list[str] | None]:
    """Named datasets; the test pair and class names are optional and skipped when absent."""
    path = existing(source.path)
    with reading(path, "HDF5"), h5py.File(path, "r") as f:
        pool = pair(path, _h5_rows(f, source.x, path), _h5_get(f, source.y, path), (source.x, source.y))
        test = None
        if source.test_x and source.test_y and source.test_x in f and source.test_y in f:
            test = pair(path, _h5_rows(f, source.test_x, path), _h5_get(f, source.test_y, path), (source.test_x, source.test_y))
        names = None
        if isinstance(source.classes, str) and source.classes in f:
            names = [v.decode() if isinstance(v, bytes) else str(v) for v in np.ravel(_h5_get(f, source.classes, path))]
    return pool, test, names


def read_npz(source: NpzSource) -> tuple[Dataset, Dataset | None]:
    """Arrays of a .npz archive; a test pair only when both of its keys are named."""
    path = existing(source.path)
    with reading(path, ".npz"), np.load(path, allow_pickle=False) as archive:
        pool = pair(path, _npz_get(archive, source.x, path), _npz_get(archive, source.y, path), (source.x, source.y))
        test = None
        if _wants_pair(source.test_x, source.test_y, "test_x", "test_y"):
            test = pair(path, _npz_get(archive, source.test_x, path), _npz_get(archive, source.test_y, path),
                        (source.test_x, source.test_y))
    return pool, test


def read_csv_source(source: CsvSource, missing: str | None = None) -> SourceData:
    """The main CSV file and its optional ``test``/``dev`` files, all read with the source's options."""
    columns = source.label_columns or source.label_column
    main = read_table(source.path, source.delimiter, source.header, _first(columns))
    roles = column_roles(main, columns, source.ignore_columns, source.id_columns)
    schema = InputSchema.for_table(main, roles, source.delimiter)
    parts = {"pool": csv_dataset(main, roles, missing)}
    for role in ("test", "dev"):
        if getattr(source, role):
            inputs = [schema.name(j) for j in schema.features] if schema.columns else ()
            table = read_table(getattr(source, role), source.delimiter, source.header, _first(columns), inputs)
            parts[role] = csv_dataset(table, _roles_as_in(schema, table, roles.several), missing)
    files = {role: [Path(getattr(source, "path" if role == "pool" else role))] for role in parts}
    names = main.class_names
    if source.label_columns and main.names is not None and is_multilabel(parts["pool"].y):
        names = [main.names[j] for j in roles.labels]  # the tasks
    return SourceData(parts["pool"], parts.get("test"), parts.get("dev"), names, files, schema=schema)


def _roles_as_in(schema: InputSchema, table: CsvTable, several: bool) -> Roles:
    """A test or dev file's columns found as the main file's, the way `predict` finds a new file's: by name when
    both have a header (in any order), else by position; so no input is read from another column."""
    located = locate(schema, table, Overrides(), need_labels=True)
    return Roles(located.features, located.labels, located.ids, several=several)


def _first(columns):
    """What header detection is told about the label column: a name means the file has a header."""
    return columns[0] if isinstance(columns, list) else columns


def csv_dataset(table: CsvTable, roles, missing: str | None = None) -> Dataset:
    """Features (as numbers) and labels (their text, located by `label_origin`) of a CSV table, its columns as
    ``roles`` says; with several label columns, an (m, k) label matrix (see `label_matrix`).

    Missing inputs are an error unless ``missing`` (data.missing's strategy) drops their rows or leaves them
    NaN for the fill fitted on the training split.
    """
    x = table.numbers(roles.features, allow_missing=missing is not None)
    y = label_matrix(table, roles.labels) if roles.several else table.labels(roles.labels[0])
    origin = None if roles.several else label_origin(table, roles.labels[0])
    if missing == "drop_rows":
        kept = ~np.isnan(x).any(axis=1)
        if not kept.all():
            log.info("%s: left out %d of %d rows with missing inputs (data.missing: drop_rows)", table.path,
                     int((~kept).sum()), len(kept))
            if not kept.any():
                raise DataError(f"{table.path}: every row has a missing input, so data.missing: drop_rows leaves none")
            x, y, origin = x[kept], y[kept], None if origin is None else origin.take(kept)
    return Dataset(x, y, label_origin=origin)


def label_origin(table: CsvTable, column: int) -> LabelOrigin:
    """Where the labels of ``column`` are: errors about one of them name its file, line and column."""
    return LabelOrigin(str(table.path), table.column_name(column), table.lines)


def label_matrix(table: CsvTable, columns: list[int]) -> np.ndarray:
    """Several numeric label columns (multi-task 0/1 labels, or several regression targets).

    A missing cell (empty, NA, NaN or null, the words that mark a missing input) is a missing label
    (NaN): the other tasks of its row still count. Any other cell must be a finite number."""
    cells = np.char.strip(table.cells[:, columns])
    missing = np.isin(np.char.lower(cells), MISSING_WORDS)
    try:
        y = np.where(missing, "nan", cells).astype(np.float64)
    except ValueError:
        y = None
    if y is None or np.isinf(y).any() or unusual_characters(cells).any():  # NumPy reads '1_5' as 15
        bad = next((i, j) for i, row in enumerate(cells) for j, cell in enumerate(row)
                   if not missing[i, j] and finite_number(cell) is None)
        raise DataError(f"{table.path}:{table.lines[bad[0]]}: {table.column_name(columns[bad[1]])}: a label must be a "
                        f"finite number or missing (empty, NA, NaN or null), not {quoted(str(cells[bad]))}")
    return y[:, 0] if y.shape[1] == 1 else y


def read_idx_pair(images: str | Path, labels: str | Path) -> Dataset:
    return pair(Path(images), read_idx(images, IDX_IMAGES_MAGIC), read_idx(labels, IDX_LABELS_MAGIC), ("images", "labels"))


def read_idx(path: str | Path, magic: int) -> np.ndarray:
    """An unsigned-byte IDX file (raw or gzip): big-endian magic, one size per dimension, the data.

    The sizes are checked against the memory limit before the data is read, and no more bytes are read
    than they declare (plus one, to notice a file that holds more): a header can declare any size, and a
    small gzip file can unpack to any size."""
    path = existing(path)
    kind, ndim = "images" if magic == IDX_IMAGES_MAGIC else "labels", magic & 0xFF
    with reading(path, "IDX"), open_maybe_gzip(path) as f:
        header = f.read(4 + 4 * ndim)
        found = int.from_bytes(header[:4], "big")
        if found != magic:
            raise DataError(f"{path}: IDX magic number {found}, expected {magic} ({kind})")
        if len(header) < 4 + 4 * ndim:
            raise DataError(f"{path}: the IDX header ends after {len(header)} bytes; {kind} need {4 + 4 * ndim}")
        dims = tuple(int.from_bytes(header[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
        check_room(path, f"IDX {kind}", dims, np.uint8)
        values = math.prod(dims)
        data = f.read(values + 1)
    if len(data) != values:
        held = f"{len(data):,}" if len(data) < values else "more"
        raise DataError(f"{path}: the IDX header declares {' × '.join(f'{n:,}' for n in dims)} = {values:,} values but the file holds {held}")
    return np.frombuffer(data, dtype=np.uint8).reshape(dims)


# ---------------------------------------------------------------- shared helpers


def as_inputs(x, where: Path, what: str):
    """Numeric inputs in their stored dtype (float32 stays float32: one copy, not a float64 twin;
    bool becomes float64); a vector becomes one column, an (m, H, W) stack gains a channel axis.

    ``what`` names the array in ``where`` when it is not inputs (see `check_inputs`)."""
    if isinstance(x, DiskRows):
        return x.with_channel() if x.ndim in (1, 3) else x
    x = np.asarray(x)
    check_inputs(where, what, x.shape, x.dtype)
    x = x if x.dtype.kind in "iuf" else x.astype(np.float64)
    if x.ndim == 1:
        return x[:, None]
    return x[..., None] if x.ndim == 3 else x


def pair(where: Path, x: np.ndarray, y: np.ndarray, keys: tuple[str, str]) -> Dataset:
    """A Dataset from raw arrays (``keys`` name them in ``where``): y of shape (1, m) or (m, 1) is flattened,
    bytes become text."""
    x = as_inputs(x, where, quoted(keys[0]))
    y = np.asarray(y)
    check_labels(where, quoted(keys[1]), y)
    if y.ndim == 2 and (y.shape == (1, len(x)) or y.shape[1] == 1):
        y = y.ravel()
    if y.dtype.kind == "S":
        y = y.astype(str)
    if len(y) != len(x):
        raise DataError(f"{where}: {quoted(keys[0])} has {len(x)} rows but {quoted(keys[1])} has {len(y)}")
    if len(x) == 0:
        raise DataError(f"{where}: no examples (x and y have 0 rows)")
    return Dataset(x, y)


def check_labels(where: Path, what: str, y: np.ndarray) -> None:
    """Labels are numbers or text (HDF5 strings may come as objects), one per row: complex numbers, dates or
    records would be read as regression targets or fail later, and a single value has no rows to count."""
    if y.dtype.kind not in "biufSUO":
        raise DataError(f"{where}: {what} holds {clipped(str(y.dtype))} values; labels must be numbers or text")
    if y.ndim == 0:
        raise DataError(f"{where}: {what} is a single value; labels need one row per example (m, or m rows × k)")


def _wants_pair(a: str | None, b: str | None, name_a: str, name_b: str) -> bool:
    """Whether an optional pair of names is given; giving only one of them is a mistake."""
    if bool(a) != bool(b):
        raise DataError(f"give both {name_a} and {name_b}, or neither")
    return bool(a)


def _h5_get(f: h5py.File, key: str, path: Path) -> np.ndarray:
    """A dataset read whole, once its declared size is known to fit."""
    _h5_check(f, key, path)
    dataset = f[key]
    check_room(path, f"dataset {quoted(key)}", dataset.shape, dataset.dtype)
    return dataset[()]


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
        held = f"has: {listing(archive.files)}" if archive.files else "the archive holds no arrays"
        raise DataError(f"{path}: no array {quoted(key)} ({held})")
    member = key if key in archive.zip.namelist() else f"{key}.npy"  # how np.load names an archive's arrays
    with archive.zip.open(member) as stream:
        return _npy_read(stream, path, f"array {quoted(key)}")


def _npy_read(stream, path: Path, what: str) -> np.ndarray:
    """The array of an .npy stream, its declared shape and dtype checked against the memory limit before
    its data is read (NumPy allocates what the header says first)."""
    version = np.lib.format.read_magic(stream)
    header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, _, dtype = header(stream)
    check_room(path, what, shape, dtype)
    stream.seek(0)
    return np.lib.format.read_array(stream, allow_pickle=False)
