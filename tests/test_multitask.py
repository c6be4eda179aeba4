"""Multi-task learning with missing labels: a sigmoid output with k units is k binary tasks, NaN labels
(or empty CSV cells) drop out of the loss with the (1/m) normalization of docs/explanation/algorithms.md#masked-bce."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from conftest import invoke, invoke_json, one_line_error, train_json, write_spec

from nnctl.data import DataError
from nnctl.data.csv_table import read_table
from nnctl.data.dataset import encode_labels, is_multilabel
from nnctl.data.sources import label_matrix
from nnctl.nn.gradcheck import check_gradients
from nnctl.nn.layers import Activate, Dense
from nnctl.nn.losses import make_loss
from nnctl.nn.metrics import multilabel_metrics
from nnctl.nn.network import Network

NAN = float("nan")


def sigmoid(v):
    return 1 / (1 + math.exp(-v))


def test_masked_cross_entropy_and_its_gradient_by_hand():
    loss = make_loss("auto", "sigmoid")
    z = np.array([[0.0, 2.0], [-1.0, 3.0]])
    y = np.array([[1.0, NAN], [0.0, 1.0]])
    present = [math.log(2), math.log(1 + math.exp(-1)), math.log(1 + math.exp(-3))]  # y=1,z=0; y=0,z=-1; y=1,z=3
    assert loss.cost(z, y) == pytest.approx(sum(present) / 2, rel=1e-15)  # m = 2 rows, not 3 labels
    expected = np.array([[(0.5 - 1) / 2, 0.0], [sigmoid(-1) / 2, (sigmoid(3) - 1) / 2]])
    np.testing.assert_allclose(loss.grad(z, y), expected, rtol=1e-15)
    assert sum(present) / 2 == pytest.approx(0.527498, abs=1e-6)


def test_a_row_with_every_label_missing_adds_nothing_but_counts_in_m():
    loss = make_loss("auto", "sigmoid")
    z = np.array([[0.5, -0.5], [4.0, -7.0]])
    one = loss.cost(z[:1], np.array([[1.0, 0.0]]))
    both = loss.cost(z, np.array([[1.0, 0.0], [NAN, NAN]]))
    assert both == pytest.approx(one / 2, rel=1e-15)
    np.testing.assert_array_equal(loss.grad(z, np.array([[1.0, 0.0], [NAN, NAN]]))[1], [0.0, 0.0])


def test_gradient_check_with_missing_labels():
    rng = np.random.default_rng(4)
    net = Network([Dense("dense1", 5, "xavier"), Activate("dense1.act", "tanh"), Dense("dense2", 3, "xavier")],
                  make_loss("auto", "sigmoid"), (4,), np.float64)
    net.initialize(rng)
    x = rng.standard_normal((10, 4))
    y = (rng.random((10, 3)) < 0.5).astype(float)
    y[rng.random((10, 3)) < 0.35] = NAN
    assert np.isnan(y).any()
    report = check_gradients(net, x, y, l2=0.2)
    assert report.difference < 1e-8 and report.verdict() == "pass"


def test_per_task_metrics_by_hand():
    y = np.array([[1, 0], [1, NAN], [0, 1], [NAN, 1], [0, 0]])
    out = np.array([[0.9, 0.2], [0.3, 0.9], [0.6, 0.8], [0.1, 0.4], [0.2, 0.7]])
    m = multilabel_metrics(y, out, ["a", "b"])
    # task a (rows 0,1,2,4): predictions 1,0,1,0 vs 1,1,0,0 → tp 1, P 1/2, R 1/2
    # task b (rows 0,2,3,4): predictions 0,1,0,1 vs 0,1,1,0 → tp 1, P 1/2, R 1/2
    assert m["precision_a"] == m["recall_a"] == m["f1_a"] == 0.5
    assert m["precision_b"] == m["recall_b"] == m["f1_b"] == 0.5
    assert m["f1"] == 0.5 and m["accuracy"] == 4 / 8 and m["error"] == 0.5


def test_label_matrices_and_missing_labels_make_a_multilabel_task():
    assert is_multilabel(np.array([[0, 1], [1, 1]]))
    assert is_multilabel(np.array([0.0, NAN, 1.0]))  # one task with a missing label
    assert not is_multilabel(np.array([0, 1, 1]))  # plain binary classification
    assert not is_multilabel(np.array([0.0, NAN, 3.0]))
    task, (y,), names = encode_labels([np.array([[0, 1], [1, NAN]])], None, "here")
    assert task == "multilabel" and names == ["task1", "task2"] and y.shape == (2, 2)


def test_missing_value_words_in_label_columns_are_missing_labels(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,car,sign\n1,1,NA\n2,0,null\n3,,1\n4,1,nan\n")
    y = label_matrix(read_table(path), [1, 2])
    assert np.isnan(y).tolist() == [[False, True], [False, True], [True, False], [False, True]]
    path.write_text("a,car,sign\n1,1,NA\n2,1e400,1\n")
    with pytest.raises(DataError, match=r"t.csv:3: column 2 \('car'\): a label must be a finite number or missing "
                                        r"\(empty, NA, NaN or null\), not '1e400'$"):
        label_matrix(read_table(path), [1, 2])
    path.write_text("a,car,sign\n1,1,NA\n2,1_0,1\n")  # NumPy would read 10
    with pytest.raises(DataError, match=r"t.csv:3: column 2 \('car'\): a label must be .* not '1_0'$"):
        label_matrix(read_table(path), [1, 2])


# ---------------------------------------------------------------- end to end


def tasks_of(x):
    """Three tasks, each a known function of the inputs."""
    return np.stack([x[:, 0] > 0, x[:, 1] + x[:, 2] > 0, x[:, 3] > 0.5], axis=1).astype(float)


@pytest.fixture(scope="module")
def multitask_csv(tmp_path_factory) -> Path:
    """600 rows: 4 features, then labels car,person,sign with 30 % of cells empty (missing)."""
    base = tmp_path_factory.mktemp("multitask")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((600, 4))
    y = tasks_of(x)
    missing = rng.random(y.shape) < 0.3
    lines = ["a,b,c,d,car,person,sign"]
    for xi, yi, mi in zip(x, y, missing):
        labels = ["" if m else str(int(v)) for v, m in zip(yi, mi)]
        lines.append(",".join([f"{v:.6f}" for v in xi] + labels))
    path = base / "tasks.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


SPEC = """\
name: tasks
seed: 0
data:
  source: {type: csv, path: CSV, header: true, label_columns: [car, person, sign]}
  split: {train: 0.6, dev: 0.2, test: 0.2}
model:
  layers:
    - {units: 16, activation: tanh}
    - {units: 3, activation: sigmoid}
train: {epochs: 30, batch_size: 32, learning_rate: 0.01, optimizer: {name: adam}}
checkpoint: {monitor: dev_f1}
"""


@pytest.fixture(scope="module")
def multitask_run(multitask_csv, tmp_path_factory) -> tuple[dict, Path]:
    base = tmp_path_factory.mktemp("multitask-run")
    spec = write_spec(base, SPEC.replace("CSV", str(multitask_csv)))
    return train_json(spec, base / "runs"), spec


def test_each_task_is_learned_from_partly_labelled_rows(multitask_run):
    result, _ = multitask_run
    metrics = result["metrics"]
    for task in ("car", "person"):  # linear rules: all but learned exactly
        assert metrics[f"dev_f1_{task}"] >= 0.95, metrics
    assert metrics["dev_f1_sign"] >= 0.85, metrics  # a threshold at 0.5 in one input
    assert metrics["dev_f1"] == pytest.approx(np.mean([metrics[f"dev_f1_{t}"] for t in ("car", "person", "sign")]))


def test_eval_reports_every_task_and_predict_writes_one_column_each(multitask_run, multitask_csv, tmp_path):
    result, _ = multitask_run
    run = result["run"]
    report = invoke_json("eval", run, "--split", "test")
    assert {"f1_car", "precision_person", "recall_sign", "f1"} <= set(report["metrics"])
    table = invoke("eval", run, "--split", "test").stdout
    assert "scored on present labels only" in table and "sign" in table
    x = np.random.default_rng(9).standard_normal((5, 4))
    inputs = tmp_path / "in.npy"
    np.save(inputs, x)
    out = invoke("predict", run, inputs, "--proba").stdout.splitlines()
    assert out[0] == "car,person,sign,p_car,p_person,p_sign"
    rows = [line.split(",") for line in out[1:]]
    assert len(rows) == 5 and all(len(r) == 6 and r[0] in ("0", "1") for r in rows)
    predicted = np.array([[int(v) for v in r[:3]] for r in rows])
    assert (predicted[:, 0] == tasks_of(x)[:, 0]).mean() >= 0.8


def test_an_npz_label_matrix_with_nan_trains_too(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((300, 4))
    y = tasks_of(x)
    y[rng.random(y.shape) < 0.2] = NAN
    np.savez(tmp_path / "tasks.npz", x=x, y=y)
    spec = write_spec(tmp_path, SPEC.replace("{type: csv, path: CSV, header: true, label_columns: [car, person, sign]}",
                                             f"{{type: npz, path: {tmp_path / 'tasks.npz'}}}"))
    result = train_json(spec, tmp_path / "runs", "train.epochs=10")
    assert result["metrics"]["dev_f1_task1"] >= 0.9
    assert json.loads(json.dumps(result))["stop_reason"] == "completed"


def test_nan_labels_with_a_softmax_output_are_one_line_exit_2(multitask_csv, tmp_path):
    spec = write_spec(tmp_path, SPEC.replace("CSV", str(multitask_csv)).replace("activation: sigmoid", "activation: softmax"))
    error = one_line_error(invoke("train", spec, "--runs-dir", tmp_path / "runs", expect=2).stderr)
    assert "model.layers[1].activation: the labels have missing values (NaN)" in error and "sigmoid" in error
    error = one_line_error(invoke("train", spec, "--runs-dir", tmp_path / "runs",
                                  "--set", "model.layers.1.activation=sigmoid", "--set", "model.layers.1.units=2", expect=2).stderr)
    assert "3 binary tasks, the sigmoid layer has 2 units" in error
    assert not (tmp_path / "runs").exists()


def test_nan_among_class_labels_is_refused(tmp_path):
    x = np.random.default_rng(0).standard_normal((40, 3))
    y = np.arange(40) % 4.0
    y[3] = NAN
    np.savez(tmp_path / "bad.npz", x=x, y=y)
    spec = write_spec(tmp_path, SPEC.replace("{type: csv, path: CSV, header: true, label_columns: [car, person, sign]}",
                                             f"{{type: npz, path: {tmp_path / 'bad.npz'}}}"))
    assert "NaN" in one_line_error(invoke("train", spec, "--runs-dir", tmp_path / "runs", expect=2).stderr)
