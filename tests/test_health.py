"""Per-layer health (metrics.h5 /health) against hand arithmetic, and the gradient-depth warning."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from conftest import h5_datasets, invoke, train_run, write_spec

from nnctl.runs.events import read_events
from nnctl.runs.metrics_log import MetricLog
from nnctl.spec import parse_spec
from nnctl.train.build import build_network
from nnctl.train.health import HealthRecorder, activation_stats

WIDTH, LAYERS, ROWS = 4, 10, 3


def _identity_net(c: float):
    """The notes' deep linear net: L layers of W = c·I, b = 0, linear hidden and output layers, ½ squared error."""
    layers = "\n".join([f"    - {{units: {WIDTH}, activation: linear}}"] * LAYERS)
    spec = parse_spec(f"precision: float64\nloss: mse\nmodel:\n  layers:\n{layers}\n")
    net = build_network(spec, (WIDTH,), np.random.default_rng(0))
    net.theta[:] = 0
    for layer in net.all_layers():
        if "W" in layer.params:
            layer.params["W"][...] = c * np.eye(WIDTH)
    return net


@pytest.mark.parametrize("c", [1.5, 0.5])
def test_the_notes_deep_linear_example_through_the_health_record(c):
    """x = 1, W[l] = c·I: A[l] = c^l (activations grow as 1.5^l, shrink as 0.5^l). With Y = 0 the
    output gradient is dZ[L] = c^L/m per entry, dZ[l] = c^(2L−l)/m and dW[l] = dZ[l]ᵀA[l−1] = c^(2L−1)
    in every entry, so ‖dW[l]‖ = n·c^(2L−1) at every depth; one GD step of α makes ‖ΔW‖/‖W‖ = α·√n·c^(2L−2)."""
    net, alpha = _identity_net(c), 1e-3
    recorder = HealthRecorder(net, every=1)
    x, y = np.ones((ROWS, WIDTH)), np.zeros((ROWS, WIDTH))
    net.loss_and_grad(x, y, watch=recorder.see)
    recorder.before_update()
    net.theta -= alpha * net.grad
    rows = recorder.after_update()
    names = [f"dense{k}" for k in range(1, LAYERS + 1)]
    assert list(rows) == names
    for depth, name in enumerate(names, start=1):
        row = rows[name]
        assert row["grad_norm"] == pytest.approx(WIDTH * c ** (2 * LAYERS - 1), rel=1e-12)
        assert row["weight_norm"] == pytest.approx(c * math.sqrt(WIDTH), rel=1e-12)
        assert row["update_ratio"] == pytest.approx(alpha * math.sqrt(WIDTH) * c ** (2 * LAYERS - 2), rel=1e-9)
        if depth < LAYERS:
            assert row["act_mean"] == c ** depth and row["act_std"] == 0  # exact in binary
            assert math.isnan(row["dead"]) and math.isnan(row["saturated"])  # linear: neither applies
        else:  # the output layer's activation is fused with its loss
            assert all(math.isnan(row[k]) for k in ("act_mean", "act_std", "dead", "saturated"))


def test_dead_relu_units_and_saturated_values_by_hand():
    a = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 2.0]])  # unit 0 is 0 on every row: 1 of 3 units dead
    assert activation_stats(a, "relu")["dead"] == pytest.approx(1 / 3)
    assert math.isnan(activation_stats(a, "relu")["saturated"])
    s = np.array([[0.005, 0.5, 0.99], [0.011, 0.995, 0.3]])  # ≤ 0.01 or ≥ 0.99: 3 of 6
    assert activation_stats(s, "sigmoid")["saturated"] == 0.5
    t = np.array([[-0.99, 0.97, 0.98, 0.1]])  # |a| ≥ 0.98: 2 of 4
    assert activation_stats(t, "tanh")["saturated"] == 0.5
    maps = np.zeros((2, 3, 3, 2))
    maps[1, 2, 2, 1] = 0.1  # channel 1 is alive at one position of one example; channel 0 is dead
    assert activation_stats(maps, "relu")["dead"] == 0.5
    assert activation_stats(maps, "relu")["act_mean"] == pytest.approx(0.1 / 36)


DEEP = """\
name: deep
seed: 0
data:
  source: {{type: generated, name: spirals, samples: 300, noise: 0.2, classes: 3}}
model:
  layers:
{hidden}
    - {{units: 3, activation: softmax}}
train: {{epochs: 2, batch_size: 64, learning_rate: 0.1}}
"""


def _deep_sigmoid(tmp_path, batchnorm: bool):
    layer = "    - {units: 32, activation: sigmoid" + (", batchnorm: true}" if batchnorm else "}")
    return write_spec(tmp_path, DEEP.format(hidden="\n".join([layer] * 8)), f"deep-{batchnorm}.yaml")


def test_a_deep_sigmoid_net_warns_of_vanishing_gradients_and_the_same_net_with_batch_norm_does_not(tmp_path):
    plain = invoke("train", _deep_sigmoid(tmp_path, False), "--runs-dir", tmp_path / "runs", "--quiet")
    run = sorted((tmp_path / "runs").glob("deep-*"))[-1]
    warnings = [e for e in read_events(run) if e["kind"] == "gradient_depth"]
    assert len(warnings) == 1 and warnings[0]["step"] == 1
    assert "vanishing gradients" in warnings[0]["message"] and "batch normalization" in warnings[0]["message"]
    index = int(warnings[0]["key"].removeprefix("model.layers[").rstrip("]"))
    assert f"dense{index + 1} " in warnings[0]["message"]
    assert warnings[0]["where"].endswith(f"deep-False.yaml:{7 + index}")  # the spec line of the layer it names
    assert plain.stderr.count("[gradient_depth]") == 1
    health = MetricLog.load(run / "metrics.h5").health
    norms = health.series("grad_norm")
    assert norms["dense1"][0] / norms["dense9"][0] < 1e-3

    normed = invoke("train", _deep_sigmoid(tmp_path, True), "--runs-dir", tmp_path / "runs2", "--quiet")
    run = next((tmp_path / "runs2").glob("deep-*"))
    assert "gradient_depth" not in normed.stderr and read_events(run) == []
    norms = MetricLog.load(run / "metrics.h5").health.series("grad_norm")
    assert all(abs(math.log10(norms[f"dense{k}"][0] / norms["dense9"][0])) < 3 for k in range(1, 9))


def test_health_is_recorded_on_the_first_step_and_every_n_after_and_documented_in_the_file(tmp_path):
    spec = write_spec(tmp_path, DEEP.format(hidden="    - {units: 8, activation: relu}"))
    run = train_run(spec, tmp_path / "runs", "watch.health_every=4", "train.epochs=3")  # 4 steps an epoch: 12
    data = h5_datasets(run / "metrics.h5")
    assert data["health/step"].tolist() == [1, 5, 9]
    assert {key.split("/")[-1] for key in data if key.startswith("health/dense1/")} == {
        "grad_norm", "weight_norm", "update_ratio", "act_mean", "act_std", "dead", "saturated"}
    import h5py

    with h5py.File(run / "metrics.h5") as f:
        assert json.loads(f["health"].attrs["layers"]) == ["dense1", "dense2"]
        assert f["health"].attrs["every"] == 4 and f["health/dense1"].attrs["activation"] == "relu"


def test_health_off_records_nothing_and_watching_never_changes_the_result(tmp_path):
    spec = write_spec(tmp_path, DEEP.format(hidden="\n".join(["    - {units: 16, activation: sigmoid}"] * 6)))
    watched = train_run(spec, tmp_path / "a", "watch.health_every=1")
    unwatched = train_run(spec, tmp_path / "b", "watch.health_every=0", "watch.silence=[gradient_depth]")
    a, b = h5_datasets(watched / "checkpoint.h5"), h5_datasets(unwatched / "checkpoint.h5")
    for key in a:
        if key.startswith("params/"):
            np.testing.assert_array_equal(a[key], b[key])
    assert "health/step" not in h5_datasets(unwatched / "metrics.h5")
    assert read_events(unwatched) == [] and [e["kind"] for e in read_events(watched)] == ["gradient_depth"]


def test_resuming_keeps_the_health_rows_up_to_the_checkpoint_and_gives_no_warning_twice(tmp_path):
    spec = write_spec(tmp_path, DEEP.format(hidden="\n".join(["    - {units: 16, activation: sigmoid}"] * 8)))
    run = train_run(spec, tmp_path / "runs", "watch.health_every=2")
    invoke("train", "--resume", run, "--set", "train.epochs=4", "--quiet")
    straight = train_run(spec, tmp_path / "straight", "watch.health_every=2", "train.epochs=4")
    resumed, whole = h5_datasets(run / "metrics.h5"), h5_datasets(straight / "metrics.h5")
    for key in whole:
        if key.startswith("health/"):
            np.testing.assert_array_equal(resumed[key], whole[key])
    assert [e["kind"] for e in read_events(run)] == ["gradient_depth"]


def test_plot_health_draws_the_record_and_refuses_a_run_without_one(tmp_path):
    pytest.importorskip("matplotlib")
    spec = write_spec(tmp_path, DEEP.format(hidden="    - {units: 8, activation: tanh}"))
    run = train_run(spec, tmp_path / "runs")
    out = tmp_path / "health.png"
    assert invoke("plot", "health", run, "--out", out).stdout.strip() == str(out)
    assert out.read_bytes().startswith(b"\x89PNG")
    bare = train_run(spec, tmp_path / "bare", "watch.health_every=0")
    error = invoke("plot", "health", bare, expect=2).stderr.strip()
    assert error.count("\n") == 0 and "no health record" in error
