"""A data spec read into numbered parts: every table of examples it names, with fingerprints.

A part is one table whose rows are numbered from 0: a source's pool, its own
test or dev set, a dev/test file given in ``data.split``, each of several
``data.sources``. Splits refer to rows as (part, row), which is what a run
records; each part's fingerprint (SHA-256 of its files' bytes, or of its arrays
for generated sets) lets a later reader check it is reading the same data.

Relative paths are read from ``data_spec.base_dir`` (the spec file's
directory), else from the current directory.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import BuildError
from ..spec.schema import PATH_FIELDS, DataSpec
from .csv_table import CsvTable, read_table
from .dataset import Dataset, encode_labels, is_multilabel
from .errors import ColumnError, DataError
from .files import file_sha256
from .rows import DiskRows, blocks
from .schema import InputSchema, with_task
from .sources import CSV_SUFFIXES, SourceData, read_source, source_for_file


@dataclass(frozen=True)
class FileInfo:
    """A file a part was read from: as the spec wrote it, resolved, and its SHA-256."""

    written: str
    path: str
    sha256: str


@dataclass
class PartInfo:
    """What a run records of a part: the spec key naming it, its rows, files and fingerprint."""

    key: str
    rows: int
    sha256: str
    files: list[FileInfo] = field(default_factory=list)

    def where(self) -> str:
        """How messages name the part: its first file, else its spec key."""
        return self.files[0].written if self.files else self.key


@dataclass
class Part:
    info: PartInfo
    data: Dataset  # rows numbered from 0, ``part`` set to this part's number


@dataclass
class PartSet:
    parts: list[Part]
    task: str
    class_names: list[str]
    schema: InputSchema | None = None  # how the first source's inputs were read (the run's input contract)

    def by_key(self, key: str) -> int:
        return next(i for i, part in enumerate(self.parts) if part.info.key == key)

    def own_test(self) -> Part | None:
        """The source's own test set (MNIST's 10,000), when it has one."""
        return next((part for part in self.parts[1:] if part.info.key.endswith(".test")), None)


def resolve(path: str | Path, base_dir: str | None) -> Path:
    """A path from a spec, made absolute against the spec's directory (or the current one)."""
    path = Path(path).expanduser()
    return (path if path.is_absolute() else Path(base_dir or Path.cwd()) / path).resolve()


def display(path: Path) -> str:
    """A resolved path as messages show it: relative when under the current directory."""
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def resolved_source(source, base_dir: str | None):
    """A copy of ``source`` whose file paths are absolute, and a map from each back to how it was written."""
    update, written = {}, {}
    for name in PATH_FIELDS:
        value = getattr(source, name, None)
        if isinstance(value, str) and name in type(source).model_fields:
            update[name] = str(resolve(value, base_dir))
            written[update[name]] = value
    return source.model_copy(update=update), written


class Fingerprints:
    """SHA-256 of each file read during one load, each file hashed once."""

    def __init__(self):
        self._done: dict[Path, str] = {}

    def known(self, hashes: dict[Path, str]) -> None:
        """Hashes a reader already checked the bytes against (registry downloads): not read again."""
        self._done.update(hashes)

    def of(self, path: Path) -> str:
        if path not in self._done:
            self._done[path] = file_sha256(path)
        return self._done[path]

    def files(self, paths: list[Path], written: dict[str, str]) -> list[FileInfo]:
        return [FileInfo(written.get(str(p), display(p)), str(p), self.of(p)) for p in paths]


def arrays_sha256(data: Dataset) -> str:
    """A fingerprint of examples that come from no file (generated sets): dtype, shape and bytes of x and y."""
    digest = hashlib.sha256()
    for array in (data.x, data.y):
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def absolute_data_paths(spec):
    """``spec`` with every data file it names (sources, split index files, the relabel file) made absolute
    against its spec file's folder (``data.base_dir``): a spec written out for another process or machine (a
    search trial, a fold run, a tune folder's record) must read the files its own spec file meant, not ones
    of the same name where that process happens to run."""
    data, base = spec.data, spec.data.base_dir
    if base is None:
        return spec
    update = {"source": resolved_source(data.source, base)[0]} if data.sources is None else \
        {"sources": [use.model_copy(update={"source": resolved_source(use.source, base)[0]}) for use in data.sources]}
    split = {role: str(resolve(value, base)) for role in ("dev", "test") if isinstance(value := getattr(data.split, role), str)}
    if split:
        update["split"] = data.split.model_copy(update=split)
    if data.relabel is not None:
        update["relabel"] = data.relabel.model_copy(update={"file": str(resolve(data.relabel.file, base))})
    absolute = data.model_copy(update=update)
    absolute.base_dir = base
    return spec.model_copy(update={"data": absolute})


def part_sha256(files: list[FileInfo], data: Dataset) -> str:
    """The part's fingerprint: its files' hashes combined, or its arrays' when it has no file."""
    if not files:
        return arrays_sha256(data)
    return hashlib.sha256("".join(f.sha256 for f in files).encode()).hexdigest()


def read_parts(data_spec, datasets_dir: Path, rng: np.random.Generator, task: str | None = None) -> PartSet:
    """Read every table the data spec names, check inputs, and encode all labels together
    (as ``task`` says when given, see `encode_labels`)."""
    base = data_spec.base_dir
    missing = data_spec.missing.strategy if data_spec.missing is not None else None
    schemas: list[InputSchema | None] = []
    prints = Fingerprints()
    raw: list[tuple[str, Dataset, list[FileInfo], str]] = []  # key, data, files, where
    declared: list[tuple[str, list[str]]] = []
    named = [("data.source", data_spec.source)] if data_spec.sources is None else \
        [(f"data.sources[{i}].source", use.source) for i, use in enumerate(data_spec.sources)]
    first_csv = None
    indexed = False  # a file names the classes: its labels are indices into them (HDF5 list_classes, scikit-learn's CSV)
    for key, source in named:
        resolved, written = resolved_source(source, base)
        try:
            found = read_source(resolved, datasets_dir, rng, missing)
        except ColumnError as err:  # a column the spec names: the spec's line, not only the file's
            raise BuildError(f"{key}.{err.option}", err.detail, unlocated=str(err)) from None
        schemas.append(found.schema)
        prints.known(found.sha256)
        where = _source_name(source)
        first_csv = first_csv or (resolved if resolved.type == "csv" else None)
        for role, data in (("pool", found.pool), ("test", found.test), ("dev", found.dev)):
            if data is not None:
                raw.append((key if role == "pool" else f"{key}.{role}", data, prints.files(found.files.get(role, []), written), where))
        indexed = indexed or found.names is not None
        names = _declared_names(source, found, where)
        if names is not None:
            declared.append((where, names))
    if data_spec.sources is None:
        for role in ("dev", "test"):
            value = getattr(data_spec.split, role)
            path = resolve(value, base) if isinstance(value, str) else None
            if path is not None and index_table(path) is None:
                options = _file_options(first_csv, path)
                found = read_source(source_for_file(path, **options), datasets_dir, missing=missing)
                raw.append((f"data.split.{role}", found.pool, prints.files([path], {str(path): value}), value))
    for key, data, _, where in raw:
        if missing is not None and isinstance(data.x, DiskRows):
            raise DataError(f"{where}: data.missing applies to CSV files; this source's inputs stay on disk")
        check_finite(data.x, "inputs", where, allow_nan=missing is not None)
        if data.y.dtype.kind == "f" and not is_multilabel(data.y):  # multi-label: NaN marks a missing label
            check_finite(data.y, "labels", where)
        if data.x.shape[1:] != raw[0][1].x.shape[1:]:
            raise DataError(f"{where}: inputs of {key} have shape {data.x.shape[1:]}, those of {raw[0][0]} {raw[0][1].x.shape[1:]}")
    names = _agreed_names(declared)
    task, ys, class_names = encode_labels([data.y for _, data, _, _ in raw], names, raw[0][3], task,
                                          [data.label_origin for _, data, _, _ in raw], indexed)
    parts = []
    for number, ((key, data, files, _), y) in enumerate(zip(raw, ys)):
        encoded = Dataset(data.x, y).as_part(number)
        parts.append(Part(PartInfo(key, len(encoded), part_sha256(files, data), files), encoded))
    targets = [f"y{j}" for j in range(ys[0].shape[1])] if task == "regression" and ys[0].shape[1] > 1 else ["y"]
    schema = with_task(schemas[0], parts[0].data.x.shape[1:], task, class_names if task == "multilabel" else targets)
    return PartSet(parts, task, class_names, schema)


def read_source_parts(source, datasets_dir: Path) -> PartSet:
    """One source read on its own, checked and encoded as training would (generated sets from seed 0):
    what `data info`, `data sample` and `data convert` look at."""
    return read_parts(DataSpec(source=source), Path(datasets_dir), np.random.default_rng(0))


def index_table(path: Path) -> CsvTable | None:
    """A split file of row numbers, read: a text/CSV file whose lines each hold one whole number (a header allowed);
    None for any other file."""
    if not path.is_file() or not path.name.lower().endswith((".txt", ".csv", ".idx", ".rows", ".csv.gz")):
        return None
    table = read_table(path, header="auto")
    return table if table.width == 1 and all(cell.strip().lstrip("-").isdigit() for cell in table.cells[:, 0]) else None


def _file_options(csv_source, path: Path) -> dict:
    """A CSV split file is read with the CSV source's options (header, label column, delimiter)."""
    if csv_source is None or not path.name.lower().endswith(CSV_SUFFIXES):
        return {}
    return {"header": csv_source.header, "label_column": csv_source.label_column, "delimiter": csv_source.delimiter}


def _declared_names(source, found: SourceData, where: str) -> list[str] | None:
    """Class names from the spec (``classes: [...]``) or from the file; both must agree."""
    spec_names = getattr(source, "classes", None)
    spec_names = spec_names if isinstance(spec_names, list) else None
    if spec_names and found.names and list(found.names) != list(spec_names):
        raise DataError(f"{where}: classes {spec_names} in the spec differ from the file's {found.names}")
    return spec_names or found.names


def _agreed_names(declared: list[tuple[str, list[str]]]) -> list[str] | None:
    if not declared:
        return None
    where, names = declared[0]
    for other, other_names in declared[1:]:
        if other_names != names:
            raise DataError(f"{other}: class names {other_names} differ from {where}'s {names}")
    return names


def _source_name(source) -> str:
    """How messages name a source: its file as written, else its data set name."""
    for name in ("path", "images"):
        if getattr(source, name, None):
            return str(getattr(source, name))
    return getattr(source, "name", source.type)


def check_finite(values, what: str, where, allow_nan: bool = False) -> None:
    """Refuse NaN/inf (only inf when ``allow_nan``: missing values to fill), a block at a time: no full-size mask,
    and rows still on disk are read once."""
    if values.dtype.kind not in "fc":
        return
    found = []
    for positions, block in blocks(values):
        flat = block.reshape(len(block), -1)
        bad = np.isinf(flat).any(axis=1) if allow_nan else ~np.isfinite(flat).all(axis=1)
        if bad.any():
            found.append(np.arange(len(values))[positions][bad] if isinstance(positions, slice) else positions[bad])
    if found:
        rows = np.sort(np.concatenate(found))
        listed = ", ".join(str(r) for r in rows[:5]) + (", ..." if len(rows) > 5 else "")
        raise DataError(f"{where}: NaN or infinite values in the {what} ({len(rows)} rows: {listed}, counted from 0)")
