"""Run directories on disk: layout, HDF5 formats, exact resumption, signals, kills, divergence."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
import types
from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest import (
    MOONS_SPEC,
    assert_same_arrays,
    h5_datasets,
    invoke,
    invoke_json,
    nnctl_cmd,
    one_line_error,
    run_nnctl,
    subprocess_env,
    train_json,
    train_run,
    write_spec,
)

from nnctl.runs import rundir
from nnctl.runs.checkpoint import FORMAT_VERSION, load_checkpoint
from nnctl.spec import load_spec, parse_spec

RUN_FILES = {"data.h5", "spec.yaml", "initial.h5", "checkpoint.h5", "best.h5", "metrics.h5"}
TIMING = ("epoch/wall_time", "epoch/epoch_time")


# ---------------------------------------------------------------- layout


def test_train_json_result_and_run_directory(tmp_path, tiny_spec):
    runs = tmp_path / "runs"
    result = train_json(tiny_spec, runs)
    assert set(result) == {"run", "epochs", "steps", "stop_reason", "metrics", "metrics_epoch", "best"}
    assert result["metrics_epoch"] == result["epochs"]  # no early stop: the last epoch's parameters
    assert result["epochs"] == 4 and result["stop_reason"] == "completed"
    assert result["steps"] == 4 * 6  # 180 training examples in batches of 32
    assert result["metrics"]["epoch"] == 4 and 0 <= result["metrics"]["dev_accuracy"] <= 1
    assert result["best"]["metric"] == "dev_cost" and 1 <= result["best"]["epoch"] <= 4
    run = Path(result["run"])
    assert run.parent == runs and run.name.startswith("tiny-")
    assert {p.name for p in run.iterdir()} == RUN_FILES
    # the resolved spec re-parses to the very same spec
    assert parse_spec((run / "spec.yaml").read_text()) == load_spec(tiny_spec)


def test_checkpoint_layout_with_plain_h5py(tmp_path, tiny_spec):
    run = train_run(tiny_spec, tmp_path / "runs")
    with h5py.File(run / "checkpoint.h5", "r") as f:
        assert f["params/dense1/W"].shape == (16, 64)  # (n_out, n_in): 8x8 digits flattened
        assert f["params/dense2/W"].shape == (10, 16)
        assert f["params/dense2/b"].size == 10
        assert "dense1/b" not in f["params"]  # batch norm before the activation replaces the bias
        assert set(f["params/dense1.bn"]) == {"gamma", "beta"}
        assert set(f["state/dense1.bn"]) == {"running_mean", "running_var"}
        n_theta = sum(f["params"][g][k].size for g in f["params"] for k in f["params"][g])
        assert set(f["optimizer"]) == {"v", "s"}
        assert all(f["optimizer"][k].shape == (n_theta,) for k in f["optimizer"])
        assert int(f["optimizer"].attrs["t"]) == 24
        assert set(f["normalizer"]) >= {"method", "shift", "divisor"}
        attrs = f.attrs
        assert int(attrs["format_version"]) == FORMAT_VERSION
        assert int(attrs["epoch"]) == 4 and int(attrs["step"]) == 24 and int(attrs["batch"]) == 0
        assert set(json.loads(attrs["rng"])) == {"shuffle_epoch_start", "dropout", "augment"}
        assert parse_spec(str(attrs["spec"])) == load_spec(tiny_spec)
        assert json.loads(attrs["class_names"]) == [str(d) for d in range(10)]
        assert json.loads(attrs["input_shape"]) == [8, 8, 1]
        assert str(attrs["task"]) == "classification"
    with h5py.File(run / "initial.h5", "r") as f:
        assert int(f.attrs["epoch"]) == 0 and int(f.attrs["step"]) == 0
    ckpt = load_checkpoint(run / "checkpoint.h5")
    assert ckpt.epoch == 4 and ckpt.progress["metric_steps"] == 24 and ckpt.progress["metric_epochs"] == 4


def test_metrics_log_lengths(tmp_path, tiny_spec):
    result = train_json(tiny_spec, tmp_path)
    metrics = h5_datasets(Path(result["run"]) / "metrics.h5")
    assert len(metrics["iteration/cost"]) == result["steps"] == len(metrics["iteration/learning_rate"])
    epoch_keys = [k for k in metrics if k.startswith("epoch/")]
    assert {"epoch/train_cost", "epoch/dev_accuracy", "epoch/learning_rate", "epoch/wall_time"} <= set(epoch_keys)
    assert all(len(metrics[k]) == result["epochs"] for k in epoch_keys)
    assert list(metrics["epoch/epoch"]) == [1, 2, 3, 4]
    assert metrics["epoch/dev_accuracy"][-1] == pytest.approx(result["metrics"]["dev_accuracy"])
    assert np.isfinite(metrics["iteration/cost"]).all()


def test_same_second_runs_get_distinct_directories(tmp_path, tiny_spec, monkeypatch):
    monkeypatch.setattr(rundir, "time", types.SimpleNamespace(strftime=lambda fmt: "20240101-000000"))
    runs = tmp_path / "runs"
    first = train_run(tiny_spec, runs, "train.epochs=1")
    before = h5_datasets(first / "checkpoint.h5")
    second = train_run(tiny_spec, runs, "train.epochs=2")
    assert first != second
    assert first.name == "tiny-20240101-000000" and second.name.startswith("tiny-20240101-000000-")
    assert_same_arrays(before, h5_datasets(first / "checkpoint.h5"), ("params/",))  # untouched
    assert load_checkpoint(first / "checkpoint.h5").epoch == 1
    assert load_checkpoint(second / "checkpoint.h5").epoch == 2


# ---------------------------------------------------------------- exact resumption


def _resume_matches_one_go(tmp_path: Path, spec: Path, epochs: int) -> None:
    one_go = train_run(spec, tmp_path / "a", f"train.epochs={epochs}")
    halves = train_run(spec, tmp_path / "b", f"train.epochs={epochs // 2}")
    resumed = invoke_json("train", "--resume", halves, "--set", f"train.epochs={epochs}", "--quiet")
    assert resumed["epochs"] == epochs and Path(resumed["run"]) == halves
    for name in ("checkpoint.h5", "best.h5"):
        a, b = h5_datasets(one_go / name), h5_datasets(halves / name)
        assert_same_arrays(a, b, ("params/", "state/", "optimizer/", "normalizer/"))
    with h5py.File(one_go / "checkpoint.h5") as fa, h5py.File(halves / "checkpoint.h5") as fb:
        for key in ("epoch", "step", "batch", "rng"):
            assert fa.attrs[key] == fb.attrs[key]
        assert fa["optimizer"].attrs["t"] == fb["optimizer"].attrs["t"]
    assert_same_arrays(h5_datasets(one_go / "metrics.h5"), h5_datasets(halves / "metrics.h5"), skip=TIMING)


def test_resume_is_bit_exact_with_adam_dropout_and_batchnorm(tmp_path, tiny_spec):
    _resume_matches_one_go(tmp_path, tiny_spec, 6)


def test_resume_is_bit_exact_with_momentum_and_inverse_time(tmp_path):
    spec = write_spec(tmp_path, MOONS_SPEC.replace("{units: 8, activation: tanh}", "{units: 8, activation: tanh, batchnorm: true}"))
    _resume_matches_one_go(tmp_path, spec, 6)
    lr = h5_datasets(next((tmp_path / "b").glob("moons-*")) / "metrics.h5")["epoch/learning_rate"]
    assert lr == pytest.approx([0.1 / (1 + 0.5 * e) for e in range(1, 7)])


def test_resume_refuses_other_changes(tmp_path, tiny_spec):
    run = train_run(tiny_spec, tmp_path, "train.epochs=1")
    before = h5_datasets(run / "checkpoint.h5")
    result = invoke("train", "--resume", run, "--set", "model.layers.0.units=3", expect=2)
    assert "model.layers.0.units=3" in one_line_error(result.stderr)
    assert_same_arrays(before, h5_datasets(run / "checkpoint.h5"))


# ---------------------------------------------------------------- signals and kills

# Slow enough per epoch (batch size 2 over 420 digits) that a signal lands mid-epoch.
SLOW_SPEC = """\
name: slow
seed: 3
data: {source: digits, limit: 600, split: {train: 0.7, dev: 0.3, test: 0.0}}
model:
  layers:
    - {units: 32, activation: relu, keep_prob: 0.8, batchnorm: true}
    - {units: 10, activation: softmax}
train: {epochs: 10, batch_size: 2, learning_rate: 0.003, optimizer: {name: adam}}
"""

# Many quick epochs, a checkpoint after every one: for kills at random moments.
KILL_SPEC = """\
name: kill
seed: 4
data: {source: digits, limit: 600, split: {train: 0.7, dev: 0.3, test: 0.0}}
model:
  layers:
    - {units: 32, activation: tanh, keep_prob: 0.9}
    - {units: 10, activation: softmax}
train: {epochs: 12, batch_size: 4, learning_rate: 0.01, optimizer: {name: momentum}}
checkpoint: {every_epochs: 1}
"""


@pytest.fixture(scope="module")
def slow_reference(tmp_path_factory):
    """The uninterrupted run of SLOW_SPEC."""
    base = tmp_path_factory.mktemp("slow-ref")
    return train_run(write_spec(base, SLOW_SPEC), base / "runs")


def _wait_for(predicate, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting for the training process"
        time.sleep(0.01)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_checkpoints_mid_epoch_and_resumes_exactly(tmp_path, sig, slow_reference):
    spec = write_spec(tmp_path, SLOW_SPEC)
    proc = subprocess.Popen(nnctl_cmd("train", spec, "--runs-dir", tmp_path / "runs", "--json"), cwd=tmp_path,
                            env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stderr.readline()  # the first epoch's line: training is under way
        while first.startswith("warning: "):  # (batch norm over 2 rows: the gradient_depth warning comes first)
            first = proc.stderr.readline()
        assert first.startswith("epoch 1/10"), first
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    result = json.loads(out)
    assert result["stop_reason"] == "interrupted" and result["epochs"] < 10
    run = Path(result["run"])
    if not run.is_absolute():
        run = tmp_path / run
    with h5py.File(run / "checkpoint.h5", "r") as f:
        batch, epoch = int(f.attrs["batch"]), int(f.attrs["epoch"])
    assert batch > 0 and epoch < 10  # stopped in the middle of an epoch
    ckpt = load_checkpoint(run / "checkpoint.h5")
    steps_per_epoch = load_checkpoint(slow_reference / "checkpoint.h5").step // 10
    assert ckpt.step == epoch * steps_per_epoch + batch == result["steps"]
    assert len(h5_datasets(run / "metrics.h5")["iteration/cost"]) == ckpt.step

    resumed = invoke_json("train", "--resume", run, "--quiet")
    assert resumed["epochs"] == 10 and resumed["stop_reason"] == "completed"
    assert_same_arrays(h5_datasets(slow_reference / "checkpoint.h5"), h5_datasets(run / "checkpoint.h5"),
                       ("params/", "state/", "optimizer/"))
    assert_same_arrays(h5_datasets(slow_reference / "metrics.h5"), h5_datasets(run / "metrics.h5"), skip=TIMING)


def _check_run_files(run: Path) -> None:
    """Whatever the moment of the kill: every run file opens, the checkpoint loads, only temp files are extra."""
    for path in run.iterdir():
        if path.name.startswith("."):
            assert ".tmp-" in path.name, path.name  # a temporary sibling of a kill mid-write
            continue
        # a journal: killed before the run's end; events.jsonl: a warning was given (KILL_SPEC has no test split)
        assert path.name in RUN_FILES | {"metrics.journal", "events.jsonl"}, path.name
        if path.suffix == ".h5":
            with h5py.File(path, "r"):
                pass
    ckpt = load_checkpoint(run / "checkpoint.h5")
    assert 0 <= ckpt.epoch <= 12
    assert all(np.isfinite(v).all() for v in ckpt.params.values())


@pytest.mark.slow
@pytest.mark.parametrize("cadence", ["every_epochs: 1", "every_seconds: 0.1"])
def test_sigkill_at_random_moments_leaves_a_resumable_run(tmp_path, cadence):
    """Under a per-epoch cadence and under the clock (writes mid-epoch, metric log appended to its journal)."""
    spec = write_spec(tmp_path, KILL_SPEC.replace("every_epochs: 1", cadence))
    runs = tmp_path / "runs"
    moments = random.Random(20240611)
    env = subprocess_env()

    proc = subprocess.Popen(nnctl_cmd("train", spec, "--runs-dir", runs, "--quiet"), cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(lambda: any(runs.glob("kill-*/checkpoint.h5")) or proc.poll() is not None)
        time.sleep(moments.uniform(0.0, 0.3))
        proc.kill()
        proc.wait(timeout=30)
    finally:
        proc.kill()
    (run,) = runs.glob("kill-*")  # runs/latest, when the kill came late enough, links to it
    _check_run_files(run)

    epochs_seen = [load_checkpoint(run / "checkpoint.h5").epoch]
    for _ in range(3):
        proc = subprocess.Popen(nnctl_cmd("train", "--resume", run, "--quiet"), cwd=tmp_path, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            time.sleep(moments.uniform(0.3, 0.9))
            proc.kill()
            _, err = proc.communicate(timeout=30)
        finally:
            proc.kill()
        assert b"Traceback" not in err
        _check_run_files(run)
        epochs_seen.append(load_checkpoint(run / "checkpoint.h5").epoch)
    assert epochs_seen == sorted(epochs_seen)  # a kill never loses a saved checkpoint

    if epochs_seen[-1] < 12:  # a resume may finish the run before its kill; resuming it again is refused
        done = run_nnctl("train", "--resume", run, "--quiet", "--json", cwd=tmp_path, env=env)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["epochs"] == 12
    assert load_checkpoint(run / "checkpoint.h5").epoch == 12
    _check_run_files(run)

    reference = train_run(spec, tmp_path / "reference")
    assert_same_arrays(h5_datasets(reference / "checkpoint.h5"), h5_datasets(run / "checkpoint.h5"),
                       ("params/", "optimizer/"))
    assert_same_arrays(h5_datasets(reference / "metrics.h5"), h5_datasets(run / "metrics.h5"), skip=TIMING)


@pytest.mark.slow
def test_sigkill_while_a_run_starts_or_in_its_first_epoch_leaves_a_run_a_plain_resume_finishes(tmp_path):
    """Kills from the moment the run directory exists to the end of epoch 1, each followed by a plain
    `--resume` (no --repair-metrics), which must finish the run bit-exactly. NNCTL_KILLS sets how many (4)."""
    spec = write_spec(tmp_path, KILL_SPEC)
    reference = train_run(spec, tmp_path / "reference")
    moments = random.Random(20261206)
    env = subprocess_env()
    for attempt in range(int(os.environ.get("NNCTL_KILLS", "4"))):
        runs = tmp_path / f"runs-{attempt}"
        proc = subprocess.Popen(nnctl_cmd("train", spec, "--runs-dir", runs, "--quiet"), cwd=tmp_path, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _wait_for(lambda: any(runs.glob("kill-*")) or proc.poll() is not None)  # noqa: B023 (waited for here)
            time.sleep(moments.uniform(0.0, 0.25))
            proc.kill()
            proc.wait(timeout=30)
        finally:
            proc.kill()
        (run,) = runs.glob("kill-*")
        assert (run / "spec.yaml").exists()  # the folder appears with its spec in it
        done = run_nnctl("train", "--resume", run, "--quiet", "--json", cwd=tmp_path, env=env)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["epochs"] == 12
        assert_same_arrays(h5_datasets(reference / "checkpoint.h5"), h5_datasets(run / "checkpoint.h5"),
                           ("params/", "optimizer/"))
        assert_same_arrays(h5_datasets(reference / "metrics.h5"), h5_datasets(run / "metrics.h5"), skip=TIMING)


# ---------------------------------------------------------------- divergence


DIVERGING_SPEC = """\
name: diverging
seed: 0
data: {source: moons, split: {train: 0.8, dev: 0.2, test: 0.0}}
model:
  layers:
    - {units: 4, activation: relu}
    - {units: 2, activation: softmax}
train: {epochs: 5, batch_size: 16, learning_rate: 1000000.0}
"""


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy overflow warnings on the way to inf
def test_divergence_in_the_first_epoch_exits_3_with_a_readable_checkpoint(tmp_path):
    spec = write_spec(tmp_path, DIVERGING_SPEC)
    result = invoke("train", spec, "--runs-dir", tmp_path / "runs", "--json", expect=3)
    summary = json.loads(result.stdout)
    assert summary["stop_reason"] == "diverged" and summary["epochs"] == 0
    assert "diverged" in result.stderr and "Traceback" not in result.stderr
    run = Path(summary["run"])
    ckpt = load_checkpoint(run / "checkpoint.h5")  # the last good state: before the first step
    assert ckpt.epoch == 0 and ckpt.step == 0
    assert all(np.isfinite(v).all() for v in ckpt.params.values())
    invoke("eval", run, "--checkpoint", "latest", "--split", "dev")
    invoke("eval", run, "--split", "dev")  # no best.h5 yet: falls back to the checkpoint


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_divergence_after_good_epochs_keeps_the_last_good_checkpoint(tmp_path):
    # linear hidden units with undamped momentum at a large rate blow up after a couple of epochs
    spec = write_spec(tmp_path, """\
        name: blowup
        seed: 0
        data: {source: moons, split: {train: 0.8, dev: 0.2, test: 0.0}}
        model:
          layers:
            - {units: 4, activation: linear}
            - {units: 2, activation: softmax}
        train:
          epochs: 20
          batch_size: 16
          learning_rate: 5
          optimizer: {name: momentum, dampened: false}
        checkpoint: {every_epochs: 1}   # by default the last good checkpoint is at most every_seconds old
        """)
    result = invoke("train", spec, "--runs-dir", tmp_path / "runs", "--json", "--quiet", expect=3)
    summary = json.loads(result.stdout)
    assert summary["stop_reason"] == "diverged" and 1 <= summary["epochs"] < 20
    run = Path(summary["run"])
    ckpt = load_checkpoint(run / "checkpoint.h5")
    assert ckpt.epoch == summary["epochs"] and ckpt.batch == 0
    assert all(np.isfinite(v).all() for v in ckpt.params.values())
    metrics = h5_datasets(run / "metrics.h5")
    assert len(metrics["epoch/epoch"]) == ckpt.epoch and len(metrics["iteration/cost"]) == ckpt.step
    invoke("eval", run, "--checkpoint", "latest", "--split", "dev")


def test_divergence_exit_code_from_a_real_process(tmp_path):
    spec = write_spec(tmp_path, DIVERGING_SPEC)
    done = run_nnctl("train", spec, "--runs-dir", tmp_path / "runs", "--quiet", cwd=tmp_path, timeout=60)
    assert done.returncode == 3
    assert "Traceback" not in done.stderr
    assert "nnctl: error: training diverged" in done.stderr


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_a_state_that_overflowed_in_a_step_is_never_written(tmp_path):
    """A step whose cost was finite but whose update overflowed θ (float32 can't hold α·g), followed at once by
    a stop: the run is a divergence and keeps its last good state; it used to write θ of infinities as an
    interrupted run's checkpoint.h5, which readers now refuse as damaged. (A timed write is checked the same way.)"""
    from nnctl.orchestration.start import start_run
    from nnctl.train.loop import Reporter

    spec = parse_spec(DIVERGING_SPEC.replace("learning_rate: 1000000.0", "learning_rate: 1.0e+39"))
    trainer = start_run(spec, tmp_path / "runs")

    class StopAfterFirstStep(Reporter):
        def step(self, batch: int, cost: float) -> None:
            assert np.isfinite(cost)
            trainer.stop_requested = True

    result = trainer.run(StopAfterFirstStep())
    assert result.stop_reason == "diverged" and result.epochs_done == 0
    ckpt = load_checkpoint(trainer.run_dir / "checkpoint.h5")
    assert ckpt.step == 0 and all(np.isfinite(v).all() for v in ckpt.params.values())
    invoke("eval", trainer.run_dir, "--checkpoint", "latest", "--split", "dev")


def test_an_interrupt_while_a_run_starts_leaves_no_half_made_run(tmp_path, monkeypatch, capsys):
    """Ctrl-C or SIGTERM after the run folder was made, before training began: the folder (data.h5 and spec.yaml
    only, listed nowhere) is removed, runs/latest still names the last run, and stderr says so; exit 130."""
    from nnctl.cli.main import main
    from nnctl.errors import Interrupted
    from nnctl.train.loop import Trainer

    spec = write_spec(tmp_path, MOONS_SPEC)
    earlier = train_run(spec, tmp_path / "runs")

    def interrupted(self, final: bool = False) -> None:
        raise Interrupted()

    monkeypatch.setattr(Trainer, "persist", interrupted)
    monkeypatch.setattr("sys.argv", ["nnctl", "train", str(spec), "--runs-dir", str(tmp_path / "runs"), "--quiet"])
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with pytest.raises(SystemExit) as stopped:
            main()
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    assert stopped.value.code == 130
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == sorted(["latest", earlier.name])
    assert os.readlink(tmp_path / "runs" / "latest") == earlier.name
    err = capsys.readouterr().err
    assert err.startswith("nnctl: interrupted while ") and "before training began: nothing was trained" in err
    assert err.count("\n") == 1
