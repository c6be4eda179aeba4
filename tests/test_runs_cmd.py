"""`nnctl runs list|show|diff|export` on a tune directory's trials: formats, filters, sorts, bad input."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from nnctl.search.record import load_search
from tests.conftest import invoke, invoke_json, one_line_error, write_spec
from tests.test_search import TUNE_SPEC


@pytest.fixture(scope="module")
def tune_dir(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("runs_cmd")
    spec = write_spec(base, TUNE_SPEC.replace("trials: 4", "trials: 3"))
    return Path(invoke_json("tune", spec, "--runs-dir", base / "runs", "--workers", "2", "--quiet")["tune_dir"])


def listing(*args) -> list[dict]:
    return json.loads(invoke("runs", "list", *args, "--format", "json").stdout)


def test_list_shows_every_trial_with_the_values_that_differ(tune_dir):
    record = load_search(tune_dir)
    rows = listing(tune_dir)
    assert [r["name"] for r in rows] == ["trial-0000", "trial-0001", "trial-0002"]
    for row, trial in zip(rows, record.trials):
        assert row["status"] == "completed" and row["epochs"] == 3 and row["monitor"] == "dev_error"
        assert row["best"] == trial.value and row["best_epoch"] == trial.best_epoch
        assert row["train.learning_rate"] == trial.params["train.learning_rate"]
        assert row["regularization.l2"] == trial.params["regularization.l2"]
    assert "train.epochs" not in rows[0]  # the same in every run: not a column


def test_filter_sort_and_columns(tune_dir):
    values = sorted(t.value for t in load_search(tune_dir).trials)
    rows = listing(tune_dir, "--sort", "dev_error", "--columns", "name,dev_error,train.learning_rate")
    assert [r["dev_error"] for r in rows] == values and list(rows[0]) == ["name", "dev_error", "train.learning_rate"]
    assert [r["dev_error"] for r in listing(tune_dir, "--sort", "dev_error", "--reverse", "--columns", "dev_error")] == values[::-1]
    cut = values[1]
    kept = listing(tune_dir, "--filter", f"dev_error<={cut!r}", "--columns", "dev_error")
    assert sorted(r["dev_error"] for r in kept) == values[:2]
    assert listing(tune_dir, "--filter", "status==completed", "--filter", "epochs>3") == []


def test_csv_and_markdown_carry_the_same_rows(tune_dir):
    as_json = listing(tune_dir, "--columns", "name,status,best")
    text = invoke("runs", "list", tune_dir, "--columns", "name,status,best", "--format", "csv").stdout
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["name"] for r in rows] == [r["name"] for r in as_json]
    assert [float(r["best"]) for r in rows] == pytest.approx([r["best"] for r in as_json], rel=1e-5)
    md = invoke("runs", "list", tune_dir, "--columns", "name,status,best", "--format", "md").stdout.splitlines()
    assert md[0] == "| name | status | best |" and md[1] == "| --- | --- | --- |" and len(md) == 2 + len(as_json)
    assert md[2].startswith("| trial\\-0000 | completed | ")  # Markdown characters behind a backslash (literal)
    table = invoke("runs", "list", tune_dir).stdout
    assert "trial-0000" in table and "3 runs" in table


def test_show_diff_and_export(tune_dir):
    a, b = tune_dir / "trial-0000", tune_dir / "trial-0001"
    info = invoke_json("runs", "show", a)
    assert info["status"] == "completed" and info["split"]["dev"] == 0.2 and "checkpoint.h5" in info["files"]
    with h5py.File(a / "metrics.h5") as f:
        dev_error = f["epoch/dev_error"][()]
        columns = {name: ds[()] for name, ds in f["epoch"].items()}
    assert info["metrics"]["dev_error"]["min"] == dev_error.min() and info["metrics"]["dev_error"]["last"] == dev_error[-1]
    assert "learning_rate" in invoke("runs", "show", a).stdout
    diff = json.loads(invoke("runs", "diff", a, b, "--format", "json").stdout)
    spec_rows = {r["key"]: r for r in diff if r["kind"] == "spec"}
    assert set(spec_rows) == {"train.learning_rate", "regularization.l2"}
    error = next(r for r in diff if r["key"] == "dev_error")
    assert error["delta"] == pytest.approx(error["trial-0001"] - error["trial-0000"], abs=0)
    exported = list(csv.DictReader(io.StringIO(invoke("runs", "export", a, "--format", "csv").stdout)))
    assert [int(r["epoch"]) for r in exported] == [1, 2, 3]
    for name, values in columns.items():
        assert np.array_equal(np.array([float(r[name]) for r in exported]), values), name  # every digit kept
    out = a.parent.parent / "m.json"
    invoke("runs", "export", a, "--format", "json", "--output", out)
    assert [row["dev_error"] for row in json.loads(out.read_text())] == dev_error.tolist()


def test_bad_input(tune_dir, tmp_path):
    assert "expected KEY<VALUE" in one_line_error(invoke("runs", "list", tune_dir, "--filter", "dev_error", expect=2).stderr)
    assert "no such directory" in one_line_error(invoke("runs", "list", tmp_path / "nope", expect=2).stderr)
    assert "not a run directory" in one_line_error(invoke("runs", "show", tmp_path, expect=2).stderr)
    assert "not a number" in one_line_error(invoke("runs", "list", tune_dir, "--filter", "status<3", expect=2).stderr)


def test_a_runs_folder_points_at_its_tune_directories(tune_dir):
    result = invoke("runs", "list", tune_dir.parent, "--format", "csv")
    assert result.stdout.splitlines() == ["name,status,epochs,best,best_epoch,monitor"]  # no plain runs there
    assert f"1 tune directory not listed ({tune_dir.name})" in result.stderr
