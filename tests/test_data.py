"""The data package: readers, generated sets, splits, normalization and the registry."""

from __future__ import annotations

import gzip
import re
import struct
from pathlib import Path

import h5py
import numpy as np
import pytest

from nnctl import memory
from nnctl.data import DataError, Dataset, Normalizer, load_inference_input, load_splits, make_generated, registry
from nnctl.data.load import data_streams, load_labelled_file
from nnctl.data.sources import read_idx, read_source
from nnctl.data.split import limit, split
from nnctl.errors import BuildError
from nnctl.spec.schema import DataSpec, SplitSpec

REPO = Path(__file__).resolve().parents[1]
DATASETS = REPO / "datasets"
MNIST_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


def spec(**data) -> DataSpec:
    return DataSpec.model_validate(data)


def labelled_pool(counts: list[int], width: int = 3) -> Dataset:
    y = np.repeat(np.arange(len(counts)), counts)
    return Dataset(np.arange(len(y) * width, dtype=float).reshape(len(y), width), y)


def write_idx(path: Path, magic: int, array: np.ndarray, compress: bool) -> Path:
    data = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in array.shape) + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


# ---------------------------------------------------------------- generated sets


@pytest.mark.parametrize("name,classes", [("moons", 2), ("circles", 2), ("spirals", 3), ("xor", 2), ("flower", 2), ("blobs", 4)])
def test_generated_sets_are_deterministic_with_the_right_shapes(name, classes):
    x, y = make_generated(name, 101, 0.1, classes, np.random.default_rng(7))
    again, y_again = make_generated(name, 101, 0.1, classes, np.random.default_rng(7))
    assert x.shape == (101, 2) and x.dtype == np.float64 and y.shape == (101,)
    assert np.array_equal(x, again) and np.array_equal(y, y_again)
    assert set(np.unique(y)) == set(range(classes))


def test_generated_set_load_is_seeded():
    data = spec(source="moons", split={"train": 0.5, "dev": 0.25, "test": 0.25})
    a, b, c = (load_splits(data, seed, DATASETS) for seed in (3, 3, 4))
    assert np.array_equal(a.train.x, b.train.x) and not np.array_equal(a.train.x, c.train.x)
    assert a.class_names == ["0", "1"] and a.train.x.shape[1:] == (2,)


def test_data_streams_are_independent_of_each_other():
    streams = data_streams(0)
    draws = [rng.random(4) for rng in streams.values()]
    assert not np.allclose(draws[0], draws[1]) and not np.allclose(draws[1], draws[2])


# ---------------------------------------------------------------- bundled digits


def test_digits_load_as_8x8x1_images_with_10_classes():
    found = read_source(spec().source, DATASETS)
    assert found.pool.x.shape == (1797, 8, 8, 1) and found.test is None
    splits = load_splits(spec(), 0, DATASETS)
    assert splits.task == "classification" and splits.class_names == [str(d) for d in range(10)]
    assert (len(splits.train), len(splits.dev), len(splits.test)) == (1437, 180, 180)
    assert splits.train.y.dtype == np.int64 and splits.train_dev is None


# ---------------------------------------------------------------- file readers


def test_hdf5_common_layout_with_row_vector_labels_and_class_names(tmp_path):
    path = tmp_path / "cats.h5"
    with h5py.File(path, "w") as f:
        f["train_set_x"] = images = np.random.default_rng(0).integers(0, 255, (20, 4, 4, 3), dtype=np.uint8)
        f["train_set_y"] = np.array([[0, 1] * 10])
        f["test_set_x"] = np.zeros((6, 4, 4, 3), dtype=np.uint8)
        f["test_set_y"] = np.array([[1, 0, 1, 0, 1, 0]])
        f["list_classes"] = np.array([b"non-cat", b"cat"])
    splits = load_splits(spec(source={"type": "hdf5", "path": str(path)}, split={"train": 0.5, "dev": 0.5, "test": 0.0}), 0, DATASETS)
    assert splits.train.x.shape == (10, 4, 4, 3) and splits.train.x.dtype == np.uint8  # as stored, read when needed
    assert np.array_equal(np.asarray(splits.train.x), images[splits.train.rows])
    assert len(splits.dev) == 10 and len(splits.test) == 6
    assert splits.class_names == ["non-cat", "cat"] and splits.test.y.tolist() == [1, 0, 1, 0, 1, 0]


def test_hdf5_without_test_sets_and_a_3d_stack_gains_a_channel(tmp_path):
    path = tmp_path / "plain.h5"
    with h5py.File(path, "w") as f:
        f["train_set_x"] = np.zeros((5, 6, 6))
        f["train_set_y"] = np.array([0, 1, 0, 1, 1])
    found = read_source(spec(source={"type": "hdf5", "path": str(path)}).source, DATASETS)
    assert found.pool.x.shape == (5, 6, 6, 1) and found.test is None and found.names is None


def test_npz_with_string_labels_maps_them_to_indices(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.arange(24.0).reshape(12, 2), y=np.array(["dog", "cat", "eel"] * 4))
    splits = load_splits(spec(source={"type": "npz", "path": str(path)}, split={"train": 6, "dev": 3, "test": 3}), 0, DATASETS)
    assert splits.class_names == ["cat", "dog", "eel"]
    assert sorted(np.bincount(splits.train.y).tolist()) == [2, 2, 2]


def test_npz_row_count_mismatch_names_the_file(tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(path, x=np.zeros((5, 2)), y=np.zeros(4))
    with pytest.raises(DataError, match="bad.npz.*5 rows.*4"):
        load_splits(spec(source={"type": "npz", "path": str(path)}), 0, DATASETS)


def test_csv_with_header_and_named_label_column(tmp_path):
    path = tmp_path / "t.csv"
    rows = [f"{i},{i * 2},{'yes' if i % 2 else 'no'}" for i in range(10)]
    path.write_text("a,b,label\n" + "\n".join(rows) + "\n")
    pool = read_source(spec(source={"type": "csv", "path": str(path), "header": True, "label_column": "label"}).source, DATASETS).pool
    assert pool.x.shape == (10, 2) and pool.y[:2].tolist() == ["no", "yes"]


def test_csv_with_float_labels_is_regression(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("\n".join(f"{i},{i * 0.5 + 0.25}" for i in range(20)))
    splits = load_splits(spec(source={"type": "csv", "path": str(path)}), 0, DATASETS)
    assert splits.task == "regression" and splits.train.y.shape == (16, 1) and splits.class_names == []


@pytest.mark.parametrize("compress", [True, False])
def test_idx_reader_raw_and_gzip(tmp_path, compress):
    images = write_idx(tmp_path / "img", 2051, np.arange(40).reshape(10, 2, 2), compress)
    labels = write_idx(tmp_path / "lab", 2049, np.array([3, 7] * 5), compress)
    pool = read_source(spec(source={"type": "idx", "images": str(images), "labels": str(labels)}).source, DATASETS).pool
    assert pool.x.shape == (10, 2, 2, 1) and pool.y.tolist() == [3, 7] * 5
    splits = load_splits(spec(source={"type": "idx", "images": str(images), "labels": str(labels)},
                              split={"train": 0.6, "dev": 0.4, "test": 0.0}), 0, DATASETS)
    assert splits.class_names == ["3", "7"] and set(splits.train.y.tolist()) == {0, 1}


def test_idx_bad_magic_number(tmp_path):
    path = write_idx(tmp_path / "lab", 2051, np.zeros((3, 1, 1)), True)
    with pytest.raises(DataError, match="magic number 2051, expected 2049"):
        read_idx(path, 2049)


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(DataError, match="nope.h5: no such file"):
        load_splits(spec(source={"type": "hdf5", "path": str(tmp_path / "nope.h5")}), 0, DATASETS)
    junk = tmp_path / "junk.h5"
    junk.write_text("not hdf5")
    with pytest.raises(DataError, match="junk.h5: not a readable HDF5"):
        load_splits(spec(source={"type": "hdf5", "path": str(junk)}), 0, DATASETS)


def test_nan_inputs_are_refused(tmp_path):
    path = tmp_path / "nan.npz"
    x = np.ones((10, 2))
    x[3, 1] = np.nan
    np.savez(path, x=x, y=np.arange(10) % 2)
    with pytest.raises(DataError, match="nan.npz: NaN or infinite"):
        load_splits(spec(source={"type": "npz", "path": str(path)}), 0, DATASETS)


def test_inference_inputs_and_labelled_files(tmp_path):
    np.save(tmp_path / "a.npy", np.zeros((3, 8, 8)))
    (tmp_path / "b.csv").write_text("p0,p1\n1,2\n3,4\n")
    with h5py.File(tmp_path / "c.h5", "w") as f:
        f["x"] = np.zeros((2, 5))
    assert load_inference_input(tmp_path / "a.npy").shape == (3, 8, 8, 1)
    assert load_inference_input(tmp_path / "b.csv").tolist() == [[1, 2], [3, 4]]
    assert load_inference_input(tmp_path / "c.h5").shape == (2, 5)
    np.savez(tmp_path / "d.npz", x=np.zeros((4, 2)), y=np.array([7, 3, 3, 7]))
    assert load_labelled_file(tmp_path / "d.npz", ["3", "7"], "classification").y.tolist() == [1, 0, 0, 1]


def _scalar_file(path: Path, key: str) -> Path:
    """A file like any other except that ``key`` holds a single value."""
    arrays = {"x": np.zeros((3, 2)), "y": np.arange(3), key: np.float64(3)}
    if path.suffix == ".npz":
        np.savez(path, **arrays)
    else:
        with h5py.File(path, "w") as f:
            for name, array in arrays.items():
                f[name] = array
    return path


@pytest.mark.parametrize("name,key,read,message", [
    ("s.npz", "x", "inputs", "s.npz: 'x' is a single value; inputs need one row per example"),
    ("s.npz", "y", "labelled", "s.npz: 'y' is a single value; labels need one row per example"),
    ("s.h5", "x", "inputs", "s.h5: dataset 'x' is a single value; inputs need one row per example"),
    ("s.h5", "x", "labelled", "s.h5: dataset 'x' is a single value; inputs need one row per example"),
    ("s.h5", "y", "labelled", "s.h5: 'y' is a single value; labels need one row per example"),
])
def test_a_single_value_is_refused_naming_the_file_and_key(tmp_path, name, key, read, message):
    path = _scalar_file(tmp_path / name, key)
    with pytest.raises(DataError, match=message):
        load_inference_input(path) if read == "inputs" else load_labelled_file(path, ["0", "1", "2"], "classification")


def test_a_single_value_npy_is_refused(tmp_path):
    np.save(tmp_path / "s.npy", np.float64(3))
    with pytest.raises(DataError, match="s.npy: the array is a single value"):
        load_inference_input(tmp_path / "s.npy")


@pytest.mark.parametrize("x,dtype", [(np.array([[1 + 2j, 3]]), "complex128"), (np.array([["1", "2"]]), "<U1"),
                                     (np.array([["2020-01-01"]], dtype="M8[D]"), "datetime64[D]"),
                                     (np.zeros(2, dtype=[("a", "f8"), ("b", "f8")]), "[('a', '<f8'), ('b', '<f8')]")])
def test_inputs_that_are_not_real_numbers_are_refused(tmp_path, x, dtype):
    np.savez(tmp_path / "c.npz", x=x, y=np.arange(len(x)))
    message = re.escape(f"c.npz: 'x' holds {dtype} values; inputs must be numbers (bool, integer or float)")
    with pytest.raises(DataError, match=message):
        load_inference_input(tmp_path / "c.npz")
    with pytest.raises(DataError, match=message):
        read_source(spec(source={"type": "npz", "path": str(tmp_path / "c.npz")}).source, DATASETS)


def test_complex_hdf5_inputs_and_labels_are_refused(tmp_path):
    with h5py.File(tmp_path / "c.h5", "w") as f:
        f["x"], f["y"] = np.zeros((3, 2), complex), np.arange(3)
        f["train_set_x"], f["train_set_y"] = np.zeros((3, 2)), np.array([1j, 2, 3])
    with pytest.raises(DataError, match="c.h5: dataset 'x' holds complex128 values"):
        read_source(spec(source={"type": "hdf5", "path": str(tmp_path / "c.h5"), "x": "x", "y": "y"}).source, DATASETS)
    with pytest.raises(DataError, match="c.h5: 'train_set_y' holds complex128 values; labels must be numbers or text"):
        read_source(spec(source={"type": "hdf5", "path": str(tmp_path / "c.h5")}).source, DATASETS)


@pytest.mark.parametrize("dtype", [bool, np.int8, np.uint16, np.float16, np.float32, np.float64])
def test_bool_integer_and_float_inputs_are_read(tmp_path, dtype):
    np.savez(tmp_path / "n.npz", x=np.ones((3, 2), dtype=dtype))
    x = load_inference_input(tmp_path / "n.npz")
    assert x.shape == (3, 2) and x.dtype == (np.float64 if dtype is bool else dtype)
    assert x.tolist() == [[1, 1]] * 3


@pytest.fixture
def small_limit(monkeypatch):
    """A memory limit of 1 MiB: an array of 1000 × 1000 float64 values (7.6 MiB) does not fit."""
    monkeypatch.setattr(memory, "limit", lambda: (1 << 20, "the test's limit"))


def _npy_header_only(path: Path) -> Path:
    """An .npy file of 128 bytes whose header declares 1000 × 1000 float64 values."""
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "<f8", "fortran_order": False, "shape": (1000, 1000)})
    return path


NEEDS = re.escape("(1,000 × 1,000 float64 values) would need at least 7.6 MiB; the test's limit is 1.0 MiB")


def test_declared_array_sizes_are_checked_before_reading(tmp_path, small_limit):
    with pytest.raises(DataError, match=f"h.npy: the array {NEEDS}"):
        load_inference_input(_npy_header_only(tmp_path / "h.npy"))
    np.savez_compressed(tmp_path / "z.npz", x=np.zeros((1000, 1000)), y=np.zeros(1000))
    with pytest.raises(DataError, match=f"z.npz: array 'x' {NEEDS}"):
        load_inference_input(tmp_path / "z.npz")
    with h5py.File(tmp_path / "h.h5", "w") as f:
        f.create_dataset("x", shape=(1000, 1000), dtype="f8")
        f.create_dataset("y", shape=(1000, 1000), dtype="f8")
    with pytest.raises(DataError, match=f"h.h5: dataset 'x' {NEEDS}"):
        load_inference_input(tmp_path / "h.h5")
    with pytest.raises(DataError, match=f"h.h5: dataset 'y' {NEEDS}"):
        read_source(spec(source={"type": "hdf5", "path": str(tmp_path / "h.h5"), "x": "x", "y": "y"}).source, DATASETS)


def test_an_hdf5_source_larger_than_memory_is_left_on_disk(tmp_path, small_limit):
    with h5py.File(tmp_path / "h.h5", "w") as f:
        f.create_dataset("x", shape=(1000, 1000), dtype="f8")
        f["y"] = np.arange(1000) % 2
    found = read_source(spec(source={"type": "hdf5", "path": str(tmp_path / "h.h5"), "x": "x", "y": "y"}).source, DATASETS)
    assert found.pool.x.shape == (1000, 1000)
    with pytest.raises(DataError, match=f"h.h5: rows of dataset 'x' read into memory {NEEDS}"):
        np.asarray(found.pool.x)
    assert np.asarray(found.pool.x[:10]).shape == (10, 1000)


def test_idx_headers_are_checked_before_the_data_is_read(tmp_path, small_limit):
    header = struct.pack(">IIII", 2051, 1000, 1000, 8)
    (tmp_path / "lie").write_bytes(gzip.compress(header + b"\0" * 10))
    with pytest.raises(DataError, match=r"lie: IDX images \(1,000 × 1,000 × 8 uint8 values\) would need at least 7.6 MiB"):
        read_idx(tmp_path / "lie", 2051)


@pytest.mark.parametrize("data,message", [
    (struct.pack(">II", 2051, 10), "the IDX header ends after 8 bytes; images need 16"),
    (struct.pack(">IIII", 2051, 2, 2, 2) + bytes(7), "the IDX header declares 2 × 2 × 2 = 8 values but the file holds 7"),
    (struct.pack(">IIII", 2051, 2, 2, 2) + bytes(9), "the IDX header declares 2 × 2 × 2 = 8 values but the file holds more"),
], ids=["short header", "fewer values", "more values"])
def test_idx_headers_that_do_not_match_the_data_are_refused(tmp_path, data, message):
    (tmp_path / "img").write_bytes(data)
    with pytest.raises(DataError, match=f"img: {message}"):
        read_idx(tmp_path / "img", 2051)


# ---------------------------------------------------------------- splits


def test_stratified_fractions_keep_class_proportions_and_exact_totals():
    pool = labelled_pool([300, 120, 57, 23])
    train, dev, test, train_dev = split(pool, {}, SplitSpec(train=0.7, dev=0.1, test=0.1, train_dev=0.1), "classification",
                                        np.random.default_rng(0))
    sizes = [len(part) for part in (train, dev, test, train_dev)]
    assert sizes == [350, 50, 50, 50]
    for part, share in zip((train, dev, test, train_dev), (0.7, 0.1, 0.1, 0.1)):
        per_class = np.bincount(part.y, minlength=4)
        assert np.all(np.abs(per_class - share * np.array([300, 120, 57, 23])) < 2)
    rows = np.concatenate([part.x[:, 0] for part in (train, dev, test, train_dev)])
    assert len(np.unique(rows)) == 500


def test_counts_leave_the_rest_out_and_must_fit():
    pool = labelled_pool([50, 50])
    train, dev, test, _ = split(pool, {}, SplitSpec(train=60, dev=10, test=10), "classification", np.random.default_rng(0))
    assert (len(train), len(dev), len(test)) == (60, 10, 10) and np.bincount(train.y).tolist() == [30, 30]
    with pytest.raises(BuildError, match="asks for 120 rows but the data has 100"):
        split(pool, {}, SplitSpec(train=100, dev=10, test=10), "classification", np.random.default_rng(0))


def test_fractions_must_sum_to_one():
    with pytest.raises(BuildError, match="sum to 0.9"):
        split(labelled_pool([10, 10]), {}, SplitSpec(train=0.7, dev=0.1, test=0.1), "classification", np.random.default_rng(0))


def test_own_test_set_replaces_test_and_fractions_renormalize():
    own = labelled_pool([3, 3])
    train, dev, test, _ = split(labelled_pool([40, 40]), {"test": own}, SplitSpec(train=0.6, dev=0.2, test=0.2), "classification",
                                np.random.default_rng(0))
    assert test is own and (len(train), len(dev)) == (60, 20)


def test_empty_requested_split_is_an_error():
    with pytest.raises(BuildError, match="dev split is empty"):
        split(labelled_pool([3, 2]), {}, SplitSpec(train=0.89, dev=0.01, test=0.1), "classification", np.random.default_rng(0))


def test_limit_takes_a_stratified_subset_before_splitting():
    small = limit(labelled_pool([600, 300, 100]), 100, True, np.random.default_rng(0))
    assert np.bincount(small.y).tolist() == [60, 30, 10]
    splits = load_splits(spec(limit=200), 0, DATASETS)
    assert sum(len(part) for part in (splits.train, splits.dev, splits.test)) == 200


# ---------------------------------------------------------------- normalization


def test_normalizer_fits_train_only_and_round_trips_its_state(tmp_path):
    rng = np.random.default_rng(0)
    train = rng.normal(3.0, 2.0, (50, 4, 4, 1))
    train[:, 0, 0, 0] = 5.0  # a constant pixel
    norm = Normalizer().fit(train, "standardize", 255.0)
    assert np.allclose(norm.shift, train.mean(axis=0)) and norm.divisor[0, 0, 0] == 1.0
    assert np.allclose(norm.divisor[1:], train.std(axis=0)[1:])
    out = norm.apply(train, dtype=np.float32)
    assert out.dtype == np.float32 and np.allclose(out.mean(axis=0), 0, atol=1e-5)
    other = rng.normal(size=(7, 4, 4, 1))
    restored = Normalizer.from_state(norm.state())
    assert np.array_equal(restored.apply(other), norm.apply(other)) and restored.method == "standardize"
    with h5py.File(tmp_path / "norm.h5", "w") as f:  # as a checkpoint stores it
        for key, value in norm.state().items():
            f[key] = value
    with h5py.File(tmp_path / "norm.h5", "r") as f:
        stored = {key: f[key][()] for key in f}
    assert np.array_equal(Normalizer.from_state(stored).apply(other), norm.apply(other))


@pytest.mark.parametrize("method,expected", [("minmax", [[0.0, 0.0], [1.0, 0.0]]), ("scale", [[1 / 255, 1 / 255], [3 / 255, 1 / 255]]),
                                             ("none", [[1.0, 1.0], [3.0, 1.0]])])
def test_other_normalizations(method, expected):
    x = np.array([[1.0, 1.0], [3.0, 1.0]])
    assert np.allclose(Normalizer().fit(x, method, 255.0).apply(x), expected)


# ---------------------------------------------------------------- registry


def _mtimes(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}


def test_fetch_mnist_from_a_mirror_directory_verifies_and_caches(tmp_path, mnist_mirror):
    cache = tmp_path / "cache"
    assert [row["cached"] for row in registry.entries(tmp_path) if row["name"] == "mnist"] == [False]
    paths = registry.fetch("mnist", str(mnist_mirror), cache)
    assert sorted(p.name for p in (cache / "mnist").iterdir()) == sorted(f.name for f in registry.REGISTRY["mnist"].files)
    labels = read_idx(paths["labels"], 2049)
    assert np.bincount(labels).tolist() == MNIST_COUNTS
    assert read_idx(paths["test_images"], 2051).shape == (10000, 28, 28)
    before = _mtimes(cache / "mnist")
    assert registry.fetch("mnist", "http://127.0.0.1:9/unreachable/", cache) == paths
    assert _mtimes(cache / "mnist") == before
    assert [row["cached"] for row in registry.entries(tmp_path) if row["name"] == "mnist"] == [True]


def test_fetch_from_a_file_url_mirror(tmp_path, mnist_mirror):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for f in registry.REGISTRY["mnist"].files:
        (mirror / (f.name + ".gz")).symlink_to(mnist_mirror / (f.name + ".gz"))
    paths = registry.fetch("mnist", mirror.resolve().as_uri(), tmp_path / "cache")
    assert all(path.is_file() for path in paths.values())


def test_corrupted_mirror_raises_and_caches_nothing(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for f in registry.REGISTRY["mnist"].files:
        (mirror / (f.name + ".gz")).write_bytes(gzip.compress(b"not mnist"))
    monkeypatch.setenv(registry.MIRROR_ENV, str(mirror))
    with pytest.raises(DataError, match="checksum mismatch"):
        registry.fetch("mnist", None, tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir()) == []


def test_unknown_registry_name():
    with pytest.raises(DataError, match="unknown registry data set 'cifar'"):
        registry.fetch("cifar", None, Path("unused"))


def test_a_registry_source_hashes_each_file_once(monkeypatch, mnist_datasets):
    """fetch verifies every file's SHA-256; the parts' fingerprints reuse those hashes rather than reading the files again."""
    from nnctl.data import parts

    hashed = []

    def counting(path):
        hashed.append(Path(path).name)
        return real(path)

    real = registry.file_sha256
    monkeypatch.setattr(registry, "file_sha256", counting)
    monkeypatch.setattr(parts, "file_sha256", counting)
    splits = load_splits(spec(source={"type": "registry", "name": "mnist"}, limit=100), 0, mnist_datasets[0])
    assert sorted(hashed) == sorted(f.name for f in registry.REGISTRY["mnist"].files)
    assert [p.files[0].sha256 for p in splits.parts] == [f.sha256 for f in registry.REGISTRY["mnist"].files[::2]]
