"""Issue 20: regression as a task of its own. Whole-number targets, metrics checked by hand, predictions named."""

from __future__ import annotations

import csv
import math

import h5py
import numpy as np
import pytest
from conftest import CONFIGS, invoke, invoke_json, one_line_error, train_run, write_spec

from nnctl.data import DataError, load_labelled_file, load_splits
from nnctl.data.dataset import encode_labels
from nnctl.spec.schema import CsvSource, DataSpec
from nnctl.strategy.regression import regression_scores

SPEC = """\
name: reg
seed: 3
precision: float64
data:
  source: {type: csv, path: houses.csv, label_column: price, id_columns: [house]}
  split: {train: 0.6, dev: 0.2, test: 0.2}
model:
  layers:
    - {units: 8, activation: tanh}
    - {units: 1, activation: linear}
train: {epochs: 30, batch_size: 16, learning_rate: 0.01, optimizer: {name: adam}}
"""


def houses(path, n=100):
    """Whole-number prices (the case that used to be read as ~100 classes)."""
    rng = np.random.default_rng(1)
    with open(path, "w", newline="") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow(["house", "rooms", "area", "price"])
        for i in range(n):
            rooms, area = int(rng.integers(1, 6)), float(rng.uniform(30, 150))
            out.writerow([f"H{i:03d}", rooms, f"{area:.1f}", int(20 * rooms + area + rng.normal(0, 5))])
    return path


@pytest.fixture(scope="module", params=["none", "standardize"])
def run(tmp_path_factory, request):
    base = tmp_path_factory.mktemp("regression")
    houses(base / "houses.csv")
    spec = SPEC.replace("  split:", f"  normalize_target: {request.param}\n  split:")
    return train_run(write_spec(base, spec), base / "runs")


def test_scores_by_hand():
    scores = regression_scores(np.array([1.0, 2, 3, 4]), np.array([1.0, 2, 4, 3]))
    assert scores == {"mse": 0.5, "rmse": math.sqrt(0.5), "mae": 0.5, "r2": 1 - 2 / 5}
    two = regression_scores(np.array([[1.0, 0], [3, 2]]), np.array([[2.0, 0], [3, 0]]))  # R² per target, averaged
    assert two["mse"] == (1 + 4) / 4 and two["r2"] == ((1 - 1 / 2) + (1 - 4 / 2)) / 2
    assert "r2" not in regression_scores(np.array([5.0, 5.0]), np.array([4.0, 6.0]))  # a constant target


def test_whole_number_targets_train_as_regression_and_eval_agrees_with_hand_arithmetic(run, tmp_path):
    facts = invoke_json("eval", run, "--split", "test")
    assert set(facts["metrics"]) >= {"mse", "rmse", "mae", "r2"}
    predicted = list(csv.DictReader(invoke("predict", run, run.parent.parent / "houses.csv").stdout.splitlines()))
    assert list(predicted[0]) == ["house", "price"]
    with h5py.File(run / "data.h5", "r") as f:
        test_rows = f["splits/test/row"][()].tolist()
    with open(run.parent.parent / "houses.csv") as f:
        truth = [float(row["price"]) for row in csv.DictReader(f)]
    y = [truth[r] for r in test_rows]
    p = [float(predicted[r]["price"]) for r in test_rows]
    mean = sum(y) / len(y)
    ss_res = sum((a - b) ** 2 for a, b in zip(p, y))
    ss_tot = sum((a - mean) ** 2 for a in y)
    metrics = facts["metrics"]
    # predict prints every digit of a float64 run's predictions: the hand figures agree but for summation order
    assert metrics["r2"] == pytest.approx(1 - ss_res / ss_tot, rel=1e-9)
    assert metrics["mse"] == pytest.approx(ss_res / len(y), rel=1e-9)
    assert metrics["mae"] == pytest.approx(sum(abs(a - b) for a, b in zip(p, y)) / len(y), rel=1e-9)
    assert metrics["rmse"] == pytest.approx(math.sqrt(metrics["mse"]), rel=1e-12)


def test_an_explicit_task_classification_refuses_fractional_labels(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text("a,y\n" + "".join(f"{i},{i / 3:.3f}\n" for i in range(20)))
    spec = write_spec(tmp_path, "task: classification\ndata: {source: {type: csv, path: f.csv}}\n"
                                "model: {layers: [{units: 2, activation: softmax}]}\n")
    line = one_line_error(invoke("spec", "check", spec, "--data", expect=2).stderr)
    assert "the task is classification, but the labels are not class names or whole numbers" in line


def with_price(path, line: int, price: str):
    """``path`` with the price on ``line`` (counted from 1) replaced."""
    lines = path.read_text().splitlines()
    lines[line - 1] = lines[line - 1].rsplit(",", 1)[0] + "," + price
    path.write_text("\n".join(lines) + "\n")
    return path


def houses_source(path) -> CsvSource:
    return CsvSource(path=str(path), label_column="price", id_columns=["house"])


@pytest.mark.parametrize("bad", ["n/a", "1e400"])
def test_a_target_that_is_not_a_number_is_named_with_its_line_column_and_value(tmp_path, bad):
    path = with_price(houses(tmp_path / "houses.csv", n=20), 6, bad)
    message = rf"houses.csv:6: column 4 \('price'\): '{bad}' is not a finite number, so it cannot be a regression target$"
    with pytest.raises(DataError, match=message):  # training and spec check --data
        load_splits(DataSpec(source=houses_source(path)), 0, tmp_path, task="regression")
    with pytest.raises(DataError, match=message):  # eval --data
        load_labelled_file(path, [], "regression", source=houses_source(path))


def test_whole_number_targets_are_numbers_however_written(tmp_path):
    path = with_price(houses(tmp_path / "houses.csv", n=20), 2, "100.0")
    targets = load_labelled_file(with_price(path, 3, "100"), [], "regression", source=houses_source(path)).y
    assert targets[:2, 0].tolist() == [100.0, 100.0] and targets.dtype == np.float64


@pytest.mark.parametrize("labels,task", [(["1", "2", "2"], "classification"), (["1", "2.5"], "regression"),
                                         (["a", "2.5"], "classification"), (["100", "100.0"], "regression")])
def test_the_task_read_from_label_text(labels, task):
    assert encode_labels([np.array(labels)], None, "f.csv", None if labels[0] != "100" else "regression")[0] == task


def test_the_diabetes_config_is_a_regression(tmp_path):
    result = invoke_json("train", CONFIGS / "diabetes.yaml", "--runs-dir", tmp_path, "--quiet", "--set", "train.epochs=2")
    assert "dev_mse" in result["metrics"] and "dev_accuracy" not in result["metrics"]


def test_standardized_targets_are_stored_and_mapped_back(run):
    from nnctl.orchestration.run_data import run_schema

    schema = run_schema(run)
    if schema.target is None:
        pytest.skip("this run keeps its targets as they are")
    with open(run.parent.parent / "houses.csv") as f:
        prices = [float(row["price"]) for row in csv.DictReader(f)]
    with h5py.File(run / "data.h5", "r") as f:
        train = [prices[r] for r in f["splits/train/row"][()].tolist()]
    mean = sum(train) / len(train)
    assert schema.target["shift"] == [pytest.approx(mean, rel=1e-12)]
    assert schema.target["divisor"] == [pytest.approx(math.sqrt(sum((v - mean) ** 2 for v in train) / len(train)), rel=1e-12)]
    logged = invoke_json("runs", "show", run)["metrics"]["dev_mse"]["last"]
    evaluated = invoke_json("eval", run, "--split", "dev", "--checkpoint", "latest")["metrics"]["mse"]
    assert evaluated == pytest.approx(logged * schema.target["divisor"][0] ** 2, rel=1e-6)  # the logged one is standardized


def test_regression_plots_and_report(run, tmp_path):
    pytest.importorskip("matplotlib")
    from nnctl.orchestration.model import load_model
    from nnctl.report.regression import fitted

    for kind in ("fit", "residuals"):
        out = tmp_path / f"{kind}.svg"
        assert invoke("plot", kind, run, "--split", "test", "--out", out).stdout.strip() == str(out)
        assert out.read_text().startswith("<?xml")
    found = fitted(load_model(run), "test")
    assert found.targets == ["price"] and found.actual.shape == found.predicted.shape
    assert 20 < found.actual.mean() < 500  # the file's units, standardized or not
    page = (run / "report.html") if invoke("report", run).exit_code == 0 else None
    text = page.read_text()
    assert "Predictions against targets" in text and "input contract: label" in text
    line = one_line_error(invoke("plot", "fit", CONFIGS.parent / "runs" / "none", expect=2).stderr)
    assert "no such run" in line or "not a run" in line


def test_export_carries_the_input_contract(run, tmp_path):
    import json

    out = tmp_path / "model.npz"
    invoke("export", run, "--format", "npz", "--out", out)
    with np.load(out) as archive:
        contract = json.loads(str(archive["graph"]))["provenance"]["input_contract"]
    assert [contract["columns"][j] for j in contract["features"]] == ["rooms", "area"]
    if contract["target"] is not None:  # an ONNX graph would give standardized values: refused in one line
        pytest.importorskip("onnx")
        line = one_line_error(invoke("export", run, "--format", "onnx", "--out", tmp_path / "m.onnx", expect=2).stderr)
        assert "normalize_target" in line and "--format npz" in line


def test_diagnose_works_on_the_regression_error(run):
    found = invoke_json("diagnose", run, "--human-error", "4")
    assert found["metric"] == "mse" and found["levels"]["human"]["error"] == 4.0
    for split in ("train", "dev"):
        level = found["levels"][split]
        assert level["ci95"] is None  # no binomial interval for an MSE
        assert level["error"] == pytest.approx(invoke_json("eval", run, "--split", split)["metrics"]["mse"], rel=1e-12)
    assert found["gaps"]["variance"]["value"] == pytest.approx(found["levels"]["dev"]["error"] - found["levels"]["train"]["error"])
    assert any("regression: the levels are mse" in note for note in found["notes"])
    assert "%" not in invoke("diagnose", run).stdout.split("verdict")[0]
