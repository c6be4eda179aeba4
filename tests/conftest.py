"""Shared fixtures for the end-to-end tests of the `nnctl` command line.

Everything runs on tiny problems (a few hundred bundled digits, generated 2-D
sets, a few epochs) in ``tmp_path`` run directories, so the whole suite stays
fast and leaves nothing behind in the repository.

BLAS runs on one thread: the suite's matrices are tiny, and OpenBLAS waking a
second thread for each of them costs more than the product (50 forward passes
on 6 images: 4.6 s with two threads, 0.4 s with one). The environment variables
reach the `nnctl` subprocesses; threadpoolctl covers a NumPy already loaded.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import h5py  # noqa: E402 (after the thread limits)
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from nnctl.cli.main import app  # noqa: E402
from nnctl.spec import load_spec  # noqa: E402

threadpool_limits(1)

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"
# The classic networks on placeholder data (8 blank images): their shapes and counts are tested through
# `spec show` (test_classic_networks.py); training, exporting or gradient-checking them would test nothing.
PLACEHOLDER_CONFIGS = ("alexnet.yaml", "lenet5.yaml", "vgg16.yaml")
# The MNIST mirror: $NNCTL_DATA_MIRROR when it is a directory, else ../shared/data/mnist beside the repository.
MNIST_MIRROR = Path(os.environ.get("NNCTL_DATA_MIRROR") or REPO.parent / "shared" / "data" / "mnist")

# A small digits problem: 300 examples, a hidden layer with batch norm and dropout, Adam.
TINY_SPEC = """\
name: tiny
seed: 7
data:
  source: digits
  limit: 300
  split: {train: 0.6, dev: 0.2, test: 0.2}
model:
  layers:
    - {units: 16, activation: relu, keep_prob: 0.8, batchnorm: true}
    - {units: 10, activation: softmax}
train:
  epochs: 4
  batch_size: 32
  learning_rate: 0.01
  optimizer: {name: adam}
"""

# A binary 2-D problem with a sigmoid output (generated, no files involved).
MOONS_SPEC = """\
name: moons
seed: 1
data:
  source: {type: generated, name: moons, samples: 200, noise: 0.1}
  split: {train: 0.6, dev: 0.2, test: 0.2}
model:
  layers:
    - {units: 8, activation: tanh}
    - {units: 1, activation: sigmoid}
train:
  epochs: 5
  batch_size: 16
  learning_rate: 0.1
  optimizer: {name: momentum}
  schedule: {name: inverse_time, decay_rate: 0.5}
"""


# ---------------------------------------------------------------- helpers


def write_spec(directory: Path, text: str, name: str = "spec.yaml") -> Path:
    path = Path(directory) / name
    path.write_text(textwrap.dedent(text))
    return path


def invoke(*args, expect: int | None = 0):
    """Run ``nnctl ARGS`` in-process; check the exit code (unless ``expect`` is None)."""
    result = CliRunner().invoke(app, [str(a) for a in args])
    if expect is not None:
        assert result.exit_code == expect, (
            f"nnctl {' '.join(map(str, args))} exited {result.exit_code}, expected {expect}\n"
            f"stdout: {result.stdout}\nstderr: {result.stderr}\nexception: {result.exception!r}"
        )
    return result


def invoke_json(*args, expect: int | None = 0) -> dict:
    result = invoke(*args, "--json", expect=expect)
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, f"expected one JSON line on stdout, got: {result.stdout!r}"
    return json.loads(lines[0])


def nnctl_cmd(*args) -> list[str]:
    return [sys.executable, "-m", "nnctl", *[str(a) for a in args]]


def subprocess_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("NO_COLOR", "1")
    env.update(extra)
    return env


def run_nnctl(*args, cwd: Path | None = None, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``python -m nnctl ARGS`` as a real process (stdout/stderr are pipes, not TTYs)."""
    return subprocess.run(
        nnctl_cmd(*args), cwd=cwd, env=env or subprocess_env(), capture_output=True, text=True, timeout=timeout,
    )


def train_json(spec: Path, runs_dir: Path, *overrides: str) -> dict:
    """Train in-process, quietly, with ``--set`` OVERRIDES; return the JSON result."""
    sets = [x for o in overrides for x in ("--set", o)]
    return invoke_json("train", spec, "--runs-dir", runs_dir, "--quiet", *sets)


def train_run(spec: Path, runs_dir: Path, *overrides: str) -> Path:
    """Train in-process, quietly; return the new run directory."""
    return Path(train_json(spec, runs_dir, *overrides)["run"])


def init_from_source(path: Path, runs_dir: Path) -> list[str]:
    """A spec with ``model.init_from: {run: runs/NAME}`` starts from a short run of configs/NAME.yaml:
    the override pointing it there (none for a spec without init_from)."""
    init = load_spec(path).model.init_from
    if init is None:
        return []
    source = train_json(CONFIGS / f"{Path(init.run).name}.yaml", runs_dir, "data.limit=300", "train.epochs=1")
    return [f"model.init_from.run={source['run']}"]


def h5_datasets(path: Path) -> dict[str, np.ndarray]:
    """Every dataset of an HDF5 file, by its path, read with plain h5py."""
    out: dict[str, np.ndarray] = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return out


def assert_same_arrays(a: dict, b: dict, prefixes=("",), skip=()) -> None:
    keys_a = {k for k in a if k.startswith(prefixes) and k not in skip}
    keys_b = {k for k in b if k.startswith(prefixes) and k not in skip}
    assert keys_a == keys_b
    assert keys_a, f"nothing under {prefixes}"
    for key in sorted(keys_a):
        x, y = np.asarray(a[key]), np.asarray(b[key])
        assert x.dtype == y.dtype and x.shape == y.shape, key
        assert np.array_equal(x, y, equal_nan=x.dtype.kind == "f"), f"{key} differs"


@contextlib.contextmanager
def no_float_warnings():
    """Turn every warning and every NumPy overflow/invalid/divide condition into an error."""
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise"):
        warnings.simplefilter("error")
        yield


def one_line_error(stderr: str) -> str:
    """The stderr of a user mistake: exactly one `nnctl: error:` line and no traceback."""
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got: {stderr!r}"
    assert lines[0].startswith("nnctl: error: "), lines[0]
    return lines[0]


# Python's own spelling of values, which a page or a table for people must never show.
PYTHON_REPRS = re.compile(r"\b(None|True|False|nan\(|array\(|np\.\w+\()|\[\s*'|\{'|\(\d+,\)|,,")


def assert_no_python_reprs(text: str, where: str) -> None:
    """No None/True/False, list or dict reprs, one-tuples like (12,) or doubled commas in ``text``."""
    found = PYTHON_REPRS.search(text)
    assert found is None, f"{where}: Python repr {found.group(0)!r} in …{text[max(0, found.start() - 80):found.end() + 80]}…"


# ---------------------------------------------------------------- fixtures


@pytest.fixture(autouse=True)
def reference_kernels():
    """Every test starts on the reference kernels; a Trainer selects its run's (train.kernels: auto is the
    compiled ones when the fast extra is installed), and that choice ends with the test."""
    from nnctl.nn import kernels

    with kernels.using("numpy"):
        yield


@pytest.fixture
def tiny_spec(tmp_path) -> Path:
    return write_spec(tmp_path, TINY_SPEC, "tiny.yaml")


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory) -> Path:
    """One trained tiny digits run, shared read-only by the eval/predict/gradcheck tests."""
    base = tmp_path_factory.mktemp("trained")
    spec = write_spec(base, TINY_SPEC.replace("epochs: 4", "epochs: 6"), "tiny.yaml")
    return train_run(spec, base / "runs")


@pytest.fixture(scope="session")
def trained_moons_run(tmp_path_factory) -> Path:
    """A trained binary (sigmoid output) run on the generated moons."""
    base = tmp_path_factory.mktemp("moons")
    spec = write_spec(base, MOONS_SPEC, "moons.yaml")
    return train_run(spec, base / "runs")


@pytest.fixture(scope="session")
def mnist_mirror() -> Path:
    """The local MNIST mirror directory; the test is skipped (not failed) without one."""
    if not (MNIST_MIRROR / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"no MNIST mirror at {MNIST_MIRROR} (set $NNCTL_DATA_MIRROR to a directory holding the .gz files)")
    return MNIST_MIRROR


@pytest.fixture(scope="session")
def mnist_datasets(tmp_path_factory, mnist_mirror):
    """A temporary datasets folder whose cache holds MNIST, fetched once from the mirror.

    Returns the folder and what `nnctl data fetch` printed.
    """
    datasets = tmp_path_factory.mktemp("datasets")
    result = invoke("data", "fetch", "mnist", "--mirror", mnist_mirror, "--cache-dir", datasets / "cache")
    return datasets, result.stdout
