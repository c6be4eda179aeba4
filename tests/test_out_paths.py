"""--out, -o and --images never write into a run or tune directory, over a file of another kind or a directory, nor
into a missing directory; eval on a read-only run still reports its metrics."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import invoke, one_line_error
from test_hardening_runs import mounted_tmpfs


def _fingerprint(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture
def other_run(trained_run, tmp_path) -> Path:
    """A copy of a trained run: the one a careless --out would damage."""
    return Path(shutil.copytree(trained_run, tmp_path / "other"))


def _commands(run: Path, target: Path) -> list[tuple]:
    inputs = target.parent / "x.npy"
    return [
        ("errors", run, "--out", target),
        ("runs", "export", run, "-o", target),
        ("data", "sample", "digits", "--out", target),
        ("export", run, "--format", "npz", "--out", target),
        ("predict", run, inputs, "--out", target.with_suffix(".csv")),
    ]


def test_no_output_lands_inside_a_run(trained_run, other_run):
    np.save(other_run.parent / "x.npy", np.zeros((2, 64)))
    before = _fingerprint(other_run)
    for args in _commands(trained_run, other_run / "best.h5"):
        line = one_line_error(invoke(*args, expect=2).stderr)
        assert f"inside the run directory {other_run.resolve()}" in line, (args, line)
    line = one_line_error(invoke("errors", trained_run, "--images", other_run / "pictures", expect=2).stderr)
    assert "inside the run directory" in line
    assert _fingerprint(other_run) == before and not (other_run / "pictures").exists()


def test_no_output_replaces_a_file_of_another_kind(trained_run, tmp_path):
    kept = tmp_path / "weights.h5"
    kept.write_bytes(b"\x89HDF\r\n\x1a\n precious")
    line = one_line_error(invoke("errors", trained_run, "--out", kept, expect=2).stderr)
    assert "would replace a file that is not .csv" in line
    line = one_line_error(invoke("runs", "export", trained_run, "-o", kept, expect=2).stderr)
    assert "would replace a file that is not .csv" in line
    assert kept.read_bytes() == b"\x89HDF\r\n\x1a\n precious"


@pytest.mark.parametrize("make_target, message", [
    (lambda d: d / "missing" / "x.csv", "directory {d}/missing does not exist"),
    (lambda d: d, "is a directory; give a file name such as"),
])
def test_missing_directories_and_directories_are_one_line(trained_run, tmp_path, make_target, message):
    target = make_target(tmp_path)
    for args in [("errors", trained_run, "--out", target), ("runs", "export", trained_run, "-o", target),
                 ("data", "sample", "digits", "--out", target)]:
        line = one_line_error(invoke(*args, expect=2).stderr)
        assert message.format(d=tmp_path) in line, (args, line)
    assert not (tmp_path / "missing").exists()


def test_images_over_a_file_is_one_line(trained_run, tmp_path):
    (tmp_path / "metrics.h5").write_text("x")
    line = one_line_error(invoke("errors", trained_run, "--images", tmp_path / "metrics.h5", expect=2).stderr)
    assert "is a file, not a directory" in line


def test_runs_export_writes_whole_files(trained_run, tmp_path):
    out = tmp_path / "epochs.csv"
    invoke("runs", "export", trained_run, "-o", out)
    assert out.read_text().splitlines()[0].startswith("epoch,")
    assert [p.name for p in tmp_path.iterdir()] == ["epochs.csv"]  # no temporary left behind


def test_eval_on_a_read_only_run_prints_its_metrics_and_says_why_nothing_was_recorded(trained_run, tmp_path):
    mount = tmp_path / "mnt"
    for _ in mounted_tmpfs(mount, "size=8m"):
        try:  # unmount even when an assertion fails
            run = Path(shutil.copytree(trained_run, mount / trained_run.name))
            (run / "eval.json").unlink(missing_ok=True)
            if subprocess.run(["mount", "-o", "remount,ro", str(mount)], capture_output=True).returncode != 0:
                pytest.skip("cannot remount read-only here")
            result = invoke("eval", run, "--split", "dev")
            assert "dev_accuracy" in result.stdout or "accuracy" in result.stdout
            warning = [line for line in result.stderr.splitlines() if line.strip()]
            assert len(warning) == 1 and warning[0].startswith("nnctl: warning: eval.json not written, the metrics above stand: ")
            assert "Read-only file system" in warning[0]
            assert not (run / "eval.json").exists()
        finally:
            subprocess.run(["umount", str(mount)], check=False)
