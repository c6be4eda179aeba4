"""Damaged run files and failing disks: one line, exit 2, nothing silently reset or half-written."""

from __future__ import annotations

import errno
import hashlib
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
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


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
    ],
)
def test_damaged_checkpoint_contents(run, tmp_path, change, message):
    edit(run / "checkpoint.h5", change)
    every_reader_refuses(run, tmp_path, message)


def test_a_wrong_shaped_tensor(run, tmp_path):
    def reshape(f):
        del f["params/dense2/W"]
        f["params"].create_dataset("dense2/W", data=np.zeros((10, 15), np.float32))
    edit(run / "checkpoint.h5", reshape)
    every_reader_refuses(run, tmp_path, "/params/dense2/W is float32 (10, 15), expected floats (10, 16)")


def test_a_changed_value_fails_the_seal(run, tmp_path):
    edit(run / "checkpoint.h5", lambda f: f["params/dense1/W"].__setitem__((0, 0), 42.0), keep_seal=False)
    every_reader_refuses(run, tmp_path, "checkpoint.h5: damaged: its contents do not match their SHA-256")


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
