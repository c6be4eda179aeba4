"""Issue 20: missing inputs (empty, NA, NaN, null) are counted per column, or dropped or filled from train only."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from conftest import invoke, one_line_error, train_run, write_spec

from nnctl.orchestration.model import all_splits, load_model
from nnctl.orchestration.run_data import run_schema

SPEC = """\
name: gaps
seed: 0
precision: float64
data:
  source: {type: csv, path: gaps.csv, label_column: kind, id_columns: [id]}
  split: {train: 0.6, dev: 0.2, test: 0.2, stratify: false}
model:
  layers:
    - {units: 4, activation: tanh}
    - {units: 1, activation: sigmoid}
train: {epochs: 2, batch_size: 8, learning_rate: 0.1}
"""
HOLES = {3: (1, ""), 7: (2, "NA"), 11: (1, "NaN"), 19: (1, "null"), 23: (2, " na ")}  # row → (column, missing word)


def gappy(path, n=60):
    rng = np.random.default_rng(2)
    rows = [["id", "a", "b", "kind"]]
    for i in range(n):
        rows.append([f"r{i}", f"{rng.normal():.4f}", f"{rng.normal() + 3:.4f}", "yes" if i % 2 else "no"])
    for row, (column, word) in HOLES.items():
        rows[row + 1][column] = word
    with open(path, "w", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows(rows)
    return rows


def spec_with(tmp_path, missing: str | None):
    text = SPEC if missing is None else SPEC.replace("  split:", f"  missing: {missing}\n  split:")
    return write_spec(tmp_path, text)


def test_missing_values_are_counted_per_column_in_one_error(tmp_path):
    gappy(tmp_path / "gaps.csv")
    line = one_line_error(invoke("train", spec_with(tmp_path, None), "--runs-dir", tmp_path / "runs", expect=2).stderr)
    assert ("gaps.csv: 5 missing values (empty, NA, NaN or null) in 2 input columns: column 2 ('a'): 3 (first on line 5); "
            "column 3 ('b'): 2 (first on line 9); set data.missing") in line
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("strategy", ["mean", "median", "constant"])
def test_fill_values_come_from_train_only_and_are_used_at_predict(tmp_path, strategy):
    rows = gappy(tmp_path / "gaps.csv")
    missing = f"{{strategy: {strategy}, value: -7}}" if strategy == "constant" else f"{{strategy: {strategy}}}"
    run = train_run(spec_with(tmp_path, missing), tmp_path / "runs")
    fill = run_schema(run).missing["fill"]
    splits = all_splits(load_model(run))
    train_rows = splits.train.source_rows().tolist()
    for j, column in enumerate((1, 2)):
        seen = [float(rows[r + 1][column]) for r in train_rows if (r, column) not in {(k, c) for k, (c, _) in HOLES.items()}]
        expected = {"mean": np.mean(seen), "median": np.median(seen), "constant": -7.0}[strategy]
        assert fill[j] == pytest.approx(expected, rel=1e-12)
    for split in splits.named().values():
        assert not np.isnan(split.x).any()
    # predict fills the same cells with the same values: the filled row predicts as the row with the values written in
    holed = tmp_path / "holed.csv"
    filled = tmp_path / "filled.csv"
    with open(holed, "w", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows([["id", "a", "b"], ["q1", "", "2.5"], ["q2", "0.3", "null"]])
    with open(filled, "w", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows([["id", "a", "b"], ["q1", repr(fill[0]), "2.5"], ["q2", "0.3", repr(fill[1])]])
    options = ("--proba",)
    assert invoke("predict", run, holed, *options).stdout == invoke("predict", run, filled, *options).stdout


def test_drop_rows_leaves_out_rows_with_gaps_and_predict_explains(tmp_path):
    rows = gappy(tmp_path / "gaps.csv")
    result = invoke("train", spec_with(tmp_path, "{strategy: drop_rows}"), "--runs-dir", tmp_path / "runs", "--quiet", "--json")
    assert "left out 5 of 60 rows with missing inputs" in result.stderr
    run = next(p for p in (tmp_path / "runs").iterdir() if not p.is_symlink())
    splits = all_splits(load_model(run))
    assert sum(len(s) for s in splits.named().values()) == 55
    holed = tmp_path / "holed.csv"
    holed.write_text("id,a,b\nq1,,2.5\n")
    line = one_line_error(invoke("predict", run, holed, expect=2).stderr)
    assert "1 missing value" in line and "drop_rows" in line
    sheet = tmp_path / "e.csv"
    invoke("errors", run, "--out", sheet)
    kind = {row[0]: row[3] for row in rows[1:] if not any(cell.strip().lower() in ("", "na", "nan", "null") for cell in row)}
    sheet_rows = list(csv.DictReader(sheet.open()))
    assert sheet_rows and all(kind[row["id"]] == row["true"] for row in sheet_rows)  # ids still match their rows after the drop
