"""`nnctl errors --include-correct N`: correctly classified rows in the sheet too (the notes, when fixing labels)."""

from __future__ import annotations

import csv

import numpy as np
from conftest import invoke, invoke_json

from nnctl.orchestration.model import load_model, split_data
from nnctl.strategy.evaluation import Options, score_split


def _right_and_wrong(run):
    model = load_model(run)
    data = split_data(model, "dev")
    _, scores = score_split(model, data, Options())
    rows = data.source_rows()
    return set(rows[scores.predictions == data.y].tolist()), set(rows[scores.predictions != data.y].tolist())


def test_correct_rows_join_the_sheet_marked_and_the_tally_leaves_them_out(trained_run, tmp_path):
    right, wrong = _right_and_wrong(trained_run)
    out = tmp_path / "errors.csv"
    summary = invoke_json("errors", trained_run, "--out", out, "--limit", "3", "--include-correct", "4", "--seed", "1")
    assert summary["sampled"] == min(3, len(wrong)) and summary["correct_sampled"] == 4
    with open(out, newline="") as f:
        reader = csv.DictReader(f)
        columns, sheet = reader.fieldnames, list(reader)
    assert columns[-3:] == ["correct", "tags", "comment"]
    marked = {r["correct"] for r in sheet}
    assert marked == {"yes", "no"}
    for record in sheet:
        row = int(record["row"])
        assert (row in right) == (record["correct"] == "yes") and (row in wrong) == (record["correct"] == "no")
        assert (record["true"] == record["predicted"]) == (record["correct"] == "yes")
    for record in sheet:
        record["tags"] = "mislabelled" if record["correct"] == "yes" else "blurry"
    with open(out, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(sheet)
    tally = invoke_json("errors", "tally", out)
    assert tally["sampled"] == summary["sampled"]
    assert [(c["tag"], c["count"]) for c in tally["categories"]] == [("blurry", summary["sampled"])]


def test_without_the_option_the_sheet_is_unchanged(trained_run):
    summary = invoke_json("errors", trained_run, "--limit", "2")
    assert summary["correct_sampled"] == 0 and all("correct" not in row for row in summary["rows"])
    assert "classified correctly" not in invoke("errors", trained_run, "--limit", "2").stdout
    seeded = invoke_json("errors", trained_run, "--limit", "2", "--include-correct", "3", "--seed", "5")["rows"]
    assert seeded == invoke_json("errors", trained_run, "--limit", "2", "--include-correct", "3", "--seed", "5")["rows"]
    assert np.sum([row["correct"] == "yes" for row in seeded]) == 3
