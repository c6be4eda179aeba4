"""Freezing and fine-tuning stages: frozen tensors never move, the optimizer has no entries for them,
the trainable ones get exactly the gradient of the unfrozen network, and resume stays bit-exact
across an unfreeze."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import invoke, invoke_json, one_line_error, write_spec

from nnctl.nn.gradcheck import check_gradients
from nnctl.nn.optimizers import make_optimizer
from nnctl.orchestration.start import fresh_network, prepare_run, resume_run, start_run
from nnctl.spec import load_spec, parse_spec
from nnctl.train.evaluate import evaluate
from nnctl.train.loop import Reporter

# A small CNN with batch norm on 300 digits, float64: conv1 (+ conv1.bn), dense1, dense2.
CNN = """\
name: frozen
seed: 3
precision: float64
data: {source: digits, limit: 300, split: {train: 0.6, dev: 0.2, test: 0.2}}
model:
  layers:
    - {type: conv2d, filters: 4, kernel: 3, padding: same, batchnorm: true}
    - {type: maxpool, size: 2}
    - {units: 16, activation: relu}
    - {units: 10, activation: softmax}
regularization: {l2: 0.01}
train: {epochs: 3, batch_size: 32, learning_rate: 0.01, optimizer: {name: adam, weight_decay: 0.01}}
"""


def spec(*overrides):
    return parse_spec(CNN, "cnn.yaml", list(overrides))


def test_theta_puts_trainable_tensors_first_and_frozen_ones_last():
    net, _ = fresh_network(spec("model.freeze=[conv1, dense1]"), (8, 8, 1))
    keys = [slot.key for slot in net.slots]
    assert keys == ["dense2/W", "dense2/b", "conv1/W", "dense1/W", "conv1.bn/gamma", "conv1.bn/beta", "dense1/b"]
    assert net.n_trainable == 16 * 10 + 10 and net.penalized_ranges() == [(0, 160)]
    assert [slot.key for slot in net.trainable_slots()] == ["dense2/W", "dense2/b"]
    assert net.first_trainable == [layer.name for layer in net.layers].index("dense2")


def test_an_unfrozen_network_keeps_the_old_layout():
    """No freezing: weights first, layer order kept, one stage covering θ (the trusted core's layout)."""
    net, _ = fresh_network(spec(), (8, 8, 1))
    assert [slot.key for slot in net.slots][:3] == ["conv1/W", "dense1/W", "dense2/W"]
    assert net.n_trainable == net.theta.size and len(net.stages) == 1


def test_trainable_false_and_freeze_name_a_block_with_its_parts():
    net, _ = fresh_network(spec("model.layers.0.trainable=false"), (8, 8, 1))
    frozen = {slot.key for slot in net.slots if slot.offset >= net.n_trainable}
    assert frozen == {"conv1/W", "conv1.bn/gamma", "conv1.bn/beta"}
    only_bn, _ = fresh_network(spec("model.freeze=[conv1.bn]"), (8, 8, 1))
    assert {slot.key for slot in only_bn.slots if slot.offset >= only_bn.n_trainable} == {"conv1.bn/gamma", "conv1.bn/beta"}


def test_trainable_gradients_equal_those_of_the_unfrozen_network():
    """Freezing changes what is updated, not the gradient of what is: float64, to the last bits."""
    full, _ = fresh_network(spec(), (8, 8, 1))
    part, _ = fresh_network(spec("model.freeze=[conv1]"), (8, 8, 1))
    part.load(full.tensors(), full.state())
    for net in (full, part):  # frozen batch norm runs on its running statistics: give them real values
        net.load_state({"conv1.bn/running_mean": np.full((1, 4), 0.3), "conv1.bn/running_var": np.full((1, 4), 2.0)})
    x = np.random.default_rng(0).standard_normal((12, 8, 8, 1))
    y = np.eye(10)[np.arange(12) % 10]
    part.loss_and_grad(x, y, l2=0.1)
    full.set_dropout_mode("off")
    for layer in full.all_layers():  # the same function: conv1.bn in inference form
        layer.frozen = layer.name.startswith("conv1")
    full.loss_and_grad(x, y, l2=0.1)
    grads = full.grad_tensors()
    for slot in part.trainable_slots():
        np.testing.assert_allclose(part.grad_tensors()[slot.key], grads[slot.key], rtol=1e-13, atol=1e-15)


def test_training_leaves_frozen_tensors_and_statistics_bitwise_unchanged(tmp_path):
    trainer = start_run(spec("model.freeze=[conv1, dense1]"), tmp_path)
    before = {k: v.copy() for k, v in trainer.net.tensors().items()}
    state = {k: v.copy() for k, v in trainer.net.state().items()}
    trainer.run()
    after = trainer.net.tensors()
    for key in ("conv1/W", "conv1.bn/gamma", "conv1.bn/beta", "dense1/W", "dense1/b"):
        assert np.array_equal(after[key], before[key]), key
    assert not np.array_equal(after["dense2/W"], before["dense2/W"])
    for key, value in trainer.net.state().items():
        assert np.array_equal(value, state[key]), key
    # Adam has entries for the trainable tensors only, and they are what was trained
    assert trainer.optimizer.state["v"].shape == trainer.optimizer.state["s"].shape == (170,)
    assert np.count_nonzero(trainer.optimizer.state["v"]) > 0


def test_train_metrics_from_the_cached_trunk_equal_a_full_evaluation(tmp_path):
    trainer = start_run(spec("model.freeze=[conv1, dense1]", "train.epochs=2"), tmp_path)
    trainer.run()
    assert trainer.features is not None and trainer.features[0] == trainer.net.first_trainable
    train = trainer.data["train"]
    full = evaluate(trainer.net, train.x, train.targets, train.labels, 10)
    assert trainer.log.epoch["train_cost"][-1] == full["cost"]
    assert trainer.log.epoch["train_accuracy"][-1] == full["accuracy"]


def test_frozen_trunk_features_are_used_and_match_the_full_forward():
    parts = prepare_run(spec("model.freeze=[conv1, dense1]"))
    net, x = parts.net, parts.data["train"].x[:40]
    assert net.prefix_is_fixed()
    features = net.features(x, batch_size=7)
    np.testing.assert_allclose(net.forward(features, start=net.first_trainable), net.forward(x), rtol=1e-13, atol=1e-15)
    with_dropout, _ = fresh_network(spec("model.freeze=[conv1, dense1]", "model.input_keep_prob=0.9"), (8, 8, 1))
    assert not with_dropout.prefix_is_fixed()


def test_gradcheck_checks_trainable_tensors_only_and_says_so(tmp_path):
    path = write_spec(tmp_path, CNN.replace("layers:\n", "freeze: [conv1]\n  layers:\n", 1))
    report = invoke_json("gradcheck", path, "--after-steps", "3")
    assert {t["tensor"] for t in report["tensors"]} == {"dense1/W", "dense1/b", "dense2/W", "dense2/b"}
    assert set(report["frozen"]) == {"conv1/W", "conv1.bn/gamma", "conv1.bn/beta"}
    assert report["verdict"] in ("pass", "warn")
    assert "only trainable tensors were checked" in invoke("gradcheck", path, "--after-steps", "3").stdout
    net, _ = fresh_network(spec("model.freeze=[conv1]"), (8, 8, 1))
    x, y = np.random.default_rng(1).standard_normal((6, 8, 8, 1)), np.eye(10)[:6]
    assert check_gradients(net.with_dtype(np.float64), x, y).verdict() == "pass"


def test_spec_show_counts_trainable_frozen_and_later_parameters(tmp_path):
    text = CNN.replace("layers:\n", "freeze: [conv1, dense1]\n  layers:\n", 1)
    out = invoke("spec", "show", write_spec(tmp_path, text),
                 "--set", "train.unfreeze={after_epochs: 2, layers: [dense1], lr_scale: 0.1}").stderr  # the table: stderr
    rows = {line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:]] for line in out.splitlines() if "│" in line}
    assert rows["trainable"][1] == "170" and rows["unfrozen later"][1] == "1,040" and rows["frozen"][1] == "44"
    assert rows["conv1"][2] == "frozen" and rows["dense1"][2] == "from epoch 3" and rows["dense2"][2] == "yes"


# ---------------------------------------------------------------- optimizer stages and lr_scale

ADAM = {"beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8, "weight_decay": 0.0}


def test_grown_adam_corrects_new_entries_as_a_fresh_adam_would():
    """Entries that join at step T get moments from zero and bias correction counted from T."""
    g = np.array([0.3, -0.2, 0.5])
    grown = make_optimizer("adam", 2, np.float64, 2, **ADAM)
    theta = np.array([1.0, 2.0, 3.0])
    for _ in range(4):
        grown.step(theta[:2], g[:2], 0.01)
    grown.grow(3, [(0, 3)])
    fresh = make_optimizer("adam", 1, np.float64, **ADAM)
    alone = theta[2:].copy()
    for _ in range(3):
        grown.step(theta, g, 0.01)
        fresh.step(alone, g[2:], 0.01)
    np.testing.assert_allclose(theta[2:], alone, rtol=1e-15)
    assert grown.state["v"][2] == fresh.state["v"][0] and grown.state["s"][2] == fresh.state["s"][0]
    # by hand: a fresh Adam moves by α·ĝ/(|ĝ| + ε') = ~α per step for a constant gradient
    assert alone[0] == pytest.approx(3.0 - 3 * 0.01, abs=1e-9)


def test_lr_scale_multiplies_each_entrys_step():
    opt = make_optimizer("gd", 3, np.float64)
    opt.lr_scale = np.array([1.0, 0.1, 0.5])
    theta = np.zeros(3)
    opt.step(theta, np.array([1.0, 1.0, 2.0]), 0.2)
    np.testing.assert_array_equal(theta, [-0.2, -0.2 * 0.1, -0.2 * 0.5 * 2.0])


def test_optimizer_state_round_trips_its_segments():
    a = make_optimizer("adam", 2, np.float64, **ADAM)
    a.step(np.zeros(2), np.ones(2), 0.1)
    a.grow(5, [(0, 5)])
    b = make_optimizer("adam", 2, np.float64, **ADAM)
    b.grow(5, [(0, 5)])
    b.load_state_dict(a.state_dict())
    assert b.load_segment_table(a.segment_table()) and a.segment_table() == [[0, 0], [2, 1]]
    assert b.segments.tolist() == [0, 2] and b.segment_steps.tolist() == [0, 1]
    assert not b.load_segment_table([[0, 0]]) and not b.load_segment_table([[0, 0], [3, 1]])


# ---------------------------------------------------------------- the unfreeze schedule


UNFREEZE = ["model.freeze=[conv1, dense1]", "train.epochs=4",
            "train.unfreeze={after_epochs: 2, layers: [dense1], lr_scale: 0.1}"]


class EpochTensors(Reporter):
    """Copies of the tensors at the end of each epoch."""

    def __init__(self, trainer):
        self.trainer, self.epochs = trainer, []

    def epoch_end(self, epoch, row):
        self.epochs.append({k: v.copy() for k, v in self.trainer.net.tensors().items()})


def test_unfreeze_trains_the_named_layers_from_the_next_epoch_at_their_rate(tmp_path):
    trainer = start_run(spec(*UNFREEZE), tmp_path)
    start = {k: v.copy() for k, v in trainer.net.tensors().items()}
    seen = EpochTensors(trainer)
    trainer.run(seen)
    for epoch in (0, 1):
        assert np.array_equal(seen.epochs[epoch]["dense1/W"], start["dense1/W"])
    assert not np.array_equal(seen.epochs[2]["dense1/W"], start["dense1/W"])
    assert np.array_equal(seen.epochs[3]["conv1/W"], start["conv1/W"])
    opt = trainer.optimizer
    assert opt.size == trainer.net.n_trainable == 170 + 16 * 64 + 16
    steps_per_epoch = trainer.n_batches
    assert opt.segments.tolist() == [0, 170] and opt.segment_steps.tolist() == [0, 2 * steps_per_epoch]
    scales = trainer.net.lr_scales()
    assert set(scales[:170]) == {1.0} and set(scales[170:]) == {0.1}


def test_the_unfrozen_layers_step_at_lr_scale_times_the_rate(tmp_path):
    """Plain GD, one batch: dense1's first step after the unfreeze is 0.1 · α · its gradient."""
    gd = spec(*UNFREEZE, "train.optimizer={name: gd}", "regularization.l2=0", "train.batch_size=full", "train.epochs=3")
    trainer = start_run(gd, tmp_path)
    seen = EpochTensors(trainer)
    trainer.run(seen)
    net = trainer.net
    net.load(seen.epochs[1], trainer.net.state())
    train = trainer.data["train"]
    net.loss_and_grad(train.x, train.targets)
    expected = seen.epochs[1]["dense1/W"] - 0.1 * 0.01 * net.grad_tensors()["dense1/W"]
    np.testing.assert_allclose(seen.epochs[2]["dense1/W"], expected, rtol=1e-12, atol=1e-15)


class StopAt(Reporter):
    def __init__(self, trainer, step):
        self.trainer, self.at = trainer, step

    def step(self, batch, cost):
        if self.trainer.optimizer.t == self.at:
            self.trainer.stop_requested = True


@pytest.mark.parametrize("stop", ["epoch 2", "epoch 3", "mid epoch 3", "mid epoch 3, augmented"])
def test_resume_across_an_unfreeze_is_bit_exact(tmp_path, stop):
    """Also with augmented inputs, where the frozen trunk runs every step instead of being cached."""
    settings = UNFREEZE + (["train.augment={noise: 0.05}"] if "augmented" in stop else [])
    whole = start_run(spec(*settings), tmp_path / "whole")
    whole.run()
    assert (whole.features is None) == ("augmented" in stop)
    if stop.startswith("epoch"):
        part = start_run(spec(*UNFREEZE[:-2], UNFREEZE[-1], f"train.epochs={stop[-1]}"), tmp_path / "part")
        part.run()
    else:
        part = start_run(spec(*settings), tmp_path / "part")
        part.run(StopAt(part, 2 * whole.n_batches + 3))
        assert part.stop_reason == "interrupted" and part.batch == 3
    resumed = resume_run(part.run_dir, ["train.epochs=4"])
    resumed.run()
    np.testing.assert_array_equal(whole.net.theta, resumed.net.theta)
    for name, value in whole.optimizer.state.items():
        np.testing.assert_array_equal(value, resumed.optimizer.state[name])
    assert whole.log.iteration == resumed.log.iteration


# ---------------------------------------------------------------- mistakes


@pytest.mark.parametrize("overrides, message", [
    (["model.freeze=[conv1, dense1, dense2]"], "model.freeze: every layer is frozen"),
    (["model.freeze=[conv1, dense1]", "model.layers.3.trainable=false"], "model.freeze: every layer is frozen"),
    ([f"model.layers.{i}.trainable=false" for i in (0, 2, 3)], "model.layers: every layer is frozen"),
    (["model.freeze=[denes1]"], "model.freeze[0]: 'denes1' is not a known layer; did you mean 'dense1'?"),
    (["model.freeze=[pool1]"], "'pool1' has no parameters"),
    (["train.unfreeze={after_epochs: 1, layers: [dense2]}"], "'dense2' is not frozen"),
])
def test_bad_freezing_is_one_line_exit_2(tmp_path, overrides, message):
    path = write_spec(tmp_path, CNN)
    sets = [x for o in overrides for x in ("--set", o)]
    error = one_line_error(invoke("train", path, "--runs-dir", tmp_path / "runs", *sets, expect=2).stderr)
    assert message in error
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_unfreeze_stages_must_come_in_epoch_order():
    with pytest.raises(Exception, match="increasing after_epochs"):
        spec("model.freeze=[conv1, dense1]",
             "train.unfreeze=[{after_epochs: 3, layers: [dense1]}, {after_epochs: 2, layers: [conv1]}]")


def test_load_spec_reads_a_frozen_layer(tmp_path):
    path = write_spec(tmp_path, CNN.replace("{units: 16, activation: relu}", "{units: 16, activation: relu, trainable: false, lr_scale: 0.5}"))
    loaded = load_spec(path)
    assert loaded.model.layers[2].trainable is False and math.isclose(loaded.model.layers[2].lr_scale, 0.5)


def test_train_says_when_a_stage_unfreezes(tmp_path):
    path = write_spec(tmp_path, CNN)
    sets = [x for o in UNFREEZE for x in ("--set", o)]
    result = invoke("train", path, "--runs-dir", tmp_path / "runs", *sets)
    assert "epoch 3: unfreezing dense1 (1,210 trainable parameters now)" in result.stderr


def test_a_flatten_before_the_first_dense_layer_is_not_cached_and_trains_the_same(tmp_path, monkeypatch):
    """An MLP on images starts with a Flatten, which has no parameters: caching its outputs would copy
    the training set (0.4 s and 172 MB for MNIST's 55,000 training rows) to save a reshape per batch."""
    from nnctl.nn.network import Network

    mlp = CNN.replace("    - {type: conv2d, filters: 4, kernel: 3, padding: same, batchnorm: true}\n"
                      "    - {type: maxpool, size: 2}\n", "")
    trainer = start_run(parse_spec(mlp, "mlp.yaml"), tmp_path / "plain")
    assert type(trainer.net.layers[0]).__name__ == "Flatten" and trainer.net.first_trainable == 1
    trainer.run()
    assert trainer.features is None
    monkeypatch.setattr(Network, "prefix_only_reshapes", lambda self: False)  # the cache as it was
    cached = start_run(parse_spec(mlp, "mlp.yaml"), tmp_path / "cached")
    cached.run()
    assert cached.features is not None
    assert np.array_equal(trainer.net.theta, cached.net.theta)
    assert trainer.log.epoch["train_cost"] == cached.log.epoch["train_cost"]
