"""Real-world CSV files: headers, scikit-learn's first line, string labels, declared classes, located errors."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from nnctl.data import DataError, describe_source, load_inference_input, load_splits
from nnctl.data.csv_table import read_table
from nnctl.data.schema import column_roles
from nnctl.data.sources import csv_dataset
from nnctl.errors import BuildError
from nnctl.spec.schema import CsvSource, DataSpec

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
    with pytest.raises(DataError, match=r"iris.csv: labels 'virginica' \(line 3\) in column 5 are not among the classes "
                                          r"setosa, versicolor$"):
        load_splits(csv_spec(path, classes=["setosa", "versicolor"]), 0, tmp_path)


def coded(path, labels):
    """A header ``a,b,code`` and one row per label, the first on line 2."""
    path.write_text("a,b,code\n" + "".join(f"{i},{i % 5},{label}\n" for i, label in enumerate(labels)))
    return path


def class_counts(path, **source) -> dict:
    return describe_source(str(path), path.parent, CsvSource(path=str(path), label_column="code", **source))["class_counts"]


def test_whole_number_labels_are_the_numbers_they_write_and_codes_stay_text(tmp_path):
    """1 and 1.0 are one class '1' (a pandas float column, a run of an earlier nnctl), sorted by value; integers
    beyond float64's precision stay apart; a column with codes (a leading zero) keeps every written form."""
    assert class_counts(coded(tmp_path / "n.csv", ["10", "2", "1.0", "1", "+2"] * 4)) == {"1": 8, "2": 8, "10": 4}
    big = coded(tmp_path / "big.csv", ["9007199254740993", "9007199254740992"] * 5)  # one number as float64
    assert class_counts(big) == {"9007199254740992": 5, "9007199254740993": 5}
    codes = coded(tmp_path / "zip.csv", ["01", "1", "007", "1.0"] * 20)
    assert class_counts(codes) == {"007": 20, "01": 20, "1": 20, "1.0": 20}
    assert class_counts(codes, classes=["01", "1", "007", "1.0"]) == {"01": 20, "1": 20, "007": 20, "1.0": 20}


def test_a_missing_value_word_is_missing_among_number_labels_and_a_class_among_text(tmp_path):
    with pytest.raises(DataError, match=r"n.csv:5: column 3 \('code'\) \(the label\) is 'NA', a missing value$"):
        class_counts(coded(tmp_path / "n.csv", ["0", "1", "1", "NA"] * 3))
    assert class_counts(coded(tmp_path / "r.csv", ["EU", "NA", "APAC", "Na"] * 3)) == {"APAC": 3, "EU": 3, "NA": 3, "Na": 3}


def test_labels_written_as_floats_match_a_runs_whole_number_classes(tmp_path):
    path = coded(tmp_path / "f.csv", ["0.0", "1.0", "2.0"] * 3)
    assert class_counts(path, classes=["0", "1", "2"]) == {"0": 3, "1": 3, "2": 3}
    with pytest.raises(DataError, match=r"labels '007' \(line 2\) in column 3 \('code'\) are not among the classes 0, 1, 7$"):
        class_counts(coded(tmp_path / "c.csv", ["007", "1", "0"] * 3), classes=["0", "1", "7"])  # a code is no number


def test_labels_of_number_classes_are_names_never_indices(tmp_path):
    path = coded(tmp_path / "g.csv", ["1", "2", "3"] * 10 + ["0", "x"])
    with pytest.raises(DataError, match=r"g.csv: labels '0' \(line 32\), 'x' \(line 33\) in column 3 \('code'\) are not "
                                        r"among the classes 1, 2, 3$"):
        class_counts(path, classes=["1", "2", "3"])
    path = coded(tmp_path / "g.csv", ["0", "1", "2"] * 10)
    with pytest.raises(DataError, match=r"g.csv: labels '0' \(line 2\) in column 3 \('code'\) are not among"):
        class_counts(path, classes=["1", "2", "3"])  # not read as indices because one label is no name
    assert class_counts(path, classes=["a", "b", "c"]) == {"a": 10, "b": 10, "c": 10}  # no name is a number: indices


@pytest.mark.parametrize("bad_line,message", [
    ("5.1,abc,1.4,0.2,setosa", r"bad.csv:7: column 2: 'abc' is not a number$"),
    ("5.1,1_5,1.4,0.2,setosa", r"bad.csv:7: column 2: '1_5' is not a number$"),  # float() and NumPy read 15
    ("5.1,3.5,٣,0.2,setosa", r"bad.csv:7: column 3: '٣' is not a number$"),  # an Arabic-Indic 3
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


def test_dev_and_test_files_find_their_columns_by_name_as_the_main_file_has_them(tmp_path):
    """A dev file whose header lists the columns in another order gives the same examples as one in order: its
    inputs are never read from another column; a headerless test file of the main layout is read by position."""
    main = iris_like(tmp_path / "train.csv", n=30, header="a,b,c,d,y")
    in_order = iris_like(tmp_path / "dev.csv", n=6, header="a,b,c,d,y")
    shuffled = tmp_path / "dev-shuffled.csv"
    shuffled.write_text("".join(",".join(line.split(",")[j] for j in (4, 3, 0, 2, 1)) + "\n"
                                for line in in_order.read_text().splitlines()))
    test = iris_like(tmp_path / "test.csv", n=9)
    read = [load_splits(DataSpec.model_validate({"source": {"type": "csv", "path": str(main), "test": str(test), "dev": str(dev)}}),
                        0, tmp_path) for dev in (in_order, shuffled)]
    assert shuffled.read_text().splitlines()[0] == "y,d,a,c,b"
    assert np.array_equal(read[0].dev.x, read[1].dev.x) and np.array_equal(read[0].dev.y, read[1].dev.y)
    assert np.array_equal(read[1].test.x[:3].astype(str), np.array([r[:4] for r in IRIS_ROWS], dtype=float).astype(str))


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


def test_long_cells_and_names_are_quoted_cut_short(tmp_path, caplog):
    """An error or a note stays one readable line whatever a cell holds."""
    path = tmp_path / "long.csv"
    path.write_text("T" * 5000 + "\n" + "n" * 1000 + ",b,label\n" + "1" * 100_000 + "x,2,y\n3,4,z\n")
    with caplog.at_level(logging.INFO, logger="nnctl"), pytest.raises(DataError) as err:
        csv_dataset(read_table(path), column_roles(read_table(path), "label"))
    assert "long.csv:3: column 1 ('nnnn" in str(err.value) and "(100,001 characters)' is not a number" in str(err.value)
    assert max(len(text.replace(str(path), "")) for text in [str(err.value), *(r.getMessage() for r in caplog.records)]) < 250


def test_a_cell_beyond_the_csv_readers_limit_names_its_line_and_the_limit(tmp_path):
    path = tmp_path / "huge.csv"
    path.write_text("a,b,label\n1,2,x\n" + "1" * 140_000 + ",2,y\n")
    with pytest.raises(DataError, match=r"huge.csv:3: a cell longer than 131,072 characters, the most a CSV cell may hold"):
        read_table(path)


@pytest.mark.parametrize("text,message", [
    ("id,a,a,label\nP1,1,2,x\n", r"dup.csv:1: the header has 'a' twice \(columns 2 and 3\); give each column a name of its own$"),
    ("\n\nid,a,b,a\nP1,1,2,3\n", r"dup.csv:3: the header has 'a' twice \(columns 2 and 4\)"),
    ("a,,b,,label\n1,x,2,y,z\n", r"dup.csv:1: the header has an empty name twice \(columns 2 and 4\)"),
])
def test_a_header_naming_a_column_twice_is_refused(tmp_path, text, message):
    """Columns are found by name: a name given twice would pick one of its columns by chance."""
    (tmp_path / "dup.csv").write_text(text)
    with pytest.raises(DataError, match=message):
        read_table(tmp_path / "dup.csv")


@pytest.mark.parametrize("options", [{"expected_names": ["a", "b"]}, {"label_column": "label"}])
def test_a_first_line_of_known_names_is_the_header_even_with_a_name_too_many(tmp_path, options):
    """Not a title line to skip (the columns would then be read by position, a and b swapped)."""
    path = tmp_path / "o.csv"
    path.write_text("id,b,a,label,notes\n\nP1,-3,3,x\nP2,3,-3,y\n")
    with pytest.raises(DataError, match=r"o.csv:1: the header has 5 names for 4 columns$"):
        read_table(path, **options)


def test_a_quote_left_open_is_said_at_its_row(tmp_path):
    path = tmp_path / "q.csv"
    path.write_text('id,a,b,label\nP1,1,2,x\n"P2,3,4,y\nP3,5,6,x\n')
    with pytest.raises(DataError, match=r'q.csv:3: a quote \(\"\) opens a cell that no quote closes'):
        read_table(path)
    path.write_text('a,b,label\n1,2,x\n3,4,y\n5,6,"z')  # on the last line, without a final line break
    with pytest.raises(DataError, match=r'q.csv:4: a quote \(\"\) opens a cell that no quote closes'):
        read_table(path)
    path.write_text('id,a,b,label\nP1,1,2,"x\ny"\nP2,3,4,"last\n"\n')  # a closed quote may hold a line break
    assert read_table(path).cells[:, 3].tolist() == ["x\ny", "last\n"]


def test_a_directory_is_not_reported_as_missing(tmp_path):
    (tmp_path / "dir.csv").mkdir()
    with pytest.raises(DataError, match=r"dir.csv: a directory, not a file$"):
        read_table(tmp_path / "dir.csv")
