"""The notes' manual decay: `train --resume RUN --set train.learning_rate=...` (and the schedule), recorded as an event."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import h5_datasets, invoke, one_line_error, train_run, write_spec

from nnctl.runs.events import read_events

SPEC = """\
name: decay
seed: 4
data:
  source: {type: generated, name: moons, samples: 200, noise: 0.2}
model:
  layers:
    - {units: 8, activation: tanh}
    - {units: 1, activation: sigmoid}
train: {epochs: 2, batch_size: 32, learning_rate: 0.1}
watch: {silence: [plateau]}
"""


def test_lowering_alpha_on_resume_is_the_step_schedule_that_halves_it_at_that_epoch_bit_for_bit(tmp_path):
    spec = write_spec(tmp_path, SPEC)
    run = train_run(spec, tmp_path / "runs")
    steps_per_epoch = len(h5_datasets(run / "metrics.h5")["iteration/cost"]) // 2
    invoke("train", "--resume", run, "--set", "train.epochs=4", "--set", "train.learning_rate=0.05", "--quiet")
    # α0 = 0.1 halved once epoch 3 starts: step schedule, every 3 epochs, factor 0.5 (0.1·0.5 is 0.05 exactly)
    scheduled = train_run(spec, tmp_path / "scheduled", "train.epochs=4", "train.schedule.name=step",
                          "train.schedule.every=3", "train.schedule.factor=0.5")
    resumed, straight = h5_datasets(run / "checkpoint.h5"), h5_datasets(scheduled / "checkpoint.h5")
    for key in straight:
        if key.startswith("params/"):
            np.testing.assert_array_equal(resumed[key], straight[key])
    lr = h5_datasets(run / "metrics.h5")["iteration/learning_rate"]
    assert lr.tolist() == [0.1] * 2 * steps_per_epoch + [0.05] * 2 * steps_per_epoch
    events = [e for e in read_events(run) if e["event"] == "set"]
    assert [(e["key"], e["from"], e["to"], e["step"], e["epoch"]) for e in events] == [
        ("train.learning_rate", 0.1, 0.05, 2 * steps_per_epoch + 1, 3)]
    assert "learning_rate: 0.05" in (run / "spec.yaml").read_text()


def test_the_history_up_to_the_change_is_the_uninterrupted_runs(tmp_path):
    spec = write_spec(tmp_path, SPEC)
    run = train_run(spec, tmp_path / "runs")
    invoke("train", "--resume", run, "--set", "train.epochs=3", "--set", "train.learning_rate=0.01", "--quiet")
    straight = train_run(spec, tmp_path / "straight", "train.epochs=3")
    a, b = h5_datasets(run / "metrics.h5"), h5_datasets(straight / "metrics.h5")
    n = len(a["iteration/cost"]) * 2 // 3
    np.testing.assert_array_equal(a["iteration/cost"][:n + 1], b["iteration/cost"][:n + 1])  # step n+1's cost: θ before it
    assert not np.array_equal(a["iteration/cost"][n + 1:], b["iteration/cost"][n + 1:])


def test_a_schedule_change_on_resume_is_an_event_too(tmp_path):
    run = train_run(write_spec(tmp_path, SPEC), tmp_path / "runs")
    invoke("train", "--resume", run, "--set", "train.epochs=3", "--set", "train.schedule.name=exponential", "--quiet")
    (event,) = [e for e in read_events(run) if e["event"] == "set"]
    assert event["key"] == "train.schedule" and event["from"] == {"name": "constant"}
    assert event["to"] == {"name": "exponential", "base": 0.95}


def test_other_changes_on_resume_are_still_refused(tmp_path):
    run = train_run(write_spec(tmp_path, SPEC), tmp_path / "runs")
    result = invoke("train", "--resume", run, "--set", "train.epochs=3", "--set", "model.layers[0].units=4", expect=2)
    assert "train.learning_rate, train.schedule" in one_line_error(result.stderr)


def test_the_curves_mark_the_change(tmp_path):
    pytest.importorskip("matplotlib")
    from nnctl.report.curves import CurveOptions, curves_figure
    from nnctl.report.history import load_history

    run = train_run(write_spec(tmp_path, SPEC), tmp_path / "runs")
    invoke("train", "--resume", run, "--set", "train.epochs=3", "--set", "train.learning_rate=0.01", "--quiet")
    for per in ("epoch", "step"):
        fig = curves_figure([load_history(run)], CurveOptions(per=per))
        labels = fig.axes[-1].get_legend_handles_labels()[1]
        steps = load_history(run).steps_per_epoch
        assert f"α 0.1 → 0.01 from step {2 * steps + 1} (resume)" in labels
