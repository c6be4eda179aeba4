"""Search workers run nnctl's code only: a module in the working folder named like one they import is never run."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import pytest

from nnctl.search import isolation
from nnctl.search.trial import TrialTask
from tests.conftest import subprocess_env, write_spec
from tests.test_search import TUNE_SPEC

NNCTL = Path(sys.executable).with_name("nnctl")  # the console script users run: its own folder, not theirs, is on the path
# Each shadow records that it ran, then fails the import the way a stray script would.
SHADOW = "import os\nopen(os.path.join({folder!r}, 'marker'), 'a').write('ran\\n')\nraise SystemExit('shadow ran')\n"


def _shadowed_folder(tmp_path: Path, *modules: str) -> Path:
    folder = tmp_path / "work"
    folder.mkdir()
    for module in modules:
        (folder / f"{module}.py").write_text(SHADOW.format(folder=str(folder)))
    return folder


@pytest.mark.slow
def test_local_workers_never_import_from_the_working_folder(tmp_path):
    folder = _shadowed_folder(tmp_path, "concurrent", "random", "queue", "h5py")
    write_spec(folder, TUNE_SPEC.replace("trials: 4", "trials: 2"), "s.yaml")
    proc = subprocess.run([NNCTL, "tune", "s.yaml", "--workers", "2", "--quiet", "--json"], cwd=folder, env=subprocess_env(),
                          capture_output=True, text=True, timeout=300)
    assert not (folder / "marker").exists(), proc.stderr
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["counts"] == {"completed": 2}


def test_a_dask_task_imports_nothing_from_the_working_folder(tmp_path, monkeypatch):
    """The Dask task function on a worker whose working folder is on its path (as `python -m` puts it)."""
    folder = _shadowed_folder(tmp_path, "nnctl_shadow_probe")
    monkeypatch.chdir(folder)
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.setattr(sys, "path", ["", *sys.path])
    seen = {}

    def probe():
        seen["path"] = list(sys.path)
        with pytest.raises(ModuleNotFoundError):
            __import__("nnctl_shadow_probe")

    with isolation.working_folder_off_path():
        with isolation.working_folder_off_path():  # two trials in two threads of one worker
            probe()
        assert str(folder) not in sys.path and "" not in sys.path
    assert sys.path[:2] == ["", str(folder)]
    assert not (folder / "marker").exists()


def test_the_dask_task_crosses_the_wire_as_plain_data():
    """Unpickling the task imports only the small isolation module, never the trial machinery."""
    task = asdict(TrialTask(tune_dir="t", index=0, spec_yaml="", metric="dev_error", minimize=True, satisfy={}))
    code = ("import pickle, sys; pickle.loads(sys.stdin.buffer.read()); "
            "print(sorted(m for m in sys.modules if m.startswith('nnctl')))")
    payload = pickle.dumps((isolation.run_isolated_trial, task))
    out = subprocess.run([sys.executable, "-P", "-c", code], input=payload, capture_output=True, check=True).stdout
    assert json.loads(out.decode().replace("'", '"')) == ["nnctl", "nnctl.search", "nnctl.search.isolation"]


def test_a_search_whose_every_trial_failed_exits_non_zero_with_the_first_failure(tmp_path):
    """Workers that die at start (a sitecustomize that exits in safe-path processes only) fail every trial."""
    folder = tmp_path / "work"
    folder.mkdir()
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text("import os, sys\nif sys.flags.safe_path:\n    os._exit(3)\n")
    write_spec(folder, TUNE_SPEC.replace("trials: 4", "trials: 2"), "s.yaml")
    proc = subprocess.run([NNCTL, "tune", "s.yaml", "--workers", "1", "--quiet"], cwd=folder,
                          env=subprocess_env(PYTHONPATH=str(tmp_path / "site")), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == (
        "nnctl: error: every trial failed; trial 0: its worker process died twice (exit code 3)")
