"""The memory guard under a 4 GiB address-space limit: every user-sized allocation is estimated before it is
made, and what does not fit is one line naming the estimate, the limit and the spec line (exit 2)."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import h5py
import pytest
from conftest import subprocess_env, write_spec

from nnctl import memory

LIMIT = 4 << 30
NNCTL = Path(sys.executable).with_name("nnctl")

DIGITS = """\
name: big
seed: 0
data:
  source: digits
  limit: 200
  split: {train: 0.6, dev: 0.2, test: 0.2}
model:
  layers:
LAYERS
train: {epochs: 1, batch_size: BATCH, learning_rate: 0.01, optimizer: {name: adam}}
"""

MOONS = DIGITS.replace("source: digits\n  limit: 200", "source: {type: generated, name: moons, samples: SAMPLES}")


def _limited():
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT, LIMIT))


def run_limited(folder: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([NNCTL, *args], cwd=folder, env=subprocess_env(), preexec_fn=_limited, capture_output=True,
                          text=True, timeout=120)


def _spec(text: str, layers: str, batch: str = "32", samples: str = "400") -> str:
    return text.replace("LAYERS", layers).replace("BATCH", batch).replace("SAMPLES", samples)


CASES = {
    "conv filters allocated in build": (_spec(DIGITS, "    - {type: conv2d, filters: 1000000000, kernel: 3}\n"
                                                    "    - {units: 10, activation: softmax}"),
                                        "spec.yaml:9: model.layers[0]: training ("),
    "units 20000 twice": (_spec(DIGITS, "    - {units: 20000, activation: relu}\n    - {units: 20000, activation: relu}\n"
                                        "    - {units: 10, activation: softmax}"),
                          "spec.yaml:10: model.layers[1]: training ("),
    "a full batch sized by the real m": (_spec(MOONS, "    - {units: 2000, activation: relu}\n    - {units: 1, activation: sigmoid}",
                                               batch="full", samples="2000000"),
                                         "spec.yaml:10: train.batch_size: training ("),
    "generated samples": (_spec(MOONS, "    - {units: 1, activation: sigmoid}", samples="1000000000"),
                          "spec.yaml:4: data.source.samples: generating 1,000,000,000 samples"),
}


@pytest.mark.slow
@pytest.mark.parametrize("command", [("train",), ("spec", "show")], ids=["train", "spec show"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_user_sized_allocations_are_refused_in_one_line(tmp_path, case, command):
    text, start = CASES[case]
    write_spec(tmp_path, text)
    proc = run_limited(tmp_path, *command, "spec.yaml", *(["--quiet"] if command == ("train",) else []))
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith(f"nnctl: error: {start}"), lines[0]
    assert "would need at least" in lines[0] and "the address-space limit (ulimit -v) is 4.0 GiB" in lines[0]


@pytest.mark.slow
def test_a_csv_cell_of_100000_characters_is_refused_with_its_line(tmp_path):
    rows = [",".join(["1"] * 10) + ",a" for _ in range(20000)]
    rows[16] = ",".join(["1"] * 10) + "," + "x" * 100_000
    (tmp_path / "wide.csv").write_text("\n".join(rows) + "\n")
    proc = run_limited(tmp_path, "data", "info", "wide.csv")
    assert proc.returncode == 2, proc.stderr
    line = proc.stderr.strip()
    assert line.startswith(f"nnctl: error: {tmp_path / 'wide.csv'}:17: 220,000 cells stored at the width of the longest (100,000 characters) "
                           "would need at least 82.0 GiB; the address-space limit (ulimit -v) is 4.0 GiB"), line


@pytest.mark.slow
def test_an_array_a_small_file_declares_is_refused_before_it_is_read(tmp_path):
    with h5py.File(tmp_path / "huge.h5", "w") as f:  # 1.4 KB on disk, nothing written
        f.create_dataset("x", shape=(10**9, 2), dtype="f8", chunks=(1024, 2))
        f.create_dataset("y", shape=(10**9,), dtype="i8", chunks=(1024,))
    proc = run_limited(tmp_path, "data", "info", "huge.h5")
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == (f"nnctl: error: {tmp_path / 'huge.h5'}: dataset 'y' (1,000,000,000 int64 values) would need "
                                   "at least 7.5 GiB; the address-space limit (ulimit -v) is 4.0 GiB")


@pytest.mark.slow
def test_a_memory_error_past_the_estimates_is_one_line_with_the_estimate(tmp_path):
    """Layers that fit the estimate but not the room left under a tight limit: NumPy's MemoryError, reported."""
    write_spec(tmp_path, _spec(DIGITS, "    - {units: 6000, activation: relu}\n    - {units: 6000, activation: relu}\n"
                                       "    - {units: 10, activation: softmax}"))
    def tight():
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
    proc = subprocess.run([NNCTL, "train", "spec.yaml", "--quiet"], cwd=tmp_path, env=subprocess_env(), preexec_fn=tight,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    line = proc.stderr.strip()
    assert "\n" not in line and line.startswith("nnctl: error: spec.yaml:"), line
    assert "out of memory (" in line and "the address-space limit (ulimit -v) is 1.0 GiB" in line
    assert "was estimated at" in line


def test_the_limit_is_the_smallest_of_machine_address_space_and_cgroup(monkeypatch, tmp_path):
    monkeypatch.setattr(memory, "physical_memory", lambda: 24 << 30)
    monkeypatch.setattr(memory.resource, "getrlimit", lambda which: (4 << 30, memory.resource.RLIM_INFINITY))
    cgroup = tmp_path / "memory.max"
    monkeypatch.setattr(memory, "CGROUP_LIMIT", cgroup)
    cgroup.write_text("max\n")
    assert memory.limit() == (4 << 30, "the address-space limit (ulimit -v)")
    cgroup.write_text(f"{2 << 30}\n")
    assert memory.limit() == (2 << 30, "the cgroup's memory limit")
    assert memory.over_limit(1 << 30, "x") is None
    assert memory.over_limit(3 << 30, "x", "k") == "x would need at least 3.0 GiB; the cgroup's memory limit is 2.0 GiB"
    assert memory.out_of_memory(MemoryError("Unable to allocate 3 GiB")) == (
        "k", "out of memory (Unable to allocate 3 GiB); the cgroup's memory limit is 2.0 GiB; x was estimated at 3.0 GiB")
