"""CLI conventions of issue 15: --version, help pages that read well at 80 columns in a pipe,
`spec show` printing a spec you can load again, one metric order, runs/latest, `data sample`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import CONFIGS, invoke, invoke_json, one_line_error, run_nnctl, train_json
from test_cli_contract import COMMANDS
from typer.testing import CliRunner

from nnctl import __version__
from nnctl.cli.main import app
from nnctl.data.sample import sample_pool
from nnctl.runs import rundir
from nnctl.runs.listing import find_runs
from nnctl.spec import load_spec


def test_version():
    done = run_nnctl("--version")
    assert done.returncode == 0 and done.stdout == f"nnctl {__version__}\n"


def _help(*words: str) -> str:
    result = CliRunner().invoke(app, [*words, "--help"], env={"COLUMNS": "80", "NO_COLOR": "1", "TERM": "dumb"})
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.parametrize("words", [(), ("spec",), ("data",)] + [w for w, _ in COMMANDS], ids=lambda w: " ".join(w) or "nnctl")
def test_help_pages_read_cleanly_at_80_columns(words):
    """No typer-internal metavars (`<bool>`, `<list[str]>`, `{RUN}`), nothing wider than 80 columns."""
    page = _help(*words)
    for junk in ("<bool>", "<list[", "<str>", "<path>", "{RUN}", "{SPEC}", "<int>", "<float>"):
        assert junk not in page, f"{junk} in `nnctl {' '.join(words)} --help`:\n{page}"
    assert max(len(line) for line in page.splitlines()) <= 80


def test_shell_completion_is_offered():
    page = _help()
    assert "--install-completion" in page and "--show-completion" in page and "--version" in page


def test_spec_show_prints_a_spec_that_loads_back_the_same(tmp_path):
    result = invoke("spec", "show", CONFIGS / "quickstart.yaml")
    saved = tmp_path / "resolved.yaml"
    saved.write_text(result.stdout)
    assert load_spec(saved) == load_spec(CONFIGS / "quickstart.yaml")
    assert yaml.safe_load(result.stdout)["model"]["layers"][0]["units"] == 64
    assert "output shape" in result.stderr and "training memory" in result.stderr  # the table: stderr
    assert "output shape" not in result.stdout
    invoke("spec", "check", saved)


def test_spec_show_names_layers_by_kind():
    """Counted per kind in spec order; a block's parts after its layer (a ReLU feeding a max-pool runs after it)."""
    names = _table_rows(invoke("spec", "show", CONFIGS / "digits-cnn.yaml").stderr)
    assert names[:9] == ["input", "conv1", "pool1", "conv1.act", "conv2", "conv2.act", "flatten1", "dense1", "total"]


def _table_rows(text: str) -> list[str]:
    return [line.split("│")[1].strip() for line in text.splitlines() if line.startswith("│")]


def test_train_summary_and_eval_list_metrics_in_one_order(tmp_path, tiny_spec):
    summary = invoke("train", tiny_spec, "--runs-dir", tmp_path, "--quiet").stdout
    evaluated = invoke("eval", tmp_path / "latest", "--split", "dev").stdout
    trained = _table_rows(summary)
    listed = [name for name in _table_rows(evaluated) if name and not name.isdigit()]
    assert trained == ["cost", "accuracy", "error", "precision", "recall", "f1"]
    assert listed[:len(trained)] == trained
    resumed = invoke("train", "--resume", tmp_path / "latest", "--set", "train.epochs=5", "--quiet").stdout
    assert _table_rows(resumed) == trained  # metrics read back from metrics.h5 keep the order too


def test_runs_latest_points_at_the_newest_run_and_every_run_command_takes_it(tmp_path, tiny_spec):
    first = Path(train_json(tiny_spec, tmp_path, "train.epochs=1")["run"])
    second = Path(train_json(tiny_spec, tmp_path, "train.epochs=1")["run"])
    latest = tmp_path / rundir.LATEST_LINK
    assert first != second and latest.is_symlink() and os.readlink(latest) == second.name  # relative: the folder can move
    assert invoke_json("eval", latest)["checkpoint"] == str(second / "best.h5")
    (tmp_path / "in.csv").write_text(",".join(["0"] * 64) + "\n")
    assert invoke("predict", latest, tmp_path / "in.csv").stdout.startswith("class\n")
    resumed = invoke_json("train", "--resume", latest, "--set", "train.epochs=2", "--quiet")
    assert resumed["run"] == str(second) and resumed["epochs"] == 2  # the real directory, not "latest"
    assert invoke_json("gradcheck", latest, "--examples", "2", "--max-checks", "3")["verdict"] in ("pass", "unresolved")


def test_runs_latest_is_never_left_pointing_at_an_older_run(tmp_path):
    old = tmp_path / "a-1"
    old.mkdir()
    rundir.point_latest(old)
    (tmp_path / "latest").unlink()
    (tmp_path / "latest").mkdir()  # a real folder in the way: the link cannot be made
    new = tmp_path / "a-2"
    new.mkdir()
    rundir.point_latest(new)  # no error: the pointer is a convenience
    assert not (tmp_path / "latest").is_symlink()
    assert not list(tmp_path.glob(".latest.tmp-*"))


def test_data_sample_writes_rows_predict_and_eval_accept(tmp_path, trained_run):
    out = tmp_path / "inputs.csv"
    done = invoke("data", "sample", "digits", "--rows", "7", "--out", out)
    assert done.stdout == "" and "wrote 7 rows" in done.stderr
    rows = [line.split(",") for line in out.read_text().splitlines()]
    assert len(rows) == 7 and {len(r) for r in rows} == {64}
    assert all(0 <= float(v) <= 16 for r in rows for v in r)  # the digits' raw 0-16 pixels
    predicted = invoke("predict", trained_run, out).stdout.splitlines()
    assert predicted[0] == "class" and len(predicted) == 8
    labelled = tmp_path / "labelled.csv"
    invoke("data", "sample", "digits", "--rows", "40", "--with-labels", "--out", labelled, "--seed", "3")
    assert {len(line.split(",")) for line in labelled.read_text().splitlines()} == {65}
    assert invoke_json("eval", trained_run, "--data", labelled)["examples"] == 40
    # the same command writes the same file; another seed other rows
    again = invoke("data", "sample", "digits", "--rows", "7").stdout
    assert again == out.read_text()
    assert invoke("data", "sample", "digits", "--rows", "7", "--seed", "1").stdout != again


def test_data_sample_rows_are_the_sources_values(tmp_path):
    """The CSV's numbers read back as the exact float64 values of the generated set."""
    text = invoke("data", "sample", "moons", "--rows", "400", "--with-labels").stdout
    table = np.array([[float(v) for v in line.split(",")] for line in text.splitlines()])
    _, pool, names = sample_pool("moons", tmp_path)
    assert np.array_equal(table[:, :2], pool.x) and [names[int(i)] for i in pool.y] == [str(int(v)) for v in table[:, 2]]


@pytest.mark.parametrize(("args", "needle"), [
    (["no-such-set"], "neither a data set name"),
    (["digits", "--rows", "5000"], "--rows 5000: digits has 1797 examples"),
    (["digits", "--rows", "0"], "--rows"),
])
def test_data_sample_refuses_bad_input_on_one_line(tmp_path, args, needle):
    out = tmp_path / "x.csv"
    result = invoke("data", "sample", *args, "--out", out, expect=2)
    assert needle in one_line_error(result.stderr) and not out.exists()



def test_select_over_a_runs_glob_counts_the_linked_run_once(tmp_path, tiny_spec):
    """`nnctl select runs/*` expands to every run and runs/latest: the newest run is ranked once."""
    for _ in range(2):
        train_json(tiny_spec, tmp_path / "runs", "train.epochs=1")
    everything = sorted((tmp_path / "runs").iterdir())
    assert len(everything) == 3 and any(p.name == rundir.LATEST_LINK for p in everything)
    result = invoke("select", *everything, "--optimize", "dev_accuracy", "--json")
    ranked = [entry["run"] for entry in json.loads(result.stdout)["ranked"]]
    assert len(ranked) == 2 and sorted(ranked) == sorted(str(p) for p in everything if not p.is_symlink())


def test_runs_list_skips_the_latest_link(tmp_path, tiny_spec):
    runs = [Path(train_json(tiny_spec, tmp_path, "train.epochs=1")["run"]) for _ in range(2)]
    assert (tmp_path / rundir.LATEST_LINK).is_symlink()
    assert find_runs(tmp_path) == sorted(runs)
