"""`train.train_metrics`: the full pass over the training split (default) or the epoch's running mean batch cost."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import h5_datasets, invoke, one_line_error, train_run, write_spec

from nnctl.orchestration.start import resume_run, start_run
from nnctl.spec import load_spec
from nnctl.train.loop import Reporter

# 150 generated points, 90 for training in batches of 16: five full batches and one of 10 per epoch.
SPEC = """\
name: running
seed: 2
data:
  source: {type: generated, name: moons, samples: 150, noise: 0.2}
  split: {train: 0.6, dev: 0.4, test: 0.0}
model:
  layers:
    - {units: 12, activation: relu}
    - {units: 1, activation: sigmoid}
train: {epochs: 3, batch_size: 16, learning_rate: 0.05, optimizer: {name: adam}, train_metrics: running}
"""
BATCHES = [16] * 5 + [10]


def _epoch_means(step_costs: np.ndarray) -> np.ndarray:
    """The batch-size-weighted mean of each epoch's logged mini-batch costs."""
    per_epoch = step_costs.reshape(-1, len(BATCHES))
    return per_epoch @ np.array(BATCHES, dtype=np.float64) / sum(BATCHES)


def test_running_train_cost_is_the_epochs_mean_mini_batch_cost(tmp_path):
    run = train_run(write_spec(tmp_path, SPEC), tmp_path / "runs")
    logged = h5_datasets(run / "metrics.h5")
    assert len(logged["iteration/cost"]) == 3 * len(BATCHES)
    np.testing.assert_allclose(logged["epoch/train_cost"], _epoch_means(logged["iteration/cost"]), rtol=1e-12)
    assert "epoch/train_accuracy" not in logged and "epoch/dev_accuracy" in logged  # no pass over the training split


def test_running_train_cost_leaves_the_penalty_out_like_the_full_pass(tmp_path):
    run = train_run(write_spec(tmp_path, SPEC), tmp_path / "runs", "regularization.l2=5.0")
    logged = h5_datasets(run / "metrics.h5")
    objective = _epoch_means(logged["iteration/cost"])  # J per step includes λ/(2m)·Σ‖W‖²
    assert np.all(logged["epoch/train_cost"] < objective - 1e-3)


def test_the_full_pass_is_the_default_and_records_every_train_metric(tmp_path):
    spec = write_spec(tmp_path, SPEC.replace(", train_metrics: running", ""))
    assert load_spec(spec).train.train_metrics == "full"
    logged = h5_datasets(train_run(spec, tmp_path / "runs") / "metrics.h5")
    assert {"epoch/train_cost", "epoch/train_accuracy", "epoch/train_f1"} <= set(logged)
    assert not np.allclose(logged["epoch/train_cost"], _epoch_means(logged["iteration/cost"]))  # end-of-epoch θ


def test_monitoring_a_train_metric_that_running_mode_does_not_record_is_located(tmp_path):
    spec = write_spec(tmp_path, SPEC + "checkpoint: {monitor: train_accuracy}\n")
    line = one_line_error(invoke("train", spec, "--runs-dir", tmp_path / "runs", expect=2).stderr)
    assert "checkpoint.monitor" in line and "train.train_metrics: running" in line and "train_cost" in line
    assert not (tmp_path / "runs").exists()


class _StopAt(Reporter):
    """Asks the trainer to stop after a given step of a given epoch (as Ctrl-C does)."""

    def __init__(self, trainer, epoch: int, batch: int):
        self.trainer, self.at, self.epoch = trainer, (epoch, batch), 0

    def epoch_start(self, epoch, epochs, n_batches):
        self.epoch = epoch

    def step(self, batch, cost):
        if (self.epoch, batch) == self.at:
            self.trainer.stop_requested = True


@pytest.mark.parametrize("batch", [1, 4])
def test_a_resume_mid_epoch_keeps_the_running_mean_exact(tmp_path, batch):
    spec = load_spec(write_spec(tmp_path, SPEC))
    whole = start_run(spec, tmp_path / "whole").run()
    trainer = start_run(spec, tmp_path / "cut")
    assert trainer.run(_StopAt(trainer, 2, batch)).stop_reason == "interrupted"
    resumed = resume_run(trainer.run_dir, []).run()
    assert resumed.stop_reason == "completed"
    a, b = h5_datasets(whole.run_dir / "metrics.h5"), h5_datasets(resumed.run_dir / "metrics.h5")
    np.testing.assert_array_equal(a["epoch/train_cost"], b["epoch/train_cost"])
