"""Training options from the spec, seen through real (small) runs."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from conftest import CONFIGS

from nnctl.errors import BuildError
from nnctl.nn.schedules import make_schedule
from nnctl.orchestration.start import resume_run, start_run
from nnctl.runs.checkpoint import load_checkpoint
from nnctl.spec import load_spec, parse_spec

SMALL = ["data.limit=300", "train.epochs=6"]


def train(tmp_path, *overrides):
    trainer = start_run(load_spec(str(CONFIGS / "quickstart.yaml"), [*SMALL, *overrides]), tmp_path)
    return trainer, trainer.run()


def epoch_log(run_dir, name):
    with h5py.File(run_dir / "metrics.h5") as f:
        return f[f"epoch/{name}"][()]


EPOCHS = range(1, 7)


@pytest.mark.parametrize(
    "schedule, params, factors",
    [
        ("inverse_time", {"decay_rate": 1.0}, [1 / (1 + e) for e in EPOCHS]),
        ("exponential", {"base": 0.7}, [0.7**e for e in EPOCHS]),
        ("inv_sqrt", {"k": 1.0}, [1 / np.sqrt(e) for e in EPOCHS]),
        ("step", {"every": 2, "factor": 0.5}, [0.5 ** (e // 2) for e in EPOCHS]),
    ],
    ids=["inverse_time", "exponential", "inv_sqrt", "step"],
)
def test_epoch_schedules_are_recorded_per_epoch(tmp_path, schedule, params, factors):
    body = ", ".join(f"{k}: {v}" for k, v in params.items())
    trainer, _ = train(tmp_path, f"train.schedule={{name: {schedule}, {body}}}", "train.learning_rate=0.2")
    expected = [0.2 * f for f in factors]
    np.testing.assert_allclose(epoch_log(trainer.run_dir, "learning_rate"), expected, rtol=1e-12)


def test_inverse_time_matches_the_notes_vector():
    rate = make_schedule("inverse_time", 0.2, decay_rate=1.0)
    assert [round(rate(e, 0), 4) for e in (1, 2, 3, 4)] == [0.1, 0.0667, 0.05, 0.04]


def test_per_step_schedule_changes_every_step(tmp_path):
    trainer, result = train(tmp_path, "train.schedule={name: inv_sqrt, per: step}", "train.learning_rate=0.1")
    with h5py.File(trainer.run_dir / "metrics.h5") as f:
        rates = f["iteration/learning_rate"][()]
    np.testing.assert_allclose(rates, 0.1 / np.sqrt(np.arange(1, result.steps + 1)), rtol=1e-12)


def test_early_stopping_stops_restores_the_best_and_records_why(tmp_path):
    trainer, result = train(
        tmp_path, "train.epochs=60", "checkpoint.monitor=dev_cost", "train.early_stopping={patience: 2}",
        "regularization.l2=0", "train.learning_rate=0.5",
    )
    assert result.stop_reason == "early_stopping" and result.epochs_done < 60
    dev_cost = epoch_log(trainer.run_dir, "dev_cost")
    best_epoch = int(np.argmin(dev_cost)) + 1
    assert result.epochs_done == best_epoch + 2  # patience 2 after the best epoch
    ckpt, best = load_checkpoint(trainer.run_dir / "checkpoint.h5"), load_checkpoint(trainer.run_dir / "best.h5")
    assert ckpt.progress["stop_reason"] == "early_stopping"
    for key, value in best.params.items():
        np.testing.assert_array_equal(trainer.net.tensors()[key], value)  # the best parameters are back
    with pytest.raises(BuildError, match="already stopped early"):
        resume_run(trainer.run_dir, ["train.epochs=80"])


def test_early_stopping_monitors_what_picks_best_h5(tmp_path):
    spec = load_spec(str(CONFIGS / "quickstart.yaml"), [*SMALL, "train.early_stopping={monitor: dev_cost}"])
    with pytest.raises(BuildError, match="set checkpoint.monitor: dev_cost instead"):
        start_run(spec, tmp_path)


@pytest.fixture
def clipped_gradients(monkeypatch):
    """``clipped(trainer)``: every gradient the trainer's optimizer stepped with, copied after the step
    (the loop reuses the gradient buffer). Other optimizers' steps (the compiled kernels' warm-up) are left out."""
    from nnctl.nn.optimizers import Optimizer

    seen = []
    original = Optimizer.step

    def spy(self, theta, grad, lr):
        original(self, theta, grad, lr)
        seen.append((self, grad.copy()))

    monkeypatch.setattr(Optimizer, "step", spy)
    return lambda trainer: [grad for optimizer, grad in seen if optimizer is trainer.optimizer]


def test_clipping_by_norm_bounds_every_step(tmp_path, clipped_gradients):
    trainer, _ = train(tmp_path, "train.clip={norm: 0.05}", "train.epochs=1")
    norms = [float(np.linalg.norm(g)) for g in clipped_gradients(trainer)]
    assert norms and max(norms) <= 0.05 * (1 + 1e-6)
    assert min(norms) == pytest.approx(0.05, rel=1e-5)  # the raw gradients are larger: every step was scaled


def test_clipping_by_value_bounds_every_entry(tmp_path, clipped_gradients):
    trainer, _ = train(tmp_path, "train.clip={value: 0.001}", "train.epochs=1")
    gradients = clipped_gradients(trainer)
    assert gradients and max(np.abs(g).max() for g in gradients) == pytest.approx(0.001)


def test_clip_needs_exactly_one_bound():
    with pytest.raises(Exception, match="exactly one of 'norm' or 'value'"):
        load_spec(str(CONFIGS / "quickstart.yaml"), ["train.clip={norm: 1, value: 1}"])


def test_float64_training_keeps_float64_everywhere(tmp_path):
    trainer, _ = train(tmp_path, "precision=float64")
    assert trainer.net.theta.dtype == np.float64 and trainer.data["train"].x.dtype == np.float64
    assert load_checkpoint(trainer.run_dir / "checkpoint.h5").params["dense1/W"].dtype == np.float64


def test_train_dev_split_is_evaluated_every_epoch(tmp_path):
    trainer, result = train(tmp_path, "data.split={train: 0.6, train_dev: 0.1, dev: 0.15, test: 0.15}")
    assert len(epoch_log(trainer.run_dir, "train_dev_accuracy")) == 6
    assert "train_dev_cost" in result.metrics


def test_adamw_decays_only_the_weights(tmp_path):
    decayed, _ = train(tmp_path / "a", "train.optimizer={name: adam, weight_decay: 5}", "train.learning_rate=0.01")
    plain, _ = train(tmp_path / "b", "train.optimizer={name: adam}", "train.learning_rate=0.01")
    w = decayed.net.n_penalized
    assert np.linalg.norm(decayed.net.theta[:w]) < 0.5 * np.linalg.norm(plain.net.theta[:w])  # (1 - 0.05)^24 ≈ 0.29


def test_batch_norm_running_statistics_are_checkpointed(tmp_path):
    trainer, _ = train(tmp_path, "model.layers.0.batchnorm={momentum: 0.8}")
    ckpt = load_checkpoint(trainer.run_dir / "checkpoint.h5")
    assert set(ckpt.state) == {"dense1.bn/running_mean", "dense1.bn/running_var"}
    np.testing.assert_array_equal(ckpt.state["dense1.bn/running_mean"], trainer.net.state()["dense1.bn/running_mean"])
    assert not np.allclose(ckpt.state["dense1.bn/running_var"], 1.0)


def test_unknown_monitor_is_a_located_build_error(tmp_path):
    spec = parse_spec("model:\n  layers: [{units: 10, activation: softmax}]\ncheckpoint: {monitor: dev_acuracy}\n")
    with pytest.raises(BuildError, match="'dev_acuracy' is not recorded"):
        start_run(spec, tmp_path)
