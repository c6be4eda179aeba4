"""The split is part of the run: data.h5, fingerprints, spec-relative paths, split seeds, split files, relabel."""

from __future__ import annotations

import hashlib
import json

import h5py
import numpy as np
import pytest
from conftest import invoke, invoke_json, one_line_error, train_run, write_spec

from nnctl.orchestration.model import load_model, split_data
from nnctl.runs.data_record import corrected_label_counts, load_data_record

CSV_SPEC = """\
name: csv
seed: {seed}
data:
  source: {{type: csv, path: {path}}}
  split: {split}
model:
  layers:
    - {{units: 6, activation: tanh}}
    - {{units: 3, activation: softmax}}
train: {{epochs: 2, batch_size: 16, learning_rate: 0.1}}
"""


def write_table(path, n=60, seed=0):
    """A 3-class CSV with a header; feature 0 is the row number, so a row names itself."""
    rng = np.random.default_rng(seed)
    lines = ["row,f1,f2,label"]
    for i in range(n):
        label = ("ant", "bee", "cat")[i % 3]
        lines.append(f"{i},{rng.normal() + i % 3:.6f},{rng.normal():.6f},{label}")
    path.write_text("\n".join(lines) + "\n")
    return path


def csv_run(tmp_path, path="data.csv", seed=0, split="{train: 0.6, dev: 0.2, test: 0.2}", extra=""):
    spec = write_spec(tmp_path, CSV_SPEC.format(path=path, seed=seed, split=split) + extra, f"spec{seed}.yaml")
    return train_run(spec, tmp_path / "runs")


def recorded_rows(run) -> dict[str, list[int]]:
    with h5py.File(run / "data.h5", "r") as f:
        return {name: f[f"splits/{name}/row"][()].tolist() for name in f["splits"]}


def test_the_run_records_rows_fingerprint_paths_and_classes(tmp_path):
    csv = write_table(tmp_path / "data.csv")
    run = csv_run(tmp_path)
    record = load_data_record(run)
    assert record.class_names == ["ant", "bee", "cat"] and record.task == "classification"
    (part,) = record.parts
    assert part["key"] == "data.source" and part["rows"] == 60
    assert part["files"][0]["written"] == "data.csv" and part["files"][0]["path"] == str(csv.resolve())
    assert part["files"][0]["sha256"] == hashlib.sha256(csv.read_bytes()).hexdigest()
    rows = recorded_rows(run)
    assert sorted(rows["train"] + rows["dev"] + rows["test"]) == list(range(60))
    model = load_model(run)
    for name in ("train", "dev", "test"):
        data = split_data(model, name)
        assert data.rows.tolist() == rows[name]
        assert data.x[:, 0].tolist() == rows[name]  # feature 0 is the row number in the file
        assert data.y.tolist() == [i % 3 for i in rows[name]]


def test_eval_refuses_a_reordered_file_but_takes_it_with_data(tmp_path):
    csv = write_table(tmp_path / "data.csv")
    run = csv_run(tmp_path)
    before = invoke_json("eval", run, "--split", "test")
    lines = csv.read_text().splitlines()
    csv.write_text("\n".join([lines[0], *reversed(lines[1:])]) + "\n")
    result = invoke("eval", run, "--split", "test", expect=2)
    line = one_line_error(result.stderr)
    assert str(csv.resolve()) in line and "changed since the run was trained" in line
    assert invoke_json("eval", run, "--data", csv)["examples"] == 60
    csv.write_text("\n".join([lines[0], *lines[1:]]) + "\n")
    assert invoke_json("eval", run, "--split", "test")["metrics"] == before["metrics"]


def test_data_paths_resolve_against_the_spec_folder_from_any_directory(tmp_path, monkeypatch):
    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    write_table(project / "data" / "data.csv")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    run = csv_run(project, path="data/data.csv")
    assert load_data_record(run).base_dir == str(project.resolve())
    other = tmp_path / "other"
    other.mkdir()
    monkeypatch.chdir(other)
    assert invoke_json("eval", run, "--split", "dev")["examples"] == 12
    invoke("train", "--resume", run, "--set", "train.epochs=3", "--quiet")


def test_a_run_without_a_record_still_evaluates_with_a_warning(tmp_path, monkeypatch):
    write_table(tmp_path / "data.csv")
    run = csv_run(tmp_path)
    expected = invoke_json("eval", run, "--split", "test")
    (run / "data.h5").unlink()
    monkeypatch.chdir(tmp_path)  # the old rule: relative paths from the current directory
    result = invoke("eval", run, "--split", "test", "--json")
    assert json.loads(result.stdout)["metrics"] == expected["metrics"]
    warnings = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(warnings) == 1 and warnings[0].startswith("nnctl: warning: ") and "no data record" in warnings[0]


def test_split_seed_keeps_the_rows_while_seed_changes_the_initialization(tmp_path):
    write_table(tmp_path / "data.csv")
    split = "{train: 0.6, dev: 0.2, test: 0.2, seed: 11}"
    a, b = csv_run(tmp_path, seed=1, split=split), csv_run(tmp_path, seed=2, split=split)
    assert recorded_rows(a) == recorded_rows(b)
    with h5py.File(a / "initial.h5") as fa, h5py.File(b / "initial.h5") as fb:
        assert not np.array_equal(fa["params/dense1/W"][()], fb["params/dense1/W"][()])
    c, d = csv_run(tmp_path, seed=3), csv_run(tmp_path, seed=4)
    assert recorded_rows(c) != recorded_rows(d)


def test_dev_and_test_index_files(tmp_path):
    write_table(tmp_path / "data.csv")
    (tmp_path / "dev.txt").write_text("row\n" + "\n".join(map(str, range(0, 10))) + "\n")
    (tmp_path / "test.txt").write_text("\n".join(map(str, range(50, 60))) + "\n")
    run = csv_run(tmp_path, split="{train: 1.0, dev: dev.txt, test: test.txt}")
    rows = recorded_rows(run)
    assert rows["dev"] == list(range(10)) and rows["test"] == list(range(50, 60))
    assert sorted(rows["train"]) == list(range(10, 50))


@pytest.mark.parametrize("dev,test,message", [
    ("0\n1\n60\n", "5\n", "dev.txt:3: row 60 is out of range (the source has rows 0..59)"),
    ("0\n1\n2\n", "7\n2\n", "test.txt:2: row 2 is also in the dev file (dev.txt); dev and test must not overlap"),
    ("4\n5\n4\n", "7\n", "dev.txt:3: row 4 is listed twice"),
])
def test_bad_index_files_exit_2_and_write_nothing(tmp_path, dev, test, message):
    write_table(tmp_path / "data.csv")
    (tmp_path / "dev.txt").write_text(dev)
    (tmp_path / "test.txt").write_text(test)
    spec = write_spec(tmp_path, CSV_SPEC.format(path="data.csv", seed=0, split="{train: 1.0, dev: dev.txt, test: test.txt}"))
    result = invoke("train", spec, "--runs-dir", tmp_path / "runs", expect=2)
    assert one_line_error(result.stderr).endswith(message)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_a_dev_data_file_is_a_part_of_its_own(tmp_path):
    write_table(tmp_path / "data.csv")
    write_table(tmp_path / "dev.csv", n=9, seed=1)
    run = csv_run(tmp_path, split="{train: 0.8, dev: dev.csv, test: 0.2}")
    record = load_data_record(run)
    assert [p["key"] for p in record.parts] == ["data.source", "data.split.dev"]
    part, row = record.splits["dev"]
    assert set(part.tolist()) == {1} and sorted(row.tolist()) == list(range(9))
    assert len(record.splits["train"][1]) == 48 and len(record.splits["test"][1]) == 12


def test_an_empty_split_exits_2(tmp_path):
    write_table(tmp_path / "data.csv", n=6)
    spec = write_spec(tmp_path, CSV_SPEC.format(path="data.csv", seed=0, split="{train: 0.9, dev: 0.05, test: 0.05}"))
    result = invoke("train", spec, "--runs-dir", tmp_path / "runs", expect=2)
    assert "split is empty" in one_line_error(result.stderr)


def test_relabel_corrects_dev_and_test_together_and_records_the_counts(tmp_path):
    write_table(tmp_path / "data.csv")
    base = csv_run(tmp_path)
    rows = recorded_rows(base)
    dev_rows, test_rows, train_rows = rows["dev"][:3], rows["test"][:2], rows["train"][:4]
    fixes = [(r, "cat" if r % 3 != 2 else "ant") for r in dev_rows + test_rows + train_rows]
    (tmp_path / "fixes.csv").write_text("row,label\n" + "".join(f"{r},{label}\n" for r, label in fixes))
    spec = write_spec(tmp_path, CSV_SPEC.format(path="data.csv", seed=0, split="{train: 0.6, dev: 0.2, test: 0.2}")
                      .replace("  split:", "  relabel: fixes.csv\n  split:"), "relabel.yaml")
    result = invoke("train", spec, "--runs-dir", tmp_path / "runs", "--quiet", "--json")
    run = json.loads(result.stdout)["run"]
    assert "4 corrected rows are in train and were left as they are" in result.stderr
    assert corrected_label_counts(run) == {"train": 0, "dev": 3, "test": 2}
    record = load_data_record(run)
    assert record.corrections["dev"]["row"].tolist() == sorted(dev_rows, key=rows["dev"].index)
    assert record.relabel["written"] == "fixes.csv"
    model = load_model(run)
    new = {r: ["ant", "bee", "cat"].index(label) for r, label in fixes}
    for name in ("train", "dev", "test"):
        data = split_data(model, name)
        expected = [new[r] if name != "train" and r in new else r % 3 for r in data.rows.tolist()]
        assert data.y.tolist() == expected
    both = write_spec(tmp_path, spec.read_text().replace("relabel: fixes.csv", "relabel: {file: fixes.csv, train: true}"), "both.yaml")
    assert corrected_label_counts(train_run(both, tmp_path / "runs"))["train"] == 4


def test_relabel_rows_out_of_range_exit_2(tmp_path):
    write_table(tmp_path / "data.csv")
    (tmp_path / "fixes.csv").write_text("3,cat\n99,ant\n")
    spec = write_spec(tmp_path, CSV_SPEC.format(path="data.csv", seed=0, split="{train: 0.6, dev: 0.2, test: 0.2}")
                      .replace("  split:", "  relabel: fixes.csv\n  split:"))
    line = one_line_error(invoke("train", spec, "--runs-dir", tmp_path / "runs", expect=2).stderr)
    assert line.endswith("fixes.csv:2: column 1: row 99 is not a row of data.source (0..59)")


def test_no_record_reader_for_a_run_without_one(tmp_path):
    assert corrected_label_counts(tmp_path) is None
