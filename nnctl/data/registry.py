"""The catalog of named data sets, and downloads for the registry entries.

A registry file is fetched from a mirror (a directory or a URL base holding the
``.gz`` files), decompressed into a staging folder, checked against the SHA-256
of the decompressed bytes (identical for every faithful copy, whatever gzip
settings the mirror used) and only then renamed into ``cache_dir/<name>/``, so a
bad download never leaves anything in the cache.
"""

from __future__ import annotations

import gzip
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

from . import generated
from .errors import DataError
from .files import CHUNK, file_sha256

MIRROR_ENV = "NNCTL_DATA_MIRROR"


@dataclass(frozen=True)
class RegistryFile:
    role: str
    name: str  # the decompressed IDX name; mirrors hold name + ".gz"
    sha256: str  # of the decompressed bytes


@dataclass(frozen=True)
class Entry:
    name: str
    description: str
    base_url: str
    files: tuple[RegistryFile, ...]
    examples: int
    test_examples: int
    shape: tuple[int, ...]
    class_names: tuple[str, ...]


REGISTRY = {
    "mnist": Entry(
        name="mnist",
        description="MNIST handwritten digits, 28x28 grayscale, 60,000 train + 10,000 test",
        base_url="https://storage.googleapis.com/cvdf-datasets/mnist/",
        files=(
            RegistryFile("images", "train-images-idx3-ubyte", "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
            RegistryFile("labels", "train-labels-idx1-ubyte", "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
            RegistryFile("test_images", "t10k-images-idx3-ubyte", "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
            RegistryFile("test_labels", "t10k-labels-idx1-ubyte", "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
        ),
        examples=60000,
        test_examples=10000,
        shape=(28, 28, 1),
        class_names=tuple(str(d) for d in range(10)),
    )
}

DIGITS_FILE = "digits.csv.gz"
BUNDLED_DIGITS = Path(__file__).with_name("bundled") / DIGITS_FILE  # package data: works from an installed wheel
DIGITS_DESCRIPTION = "UCI optical-recognition digits, 8x8 grayscale (0-16), 1,797 images, 10 classes"


def entry(name: str) -> Entry:
    if name not in REGISTRY:
        raise DataError(f"unknown registry data set '{name}' (known: {', '.join(REGISTRY)})")
    return REGISTRY[name]


def is_cached(name: str, cache_dir: Path) -> bool:
    """All files present (fetch still verifies their checksums before trusting them)."""
    return all((Path(cache_dir) / name / f.name).is_file() for f in entry(name).files)


def fetch(name: str, mirror: str | None, cache_dir: Path) -> dict[str, Path]:
    """Make sure every file of ``name`` is cached and verified; return role → decompressed path."""
    found = entry(name)
    target = Path(cache_dir) / name
    missing = [f for f in found.files if not _verified(target / f.name, f.sha256)]
    if missing:
        mirror = mirror or os.environ.get(MIRROR_ENV)
        base = mirror_base(mirror or found.base_url)
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=cache_dir, prefix=f".{name}-staging-") as staging:
            try:
                staged = [_download(base + f.name + ".gz", Path(staging) / f.name, f.sha256) for f in missing]
            except DataError as err:
                if mirror:
                    raise
                raise DataError(f"{err}; without network access, use a copy of the files: "
                                f"nnctl data fetch {name} --mirror DIR_OR_URL, or set ${MIRROR_ENV}") from None
            target.mkdir(exist_ok=True)
            for f, path in zip(missing, staged):
                os.replace(path, target / f.name)
    return {f.role: target / f.name for f in found.files}


def mirror_base(mirror: str) -> str:
    """A URL base ending in '/': URLs pass through, directories become file:// URLs."""
    if "://" not in mirror:
        folder = Path(mirror).expanduser()
        if not folder.is_dir():
            raise DataError(f"{mirror}: mirror directory does not exist")
        mirror = folder.resolve().as_uri()
    return mirror if mirror.endswith("/") else mirror + "/"


def _verified(path: Path, sha256: str) -> bool:
    return path.is_file() and file_sha256(path) == sha256


def _download(url: str, dest: Path, sha256: str) -> Path:
    """Download and decompress ``url`` to ``dest`` and check the decompressed bytes."""
    packed = dest.with_name(dest.name + ".gz")
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(packed, "wb") as out:
            shutil.copyfileobj(response, out, CHUNK)
    except (urllib.error.URLError, OSError) as err:
        raise DataError(f"{url}: download failed ({getattr(err, 'reason', err)})") from None
    try:
        with gzip.open(packed, "rb") as src, open(dest, "wb") as out:
            shutil.copyfileobj(src, out, CHUNK)
    except (gzip.BadGzipFile, EOFError, zlib.error) as err:
        raise DataError(f"{url}: not a valid gzip file ({err}); nothing was cached") from None
    packed.unlink()
    actual = file_sha256(dest)
    if actual != sha256:
        raise DataError(f"{url}: checksum mismatch (SHA-256 {actual[:16]}…, expected {sha256[:16]}…); nothing was cached")
    return dest


def entries(datasets_dir: Path) -> list[dict]:
    """Every named data set, for `nnctl data list`: registry rows say whether they are cached."""
    rows: list[dict] = [
        {"name": "digits", "kind": "bundled", "description": DIGITS_DESCRIPTION, "examples": 1797,
         "input_shape": [8, 8, 1], "classes": 10, "path": str(BUNDLED_DIGITS)}
    ]
    rows += [{"name": name, "kind": "generated", "description": text, "input_shape": [2]}
             for name, text in generated.DESCRIPTIONS.items()]
    rows += [registry_facts(e.name, Path(datasets_dir) / "cache") for e in REGISTRY.values()]
    return rows


def registry_facts(name: str, cache_dir: Path) -> dict:
    """What is known about a registry entry without downloading it."""
    found = entry(name)
    return {
        "name": found.name, "kind": "registry", "description": found.description,
        "examples": found.examples, "test_examples": found.test_examples, "input_shape": list(found.shape),
        "classes": len(found.class_names), "files": [f.name for f in found.files],
        "cached": is_cached(name, cache_dir),
    }
