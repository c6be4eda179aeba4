"""Data at scale: one copy in memory, streaming from HDF5, `data convert`, and the checkpoint clock.

Files are small (a few thousand rows); the block and buffer sizes are shrunk so
that the streaming paths still cross many blocks, buffers and batch boundaries.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest import assert_same_arrays, h5_datasets, invoke, invoke_json, one_line_error, write_spec

from nnctl import memory
from nnctl.data import Normalizer, rows, stream
from nnctl.data.moments import RunningMoments
from nnctl.orchestration.start import resume_run, start_run
from nnctl.runs.checkpoint import load_checkpoint
from nnctl.spec import load_spec
from nnctl.train.loop import Reporter
from nnctl.train.prepare import StreamedPrepared

FEATURES = 6


def make_h5(path: Path, m: int = 3000, seed: int = 0, chunk: int = 50, dtype=np.float32) -> Path:
    """m rows of FEATURES values (column 0 is the row number, so a batch tells which rows it holds), 3 classes."""
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((m, FEATURES)) * [1, 2, 3, 4, 5, 6] + [0, 10, -5, 100, 1e3, 0.5]).astype(dtype)
    x[:, 0] = np.arange(m)
    y = (x[:, 1] - 10 > 0).astype(np.int64) + (x[:, 2] + 5 > 1)
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=x, chunks=(chunk, FEATURES))
        f.create_dataset("y", data=y)
    return path


SPEC = """\
name: scale
seed: 3
data:
  source: {{type: hdf5, path: {path}, x: x, y: y, stream: {stream}}}
  split: {{train: 0.7, dev: 0.2, test: 0.1}}
model:
  layers:
    - {{units: 12, activation: tanh}}
    - {{units: 3, activation: softmax}}
train: {{epochs: {epochs}, batch_size: 64, learning_rate: 0.01, optimizer: {{name: adam}}}}
"""


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of 2 HDF5 chunks (100 rows) and buffers of 3 blocks: many of both in a 3000-row file."""
    monkeypatch.setattr(stream, "STREAM_BLOCK_BYTES", 100 * 4 * FEATURES)
    monkeypatch.setattr(stream, "BUFFER_BYTES", 3 * 100 * 4 * FEATURES)
    monkeypatch.setattr(rows, "BLOCK_BYTES", 64 * 8 * FEATURES)


def spec_file(tmp_path: Path, data: Path, stream_setting="false", epochs: int = 3, name: str = "spec.yaml") -> Path:
    return write_spec(tmp_path, SPEC.format(path=data, stream=stream_setting, epochs=epochs), name)


# ---------------------------------------------------------------- statistics


def test_running_moments_merge_blocks_like_numpy_in_one_go():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((5000, 7)) * rng.uniform(0.01, 100, 7) + rng.uniform(-1e4, 1e4, 7)
    moments = RunningMoments()
    edges = np.sort(rng.choice(np.arange(1, 5000), 40, replace=False))
    for block in np.split(x, edges):  # uneven blocks, merged one at a time
        moments.update(block)
    assert moments.count == 5000
    np.testing.assert_allclose(moments.mean, x.mean(axis=0), rtol=1e-13, atol=0)
    np.testing.assert_allclose(moments.std, x.std(axis=0), rtol=1e-12)
    assert np.array_equal(moments.min, x.min(axis=0)) and np.array_equal(moments.max, x.max(axis=0))


def test_chan_merge_of_two_blocks_by_hand():
    moments = RunningMoments()
    moments.update(np.array([[1.0], [3.0]]))  # mean 2, M2 2
    moments.update(np.array([[10.0]]))  # mean 10, M2 0
    # δ = 8, n = 3: mean = 2 + 8/3, M2 = 2 + 0 + 64·2·1/3
    assert moments.mean[0] == pytest.approx(2 + 8 / 3, rel=1e-15)
    assert moments.m2[0] == pytest.approx(2 + 128 / 3, rel=1e-15)
    assert moments.std[0] == pytest.approx(np.std([1.0, 3.0, 10.0]), rel=1e-15)


@pytest.mark.parametrize("shape", [(3001, 1), (3001, 5), (601, 4, 4, 2)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.uint8])
def test_blockwise_fit_and_apply_are_bit_exact_against_one_float64_pass(monkeypatch, shape, dtype):
    monkeypatch.setattr(rows, "BLOCK_BYTES", 1000)  # many blocks
    rng = np.random.default_rng(1)
    x = (rng.uniform(0, 255, shape) if dtype == np.uint8 else rng.standard_normal(shape) * 3 + 7).astype(dtype)
    x64 = x.astype(np.float64)
    norm = Normalizer().fit(x, "standardize")
    assert np.array_equal(norm.shift, x64.mean(axis=0)) and np.array_equal(norm.divisor, x64.std(axis=0))
    assert np.array_equal(norm.apply(x, np.float32), ((x64 - x64.mean(axis=0)) / x64.std(axis=0)).astype(np.float32))
    minmax = Normalizer().fit(x, "minmax")
    assert np.array_equal(minmax.shift, x64.min(axis=0)) and np.array_equal(minmax.divisor, np.ptp(x64, axis=0))


def test_in_place_apply_leaves_one_copy(tmp_path):
    x = np.random.default_rng(2).standard_normal((500, 3)).astype(np.float32)
    norm = Normalizer().fit(x, "standardize")
    expected = norm.apply(x, np.float32)
    out = norm.apply(x, np.float32, out=x)
    assert out is x and np.array_equal(x, expected)


# ---------------------------------------------------------------- in memory


def test_hdf5_in_memory_is_one_normalized_float32_array_equal_to_the_float64_route(tmp_path, small_blocks):
    data = make_h5(tmp_path / "d.h5")
    trainer = start_run(load_spec(spec_file(tmp_path, data)), tmp_path / "runs")
    train = trainer.data["train"]
    assert not isinstance(train, StreamedPrepared) and train.x.dtype == np.float32
    with h5py.File(data) as f:
        raw = f["x"][()].astype(np.float64)
    saved = load_checkpoint(trainer.run_dir / "checkpoint.h5").normalizer
    mean, std = saved["shift"], saved["divisor"]
    # rows are recovered from column 0 (the row number), after undoing the normalization
    row_numbers = np.rint(train.x[:, 0].astype(np.float64) * std[0] + mean[0]).astype(int)
    source = raw[row_numbers]
    assert np.array_equal(mean, source.mean(axis=0)) and np.array_equal(std, source.std(axis=0))
    assert np.array_equal(train.x, ((source - mean) / std).astype(np.float32))


# ---------------------------------------------------------------- streaming


def _stream_and_memory(tmp_path: Path, epochs: int = 3):
    data = make_h5(tmp_path / "d.h5")
    runs = {}
    for setting in ("true", "false"):
        spec = load_spec(spec_file(tmp_path, data, setting, epochs, f"{setting}.yaml"))
        trainer = start_run(spec, tmp_path / setting)
        runs[setting] = (trainer, trainer.run())
    return runs


def test_streaming_matches_memory_statistics_and_metrics(tmp_path, small_blocks):
    runs = _stream_and_memory(tmp_path, epochs=8)
    streamed, memory = runs["true"][0], runs["false"][0]
    assert isinstance(streamed.data["train"], StreamedPrepared) and streamed.data["train"].rows.buffer_blocks == 3
    a = load_checkpoint(streamed.run_dir / "checkpoint.h5").normalizer
    b = load_checkpoint(memory.run_dir / "checkpoint.h5").normalizer
    np.testing.assert_allclose(a["shift"], b["shift"], rtol=1e-14, atol=1e-12)
    np.testing.assert_allclose(a["divisor"], b["divisor"], rtol=1e-14)
    ra, rb = runs["true"][1].metrics, runs["false"][1].metrics
    assert len(streamed.data["dev"]) == len(memory.data["dev"]) == 600
    assert ra["dev_accuracy"] == pytest.approx(rb["dev_accuracy"], abs=0.03)
    assert ra["train_cost"] == pytest.approx(rb["train_cost"], rel=0.1)
    assert ra["dev_accuracy"] > 0.85  # it learned


def test_streamed_dev_metrics_equal_in_memory_evaluation_of_the_same_network(tmp_path, small_blocks):
    """Evaluating in file-order blocks gives the metrics of the whole split at once."""
    from nnctl.train.evaluate import evaluate

    data = make_h5(tmp_path / "d.h5")
    trainer = start_run(load_spec(spec_file(tmp_path, data, "true", 2)), tmp_path / "runs")
    result = trainer.run()
    dev = trainer.data["dev"]
    x = dev.rows.disk.gather(np.float32, transform=dev.rows.normalizer.transform_block)
    metrics = evaluate(trainer.net, x, dev.encode(dev.y), dev.y, 3)
    assert metrics["accuracy"] == result.metrics["dev_accuracy"]
    assert metrics["cost"] == pytest.approx(result.metrics["dev_cost"], rel=1e-6)  # float32 costs, other piece sizes


def test_each_streamed_epoch_is_a_permutation_of_the_train_rows_shuffled_across_blocks(tmp_path, small_blocks):
    data = make_h5(tmp_path / "d.h5")
    spec = load_spec(spec_file(tmp_path, data, "true"))
    trainer = start_run(spec.model_copy(update={"data": spec.data.model_copy(update={
        "normalize": spec.data.normalize.model_copy(update={"method": "none"})})}), tmp_path / "runs")
    train = trainer.data["train"]
    expected = np.sort(train.rows.disk.selection)
    batches = train.batches(64)
    rng = np.random.default_rng(9)
    orders = []
    for _ in range(3):
        batches.new_epoch(rng)
        seen = np.concatenate([batches[k][0][:, 0].copy() for k in range(batches.count)]).astype(np.int64)
        assert np.array_equal(np.sort(seen), expected)  # every train row once, no dev/test row
        orders.append(seen)
        # the first 100 rows come from 3 blocks of 100 rows spread over the file, shuffled together
        assert np.ptp(seen[:100]) > 300 and not np.all(np.diff(seen[:100]) > 0)
    assert not np.array_equal(orders[0], orders[1]) and not np.array_equal(orders[1], orders[2])
    batches.new_epoch(None)  # no shuffling: file order
    assert np.array_equal(np.concatenate([batches[k][0][:, 0].copy() for k in range(batches.count)]), expected)


def test_a_batch_can_span_buffers_and_be_asked_for_out_of_order(tmp_path, small_blocks):
    data = make_h5(tmp_path / "d.h5")
    trainer = start_run(load_spec(spec_file(tmp_path, data, "true")), tmp_path / "runs")
    batches = trainer.data["train"].batches(64)
    batches.new_epoch(np.random.default_rng(1))
    in_order = [tuple(np.copy(part) for part in batches[k]) for k in range(batches.count)]
    for k in (7, 2, batches.count - 1, 0):
        x, y = batches[k]
        assert np.array_equal(x, in_order[k][0]) and np.array_equal(y, in_order[k][1])
    assert any(edge % 64 for edge in batches.edges[1:-1])  # some batch spans two buffers


class StopAfter(Reporter):
    """Ask the trainer to stop after ``steps`` steps (as Ctrl-C would)."""

    def __init__(self, trainer, steps: int):
        self.trainer, self.left = trainer, steps

    def step(self, batch: int, cost: float) -> None:
        self.left -= 1
        if self.left == 0:
            self.trainer.stop_requested = True


def test_streamed_resume_mid_epoch_is_bit_exact(tmp_path, small_blocks):
    data = make_h5(tmp_path / "d.h5")
    spec_path = spec_file(tmp_path, data, "true", epochs=3)
    whole = start_run(load_spec(spec_path), tmp_path / "a")
    whole.run()
    part = start_run(load_spec(spec_path), tmp_path / "b")
    result = part.run(StopAfter(part, 33 + 40))  # 33 batches an epoch: stop in the middle of epoch 3's buffers
    assert result.stop_reason == "interrupted"
    ckpt = load_checkpoint(part.run_dir / "checkpoint.h5")
    assert ckpt.epoch == 2 and ckpt.batch == 7 and ckpt.progress["stream"] == {"block_rows": 100, "buffer_blocks": 3}
    resumed = resume_run(part.run_dir)
    assert isinstance(resumed.data["train"], StreamedPrepared)
    assert resumed.run().stop_reason == "completed"
    assert_same_arrays(h5_datasets(whole.run_dir / "checkpoint.h5"), h5_datasets(part.run_dir / "checkpoint.h5"),
                       ("params/", "optimizer/", "normalizer/"))
    cost_a = h5_datasets(whole.run_dir / "metrics.h5")["iteration/cost"]
    assert np.array_equal(cost_a, h5_datasets(part.run_dir / "metrics.h5")["iteration/cost"])


def test_auto_streams_only_above_the_memory_budget(tmp_path):
    data = make_h5(tmp_path / "d.h5", m=400)  # 400 × 6 float32 = 9,600 bytes
    for budget, streamed in (("9000", True), ("10KB", False), ("25%", False)):
        text = SPEC.format(path=data, stream="auto", epochs=1).replace("stream: auto", f"stream: auto, memory_budget: '{budget}'")
        trainer = start_run(load_spec(write_spec(tmp_path, text)), tmp_path / "runs")
        assert isinstance(trainer.data["train"], StreamedPrepared) == streamed, budget
    assert stream.budget_bytes("1.5GB") == int(1.5 * 2**30) and stream.budget_bytes("512mb") == 512 * 2**20


# ---------------------------------------------------------------- bad input


def test_a_split_larger_than_memory_allows_is_refused_in_memory_and_streamed_instead(tmp_path, monkeypatch, small_blocks):
    data = make_h5(tmp_path / "d.h5")  # train: 2,100 rows of 6 float32 values, 50,400 bytes
    monkeypatch.setattr(memory, "limit", lambda: (40_000, "the test's limit"))
    result = invoke("train", spec_file(tmp_path, data, "false", epochs=1), "--runs-dir", tmp_path / "runs", expect=2)
    assert one_line_error(result.stderr) == (f"nnctl: error: {data}: rows of dataset 'x' read into memory (2,100 × 6 float32 "
                                             "values) would need at least 49.2 KiB; the test's limit is 39.1 KiB")
    invoke("train", spec_file(tmp_path, data, "true", epochs=1), "--runs-dir", tmp_path / "runs", "--quiet")


@pytest.mark.parametrize("case", ["truncated", "not_hdf5", "missing_x", "stream_on_csv", "bad_budget"])
def test_bad_streaming_input_exits_2_with_one_line(tmp_path, case):
    data = make_h5(tmp_path / "d.h5")
    if case == "truncated":
        raw = data.read_bytes()
        data.write_bytes(raw[: len(raw) // 2])
    elif case == "not_hdf5":
        data.write_text("a,b\n1,2\n")
    text = SPEC.format(path=data, stream="true", epochs=1)
    if case == "missing_x":
        text = text.replace("x: x,", "x: inputs,")
    elif case == "stream_on_csv":
        text = text.replace(f"type: hdf5, path: {data}, x: x, y: y", f"type: csv, path: {tmp_path / 'd.csv'}")
    elif case == "bad_budget":
        text = text.replace("stream: true", "stream: auto, memory_budget: lots")
    result = invoke("train", write_spec(tmp_path, text), "--runs-dir", tmp_path / "runs", expect=2)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nnctl: error:"), result.stderr
    expected = {"truncated": "d.h5", "not_hdf5": "d.h5", "missing_x": "no dataset 'inputs'",
                "stream_on_csv": "needs an HDF5 source", "bad_budget": "memory_budget"}[case]
    assert expected in lines[0]
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


# ---------------------------------------------------------------- data convert


def _idx(path: Path, array: np.ndarray, magic: int) -> Path:
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))
    return path


def test_convert_round_trips_csv_npz_and_idx(tmp_path):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((50, 3)).round(3)
    names = np.array(["setosa", "versicolor", "virginica"])[rng.integers(0, 3, 50)]
    csv = tmp_path / "iris.csv"
    csv.write_text("a,b,c,species\n" + "".join(f"{r[0]},{r[1]},{r[2]},{n}\n" for r, n in zip(x, names)))
    facts = invoke_json("data", "convert", csv, tmp_path / "iris.h5", "--header", "yes", "--label-column", "species")
    assert facts["examples"] == 50 and facts["classes"] == 3
    with h5py.File(tmp_path / "iris.h5") as f:
        assert f["train_set_x"].dtype == np.float32 and f["train_set_x"].chunks[1:] == (3,)
        assert np.array_equal(f["train_set_x"][()], x.astype(np.float32))
        classes = [c.decode() for c in f["list_classes"][()]]
        assert classes == ["setosa", "versicolor", "virginica"]
        assert [classes[i] for i in f["train_set_y"][()]] == names.tolist()

    npz = tmp_path / "d.npz"
    np.savez(npz, x=x, y=np.arange(50) % 2, test_x=x[:5], test_y=np.array([0, 1, 0, 1, 1]))
    invoke("data", "convert", npz, tmp_path / "d.h5")
    np.savez(npz, x=x, y=np.arange(50) % 2, tx=x[:5], ty=np.array([0, 1, 0, 1, 1]))
    with h5py.File(tmp_path / "d.h5") as f:
        assert np.array_equal(f["train_set_x"][()], x.astype(np.float32)) and "test_set_x" not in f
        assert np.array_equal(f["train_set_y"][()], np.arange(50) % 2)

    images = rng.integers(0, 256, (20, 4, 4))
    labels = rng.integers(0, 10, 20)
    _idx(tmp_path / "img.gz", images, 2051)
    _idx(tmp_path / "lab.gz", labels, 2049)
    invoke("data", "convert", tmp_path / "img.gz", tmp_path / "idx.h5", "--labels", tmp_path / "lab.gz",
           "--test-images", tmp_path / "img.gz", "--test-labels", tmp_path / "lab.gz")
    with h5py.File(tmp_path / "idx.h5") as f:
        assert np.array_equal(f["train_set_x"][()], images[..., None].astype(np.float32))
        present = np.unique(labels)
        assert np.array_equal(present[f["train_set_y"][()]], labels) and np.array_equal(present[f["test_set_y"][()]], labels)
    # the converted file trains with the hdf5 source's defaults, streamed
    spec = write_spec(tmp_path, f"""\
        data: {{source: {{type: hdf5, path: {tmp_path / 'iris.h5'}, stream: true}}, split: {{train: 0.8, dev: 0.2, test: 0}}}}
        model: {{layers: [{{units: 3, activation: softmax}}]}}
        train: {{epochs: 2}}
        """)
    result = invoke_json("train", spec, "--runs-dir", tmp_path / "runs", "--quiet")
    assert result["stop_reason"] == "completed"
    invoke("predict", result["run"], tmp_path / "iris.h5", "--out", tmp_path / "p.csv")  # predict reads train_set_x
    assert len((tmp_path / "p.csv").read_text().splitlines()) == 1 + 50


def test_convert_refuses_bad_input_and_writes_nothing(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("1,2,0\n3,x,1\n")
    for args in ([bad, tmp_path / "o.h5"], [tmp_path / "nope.csv", tmp_path / "o.h5"], [bad, tmp_path / "o.txt"]):
        result = invoke("data", "convert", *args, expect=2)
        assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.startswith("nnctl: error:")
    assert not (tmp_path / "o.h5").exists() and [p.name for p in tmp_path.iterdir()] == ["bad.csv"]
    (tmp_path / "o.h5").write_text("keep")
    assert "exists" in invoke("data", "convert", bad, tmp_path / "o.h5", expect=2).stderr
    assert (tmp_path / "o.h5").read_text() == "keep"


# ---------------------------------------------------------------- checkpoint cadence


class FakeClock:
    def __init__(self, tick: float):
        self.now, self.tick = 0.0, tick

    def __call__(self) -> float:
        self.now += self.tick
        return self.now


CADENCE_SPEC = """\
name: cadence
seed: 0
data: {source: moons, split: {train: 0.8, dev: 0.2, test: 0.0}}
model: {layers: [{units: 4, activation: tanh}, {units: 1, activation: sigmoid}]}
train: {epochs: 12, batch_size: 64, learning_rate: 0.0001}
checkpoint: {every_seconds: 10, monitor: train_cost}
"""


def _saves(tmp_path: Path, text: str, tick: float, reporter=None) -> tuple[list[tuple[int, int]], object]:
    """(epochs done, batches done) at each durable write (best.h5, metrics, checkpoint.h5) after the start,
    under a fake clock moving ``tick`` a look."""
    tmp_path.mkdir(exist_ok=True)
    trainer = start_run(load_spec(write_spec(tmp_path, text)), tmp_path / "runs")
    trainer.clock = FakeClock(tick)
    trainer.last_saved = 0.0
    saved: list[tuple[int, int]] = []
    original = trainer._write

    def recording(latest, final):
        saved.append((latest.epoch, latest.batch))
        original(latest, final)

    trainer._write = recording
    result = trainer.run(reporter(trainer) if reporter else None)
    return saved, result


def test_checkpoint_is_rewritten_by_the_clock_and_at_the_end(tmp_path):
    # 5 batches an epoch, the clock moves 0.9 s a look (one after each step but the last, one after each epoch)
    text = CADENCE_SPEC.replace("train_cost", "train_error").replace("learning_rate: 0.0001", "learning_rate: 0.00000001")
    saved, result = _saves(tmp_path, text, 0.9)
    assert result.stop_reason == "completed"
    assert saved[-1] == (12, 0)  # the end
    by_clock = saved[:-1]
    assert 4 <= len(by_clock) <= 6 and any(batch for _, batch in by_clock)  # ≈ 66 looks · 0.9 s / 10 s, some mid-epoch
    looks = [5 * epoch + batch for epoch, batch in by_clock]
    assert all(11 <= b - a <= 13 for a, b in zip(looks, looks[1:]))  # 10 s ≈ 11.1 looks
    ckpt = load_checkpoint(result.run_dir / "checkpoint.h5")
    assert ckpt.epoch == 12 and ckpt.step == 60


def test_a_new_best_waits_in_memory_for_the_next_write(tmp_path):
    # train_cost falls every epoch at this small rate: every epoch is a new best, and none is written on its own
    text = CADENCE_SPEC.replace("every_seconds: 10", "every_seconds: 0")
    saved, result = _saves(tmp_path, text, 0.0)
    assert saved == [(12, 0)] and result.best["epoch"] == 12
    every = _saves(tmp_path / "e", text.replace("every_seconds: 0", "every_seconds: 0, every_epochs: 5"), 0.0)[0]
    assert every == [(5, 0), (10, 0), (12, 0)]


def test_best_h5_written_later_holds_the_best_epochs_state(tmp_path):
    # train_error never moves at this rate: epoch 1 is the best, written only at the end, 11 epochs later
    text = CADENCE_SPEC.replace("every_seconds: 10", "every_seconds: 1000").replace("train_cost", "train_error")
    text = text.replace("learning_rate: 0.0001", "learning_rate: 0.00000001")
    saved, result = _saves(tmp_path, text, 1.0)
    assert saved == [(12, 0)] and result.best["epoch"] == 1
    one_epoch = start_run(load_spec(write_spec(tmp_path, text, "one.yaml"), ["train.epochs=1"]), tmp_path / "one")
    one_epoch.run()
    best, stopped_there = (h5_datasets(run / "best.h5") for run in (result.run_dir, one_epoch.run_dir))
    assert_same_arrays(best, stopped_there, ("params/", "optimizer/"))
    assert load_checkpoint(result.run_dir / "best.h5").epoch == 1


def test_a_stop_request_is_checkpointed_at_once(tmp_path):
    text = CADENCE_SPEC.replace("every_seconds: 10", "every_seconds: 1000").replace("train_cost", "train_error")
    saved, result = _saves(tmp_path, text, 1.0, lambda trainer: StopAfter(trainer, 13))
    assert result.stop_reason == "interrupted" and saved[-1] == (2, 3)
    assert load_checkpoint(result.run_dir / "checkpoint.h5").batch == 3
    assert json.loads(json.dumps(load_checkpoint(result.run_dir / "checkpoint.h5").progress))["stream"] is None


@pytest.mark.parametrize("chunk_rows, dtype", [(1, np.float32), (2621, np.float32), (8192, np.float32), (20000, np.float64),
                                               (60000, np.float32)])
def test_the_streamed_buffer_is_bounded_in_bytes_whatever_the_chunking(tmp_path, chunk_rows, dtype):
    """Issue 21: 64 whole chunks of 8192 × 100 made a 200 MB buffer; now chunks decide the block, the bytes the buffer."""
    path = tmp_path / "x.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("x", shape=(200_000, 100), dtype=dtype, chunks=(chunk_rows, 100))
    streamed = stream.StreamedRows(rows.DiskRows(path, "x"), None, np.float32)
    block_bytes = streamed.block_rows * 100 * 4
    assert streamed.buffer_blocks * block_bytes <= max(stream.BUFFER_BYTES, block_bytes)
    assert block_bytes <= stream.MAX_BLOCK_BYTES
    whole_chunk = chunk_rows * 100 * np.dtype(dtype).itemsize <= stream.MAX_BLOCK_BYTES
    assert (streamed.block_rows % chunk_rows == 0) == whole_chunk or chunk_rows == 1
