"""Progress that tells the truth (issue 15): labelled costs and no `cost nan`, an interruption
summary with the resume command, gradcheck defaults that finish in seconds and handle kinks."""

from __future__ import annotations

import dataclasses
import json
import signal
import subprocess
import time

import numpy as np
import pytest
from conftest import CONFIGS, invoke, invoke_json, nnctl_cmd, one_line_error, subprocess_env, write_spec
from rich.console import Console

from nnctl.cli import progress, work_progress
from nnctl.data import registry
from nnctl.nn.gradcheck import check_gradients
from nnctl.nn.layers import Activate, Dense
from nnctl.nn.losses import make_loss
from nnctl.nn.network import Network
from nnctl.orchestration.gradcheck import CHECKS_PER_TENSOR


def _rendered(reporter: progress.LiveReporter) -> str:
    console = Console(record=True, width=120, color_system=None)
    console.print(reporter.progress.make_tasks_table(reporter.progress.tasks))
    return console.export_text()


@pytest.mark.parametrize(("penalized", "label"), [(True, "batch cost+penalty"), (False, "batch cost")])
def test_the_bar_labels_its_cost_and_shows_no_nan_before_the_first_batch(penalized, label):
    reporter = progress.LiveReporter(penalized)
    reporter.epoch_start(1, 3, 10)
    before = _rendered(reporter)
    assert "nan" not in before and f"{label} …" in before
    reporter.step(1, 1.23456)
    assert f"{label} 1.2346" in _rendered(reporter)
    if not penalized:
        assert "penalty" not in _rendered(reporter)


SLOW_FIRST_EPOCH = """\
name: slow
seed: 0
data:
  source: {type: generated, name: moons, samples: 60000}
  split: {train: 0.9, dev: 0.1, test: 0.0}
model:
  layers:
    - {units: 256, activation: relu}
    - {units: 1, activation: sigmoid}
regularization: {l2: 0.1}
train: {epochs: 3, batch_size: 1}
"""


def test_ctrl_c_in_the_first_epoch_says_where_the_run_stands_and_how_to_resume(tmp_path):
    spec = write_spec(tmp_path, SLOW_FIRST_EPOCH)
    proc = subprocess.Popen(nnctl_cmd("train", spec, "--runs-dir", "runs"), cwd=tmp_path, env=subprocess_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "runs" / "latest" / "checkpoint.h5").exists() and time.monotonic() < deadline:
            time.sleep(0.05)  # the epoch-0 checkpoint: training starts a moment later
        time.sleep(0.5)  # well inside the first epoch (54,000 steps of a 256-unit layer: seconds)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    run = tmp_path / "runs" / "latest"
    name = f"runs/{run.readlink()}"
    assert f"{name}  (interrupted, 0 epochs," in out and "no epoch finished, so no metrics yet" in out
    assert "┏" not in out  # no empty table
    assert "interrupted in epoch 1 after " in err and " of 54000 mini-batches (last batch cost+penalty " in err
    assert f"resume with: nnctl train --resume {name}" in err and "Traceback" not in err


def _zero_input_relu_net() -> Network:
    """dense1 with zero biases: an all-zero example puts every hidden ReLU input exactly on 0."""
    net = Network([Dense("dense1", 4, init="he"), Activate("dense1.act", "relu"), Dense("dense2", 3, init="xavier")],
                  make_loss("auto", "softmax"), (5,), dtype=np.float64)
    net.initialize(np.random.default_rng(0))
    return net


def test_coordinates_that_straddle_a_kink_are_left_out_and_counted():
    net = _zero_input_relu_net()
    rng = np.random.default_rng(1)
    x = np.vstack([np.zeros((1, 5)), rng.normal(size=(3, 5))])
    y = np.eye(3)[[0, 1, 2, 0]]
    report = check_gradients(net, x, y)
    by_key = {t.key: t for t in report.tensors}
    assert by_key["dense1/b"].kinked == 4  # every hidden bias moves the zero example across the kink
    assert by_key["dense1/b"].checked == 0 and by_key["dense1/b"].verdict() == "kinked"
    assert by_key["dense1/W"].kinked == 0  # W·0 stays 0: no crossing, every coordinate compared
    assert all(t.verdict() == "pass" for k, t in by_key.items() if k != "dense1/b")


def test_gradcheck_defaults_sample_a_fixed_number_per_tensor_and_all_checks_everything():
    report = invoke_json("gradcheck", CONFIGS / "quickstart.yaml")
    assert report["max_checks"] == CHECKS_PER_TENSOR == 30
    assert {t["tensor"]: t["checked"] + t["kinked"] for t in report["tensors"]} == {
        "dense1/W": 30, "dense2/W": 30, "dense3/W": 30, "dense1/b": 30, "dense2/b": 30, "dense3/b": 10}
    full = invoke_json("gradcheck", CONFIGS / "quickstart.yaml", "--max-checks", "all", "--examples", "2")
    assert full["max_checks"] is None and all(t["checked"] + t["kinked"] == t["size"] for t in full["tensors"])
    assert full["verdict"] in ("pass", "unresolved")


@pytest.mark.parametrize("value", ["0", "-3", "some", "1.5"])
def test_a_bad_max_checks_is_one_line_and_exit_2(value):
    line = one_line_error(invoke("gradcheck", CONFIGS / "quickstart.yaml", "--max-checks", value, expect=2).stderr)
    assert f"--max-checks {value}" in line


def test_gradcheck_reports_progress_per_tensor_on_stderr_when_not_a_terminal(monkeypatch):
    monkeypatch.setattr(work_progress, "QUIET_SECONDS", 0.0)
    result = invoke("gradcheck", CONFIGS / "quickstart.yaml", "--examples", "2")
    lines = result.stderr.splitlines()
    assert lines[0].startswith("gradcheck: dense1/W done, 30/160 coordinates, ")
    assert lines[-1].startswith("gradcheck: dense3/b done, 160/160 coordinates, ") and len(lines) == 6
    assert "dense1/W" in result.stdout  # the report itself stays on stdout


def test_a_quick_gradcheck_prints_no_progress():
    assert invoke("gradcheck", CONFIGS / "logistic-regression.yaml", "--examples", "2").stderr == ""


@pytest.mark.slow
def test_lenet5_passes_the_default_gradcheck_at_initialization(monkeypatch, mnist_datasets):
    """Zero conv biases put blank-pixel ReLU inputs exactly on the kink: the check moves off them by itself."""
    monkeypatch.setenv("NNCTL_DATASETS", str(mnist_datasets[0]))
    result = invoke("gradcheck", CONFIGS / "mnist-lenet5.yaml", "--json")
    report = json.loads(result.stdout)
    assert report["inputs_jittered"] is True and report["verdict"] == "pass"
    assert all(t["verdict"] == "pass" for t in report["tensors"]), report["tensors"]
    assert all(t["checked"] + t["kinked"] == min(t["size"], 30) for t in report["tensors"])


def test_mnist_without_network_says_how_to_use_a_mirror(tmp_path, monkeypatch):
    unreachable = dataclasses.replace(registry.REGISTRY["mnist"], base_url="http://127.0.0.1:9/mnist/")
    monkeypatch.setitem(registry.REGISTRY, "mnist", unreachable)
    monkeypatch.setenv("NNCTL_DATASETS", str(tmp_path))
    monkeypatch.delenv("NNCTL_DATA_MIRROR", raising=False)
    line = one_line_error(invoke("spec", "show", CONFIGS / "mnist-mlp.yaml", expect=2).stderr)
    assert "download failed" in line and "--mirror DIR_OR_URL" in line and "$NNCTL_DATA_MIRROR" in line
    assert not (tmp_path / "cache" / "mnist").exists()
