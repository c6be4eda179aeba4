"""Issue 20: a run's input contract. New files are read as the run read its training file.

Columns are matched by name (reordered, extra or missing), headerless files by
their column count; id columns pass through to predictions; nothing the run
knows has to be repeated, and an explicit option still overrides.
"""

from __future__ import annotations

import csv
import json
import logging
import shutil

import h5py
import numpy as np
import pytest
from conftest import invoke, invoke_json, one_line_error, train_run, write_spec

from nnctl.data import DataError, describe_source, load_labelled_file
from nnctl.data.parts import FileInfo, PartInfo
from nnctl.data.schema import InputSchema, ids_of_rows
from nnctl.errors import RunError
from nnctl.orchestration.run_data import run_schema
from nnctl.runs.seal import reseal

SPEC = """\
name: cust
data:
  source: {type: csv, path: customers.csv, label_column: segment, id_columns: [customer_id, branch]}
model:
  layers:
    - {units: 8, activation: relu}
    - {units: 3, activation: softmax}
train: {epochs: 3, batch_size: 16, learning_rate: 0.05}
"""
HEADER = ["customer_id", "branch", "age", "income", "visits", "segment"]


def customers(n: int = 90) -> list[list[str]]:
    rng = np.random.default_rng(0)
    rows = [HEADER]
    for i in range(n):
        k = i % 3
        rows.append([f"C{800000 + i}", f"B{i % 4}", f"{30 + 10 * k + rng.normal(0, 3):.1f}",
                     f"{50 + 20 * k + rng.normal(0, 5):.1f}", str(int(rng.integers(0, 10))), ("gold", "silver", "bronze")[k]])
    return rows


def write_rows(path, rows, columns=None):
    with open(path, "w", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows([[row[j] for j in columns] if columns else row for row in rows])
    return path


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    base = tmp_path_factory.mktemp("contract")
    write_rows(base / "customers.csv", customers())
    return train_run(write_spec(base, SPEC), base / "runs")


def predictions(run, path, *options) -> list[list[str]]:
    result = invoke("predict", run, path, *options)
    return list(csv.reader(result.stdout.splitlines()))


def test_the_schema_is_recorded(run):
    schema = run_schema(run)
    assert schema.columns == HEADER and schema.features == [2, 3, 4] and schema.labels == [5] and schema.ids == [0, 1]
    assert schema.label_names == ["segment"] and schema.header and schema.delimiter == "," and schema.input_shape == [3]
    described = schema.describe()
    assert described["inputs"] == "age, income, visits" and described["id_columns"] == "customer_id, branch"


def test_reordered_subset_extra_and_headerless_files_give_identical_predictions(run, tmp_path):
    rows = customers()
    same = predictions(run, write_rows(tmp_path / "same.csv", rows))
    assert same[0] == ["customer_id", "branch", "class"]
    assert [r[0] for r in same[1:]] == [r[0] for r in rows[1:]]
    classes = [r[2] for r in same[1:]]
    reordered = predictions(run, write_rows(tmp_path / "re.csv", rows, [5, 3, 0, 2, 4, 1]))
    assert reordered == same
    subset = predictions(run, write_rows(tmp_path / "sub.csv", rows, [4, 2, 3]))
    assert subset[0] == ["class"] and [r[0] for r in subset[1:]] == classes
    headerless = predictions(run, write_rows(tmp_path / "nohead.csv", rows[1:]))
    assert headerless == same
    without_label = predictions(run, write_rows(tmp_path / "nohead5.csv", rows[1:], [0, 1, 2, 3, 4]))
    assert without_label == same
    extra = invoke("predict", run, write_rows(tmp_path / "extra.csv", [r + ["x"] for r in rows]))
    assert list(csv.reader(extra.stdout.splitlines())) == same
    notes = [line for line in extra.stderr.splitlines() if "does not use" in line]
    assert notes == ["nnctl: note: " + f"{tmp_path / 'extra.csv'}: ignored 1 column the run does not use: 'x'"]


def test_a_missing_input_column_and_a_wrong_column_count_are_one_line(run, tmp_path):
    rows = customers()
    line = one_line_error(invoke("predict", run, write_rows(tmp_path / "m.csv", rows, [0, 1, 2, 4]), expect=2).stderr)
    assert line.endswith("m.csv: no column 'income', which the run takes as input (its inputs: 'age', 'income', 'visits')")
    line = one_line_error(invoke("predict", run, write_rows(tmp_path / "w.csv", rows[1:], [0, 2, 3, 4]), expect=2).stderr)
    assert "w.csv: 4 columns, but the run reads 6 (5 without the label, 3 inputs only): 'customer_id', 'branch', 'age'" in line
    assert "header row" in line


def test_a_header_naming_an_input_twice_is_refused(run, tmp_path):
    """Not read from whichever of its columns came last."""
    twice = [HEADER[:4] + ["age"]] + [row[:5] for row in customers()[1:]]
    line = one_line_error(invoke("predict", run, write_rows(tmp_path / "twice.csv", twice), expect=2).stderr)
    assert line.endswith("twice.csv:1: the header has 'age' twice (columns 3 and 5); give each column a name of its own")


def test_a_header_with_a_name_too_many_is_not_skipped_as_a_title(run, tmp_path):
    """Skipped, the file's columns were taken as the inputs alone, in order: visits read as age, age as visits."""
    longer = [["visits", "income", "age", "notes"]] + [[row[4], row[3], row[2]] for row in customers()[1:]]
    line = one_line_error(invoke("predict", run, write_rows(tmp_path / "longer.csv", longer), expect=2).stderr)
    assert line.endswith("longer.csv:1: the header has 4 names for 3 columns")


def test_an_explicit_option_still_overrides(run, tmp_path):
    rows = customers()
    renamed = [["customer_id", "branch", "age", "income", "visits", "tier"]] + rows[1:]
    path = write_rows(tmp_path / "renamed.csv", renamed)
    line = one_line_error(invoke("eval", run, "--data", path, expect=2).stderr)
    assert "no label column 'segment'" in line and "--label-column" in line
    by_name = invoke_json("eval", run, "--data", write_rows(tmp_path / "orig.csv", rows))
    overridden = invoke_json("eval", run, "--data", path, "--label-column", "tier")
    assert overridden["metrics"] == by_name["metrics"]


def test_eval_data_matches_columns_by_name(run, tmp_path):
    rows = customers()
    plain = invoke_json("eval", run, "--data", write_rows(tmp_path / "a.csv", rows))
    reordered = invoke_json("eval", run, "--data", write_rows(tmp_path / "b.csv", rows, [3, 5, 1, 4, 0, 2]))
    assert plain["metrics"] == reordered["metrics"] and plain["examples"] == 90


def test_eval_data_names_an_unknown_label_with_its_line(run, tmp_path):
    rows = customers()
    rows[7][5] = "platinum"
    line = one_line_error(invoke("eval", run, "--data", write_rows(tmp_path / "a.csv", rows), expect=2).stderr)
    assert line.endswith("a.csv: labels 'platinum' (line 8) in column 6 ('segment') are not among the classes bronze, gold, silver")


def test_eval_data_labels_are_names_when_the_class_names_are_numbers(tmp_path):
    """Classes 1, 2, 3: one label 0 no longer turns every label into an index (label 1 into class '2')."""
    rows = [["a", "b", "grade"]] + [[str(i), str(i % 5), str(1 + i % 2)] for i in range(40)]
    path = write_rows(tmp_path / "e.csv", rows)
    assert load_labelled_file(path, ["1", "2", "3"], "classification").y.tolist() == [i % 2 for i in range(40)]
    write_rows(path, rows + [["0", "0", "0"]])
    with pytest.raises(DataError, match=r"e.csv: labels '0' \(line 42\) in column 3 \('grade'\) are not among the classes 1, 2, 3$"):
        load_labelled_file(path, ["1", "2", "3"], "classification")


def test_hdf5_labels_index_its_list_classes_even_when_the_names_are_numbers(tmp_path):
    """`data convert` writes class indices and the names as list_classes: labels 1 and 2 are classes '2' and '3'."""
    path = tmp_path / "g.h5"
    with h5py.File(path, "w") as f:
        f["train_set_x"] = np.zeros((6, 2))
        f["train_set_y"] = np.array([1, 2] * 3)
        f["list_classes"] = np.array([b"1", b"2", b"3"])
    assert describe_source(str(path), tmp_path)["class_counts"] == {"1": 0, "2": 3, "3": 3}
    assert load_labelled_file(path, ["1", "2", "3"], "classification").y.tolist() == [1, 2] * 3


def test_a_run_without_a_schema_still_predicts_with_a_note(run, tmp_path):
    old = shutil.copytree(run, tmp_path / run.name)
    with h5py.File(old / "data.h5", "r+") as f:
        del f.attrs["schema"]
    reseal(old / "data.h5")
    rows = customers()
    path = write_rows(tmp_path / "pos.csv", rows[1:], [2, 3, 4])
    result = invoke("predict", old, path)
    assert "recorded no input schema" in result.stderr
    assert [r[0] for r in csv.reader(result.stdout.splitlines())][1:] == [r[0] for r in predictions(run, path)[1:]]


@pytest.mark.parametrize("field,value", [("features", [0, 99]), ("width", "6"), ("kind", "table"), ("columns", [1, 2]),
                                         ("missing", {"strategy": "mean", "fill": ["a"]}), ("bogus", 1), ("delimiter", ",,")])
def test_a_damaged_schema_is_refused(run, tmp_path, field, value):
    old = shutil.copytree(run, tmp_path / run.name)
    with h5py.File(old / "data.h5", "r+") as f:
        schema = json.loads(f.attrs["schema"])
        f.attrs["schema"] = json.dumps(schema | {field: value})
    reseal(old / "data.h5")
    with pytest.raises(RunError, match=r"data.h5: damaged data record: attribute 'schema'"):
        run_schema(old)
    line = one_line_error(invoke("predict", old, tmp_path / "any.csv", expect=2).stderr)
    assert "data.h5" in line


def test_schema_round_trip():
    schema = InputSchema("csv", [3], "regression", ["target"], ["a", "b", "target"], 3, [0, 1], [2])
    assert InputSchema.from_record(json.loads(json.dumps(schema.to_record()))) == schema


def test_ids_reach_the_errors_sheet_and_no_file_names_runs_latest(run, tmp_path):
    latest = run.parent / "latest"
    sheet = tmp_path / "errors.csv"
    invoke("errors", latest, "--out", sheet, "--limit", "5")
    rows = list(csv.DictReader(sheet.open()))
    assert rows and {"customer_id", "branch"} <= set(rows[0])
    source = {r[0]: r for r in customers()[1:]}
    for row in rows:
        assert row["run"] == str(run)
        assert source[row["customer_id"]][1] == row["branch"] and source[row["customer_id"]][5] == row["true"]
    assert invoke_json("eval", latest)["run"] == str(run)
    assert "latest" not in invoke("errors", "tally", sheet).stdout


@pytest.fixture(scope="module")
def named_like_outputs(tmp_path_factory):
    """A run whose id columns are called like predict's own output columns ('class', and 'file', np.savez's parameter)."""
    base = tmp_path_factory.mktemp("clash")
    rows = [["class", "file", *HEADER[2:]], *(row for row in customers()[1:])]
    write_rows(base / "customers.csv", rows)
    spec = SPEC.replace("id_columns: [customer_id, branch]", "id_columns: ['class', file]")
    return train_run(write_spec(base, spec), base / "runs"), rows


def test_ids_named_like_output_columns_are_kept_apart(named_like_outputs, tmp_path):
    run, rows = named_like_outputs
    new = write_rows(tmp_path / "new.csv", rows[:4], [0, 1, 2, 3, 4])
    table = predictions(run, new, "--proba")
    assert table[0] == ["id_class", "file", "class", "p_bronze", "p_gold", "p_silver"]
    assert [row[:2] for row in table[1:]] == [row[:2] for row in rows[1:4]]
    invoke("predict", run, new, "--proba", "--out", tmp_path / "p.npz")
    with np.load(tmp_path / "p.npz") as saved:
        assert saved["id_class"].tolist() == [row[0] for row in rows[1:4]] and saved["file"].tolist() == [row[1] for row in rows[1:4]]
        assert saved["class"].tolist() == [row[2] for row in table[1:]]
        assert np.array_equal(saved["p_gold"], np.array([row[4] for row in table[1:]], saved["p_gold"].dtype))  # read back exactly


def test_ids_are_found_by_name_in_each_parts_file(tmp_path, caplog):
    """A dev file with its columns in another order gives its own ids; a part without the id column gives
    empty ids and a note, never another column's values."""
    files = {"main.csv": "id,a,b,label\nM0,1,2,x\nM1,3,4,y\n", "dev.csv": "a,b,id,label\n5,6,D0,x\n7,8,D1,y\n",
             "plain.csv": "P0,1,2,x\nP1,3,4,y\n", "other.csv": "a,b,c,label\n1,2,3,x\n4,5,6,y\n",
             "arrays.npz": ""}
    parts = []
    for name, text in files.items():
        (tmp_path / name).write_text(text)
        parts.append(PartInfo(name, 2, "", [FileInfo(name, str(tmp_path / name), "")]))
    schema = InputSchema("csv", [2], columns=["id", "a", "b", "label"], width=4, features=[1, 2], labels=[3], ids=[0],
                         header=True)
    with caplog.at_level(logging.INFO, logger="nnctl"):
        ids = ids_of_rows(schema, parts, np.array([0, 1, 1, 2, 3, 4]), np.array([1, 0, 1, 1, 0, 0]))
    assert ids["id"].tolist() == ["M1", "D0", "D1", "P1", "", ""]
    assert [r.getMessage() for r in caplog.records] == [
        f"{name}: no id column 'id' in the run's layout, so its rows have empty ids" for name in ("other.csv", "arrays.npz")]


def test_a_run_whose_file_lost_a_column_names_the_file_first(tmp_path):
    """Without a spec file to locate the key in (eval of a run), the data file starts the message, not a spec key."""
    rows = customers()
    write_rows(tmp_path / "customers.csv", rows)
    run = train_run(write_spec(tmp_path, SPEC), tmp_path / "runs")
    write_rows(tmp_path / "customers.csv", [["customer_id", "branch", "age", "income", "visits", "tier"], *rows[1:]])
    line = one_line_error(invoke("eval", run, expect=2).stderr)
    assert line.startswith(f"nnctl: error: {tmp_path / 'customers.csv'}: label_column: no column named 'segment'"), line
