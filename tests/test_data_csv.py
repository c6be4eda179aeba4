"""Real-world CSV files: headers, scikit-learn's first line, string labels, declared classes, located errors."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from nnctl.data import DataError, load_inference_input, load_splits
from nnctl.data.csv_table import read_table
from nnctl.data.schema import column_roles
from nnctl.data.sources import csv_dataset
from nnctl.errors import BuildError
from nnctl.spec.schema import DataSpec

IRIS_ROWS = [("5.1", "3.5", "1.4", "0.2", "setosa"), ("7.0", "3.2", "4.7", "1.4", "versicolor"), ("6.3", "3.3", "6.0", "2.5", "virginica")]


def iris_like(path, n=30, first_line=None, header=None, label=lambda i: IRIS_ROWS[i % 3][4]):
    """n rows cycling through three classes, with optional first lines."""
    lines = [first_line] if first_line else []
    lines += [header] if header else []
    lines += [",".join([*IRIS_ROWS[i % 3][:4], label(i)]) for i in range(n)]
    path.write_text("\n".join(lines) + "\n")
    return path


def csv_spec(path, **source) -> DataSpec:
    return DataSpec.model_validate({"source": {"type": "csv", "path": str(path), **source},
                                    "split": {"train": 0.6, "dev": 0.2, "test": 0.2}})


def test_header_auto_detects_column_names_and_string_labels_become_sorted_classes(tmp_path):
    path = iris_like(tmp_path / "iris.csv", header="sepal_length,sepal_width,petal_length,petal_width,species")
    splits = load_splits(csv_spec(path), 0, tmp_path)
    assert splits.class_names == ["setosa", "versicolor", "virginica"] and splits.task == "classification"
    assert sum(map(len, (splits.train, splits.dev, splits.test))) == 30 and splits.train.x.shape[1] == 4
    named = load_splits(csv_spec(path, label_column="species"), 0, tmp_path)
    assert np.array_equal(named.train.y, splits.train.y)


def test_header_auto_without_header_reads_every_line_as_data(tmp_path):
    path = iris_like(tmp_path / "plain.csv", n=12)
    table = read_table(path)
    assert table.names is None and len(table.cells) == 12


def test_header_no_makes_a_text_first_line_a_located_error(tmp_path):
    path = iris_like(tmp_path / "iris.csv", header="a,b,c,d,species")
    with pytest.raises(DataError, match=r"iris.csv:1: column 1: 'a' is not a number$"):
        load_splits(csv_spec(path, header=False), 0, tmp_path)


def test_scikit_learn_first_line_is_skipped_with_a_note_and_names_the_classes(tmp_path, caplog):
    path = iris_like(tmp_path / "iris.csv", first_line="30,4,setosa,versicolor,virginica", label=lambda i: str(i % 3))
    with caplog.at_level(logging.INFO, logger="nnctl"):
        splits = load_splits(csv_spec(path), 0, tmp_path)
    assert splits.class_names == ["setosa", "versicolor", "virginica"]
    assert sum(map(len, (splits.train, splits.dev, splits.test))) == 30
    assert any("iris.csv:1: skipped scikit-learn's first line" in r.getMessage() for r in caplog.records)


def test_a_first_line_of_another_shape_is_skipped_then_the_header_detected(tmp_path, caplog):
    path = iris_like(tmp_path / "boston.csv", first_line="title of the data", header="a,b,c,d,y")
    with caplog.at_level(logging.INFO, logger="nnctl"):
        table = read_table(path)
    assert table.names == ["a", "b", "c", "d", "y"] and len(table.cells) == 30 and table.lines[0] == 3
    assert "boston.csv:1: skipped a first line of 1 fields" in caplog.records[0].getMessage()


def test_declared_classes_name_integer_labels_and_order_string_labels(tmp_path):
    path = iris_like(tmp_path / "iris.csv", label=lambda i: str(i % 3))
    names = ["setosa", "versicolor", "virginica"]
    assert load_splits(csv_spec(path, classes=names), 0, tmp_path).class_names == names
    text = iris_like(tmp_path / "text.csv")
    declared = ["virginica", "setosa", "versicolor"]  # not sorted: the declared order wins
    splits = load_splits(csv_spec(text, classes=declared), 0, tmp_path)
    assert splits.class_names == declared
    first = splits.train.rows[0]
    assert declared[splits.train.y[0]] == IRIS_ROWS[first % 3][4]


def test_a_label_not_among_the_declared_classes(tmp_path):
    path = iris_like(tmp_path / "iris.csv")
    with pytest.raises(DataError, match=r"iris.csv: labels 'virginica' are not among the classes setosa, versicolor$"):
        load_splits(csv_spec(path, classes=["setosa", "versicolor"]), 0, tmp_path)


@pytest.mark.parametrize("bad_line,message", [
    ("5.1,abc,1.4,0.2,setosa", r"bad.csv:7: column 2: 'abc' is not a number$"),
    ("5.1,3.5,,0.2,setosa", r"bad.csv: 1 missing value \(empty, NA, NaN or null\) in 1 input column: column 3: 1 \(first on line 7\); "
                            r"set data.missing: .* to drop or fill them$"),
    ("5.1,3.5,nan,0.2,setosa", r"bad.csv: 1 missing value .*column 3: 1 \(first on line 7\)"),
    ("5.1,3.5,1.4,inf,setosa", r"bad.csv:7: column 4: 'inf' is not a finite number$"),
    ("5.1,3.5,1.4,setosa", r"bad.csv:7: 4 fields, expected 5 \(as on line 1\)$"),
    ("5.1,3.5,1.4,0.2,", r"bad.csv:7: column 5 \(the label\) is empty$"),
])
def test_bad_cells_name_file_line_and_column(tmp_path, bad_line, message):
    path = iris_like(tmp_path / "bad.csv", n=10)
    lines = path.read_text().splitlines()
    lines[6] = bad_line
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=message) as err:
        load_splits(csv_spec(path), 0, tmp_path)
    assert "np." not in str(err.value)


def test_header_names_appear_in_cell_errors(tmp_path):
    path = iris_like(tmp_path / "iris.csv", n=6, header="sl,sw,pl,pw,species")
    path.write_text(path.read_text().replace("7.0,3.2", "7.0,x3", 1))
    with pytest.raises(DataError, match=r"iris.csv:3: column 2 \('sw'\): 'x3' is not a number$"):
        load_splits(csv_spec(path), 0, tmp_path)


@pytest.mark.parametrize("column,message", [
    (7, r"^data.source.label_column: .*iris.csv: 7 is out of range \(the file has 5 columns\)$"),
    ("kind", r"^data.source.label_column: .*iris.csv: no column named 'kind' \(has: a, b, c, d, species\)$"),
])
def test_a_label_column_out_of_range_or_unknown(tmp_path, column, message):
    path = iris_like(tmp_path / "iris.csv", header="a,b,c,d,species")
    with pytest.raises(BuildError, match=message):  # a spec key: the CLI puts the spec's file and line first
        load_splits(csv_spec(path, label_column=column), 0, tmp_path)


def test_one_class_only_is_refused(tmp_path):
    path = iris_like(tmp_path / "one.csv", label=lambda i: "setosa")
    with pytest.raises(DataError, match=r"one.csv: the training split holds one class only \('setosa'\)"):
        load_splits(csv_spec(path), 0, tmp_path)


def test_a_class_only_in_test_is_a_warning(tmp_path, caplog):
    path = iris_like(tmp_path / "iris.csv", n=20, label=lambda i: "a" if i % 2 else "b")
    test = iris_like(tmp_path / "test.csv", n=6, label=lambda i: "c" if i == 0 else "a")
    spec = DataSpec.model_validate({"source": {"type": "csv", "path": str(path), "test": str(test)},
                                    "split": {"train": 0.8, "dev": 0.2, "test": 0.0}})
    with caplog.at_level(logging.INFO, logger="nnctl"):
        splits = load_splits(spec, 0, tmp_path)
    assert splits.class_names == ["a", "b", "c"] and len(splits.test) == 6
    assert any("class 'c' has 1 rows in test but none in train" in r.getMessage() for r in caplog.records)


def test_csv_test_and_dev_files_are_parts_of_their_own(tmp_path):
    main = iris_like(tmp_path / "train.csv", n=30, header="a,b,c,d,y")
    dev = iris_like(tmp_path / "dev.csv", n=6, header="a,b,c,d,y")
    test = iris_like(tmp_path / "test.csv", n=9)
    spec = DataSpec.model_validate({"source": {"type": "csv", "path": str(main), "test": str(test), "dev": str(dev)}})
    splits = load_splits(spec, 0, tmp_path)
    assert (len(splits.train), len(splits.dev), len(splits.test)) == (30, 6, 9)
    assert [p.key for p in splits.parts] == ["data.source", "data.source.test", "data.source.dev"]
    assert set(splits.test.part.tolist()) == {1} and sorted(splits.test.rows.tolist()) == list(range(9))


def test_predict_inputs_drop_a_label_column_when_present(tmp_path, caplog):
    path = iris_like(tmp_path / "new.csv", n=5, header="a,b,c,d,species")
    with caplog.at_level(logging.INFO, logger="nnctl"):
        x = load_inference_input(path, n_features=4)
    assert x.shape == (5, 4) and x[0].tolist() == [5.1, 3.5, 1.4, 0.2]
    assert "dropped column 5 ('species')" in caplog.records[0].getMessage()
    unlabelled = tmp_path / "x.csv"
    unlabelled.write_text("1,2,3,4\n5,6,7,8\n")
    assert load_inference_input(unlabelled, n_features=4).tolist() == [[1, 2, 3, 4], [5, 6, 7, 8]]
    assert load_inference_input(path, label_column="species").shape == (5, 4)


def test_ignored_columns_are_neither_inputs_nor_labels(tmp_path):
    path = tmp_path / "ids.csv"
    path.write_text("id,a,b,region,label\n" + "".join(f"r{i},{i},{2 * i},{'ns'[i % 2]},{'xy'[i % 2]}\n" for i in range(6)))
    pool = csv_dataset(read_table(path), column_roles(read_table(path), "label", ["id", 3]))
    assert pool.x.tolist() == [[i, 2 * i] for i in range(6)] and pool.y.tolist() == list("xyxyxy")
    assert load_inference_input(path, n_features=2, ignore_columns=["id", "region"]).tolist() == [[i, 2 * i] for i in range(6)]
    with pytest.raises(DataError, match=r"ignore_columns names the label column column 5 \('label'\)"):
        column_roles(read_table(path), "label", ["label"])
    with pytest.raises(DataError, match="ignore_columns: no column named 'zone'"):
        column_roles(read_table(path), "label", ["zone"])


def test_eval_records_a_class_the_training_split_never_had(tmp_path):
    """The warning alone scrolls away in CI logs: `eval --json` and eval.json also say which class and how many rows."""
    from conftest import invoke_json, write_spec

    iris_like(tmp_path / "iris.csv", n=20, label=lambda i: "a" if i % 2 else "b")
    iris_like(tmp_path / "test.csv", n=6, label=lambda i: "c" if i < 2 else "a")
    spec = write_spec(tmp_path, """\
        data:
          source: {type: csv, path: iris.csv, test: test.csv}
          split: {train: 0.8, dev: 0.2, test: 0.0}
        model:
          layers: [{units: 3, activation: softmax}]
        train: {epochs: 2}
        """)
    run = invoke_json("train", spec, "--runs-dir", tmp_path / "runs", "--quiet")["run"]
    test = invoke_json("eval", run, "--split", "test")
    assert test["unseen_classes"] == {"c": 2}
    assert invoke_json("eval", run, "--split", "dev")["unseen_classes"] == {}
    assert invoke_json("eval", run, "--data", tmp_path / "test.csv")["unseen_classes"] is None  # not checked, not "none"
    recorded = json.loads((Path(run) / "eval.json").read_text())
    assert [entry["splits"]["test"]["unseen_classes"] for entry in recorded["checkpoints"].values()] == [{"c": 2}]
