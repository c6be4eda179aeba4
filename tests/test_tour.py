"""The README's tour runs verbatim, top to bottom, in a fresh copy of the repository, leaving
nothing untracked outside runs/; the manual's examples are the shipped files."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import CONFIGS, MNIST_MIRROR, REPO, subprocess_env

README = (REPO / "README.md").read_text(encoding="utf-8")
FIRST_RUN = (REPO / "docs" / "tutorials" / "first-run.md").read_text(encoding="utf-8")
BENCHMARKS = (REPO / "docs" / "explanation" / "benchmarks.md").read_text(encoding="utf-8")


def _block_after(heading: str, language: str, page: str = README) -> str:
    """The first ```language block after ``heading`` in ``page`` (the README by default)."""
    rest = page[page.index(heading):]
    match = re.search(rf"```{language}\n(.*?)```", rest, re.S)
    assert match, f"no {language} block after {heading!r}"
    return match.group(1)


TOUR = _block_after("## A short tour", "bash")


def _fresh_copy(tmp_path: Path) -> Path:
    """What a clone holds that the tour reads: configs/ and the bundled datasets/ (no download cache)."""
    clone = tmp_path / "nnctl"
    shutil.copytree(CONFIGS, clone / "configs")
    shutil.copytree(REPO / "datasets", clone / "datasets", ignore=shutil.ignore_patterns("cache"))
    return clone


def _activated_path(tmp_path: Path) -> str:
    """PATH as `. .venv/bin/activate` leaves it: an `nnctl` of this interpreter first."""
    bin_dir = tmp_path / "venv-bin"
    bin_dir.mkdir()
    shim = bin_dir / "nnctl"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m nnctl "$@"\n')
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
    return f"{bin_dir}{os.pathsep}{os.environ['PATH']}"


def test_the_tour_has_no_placeholders_or_machine_paths():
    assert "<" not in TOUR and "../shared" not in TOUR and "/work/" not in TOUR
    assert "runs/latest" in TOUR and "nnctl data sample" in TOUR


@pytest.mark.slow
def test_the_readme_tour_runs_verbatim_in_a_fresh_copy(tmp_path):
    """Every line, as written, with the venv's nnctl on PATH. MNIST comes from the mirror
    ($NNCTL_DATA_MIRROR, as the README says); without one the MNIST line is left out."""
    clone = _fresh_copy(tmp_path)
    env = subprocess_env(PATH=_activated_path(tmp_path))
    env.pop("NNCTL_DATASETS", None)
    lines = TOUR.splitlines()
    if (MNIST_MIRROR / "train-images-idx3-ubyte.gz").is_file():
        env["NNCTL_DATA_MIRROR"] = str(MNIST_MIRROR)
    else:
        lines = [line for line in lines if "mnist" not in line]
    script = "set -euo pipefail\n" + "\n".join(lines) + "\n"
    done = subprocess.run(["bash", "-c", script], cwd=clone, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    assert "Traceback" not in done.stderr
    rows = (clone / "runs" / "inputs.csv").read_text().splitlines()
    assert len(rows) == 5 and all(len(row.split(",")) == 64 for row in rows)
    assert sorted(p.name for p in clone.iterdir()) == ["configs", "datasets", "runs"]  # nothing left outside runs/
    assert "class,p_0,p_1" in done.stdout  # predict's header, with --proba
    latest = clone / "runs" / "latest"
    assert latest.is_symlink() and (latest / "checkpoint.h5").is_file()
    runs = sorted(p.name for p in (clone / "runs").iterdir() if p.is_dir() and not p.is_symlink())
    assert len(runs) == (2 if "NNCTL_DATA_MIRROR" in env else 1)
    assert os.readlink(latest).startswith("mnist-mlp-" if "NNCTL_DATA_MIRROR" in env else "quickstart-")


def test_the_first_run_tutorial_s_spec_is_configs_quickstart():
    shown = _block_after("A spec says what to learn from", "yaml", FIRST_RUN)
    assert shown == (CONFIGS / "quickstart.yaml").read_text(encoding="utf-8")


def test_the_accuracy_table_trains_each_config_for_its_own_epochs():
    rows = re.findall(r"^\| `configs/([\w-]+\.yaml)` \| (\d+) \|", BENCHMARKS, re.M)
    assert len(rows) >= 3
    for name, epochs in rows:
        spec = yaml.safe_load((CONFIGS / name).read_text())
        assert spec["train"]["epochs"] == int(epochs), f"benchmarks.md says {epochs} epochs for {name}"
