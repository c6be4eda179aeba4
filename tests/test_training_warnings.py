"""The notes' warnings fire exactly when their condition holds, once, naming the spec line; silenced per kind."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import h5_datasets, invoke, train_run, write_spec

from nnctl.runs.events import read_events
from nnctl.spec import parse_spec
from nnctl.train.build import build_network
from nnctl.train.watch import flat, full_batch_rise, linear_hidden_layers, rising_applies, symmetric_layers

BASE = """\
name: warn
seed: 1
data:
  source: {{type: generated, name: moons, samples: 200, noise: 0.2}}
model:
  layers:
{layers}
train: {{epochs: {epochs}, batch_size: {batch}, learning_rate: {lr}}}
"""


def _spec(tmp_path, layers: list[str], epochs=3, batch=32, lr=0.1, extra=""):
    text = BASE.format(layers="\n".join(f"    - {layer}" for layer in layers), epochs=epochs, batch=batch, lr=lr)
    return write_spec(tmp_path, text + extra)


def _kinds(run) -> list[str]:
    return [event["kind"] for event in read_events(run)]


def _symmetric(layers: str, shape=(2,)) -> list[str]:
    spec = parse_spec(f"model:\n  layers:\n{layers}")
    net = build_network(spec, shape, np.random.default_rng(0))
    net.initialize(np.random.default_rng(0))
    return [w.key for w in symmetric_layers(spec, net)]


def test_symmetry_fires_for_a_hidden_layer_whose_units_start_identical_and_never_otherwise():
    assert _symmetric("    - {units: 4, init: zeros}\n    - {units: 1, activation: sigmoid}\n") == ["model.layers[0].init"]
    assert _symmetric("    - {units: 4}\n    - {units: 1, activation: sigmoid}\n") == []
    assert _symmetric("    - {units: 1, init: zeros}\n    - {units: 1, activation: sigmoid}\n") == []  # one unit
    assert _symmetric("    - {units: 1, activation: sigmoid, init: zeros}\n") == []  # logistic regression
    assert _symmetric("    - {units: 4, init: zeros, trainable: false}\n    - {units: 1, activation: sigmoid}\n") == []
    conv = "    - {{type: conv2d, filters: {f}, kernel: 3, init: {{fixed: sobel}}}}\n    - {{units: 1, activation: sigmoid}}\n"
    assert _symmetric(conv.format(f=2), (5, 5, 1)) == ["model.layers[0].init"]  # two filters, one kernel
    assert _symmetric(conv.format(f=1), (5, 5, 1)) == []


def test_linear_hidden_fires_unless_a_max_pool_separates_it_from_the_next_weighted_layer():
    def keys(layers):
        return [w.key for w in linear_hidden_layers(parse_spec(f"model:\n  layers:\n{layers}"))]

    assert keys("    - {units: 4, activation: linear}\n    - {units: 1, activation: sigmoid}\n") == ["model.layers[0].activation"]
    assert keys("    - {units: 4, activation: tanh}\n    - {units: 1, activation: linear}\n") == []  # the output may be linear
    conv = "    - {type: conv2d, filters: 2, activation: linear}\n    - {type: POOL}\n    - {units: 1, activation: sigmoid}\n"
    assert keys(conv.replace("POOL", "maxpool")) == []
    assert keys(conv.replace("POOL", "avgpool")) == ["model.layers[0].activation"]  # averaging is linear too


def test_the_rising_and_flat_conditions_by_hand():
    assert full_batch_rise([5, 4, 4.1, 4.2, 4.3], 3) and not full_batch_rise([5, 4, 4.1, 4.2, 4.2], 3)
    assert not full_batch_rise([4.1, 4.2, 4.3], 3)  # needs K + 1 costs
    assert flat([2.0, 2.001, 2.0025, 2.0035], 3, 0.001)  # changes 0.05 %, 0.075 %, 0.05 %
    assert not flat([2.0, 2.001, 2.0045, 2.0055], 3, 0.001)  # 0.17 % in the middle
    assert not flat([2.0, 2.0, 2.0], 3, 0.001)


def test_rising_applies_to_full_batch_gd_without_dropout_or_augmentation_only():
    spec = parse_spec("model:\n  layers:\n    - {units: 4}\n    - {units: 1, activation: sigmoid}\n")
    assert rising_applies(spec, 100, 100) and not rising_applies(spec, 32, 100)
    dropped = parse_spec("model:\n  layers:\n    - {units: 4, keep_prob: 0.8}\n    - {units: 1, activation: sigmoid}\n")
    assert not rising_applies(dropped, 100, 100)
    noisy = parse_spec("model:\n  layers:\n    - {units: 1, activation: sigmoid}\ntrain: {augment: {noise: 0.1}}\n")
    assert not rising_applies(noisy, 100, 100)


def test_symmetry_and_linear_hidden_are_given_once_on_stderr_and_in_the_events_naming_the_line(tmp_path):
    spec = _spec(tmp_path, ["{units: 4, init: zeros}", "{units: 4, activation: linear}", "{units: 1, activation: sigmoid}"])
    result = invoke("train", spec, "--runs-dir", tmp_path / "runs", "--quiet", "--set", "watch.silence=[plateau,gradient_depth]")
    run = next((tmp_path / "runs").glob("warn-*"))
    events = read_events(run)
    assert [e["kind"] for e in events] == ["symmetry", "linear_hidden"]
    assert events[0]["where"] == f"{spec}:7" and events[1]["where"] == f"{spec}:8"
    assert events[0]["step"] == 0 and events[0]["epoch"] == 0
    assert result.stderr.count("warning: ") == 2 and f"warning: {spec}:7: model.layers[0] (dense1)" in result.stderr


def test_a_silenced_kind_is_neither_printed_nor_recorded(tmp_path):
    spec = _spec(tmp_path, ["{units: 4, init: zeros}", "{units: 1, activation: sigmoid}"],
                 extra="watch: {silence: [symmetry, plateau]}\n")
    result = invoke("train", spec, "--runs-dir", tmp_path / "runs", "--quiet")
    assert "warning" not in result.stderr and read_events(next((tmp_path / "runs").glob("warn-*"))) == []


def test_a_too_large_learning_rate_with_batch_gd_warns_that_the_cost_rises(tmp_path):
    layers = ["{units: 8, activation: tanh}", "{units: 1, activation: sigmoid}"]
    spec = _spec(tmp_path, layers, epochs=12, batch="full", lr=10.0, extra="watch: {silence: [plateau], rising_epochs: 2}\n")
    run = train_run(spec, tmp_path / "runs")
    costs = h5_datasets(run / "metrics.h5")["iteration/cost"]  # one full-batch step an epoch: J before each step
    events = [e for e in read_events(run) if e["kind"] == "cost_rising"]
    first = next(t for t in range(2, len(costs)) if costs[t - 2] < costs[t - 1] < costs[t])
    assert len(events) == 1 and events[0]["step"] == events[0]["epoch"] == first + 1  # the epoch of the second rise
    assert events[0]["key"] == "train.learning_rate"
    sane = train_run(spec, tmp_path / "sane", "train.learning_rate=0.1")
    assert "cost_rising" not in _kinds(sane)
    assert np.all(np.diff(h5_datasets(sane / "metrics.h5")["iteration/cost"]) < 0)
    dropout = train_run(spec, tmp_path / "dropout", "model.layers[0].keep_prob=0.5")
    assert "cost_rising" not in _kinds(dropout)


def test_a_flat_smoothed_cost_warns_of_a_plateau_once(tmp_path):
    layers = ["{units: 8, activation: tanh}", "{units: 1, activation: sigmoid}"]
    spec = _spec(tmp_path, layers, epochs=8, lr=1e-7, extra="watch: {plateau_epochs: 3}\n")
    run = train_run(spec, tmp_path / "runs")
    events = [e for e in read_events(run) if e["kind"] == "plateau"]
    assert len(events) == 1 and events[0]["epoch"] == 4  # epochs 2, 3, 4 each moved < 0.1 % from the one before
    moving = train_run(spec, tmp_path / "moving", "train.learning_rate=0.5", "train.epochs=4")
    assert "plateau" not in _kinds(moving)


@pytest.mark.parametrize("kind", ["nonsense", "Plateau"])
def test_an_unknown_kind_to_silence_is_located(tmp_path, kind):
    spec = _spec(tmp_path, ["{units: 1, activation: sigmoid}"], extra=f"watch: {{silence: [{kind}]}}\n")
    result = invoke("spec", "check", spec, expect=2)
    assert f"{spec}:9: watch.silence[0]" in result.stderr


def test_a_run_without_a_test_split_is_told_that_dev_figures_are_optimistic(tmp_path):
    spec = _spec(tmp_path, ["{units: 4, activation: tanh}", "{units: 1, activation: sigmoid}"],
                 extra="watch: {silence: [plateau]}\n")
    without = train_run(spec, tmp_path / "a", "data.split={train: 0.8, dev: 0.2, test: 0}")
    (event,) = read_events(without)
    assert event["kind"] == "no_test_split" and event["key"] == "data.split.test" and "optimistic" in event["message"]
    assert read_events(train_run(spec, tmp_path / "b")) == []  # 10 % test by default
