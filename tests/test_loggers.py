"""Runs mirrored into TensorBoard and MLflow, checked with the tools' own readers.

TensorBoard's event files are read back with TensorBoard's EventAccumulator; MLflow
is a real tracking server (SQL backend on a temporary SQLite file) started on
127.0.0.1 once for the module, read back through MLflow's client. An outage is a TCP
proxy in front of that server switched off mid-run and on again: to the client it is
a server that went away and came back.
"""

from __future__ import annotations

import json
import socket
import socketserver
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest import TINY_SPEC, invoke, one_line_error, run_nnctl, subprocess_env, train_run, write_spec

from nnctl.loggers.records import flat_spec
from nnctl.runs.metrics_log import MetricLog

pytest.importorskip("tensorboardX")
# What the TensorBoard server itself reads with (it also applies the purge at a restart).
event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.plugin_event_accumulator")
from tensorboard.util import tensor_util  # noqa: E402


def _metrics(run: Path) -> dict[str, np.ndarray]:
    """Every column of metrics.h5 by its path (per epoch, per step, per health record)."""
    out: dict[str, np.ndarray] = {}
    with h5py.File(run / "metrics.h5", "r") as f:
        f.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return out


def _events(folder: Path):
    guidance = {event_accumulator.TENSORS: 0}
    accumulator = event_accumulator.EventAccumulator(str(folder), size_guidance=guidance)
    accumulator.Reload()
    return accumulator


def _scalar_summary(tag: str, value: float):
    from tensorboardX.proto.summary_pb2 import Summary

    return Summary(value=[Summary.Value(tag=tag, simple_value=value)])


def _histogram_tags(accumulator) -> set[str]:
    return {tag for tag in accumulator.Tags()[event_accumulator.TENSORS]
            if accumulator.SummaryMetadata(tag).plugin_data.plugin_name == "histograms"}


def _series(accumulator, tag: str) -> tuple[list[int], list[float]]:
    events = accumulator.Tensors(tag)
    return [e.step for e in events], [tensor_util.make_ndarray(e.tensor_proto).item() for e in events]


def _assert_events_equal_metrics(run: Path) -> None:
    """Every scalar of metrics.h5 is in the event files at its step, to the last bit of float32 (TensorBoard's scalars)."""
    metrics = _metrics(run)
    epochs, steps = _events(run / "tb"), _events(run / "tb" / "steps")
    n_epochs = len(metrics["epoch/epoch"])
    health_steps = list(metrics.pop("health/step", []))
    for key, values in metrics.items():
        if key == "epoch/epoch":
            continue
        if key.startswith("health/") and not np.isfinite(values).any():
            continue  # a statistic that does not apply to the layer (saturation of a ReLU)
        accumulator = epochs if key.startswith("epoch/") else steps
        got_steps, got_values = _series(accumulator, key)
        if key.startswith("health/"):  # taken every N steps, NaN where a statistic does not apply (not written)
            finite = np.isfinite(values)
            assert got_steps == [s for s, keep in zip(health_steps, finite) if keep], key
            values = values[finite]
        else:
            assert got_steps == list(range(1, len(values) + 1)), key
        assert np.array_equal(np.asarray(got_values, dtype=np.float32), values.astype(np.float32), equal_nan=True), key
    assert n_epochs > 0


def test_training_writes_event_files_equal_to_metrics_h5(tmp_path):
    spec = write_spec(tmp_path, TINY_SPEC, "tiny.yaml")
    run = train_run(spec, tmp_path / "runs", "logging.tensorboard={histogram_every: 2}")
    _assert_events_equal_metrics(run)
    assert any(key.startswith("health/") for key in _metrics(run))  # the health record is mirrored too
    epochs = _events(run / "tb")
    histograms = _histogram_tags(epochs)
    assert {"weights/dense1/W", "weights/dense2/W", "weights/dense2/b"} <= histograms
    assert [e.step for e in epochs.Tensors("weights/dense1/W")] == [0, 2, 4]  # the initialization, every 2 epochs
    hparams = epochs.PluginTagToContent("hparams")
    assert {"_hparams_/experiment", "_hparams_/session_start_info"} <= set(hparams)
    best = json.loads(json.dumps(_series(epochs, "best/dev_cost")))
    assert best[1][0] == np.float32(min(_metrics(run)["epoch/dev_cost"]))


def test_tensorboard_flag_and_hparams_carry_the_resolved_spec(tmp_path):
    spec = write_spec(tmp_path, TINY_SPEC, "tiny.yaml")
    result = invoke("train", spec, "--runs-dir", tmp_path / "runs", "--quiet", "--tensorboard", "--json")
    run = Path(json.loads(result.stdout)["run"])
    assert "tensorboard" in (run / "spec.yaml").read_text()
    from tensorboard.plugins.hparams import plugin_data_pb2

    content = _events(run / "tb").PluginTagToContent("hparams")["_hparams_/session_start_info"]
    start = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info
    assert start.hparams["train.learning_rate"].number_value == 0.01
    assert start.hparams["model.layers[0].units"].number_value == 16
    assert start.hparams["train.optimizer.name"].string_value == "adam"


def test_a_resumed_run_drops_what_a_killed_process_wrote_past_its_checkpoint(tmp_path):
    spec = write_spec(tmp_path, TINY_SPEC.replace("epochs: 4", "epochs: 2"), "tiny.yaml")
    run = train_run(spec, tmp_path / "runs", "logging.tensorboard=true")
    # A process killed after its checkpoint at epoch 2 had already written epoch 3 and one more step.
    from tensorboardX.writer import FileWriter

    log = MetricLog.load(run / "metrics.h5")
    for folder, tag, step in (("tb", "epoch/dev_cost", 3), ("tb/steps", "iteration/cost", log.n_steps + 1)):
        writer = FileWriter(str(run / folder), filename_suffix=f".{time.time_ns()}")
        writer.add_summary(_scalar_summary(tag, 999.0), step)
        writer.close()
    invoke("train", "--resume", run, "--set", "train.epochs=4", "--quiet")
    _assert_events_equal_metrics(run)
    assert 999.0 not in _series(_events(run / "tb"), "epoch/dev_cost")[1]
    assert 999.0 not in _series(_events(run / "tb" / "steps"), "iteration/cost")[1]


@pytest.mark.slow
def test_the_tensorboard_server_shows_every_epoch_metric(tmp_path):
    """TensorBoard's own server (its default, fast loader) serves the scalars: it silently drops some
    summary kinds (float64 tensors) that its Python reader accepts."""
    spec = write_spec(tmp_path, TINY_SPEC, "tiny.yaml")
    run = train_run(spec, tmp_path / "runs", "logging.tensorboard=true")
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "tensorboard.main", "--logdir", str(tmp_path / "runs"), "--host", "127.0.0.1",
                               "--port", str(port), "--load_fast=true"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}/data/plugin/scalars/scalars?run={run.name}/tb&tag=epoch/dev_cost"
        deadline, points = time.monotonic() + 120, []
        while time.monotonic() < deadline and len(points) < 4:
            try:
                with urllib.request.urlopen(url, timeout=5) as answer:
                    points = json.loads(answer.read())
            except (OSError, ValueError):
                pass
            time.sleep(0.5)
    finally:
        server.terminate()
        server.wait(timeout=30)
    values = _metrics(run)["epoch/dev_cost"]
    assert [p[1] for p in points] == [1, 2, 3, 4]
    assert np.array_equal(np.asarray([p[2] for p in points], dtype=np.float32), values.astype(np.float32))


def test_runs_export_writes_event_files_for_a_run_trained_without_them(tmp_path):
    spec = write_spec(tmp_path, TINY_SPEC, "tiny.yaml")
    run = train_run(spec, tmp_path / "runs")
    assert not (run / "tb").exists()
    result = invoke("runs", "export", run, run, "--format", "tensorboard")
    assert result.stdout.count(str(run / "tb")) == 2
    _assert_events_equal_metrics(run)  # written twice, read once: the second export replaced the first
    assert _histogram_tags(_events(run / "tb"))


def test_csv_export_still_takes_exactly_one_run(tmp_path, trained_run):
    result = invoke("runs", "export", trained_run, trained_run, expect=2)
    assert "one RUN" in result.stderr


def test_a_mirror_that_cannot_work_is_refused_before_the_run_starts(tmp_path, monkeypatch):
    spec = write_spec(tmp_path, TINY_SPEC + "logging: {mlflow: true}\n", "tiny.yaml")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    done = run_nnctl("train", spec, "--runs-dir", tmp_path / "runs", env={**subprocess_env(), "MLFLOW_TRACKING_URI": ""})
    assert done.returncode == 2
    assert "logging.mlflow.tracking_uri" in one_line_error(done.stderr)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_a_missing_writer_is_an_install_hint(tmp_path):
    spec = write_spec(tmp_path, TINY_SPEC, "tiny.yaml")
    blocker = tmp_path / "block" / "sitecustomize.py"
    blocker.parent.mkdir()
    blocker.write_text("import sys\nsys.modules['tensorboardX'] = None\n")
    env = subprocess_env(PYTHONPATH=str(blocker.parent))
    hidden = subprocess.run([sys.executable, "-c", "import importlib.util as u; print(u.find_spec('tensorboardX'))"],
                            env=env, capture_output=True, text=True)
    if "None" not in hidden.stdout:  # find_spec sees through sys.modules only when the entry is None: it is
        pytest.skip("cannot hide tensorboardX from this interpreter")
    done = run_nnctl("train", spec, "--runs-dir", tmp_path / "runs", "--tensorboard", env=env)
    assert done.returncode == 2
    assert "pip install 'nnctl[tensorboard]'" in one_line_error(done.stderr)


def test_resume_may_switch_mirrors_but_nothing_else(tmp_path):
    spec = write_spec(tmp_path, TINY_SPEC.replace("epochs: 4", "epochs: 1"), "tiny.yaml")
    run = train_run(spec, tmp_path / "runs")
    invoke("train", "--resume", run, "--set", "train.epochs=2", "--tensorboard", "--quiet")
    assert _series(_events(run / "tb"), "epoch/dev_cost")[0] == [2]
    result = invoke("train", "--resume", run, "--set", "train.epochs=3", "--set", "seed=3", expect=2)
    assert "logging.*" in result.stderr


def test_flat_spec_is_the_set_paths_with_scalar_values(tmp_path):
    text = "name: x\nmodel:\n  layers: [{units: 3, activation: relu}]\ntrain: {clip: null}\nsearch: {trials: 2}\n"
    flat = flat_spec(text)
    assert flat == {"name": "x", "model.layers[0].units": 3, "model.layers[0].activation": "relu", "train.clip": "null"}


# ---------------------------------------------------------------- MLflow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, process: subprocess.Popen, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"mlflow server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError("mlflow server did not come up")


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    """A real MLflow tracking server on 127.0.0.1 with a SQLite backend and its own artifact folder."""
    pytest.importorskip("mlflow.server")
    folder = tmp_path_factory.mktemp("mlflow")
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}", "--artifacts-destination", str(folder / "artifacts")],
        stdout=subprocess.DEVNULL, stderr=open(folder / "server.log", "w"), cwd=folder)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


class _Pipe(socketserver.BaseRequestHandler):
    def handle(self):
        upstream = socket.create_connection(("127.0.0.1", self.server.backend_port))
        self.server.open.append((self.request, upstream))
        sockets = (self.request, upstream)

        def pump(source, target):
            try:
                while data := source.recv(65536):
                    target.sendall(data)
            except OSError:
                pass
            finally:
                for s in sockets:
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

        back = threading.Thread(target=pump, args=(upstream, self.request), daemon=True)
        back.start()
        pump(self.request, upstream)
        back.join()


class Outage:
    """A TCP proxy in front of the tracking server that can go down and come back on the same port."""

    def __init__(self, backend_url: str):
        self.backend_port = int(backend_url.rsplit(":", 1)[1])
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = None
        self.up()

    def up(self) -> None:
        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", self.port), _Pipe)
        self.server.daemon_threads = True
        self.server.backend_port, self.server.open = self.backend_port, []
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def down(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        for pair in self.server.open:
            for s in pair:
                try:
                    s.close()
                except OSError:
                    pass


def _mlflow_spec(tmp_path: Path, uri: str, extra: str = "") -> Path:
    return write_spec(tmp_path, TINY_SPEC + f"logging:\n  mlflow: {{tracking_uri: '{uri}', experiment: tests{extra}}}\n",
                      "tiny.yaml")


def _client(uri: str):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def _assert_mirrored(run: Path, uri: str) -> str:
    """The MLflow run named in RUN/mlflow.json holds the spec, every epoch's metrics once, the files, the status."""
    record = json.loads((run / "mlflow.json").read_text())
    client = _client(uri)
    mirrored = client.get_run(record["run_id"])
    assert mirrored.info.status == "FINISHED"
    assert mirrored.data.tags["nnctl.run_dir"] == str(run.resolve())
    assert any(tag.startswith("nnctl.data_sha256.") for tag in mirrored.data.tags)
    assert mirrored.data.params["train.learning_rate"] == "0.01"
    assert mirrored.data.params["model.layers.0.units"] == "16"
    metrics = _metrics(run)
    for key, values in metrics.items():
        if key.startswith("epoch/") and key != "epoch/epoch":
            history = sorted((m.step, m.value) for m in client.get_metric_history(record["run_id"], key[len("epoch/"):]))
            assert [step for step, _ in history] == list(range(1, len(values) + 1)), key
            assert np.allclose([v for _, v in history], values, rtol=0, atol=0, equal_nan=True), key
    assert {"best.h5", "spec.yaml"} <= {a.path for a in client.list_artifacts(record["run_id"])}
    return record["run_id"]


@pytest.mark.slow
def test_a_run_logged_to_a_real_tracking_server(tmp_path, mlflow_server):
    run = train_run(_mlflow_spec(tmp_path, mlflow_server), tmp_path / "runs")
    run_id = _assert_mirrored(run, mlflow_server)
    invoke("report", run)  # files made from the run later follow it to its MLflow run
    invoke("export", run, "--out", tmp_path / "model.onnx")
    assert {"report.html", "model.onnx"} <= {a.path for a in _client(mlflow_server).list_artifacts(run_id)}


@pytest.mark.slow
def test_a_search_logs_its_trials_as_children(tmp_path, mlflow_server):
    spec = _mlflow_spec(tmp_path, mlflow_server, "-search")
    spec.write_text(spec.read_text().replace("epochs: 4", "epochs: 2")
                    + "search:\n  trials: 2\n  parameters:\n    train.learning_rate: {log_uniform: [0.001, 0.1]}\n")
    result = invoke("tune", spec, "--runs-dir", tmp_path / "runs", "--workers", "1", "--quiet", "--json")
    tune_dir = Path(json.loads(result.stdout)["tune_dir"])
    parent = json.loads((tune_dir / "mlflow.json").read_text())
    assert parent["kind"] == "search"
    client = _client(mlflow_server)
    search_run = client.get_run(parent["run_id"])
    assert search_run.info.status == "FINISHED"
    assert search_run.data.metrics["trials_done"] == 2
    children = client.search_runs([parent["experiment_id"]], f"tags.mlflow.parentRunId = '{parent['run_id']}'")
    trial_dirs = sorted(p for p in tune_dir.iterdir() if (p / "mlflow.json").is_file())
    assert len(children) == len(trial_dirs) == 2
    assert {c.data.tags["nnctl.run_dir"] for c in children} == {str(p.resolve()) for p in trial_dirs}


@pytest.mark.slow
def test_an_outage_mid_run_loses_nothing_and_the_later_upload_completes(tmp_path, mlflow_server):
    from nnctl.orchestration.start import start_run
    from nnctl.spec import load_spec
    from nnctl.train.loop import Reporter

    outage = Outage(mlflow_server)
    spec = load_spec(_mlflow_spec(tmp_path, outage.url, "-outage"), ["train.epochs=5", "logging.mlflow.retry_seconds=1"])
    trainer = start_run(spec, tmp_path / "runs")

    class PullThePlug(Reporter):
        def epoch_end(self, epoch, row):
            if epoch == 2:
                outage.down()

    result = trainer.run(PullThePlug())
    assert result.stop_reason == "completed" and result.epochs_done == 5
    notice = trainer.mirrors[0].notice
    assert notice and f"nnctl runs export --format mlflow {trainer.run_dir}" in notice
    assert len(_metrics(trainer.run_dir)["epoch/dev_cost"]) == 5  # the run itself is whole
    outage.up()
    try:
        invoke("runs", "export", trainer.run_dir, "--format", "mlflow")
        _assert_mirrored(trainer.run_dir, outage.url)
        invoke("runs", "export", trainer.run_dir, "--format", "mlflow")  # again: nothing is logged twice
        _assert_mirrored(trainer.run_dir, outage.url)
    finally:
        outage.down()
