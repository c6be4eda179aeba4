"""Divergence keeps the last good epoch (issue 30): written from memory, bit-identical to the same run
stopped there, and a resume replays the divergence."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_same_arrays, h5_datasets, invoke, one_line_error

from nnctl.orchestration.start import start_run
from nnctl.runs.checkpoint import load_checkpoint
from nnctl.runs.metrics_log import MetricLog
from nnctl.spec import parse_spec
from nnctl.train.loop import Reporter

# Linear hidden units under undampened momentum grow geometrically: the rate sets when the cost overflows.
BLOWUP = """\
name: blowup
seed: 0
data: {{source: moons, split: {{train: 0.8, dev: 0.2, test: 0.0}}}}
model:
  {freeze}layers:
    - {{units: 4, activation: linear}}
    - {{units: 2, activation: softmax}}
train:
  epochs: 30
  batch_size: 64
  learning_rate: {lr}
  optimizer: {{name: momentum, dampened: false}}
  {unfreeze}
watch: {{silence: [linear_hidden, no_test_split]}}  # the divergence is the point here, not the notes' advice
"""
TIMING = ("epoch/wall_time", "epoch/epoch_time")
CASES = {  # name: (spec, the step whose cost is not finite, the last good epoch); 5 steps an epoch
    "at step 9": (BLOWUP.format(lr=200, freeze="", unfreeze=""), 9, 1),
    "at epoch 18 with the timed cadence": (BLOWUP.format(lr=2.6, freeze="", unfreeze=""), 88, 17),
    "in a fine-tuning stage": (BLOWUP.format(lr=1.0, freeze="freeze: [dense1]\n  ",
                                             unfreeze="unfreeze: {after_epochs: 3, layers: [dense1], lr_scale: 1000}"), 29, 5),
    "in the first epoch": (BLOWUP.format(lr=100, freeze="", unfreeze="").replace("batch_size: 64", "batch_size: 32"), 10, 0),
}


def _train(text: str, runs: Path, *overrides: str, clock=None):
    trainer = start_run(parse_spec(text, "spec.yaml", list(overrides)), runs)
    writes = []
    write = trainer._write

    def recording(latest, final):
        writes.append((latest.epoch, latest.batch))
        write(latest, final)

    trainer._write = recording
    if clock:
        trainer.clock, trainer.last_saved = clock(trainer), 0.0
    return trainer.run(), writes


def _files(run: Path) -> dict[str, dict]:
    return {name: h5_datasets(run / name) for name in ("checkpoint.h5", "best.h5", "metrics.h5") if (run / name).exists()}


def _assert_same_run_files(a: dict, b: dict) -> None:
    assert set(a) == set(b)
    for name in ("checkpoint.h5", "best.h5"):
        if name in a:
            assert_same_arrays(a[name], b[name], ("params/", "optimizer/"))
    assert_same_arrays(a["metrics.h5"], b["metrics.h5"], skip=TIMING)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy overflow warnings on the way to inf
@pytest.mark.parametrize("case", CASES)
def test_divergence_keeps_the_last_good_epoch_and_its_resume_replays_it(tmp_path, case):
    text, step, good = CASES[case]
    # the timed cadence as in the issue: one write by the clock after epoch 1, none after it
    clock = (lambda trainer: lambda: 31.0 if trainer.epoch else 0.0) if "timed" in case else None
    result, writes = _train(text, tmp_path / "runs", clock=clock)
    assert result.stop_reason == "diverged" and result.diverged_at == step and result.epochs_done == good
    assert writes == ([(1, 0)] if clock else []) + [(good, 0)]
    run = result.run_dir
    ckpt = load_checkpoint(run / "checkpoint.h5")
    assert (ckpt.epoch, ckpt.batch, ckpt.progress["stop_reason"]) == (good, 0, "diverged")
    assert all(np.isfinite(v).all() for v in ckpt.params.values())
    diverged = _files(run)
    if good:  # bit-identical to the same run stopped there
        stopped, _ = _train(text, tmp_path / "stopped", f"train.epochs={good}")
        assert stopped.stop_reason == "completed"
        _assert_same_run_files(diverged, _files(stopped.run_dir))
    else:  # the initial state, with an empty log: resumable, not a folder every command refuses
        assert_same_arrays(h5_datasets(run / "initial.h5"), diverged["checkpoint.h5"], ("params/", "optimizer/"))
        assert MetricLog.load(run / "metrics.h5").n_steps == 0

    again = invoke("train", "--resume", run, "--quiet", "--json", expect=3)
    assert json.loads(again.stdout)["epochs"] == good
    assert f"at step {step}, in epoch {good + 1};" in one_line_error(again.stderr)
    _assert_same_run_files(diverged, _files(run))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_the_divergence_message_offers_a_lower_rate(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(CASES["at step 9"][0])
    result = invoke("train", spec, "--runs-dir", tmp_path / "runs", "--quiet", "--json", expect=3)
    run = json.loads(result.stdout)["run"]
    assert one_line_error(result.stderr) == (
        f"nnctl: error: training diverged (a cost is not finite) at step 9, in epoch 2; {run} holds the last good "
        f"state, epoch 1; continue from it at a lower rate: nnctl train --resume {run} --set train.learning_rate=20")


class StopAfterStep(Reporter):
    def __init__(self, trainer, step):
        self.trainer, self.at = trainer, step

    def step(self, batch, cost):
        self.trainer.stop_requested = self.trainer.optimizer.t == self.at


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_a_resume_from_mid_epoch_that_diverges_keeps_its_checkpoint(tmp_path):
    trainer = start_run(parse_spec(CASES["at step 9"][0], "spec.yaml"), tmp_path / "runs")
    assert trainer.run(StopAfterStep(trainer, 7)).stop_reason == "interrupted"  # 2 batches into epoch 2
    before = _files(trainer.run_dir)
    line = one_line_error(invoke("train", "--resume", trainer.run_dir, "--quiet", expect=3).stderr)
    assert "at step 9, in epoch 2;" in line and "holds the last good state, 2 mini-batches into epoch 2;" in line
    _assert_same_run_files(before, _files(trainer.run_dir))
