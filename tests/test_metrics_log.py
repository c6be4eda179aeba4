"""metrics.h5 and its journal: appends cost what they add, every read is checked, one writer per run."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import h5py
import pytest
from conftest import TINY_SPEC, invoke, one_line_error, train_run, write_spec

from nnctl.errors import MetricLogError, RunError
from nnctl.orchestration.start import resume_run
from nnctl.runs.lock import FolderLock
from nnctl.runs.metrics_log import MetricLog
from nnctl.runs.seal import reseal, sealed_digest


def _log(steps: int, epochs: int, run_id: str = "a-run") -> MetricLog:
    log = MetricLog(run_id)
    for k in range(steps):
        log.add_step(1.0 / (k + 1), 0.01)
    for e in range(1, epochs + 1):
        log.add_epoch({"epoch": e, "dev_cost": 1.0 / e, "dev_accuracy": math.nan if e == 2 else 0.5})
    return log


def _grow(log: MetricLog, steps: int, epochs: int) -> None:
    n_steps, n_epochs = log.n_steps, log.n_epochs
    grown = _log(n_steps + steps, n_epochs + epochs)
    for cost, lr in zip(grown.iteration["cost"][n_steps:], grown.iteration["learning_rate"][n_steps:]):
        log.add_step(cost, lr)
    for row in zip(*(column[n_epochs:] for column in grown.epoch.values())):
        log.add_epoch(dict(zip(grown.epoch, row)))


def _same(a: MetricLog, b: MetricLog) -> bool:
    same = lambda x, y: len(x) == len(y) and all(u == v or (math.isnan(u) and math.isnan(v)) for u, v in zip(x, y))  # noqa: E731
    return (a.run_id == b.run_id and a.iteration.keys() == b.iteration.keys() and a.epoch.keys() == b.epoch.keys()
            and all(same(a.iteration[k], b.iteration[k]) for k in a.iteration)
            and all(same(a.epoch[k], b.epoch[k]) for k in a.epoch))


def test_saves_append_to_the_journal_and_rewrite_metrics_h5_only_as_it_doubles(tmp_path):
    path = tmp_path / "metrics.h5"
    log = _log(10, 1)
    log.save(path)
    rewrites, seal = 1, sealed_digest(path)
    for _ in range(400):
        _grow(log, 5, 1)
        log.save(path)
        if sealed_digest(path) != seal:
            rewrites, seal = rewrites + 1, sealed_digest(path)
        assert _same(MetricLog.load(path), log)  # metrics.h5 and the journal read back bit for bit
    assert (tmp_path / "metrics.journal").exists()
    assert rewrites <= math.log2(400) + 2  # each row is rewritten a bounded number of times
    log.save(path, whole=True)  # the end of a run: metrics.h5 alone, plain HDF5 for other tools
    assert not (tmp_path / "metrics.journal").exists()
    with h5py.File(path, "r") as f:
        assert len(f["iteration/cost"]) == log.n_steps and f.attrs["run_id"] == "a-run"


def _journaled(tmp_path: Path) -> tuple[Path, MetricLog]:
    path = tmp_path / "metrics.h5"
    log = _log(100, 10)
    log.save(path)
    for _ in range(3):
        _grow(log, 5, 1)
        log.save(path)
    assert len((tmp_path / "metrics.journal").read_bytes().splitlines()) == 4  # a header and three records
    return path, log


def test_a_torn_last_line_is_dropped(tmp_path):
    path, log = _journaled(tmp_path)
    journal = tmp_path / "metrics.journal"
    whole = journal.read_bytes()
    journal.write_bytes(whole + whole.splitlines(keepends=True)[-1][:40])  # a kill in the middle of an append
    assert _same(MetricLog.load(path), log)
    lines = whole.splitlines(keepends=True)
    journal.write_bytes(b"".join(lines[:-1]) + lines[-1][:-1] + b"x\n")  # the last record altered: dropped too
    log.truncate(log.n_steps - 5, log.n_epochs - 1)
    assert _same(MetricLog.load(path), log)


def test_a_damaged_line_before_the_last_is_refused(tmp_path):
    path, _ = _journaled(tmp_path)
    journal = tmp_path / "metrics.journal"
    lines = journal.read_bytes().splitlines(keepends=True)
    lines[2] = lines[2].replace(b"0.01", b"0.02", 1)
    journal.write_bytes(b"".join(lines))
    with pytest.raises(MetricLogError, match="metrics.journal: damaged: line 3 does not match its SHA-256 chain"):
        MetricLog.load(path)


def test_a_journal_older_than_metrics_h5_is_ignored(tmp_path):
    path, log = _journaled(tmp_path)
    stale = (tmp_path / "metrics.journal").read_bytes()
    log.save(path, whole=True)
    (tmp_path / "metrics.journal").write_bytes(stale)  # a kill between the rewrite and the journal's removal
    assert _same(MetricLog.load(path), log)


@pytest.mark.parametrize("damage, message", [
    (lambda f: f["epoch/epoch"].__setitem__(1, 7.0), "/epoch/epoch does not number the epochs 1, 2, ..."),
    (lambda f: f.attrs.__setitem__("run_id", 3), "attribute run_id is not text"),
    (lambda f: f["iteration"].__delitem__("learning_rate"), "no /iteration/learning_rate"),
])
def test_metrics_h5_is_checked_field_by_field(tmp_path, damage, message):
    path = tmp_path / "metrics.h5"
    _log(10, 3).save(path, whole=True)
    with h5py.File(path, "r+") as f:
        damage(f)
    reseal(path)
    with pytest.raises(MetricLogError, match=message.replace("(", r"\(").replace(".", r"\.")):
        MetricLog.load(path)


# ---------------------------------------------------------------- a run's metrics.h5


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("finished")
    return train_run(write_spec(base, TINY_SPEC.replace("epochs: 4", "epochs: 2"), "tiny.yaml"), base / "runs")


@pytest.fixture
def run(finished, tmp_path) -> Path:
    return Path(shutil.copytree(finished, tmp_path / finished.name))


def test_another_runs_metrics_h5_is_refused(run, finished, tmp_path):
    other = train_run(write_spec(tmp_path, TINY_SPEC.replace("epochs: 4", "epochs: 2"), "other.yaml"), tmp_path / "o")
    shutil.copy(other / "metrics.h5", run / "metrics.h5")
    line = one_line_error(invoke("train", "--resume", run, "--set", "train.epochs=3", expect=2).stderr)
    assert f"{run / 'metrics.h5'}: belongs to another run (run id " in line
    assert f"`nnctl train --resume {run} --repair-metrics`" in line


def test_a_metrics_h5_that_is_a_directory_names_the_file_and_the_repair(run):
    (run / "metrics.h5").unlink()
    (run / "metrics.h5").mkdir()
    line = one_line_error(invoke("train", "--resume", run, "--set", "train.epochs=3", expect=2).stderr)
    assert line == (f"nnctl: error: {run / 'metrics.h5'}: is a directory, not a file; move it out of the run folder, "
                    f"then `nnctl train --resume {run} --repair-metrics` continues with the metrics of the first 2 "
                    "epochs lost")
    one_line_error(invoke("train", "--resume", run, "--set", "train.epochs=3", "--repair-metrics", expect=2).stderr)
    for command in (["runs", "list", run], ["plot", "curves", run, "--out", run.parent / "c.png"]):
        assert "metrics.h5: is a directory, not a file" in one_line_error(invoke(*command, expect=2).stderr)


def test_one_writer_per_run(run):
    held = resume_run(run, ["train.epochs=3"])  # set up, not yet run: it holds the run
    try:
        line = one_line_error(invoke("train", "--resume", run, "--set", "train.epochs=3", expect=2).stderr)
        assert line == (f"nnctl: error: {run}: another nnctl process is writing this run; wait for it to end "
                        "(or stop it) and try again")
        with pytest.raises(RunError, match="another nnctl process"):
            FolderLock.acquire(run)
    finally:
        held.run()  # releases it
    FolderLock.acquire(run).release()
