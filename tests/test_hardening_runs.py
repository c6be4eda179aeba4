"""Damaged run files and failing disks: one line, exit 2, nothing silently reset or half-written."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest import TINY_SPEC, invoke, one_line_error, train_run, write_spec

from nnctl.runs import atomic
from nnctl.runs.checkpoint import load_checkpoint
from nnctl.runs.metrics_log import MetricLog
from nnctl.runs.seal import reseal


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("pristine")
    spec = write_spec(base, TINY_SPEC.replace("epochs: 4", "epochs: 2"), "tiny.yaml")
    return train_run(spec, base / "runs")


@pytest.fixture
def run(pristine, tmp_path) -> Path:
    """A private copy of a finished 2-epoch run to damage."""
    return Path(shutil.copytree(pristine, tmp_path / pristine.name))


def fingerprints(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "not a file" for p in sorted(folder.iterdir())}


def refused(*args, contains: str) -> str:
    line = one_line_error(invoke(*args, expect=2).stderr)
    assert contains in line, line
    return line


def every_reader_refuses(run: Path, tmp_path: Path, contains: str) -> None:
    """eval, predict and --resume all refuse the damaged checkpoint.h5, and nothing in the run changes."""
    before = fingerprints(run)
    inputs = tmp_path / "x.npy"
    np.save(inputs, np.zeros((2, 8, 8, 1)))
    refused("eval", run, "--checkpoint", "latest", contains=contains)
    refused("predict", run, inputs, "--checkpoint", "latest", contains=contains)
    refused("train", "--resume", run, "--quiet", "--set", "train.epochs=3", contains=contains)
    assert fingerprints(run) == before


def edit(path: Path, change, keep_seal: bool = True) -> None:
    """Change an HDF5 file in place; sealed again, only nnctl's structural checks can notice."""
    with h5py.File(path, "r+") as f:
        change(f)
    if keep_seal:
        reseal(path)


@pytest.mark.parametrize(
    ("size", "message"),
    [(0, "checkpoint.h5: not a readable HDF5 file"), (100, "checkpoint.h5: damaged: its contents do not match their SHA-256"),
     (4000, "checkpoint.h5: damaged: its contents do not match their SHA-256")],
)
def test_truncated_checkpoints(run, tmp_path, size, message):
    path = run / "checkpoint.h5"
    path.write_bytes(path.read_bytes()[:size])
    every_reader_refuses(run, tmp_path, message)


def test_garbage_checkpoint(run, tmp_path):
    (run / "checkpoint.h5").write_bytes(os.urandom(5000))
    every_reader_refuses(run, tmp_path, "checkpoint.h5: not a readable HDF5 file")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.__delitem__("params/dense1/W"), "checkpoint.h5: damaged checkpoint: /params/dense1/W is missing"),
        (lambda f: f["params"].create_dataset("dense9/W", data=np.zeros(3, np.float32)),
         "/params/dense9/W does not belong to this run's network"),
        (lambda f: f.__delitem__("normalizer/shift"), "the input normalization (/normalizer) is missing or malformed"),
        (lambda f: f.attrs.__setitem__("rng", "{not json"), "attribute 'rng' is not valid JSON"),
        (lambda f: f.attrs.__setitem__("epoch", "five"), "attribute 'epoch' is 'five', not a count"),
        (lambda f: f.attrs.__delitem__("spec"), "attribute 'spec' is missing"),
        (lambda f: f.attrs.__setitem__("class_names", "{}"), "attribute 'class_names' is not a JSON list"),
        (lambda f: f["params/dense1/W"].__setitem__((0, 0), np.nan),
         "checkpoint.h5: damaged checkpoint: /params/dense1/W holds 1 NaN or infinite value"),
        (lambda f: f["state/dense1.bn/running_var"].__setitem__(0, np.inf),
         "checkpoint.h5: damaged checkpoint: /state/dense1.bn/running_var holds 16 NaN or infinite values"),
    ],
)
def test_damaged_checkpoint_contents(run, tmp_path, change, message):
    edit(run / "checkpoint.h5", change)
    every_reader_refuses(run, tmp_path, message)


def progress_with(**fields):
    """An edit of checkpoint.h5's progress record."""
    return lambda f: f.attrs.__setitem__("progress", json.dumps({**json.loads(f.attrs["progress"]), **fields}))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.attrs.__setitem__("progress", "[1, 2]"), "attribute 'progress' is not a JSON dict"),
        (lambda f: f.attrs.__setitem__("epoch", "abc"), "attribute 'epoch' is 'abc', not a count"),
        (progress_with(best="x"), "attribute 'progress': progress.best is \"x\", not a JSON object"),
        (progress_with(best={"metric": "dev_accuracy", "value": "high", "epoch": 1}), "progress.best.value is \"high\", not a number"),
        (progress_with(run_id="other"), "checkpoint.h5: belongs to another run (run id 'other'; this run's, recorded in data.h5, is '"),
    ],
)
def test_damaged_checkpoint_attributes_are_refused_and_listed_as_damage(run, pristine, tmp_path, change, message):
    """Sealed again after the edit: the typed reading every command shares catches it, `runs list` included
    (it used to crash with an AttributeError or ValueError, for the whole folder)."""
    edit(run / "checkpoint.h5", change)
    every_reader_refuses(run, tmp_path, message)
    listed_as_damaged(run, pristine, tmp_path, message)


def listed_as_damaged(run: Path, pristine: Path, tmp_path: Path, message: str) -> None:
    """`runs list` of the folder lists the damaged run as such, and why in one line, beside a sound run;
    `runs show` and `runs diff` refuse it in one line."""
    sound = Path(shutil.copytree(pristine, tmp_path / "sound"))
    result = invoke("runs", "list", tmp_path, "--format", "json")
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows[run.name]["status"] == "damaged" and rows[sound.name]["status"] == "completed"
    warnings = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(warnings) == 1 and "damaged run" in warnings[0] and message in warnings[0], warnings
    refused("runs", "show", run, contains=message)
    refused("runs", "diff", sound, run, contains=message)


def test_a_wrong_shaped_tensor(run, tmp_path):
    def reshape(f):
        del f["params/dense2/W"]
        f["params"].create_dataset("dense2/W", data=np.zeros((10, 15), np.float32))
    edit(run / "checkpoint.h5", reshape)
    every_reader_refuses(run, tmp_path, "/params/dense2/W is float32 (10, 15), expected floats (10, 16)")


def test_a_changed_value_fails_the_seal(run, pristine, tmp_path):
    edit(run / "checkpoint.h5", lambda f: f["params/dense1/W"].__setitem__((0, 0), 42.0), keep_seal=False)
    every_reader_refuses(run, tmp_path, "checkpoint.h5: damaged: its contents do not match their SHA-256")
    listed_as_damaged(run, pristine, tmp_path, "checkpoint.h5: damaged: its contents do not match their SHA-256")


def test_a_best_record_of_the_wrong_kind_is_refused_by_reports_and_plots(run, tmp_path):
    """progress.best of text in both checkpoints: one line, not an AttributeError in the report's overview or
    the curves' default metrics."""
    for name in ("checkpoint.h5", "best.h5"):
        edit(run / name, lambda f: f.attrs.__setitem__("progress", json.dumps({**json.loads(f.attrs["progress"]), "best": "x"})))
    refused("report", run, "--out", tmp_path / "r.html", contains="progress.best is \"x\", not a JSON object")
    refused("plot", "curves", run, "--out", tmp_path / "c.png", contains="progress.best is \"x\", not a JSON object")


@pytest.mark.parametrize("text", ["- a\n", "a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1]\n" + "".join(
    f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n" for p, c in zip("abcde", "bcdef"))])
def test_a_hostile_spec_yaml_is_a_damaged_run_in_listings(run, pristine, tmp_path, text):
    """A spec.yaml that is no mapping, or an alias bomb (9⁶ values: more would exhaust memory were the limit
    lost), read within the spec reader's limits."""
    (run / "spec.yaml").write_text(text)
    message = f"{run / 'spec.yaml'}"
    listed_as_damaged(run, pristine, tmp_path, message)


@pytest.mark.parametrize("kind", ["missing", "dangling link"])
def test_a_lost_checkpoint_is_never_a_fresh_start(run, pristine, tmp_path, kind):
    """checkpoint.h5 gone after 2 epochs: --resume used to start over from initial.h5, replacing the history
    and best.h5; now it refuses, and the listing says the run is damaged instead of "0/2 epochs"."""
    path = run / "checkpoint.h5"
    path.unlink()
    if kind == "dangling link":
        path.symlink_to(run / "gone.h5")
    before = fingerprints(run)
    line = refused("train", "--resume", run, "--quiet", "--set", "train.epochs=3", contains=f"{path}: ")
    assert ("best.h5 shows the run trained past its start" in line) == (kind == "missing")
    assert "restore checkpoint.h5 from a copy of the run" in line
    assert fingerprints(run) == before
    listed_as_damaged(run, pristine, tmp_path, f"{path}: ")


def test_a_checkpoint_lost_before_anything_else_was_written_still_resumes(run):
    """Killed between writing initial.h5 and checkpoint.h5 (nothing later on disk): the same state, resumed."""
    for name in ("checkpoint.h5", "best.h5", "metrics.h5"):
        (run / name).unlink()
    invoke("train", "--resume", run, "--quiet", "--set", "train.epochs=3")
    assert MetricLog.load(run / "metrics.h5").n_epochs == 3


def test_another_runs_checkpoints_are_refused(run, tmp_path):
    """best.h5 and checkpoint.h5 of another run (another seed: its training rows are this run's test rows)
    copied in: every reader names the foreign file, none evaluates, predicts, exports or continues it."""
    spec = write_spec(tmp_path, TINY_SPEC.replace("epochs: 4", "epochs: 2").replace("seed: 7", "seed: 8"), "other.yaml")
    other = train_run(spec, tmp_path / "other")
    for name in ("best.h5", "checkpoint.h5"):
        shutil.copy(other / name, run / name)
    contains = "belongs to another run (run id '"
    before = fingerprints(run)
    np.save(tmp_path / "x.npy", np.zeros((2, 8, 8, 1)))
    assert "best.h5: belongs to another run" in refused("eval", run, contains=contains)
    refused("predict", run, tmp_path / "x.npy", contains=contains)
    refused("export", run, "--out", tmp_path / "m.onnx", contains=contains)
    line = refused("train", "--resume", run, "--quiet", "--set", "train.epochs=3", contains=contains)
    assert "checkpoint.h5: belongs to another run" in line and "metrics.h5" not in line
    assert fingerprints(run) == before


def test_another_runs_metric_log_is_refused_by_every_reader(run, tmp_path):
    other = Path(shutil.copytree(run, tmp_path / "other"))
    edit(other / "metrics.h5", lambda f: f.attrs.__setitem__("run_id", "0" * 32))
    shutil.copy(other / "metrics.h5", run / "metrics.h5")
    contains = "metrics.h5: belongs to another run (run id '00000000"
    refused("plot", "curves", run, "--out", tmp_path / "c.png", contains=contains)
    refused("report", run, "--out", tmp_path / "r.html", contains=contains)
    refused("runs", "show", run, contains=contains)
    refused("runs", "list", run, contains=contains)


def test_a_bad_spec_attribute_is_named_as_the_checkpoint_s(run, tmp_path):
    edit(run / "checkpoint.h5", lambda f: f.attrs.__setitem__("spec", "a: [unclosed"))
    refused("train", "--resume", run, "--quiet", "--set", "train.epochs=3",
            contains=f"{run / 'checkpoint.h5'} (attribute 'spec'):1: invalid YAML")


def test_one_flipped_bit_anywhere_fails_the_seal(run, tmp_path):
    path = run / "checkpoint.h5"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x10
    path.write_bytes(bytes(data))
    every_reader_refuses(run, tmp_path, "checkpoint.h5: damaged: its contents do not match their SHA-256")


def test_sealed_files_are_plain_hdf5_for_other_tools(pristine):
    with h5py.File(pristine / "checkpoint.h5", "r") as f:
        assert f.userblock_size == 512 and f["params/dense1/W"].shape == (16, 64)


@pytest.mark.parametrize("damage", ["empty", "garbage", "wrong_layout", "short", "missing"])
def test_a_damaged_metric_log_is_an_error_with_a_recovery(run, damage):
    metrics = run / "metrics.h5"
    if damage == "empty":
        metrics.write_bytes(b"")
    elif damage == "garbage":
        metrics.write_bytes(os.urandom(3000))
    elif damage == "wrong_layout":
        with h5py.File(metrics, "w") as f:
            f["something"] = np.arange(3)
    elif damage == "short":
        log = MetricLog.load(metrics)
        log.truncate(log.n_steps, 1)
        log.save(metrics)
    else:
        metrics.unlink()
    before = fingerprints(run)
    line = refused("train", "--resume", run, "--quiet", "--set", "train.epochs=3", contains="metrics.h5")
    assert f"nnctl train --resume {run} --repair-metrics" in line
    assert fingerprints(run) == before
    invoke("train", "--resume", run, "--quiet", "--set", "train.epochs=3", "--repair-metrics")
    repaired = MetricLog.load(metrics)
    assert repaired.n_epochs == 3
    assert np.isnan(repaired.epoch["train_cost"][:2]).all() and np.isfinite(repaired.epoch["train_cost"][2])
    assert repaired.epoch["epoch"] == [1.0, 2.0, 3.0]


def test_repair_metrics_needs_resume(tiny_spec):
    refused("train", tiny_spec, "--repair-metrics", contains="--repair-metrics goes with --resume RUN")


def test_stale_temporaries_of_dead_writers_are_removed_on_resume(run):
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = run / f".best.h5.tmp-{dead.pid}"
    stale.write_bytes(b"half a file")
    alive = run / f".checkpoint.h5.tmp-{os.getppid()}"  # a live writer (our parent) is left alone
    alive.write_bytes(b"being written")
    invoke("train", "--resume", run, "--quiet", "--set", "train.epochs=3")
    assert not stale.exists() and alive.exists()


def test_a_full_disk_mid_training_keeps_the_last_checkpoint(tiny_spec, tmp_path, monkeypatch):
    """The first write after the start (spec.yaml, data.h5, initial.h5, metrics.h5, checkpoint.h5) hits ENOSPC."""
    calls = {"n": 0}
    real_fsync = os.fsync

    def failing_fsync(fd):
        calls["n"] += 1
        if calls["n"] >= 11:  # after the spec, the data record, the epoch-0 checkpoints and log (file and folder each)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    monkeypatch.setattr(atomic.os, "fsync", failing_fsync)
    result = invoke("train", tiny_spec, "--runs-dir", tmp_path / "runs", "--quiet", expect=2)
    line = one_line_error(result.stderr)
    assert "cannot write (No space left on device); the previous file, if any, is intact" in line
    run = next((tmp_path / "runs").glob("tiny-*"))
    assert load_checkpoint(run / "checkpoint.h5").epoch == 0
    assert not [p for p in run.iterdir() if ".tmp-" in p.name]


def test_a_full_disk_at_the_start_leaves_no_run(tiny_spec, tmp_path, monkeypatch):
    def no_space(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(atomic.os, "fsync", no_space)
    refused("train", tiny_spec, "--runs-dir", tmp_path / "runs", "--quiet", contains="spec.yaml: cannot write (No space left")
    assert list((tmp_path / "runs").iterdir()) == []


def test_runs_dir_that_is_a_file(tiny_spec, tmp_path):
    (tmp_path / "afile").write_text("x")
    refused("train", tiny_spec, "--runs-dir", tmp_path / "afile", contains="afile: exists and is not a directory")
    refused("train", tiny_spec, "--runs-dir", tmp_path / "afile" / "sub", contains="cannot create the run directory (Not a directory)")


def test_predict_into_a_missing_folder(pristine, tmp_path):
    inputs = tmp_path / "x.npy"
    np.save(inputs, np.zeros((2, 8, 8, 1)))
    refused("predict", pristine, inputs, "--out", tmp_path / "missing" / "p.csv",
            contains=f"p.csv: directory {tmp_path / 'missing'} does not exist")


def mounted_tmpfs(mount: Path, options: str):
    """A real tmpfs at ``mount`` (needs root and mount; the test is skipped elsewhere)."""
    mount.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mount)], capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    yield mount
    subprocess.run(["umount", str(mount)], check=False)


@pytest.fixture
def small_tmpfs(tmp_path):
    yield from mounted_tmpfs(tmp_path / "tiny", "size=400k")


@pytest.fixture
def read_only_tmpfs(tmp_path):
    yield from mounted_tmpfs(tmp_path / "ro", "ro,size=64k")


def test_a_read_only_runs_directory(tiny_spec, read_only_tmpfs):
    refused("train", tiny_spec, "--runs-dir", read_only_tmpfs / "runs", "--quiet",
            contains="cannot create the run directory (Read-only file system)")


def test_resume_on_a_read_only_filesystem(pristine, tmp_path):
    """The run is copied onto a tmpfs that is then remounted read-only."""
    mount = tmp_path / "mnt"
    for _ in mounted_tmpfs(mount, "size=2m"):
        run = Path(shutil.copytree(pristine, mount / pristine.name))
        if subprocess.run(["mount", "-o", "remount,ro", str(mount)], capture_output=True).returncode != 0:
            pytest.skip("cannot remount read-only here")
        line = refused("train", "--resume", run, "--quiet", "--set", "train.epochs=3", contains="Read-only file system")
        assert str(run) in line


def test_a_really_full_disk_in_a_subprocess(tiny_spec, small_tmpfs):
    """No h5py failure, no segfault: one line and exit 2 from the real program on a full filesystem."""
    from conftest import run_nnctl

    wide = "model.layers=[{units: 600}, {units: 10, activation: softmax}]"
    result = run_nnctl("train", tiny_spec, "--runs-dir", small_tmpfs / "runs", "--set", wide, "--set", "train.epochs=3")
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("nnctl: error:")]
    assert len(lines) == 1 and "No space left on device" in lines[0] and "Traceback" not in result.stderr


@pytest.mark.parametrize("epochs", [None, "1", "2"])
def test_resume_that_would_train_nothing_is_refused(run, epochs):
    """A 2-epoch run resumed with no larger budget: exit 2 and the stored spec untouched (it used to exit 0)."""
    before = fingerprints(run)
    sets = [] if epochs is None else ["--set", f"train.epochs={epochs}"]
    line = refused("train", "--resume", run, "--quiet", *sets, contains="has trained 2 epochs")
    assert "give --set train.epochs=N with N > 2" in line
    assert fingerprints(run) == before
