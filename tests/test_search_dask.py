"""`nnctl tune --scheduler`: a real Dask cluster on 127.0.0.1 (random ports), bounded by timeouts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nnctl.search.record import load_search
from tests.conftest import invoke_json, nnctl_cmd, subprocess_env, write_spec
from tests.test_search import TUNE_SPEC, _comparable, _ends

pytest.importorskip("distributed")
pytestmark = pytest.mark.slow

DASK = [sys.executable, "-m", "distributed.cli.dask_scheduler"]
WORKER = [sys.executable, "-m", "distributed.cli.dask_worker"]


def _wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def cluster(tmp_path):
    """A scheduler and two single-threaded workers as separate processes; yields (address, worker processes)."""
    scheduler_file = tmp_path / "scheduler.json"
    env = subprocess_env(OPENBLAS_NUM_THREADS="1")
    log = open(tmp_path / "dask.log", "w")
    procs = [subprocess.Popen([*DASK, "--host", "127.0.0.1", "--port", "0", "--no-dashboard", "--scheduler-file",
                               str(scheduler_file)], env=env, stdout=log, stderr=log, start_new_session=True)]
    try:
        _wait_for(lambda: scheduler_file.exists() and scheduler_file.stat().st_size > 0, 60, "the Dask scheduler")
        address = json.loads(scheduler_file.read_text())["address"]
        workers = [subprocess.Popen([*WORKER, address, "--nthreads", "1", "--no-dashboard", "--host", "127.0.0.1",
                                     "--local-directory", str(tmp_path / f"w{i}")], env=env, stdout=log, stderr=log,
                                    start_new_session=True) for i in range(2)]
        procs += workers
        from distributed import Client

        with Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=60)
        yield address, workers
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()


def test_a_search_on_a_dask_cluster_equals_the_local_one(tmp_path, cluster):
    address, _ = cluster
    spec = write_spec(tmp_path, TUNE_SPEC)
    local = invoke_json("tune", spec, "--runs-dir", tmp_path / "local", "--workers", "2", "--quiet")
    remote = invoke_json("tune", spec, "--runs-dir", tmp_path / "dask", "--scheduler", address, "--quiet")
    assert remote["completed"] and remote["counts"] == {"completed": 4}
    assert _comparable(Path(remote["tune_dir"])) == _comparable(Path(local["tune_dir"]))


def test_a_search_survives_a_worker_killed_mid_search(tmp_path, cluster):
    address, workers = cluster
    spec = write_spec(tmp_path, TUNE_SPEC.replace("trials: 4", "trials: 6").replace("epochs: 3", "epochs: 15"))
    runs = tmp_path / "dask"
    proc = subprocess.Popen(nnctl_cmd("tune", spec, "--runs-dir", runs, "--scheduler", address, "--json", "--quiet"),
                            env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(lambda: list(runs.glob("*")) and _ends(next(runs.glob("*"))) >= 1, 120, "a first finished trial")
        os.killpg(workers[0].pid, signal.SIGKILL)  # the worker and its nanny, mid-search
        out, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    result = json.loads(out)
    assert result["completed"] and result["counts"] == {"completed": 6}
    record = load_search(result["tune_dir"])
    assert all(t.epochs == 15 and len(t.curve) == 15 for t in record.trials)


@pytest.fixture
def shadowed_cwd(tmp_path, monkeypatch) -> Path:
    """The folder the cluster is started from (so first on its workers' import path), holding a module named
    like one a trial imports later, which records that it ran."""
    folder = tmp_path / "started-here"
    folder.mkdir()
    (folder / "h5py.py").write_text(f"open({str(folder / 'marker')!r}, 'a').write('ran')\nraise SystemExit('shadow')\n")
    monkeypatch.chdir(folder)
    return folder


def test_trials_on_dask_workers_import_nothing_from_their_working_folder(shadowed_cwd, cluster, tmp_path):
    address, _ = cluster  # started after shadowed_cwd: its workers run in that folder
    spec = write_spec(tmp_path, TUNE_SPEC.replace("trials: 4", "trials: 2"))
    result = invoke_json("tune", spec, "--runs-dir", tmp_path / "dask", "--scheduler", address, "--quiet")
    assert result["counts"] == {"completed": 2}
    assert not (shadowed_cwd / "marker").exists()
