"""The command-line contract: outputs, progress, exit codes and one-line errors of every command."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import (
    CONFIGS,
    TINY_SPEC,
    h5_datasets,
    invoke,
    invoke_json,
    one_line_error,
    run_nnctl,
    write_spec,
)

from nnctl.data import load_splits
from nnctl.orchestration.datasets import default_datasets_dir
from nnctl.orchestration.model import load_model

EPOCH_LINE = re.compile(r"^epoch (\d+)/(\d+)  train_cost \d+\.\d{4}  .*lr \S+  (\d+\.\d\ds|\d+ms)$")


def test_no_arguments_shows_help_not_a_traceback():
    result = invoke(expect=None)
    assert result.exit_code in (0, 2)
    assert "train" in result.output and "Traceback" not in result.output


# ---------------------------------------------------------------- train output


def test_plain_progress_one_line_per_epoch_on_stderr(tmp_path, tiny_spec):
    done = run_nnctl("train", tiny_spec, "--runs-dir", tmp_path / "runs", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 4, done.stderr
    assert [EPOCH_LINE.match(line).group(1, 2) for line in lines] == [(str(e), "4") for e in range(1, 5)]
    assert "\x1b[" not in done.stderr  # no colour or live display off a terminal
    out = done.stdout.splitlines()
    assert len(out) == 1  # nothing but the result on stdout
    result = json.loads(out[0])
    assert result["epochs"] == 4 and (tmp_path / result["run"]).is_dir()


def test_summary_table_on_stdout_without_json(tmp_path, tiny_spec):
    result = invoke("train", tiny_spec, "--runs-dir", tmp_path)
    assert "accuracy" in result.stdout and "completed, 4 epochs, 24 steps" in result.stdout
    assert "best dev_cost" in result.stdout
    assert len([line for line in result.stderr.splitlines() if line.startswith("epoch ")]) == 4


def test_quiet_prints_no_progress(tmp_path, tiny_spec):
    done = run_nnctl("train", tiny_spec, "--runs-dir", tmp_path / "runs", "--json", "--quiet", cwd=tmp_path)
    assert done.returncode == 0
    assert done.stderr == ""
    assert json.loads(done.stdout)["stop_reason"] == "completed"


def test_set_overrides_reach_the_run(tmp_path, tiny_spec):
    result = invoke_json("train", tiny_spec, "--runs-dir", tmp_path, "-q", "--set", "train.epochs=2",
                         "--set", "train.optimizer={name: rmsprop}", "--set", "model.layers.0.units=5")
    assert result["epochs"] == 2
    run = Path(result["run"])
    assert "name: rmsprop" in (run / "spec.yaml").read_text()
    assert h5_datasets(run / "checkpoint.h5")["params/dense1/W"].shape == (5, 64)


# ---------------------------------------------------------------- eval


@pytest.mark.parametrize("split", ["test", "dev", "train"])
def test_eval_splits_json(trained_run, split):
    result = invoke_json("eval", trained_run, "--split", split)
    assert result["data"] == split and result["passed"] is True and result["missed"] == []
    assert result["examples"] == {"train": 180, "dev": 60, "test": 60}[split]
    assert set(result["metrics"]) == {"cost", "accuracy", "error", "precision", "recall", "f1"}
    assert result["metrics"]["accuracy"] == pytest.approx(1 - result["metrics"]["error"])
    assert Path(result["checkpoint"]).name == "best.h5"


def test_eval_dev_matches_the_training_log_at_the_best_epoch(trained_run):
    metrics = h5_datasets(trained_run / "metrics.h5")
    best_epoch = int(np.argmin(metrics["epoch/dev_cost"]))
    result = invoke_json("eval", trained_run, "--split", "dev")
    assert result["metrics"]["cost"] == pytest.approx(metrics["epoch/dev_cost"][best_epoch], rel=1e-6)
    assert result["metrics"]["accuracy"] == pytest.approx(metrics["epoch/dev_accuracy"][best_epoch])


def test_eval_checkpoints(trained_run):
    best = invoke_json("eval", trained_run, "--checkpoint", "best", "--split", "dev")
    latest = invoke_json("eval", trained_run, "--checkpoint", "latest", "--split", "dev")
    initial = invoke_json("eval", trained_run, "--checkpoint", "initial", "--split", "dev")
    assert Path(latest["checkpoint"]).name == "checkpoint.h5" and Path(initial["checkpoint"]).name == "initial.h5"
    assert best["metrics"]["cost"] <= latest["metrics"]["cost"]
    assert initial["metrics"]["accuracy"] < 0.4 < best["metrics"]["accuracy"]
    invoke("eval", trained_run, "--checkpoint", "newest", expect=2)


def test_eval_table_and_confusion_matrix(trained_run):
    result = invoke("eval", trained_run)
    assert "accuracy" in result.stdout and "confusion" in result.stdout
    assert result.stderr == ""


def test_eval_bars(trained_run):
    assert invoke_json("eval", trained_run, "--split", "test", "--fail-under", "accuracy=0.5")["passed"]
    invoke("eval", trained_run, "--fail-over", "cost=100", "--fail-under", "f1=0.3")
    # a weak model (the initialization) misses a high bar: exit 1, the miss named on stderr
    weak = invoke("eval", trained_run, "--checkpoint", "initial", "--fail-under", "accuracy=0.9999", expect=1)
    assert "accuracy" in one_line_error(weak.stderr) and "0.9999" in weak.stderr
    missed = invoke("eval", trained_run, "--json", "--fail-over", "cost=0.000001", expect=1)
    report = json.loads(missed.stdout)
    assert report["passed"] is False and report["missed"] and report["missed"][0].startswith("cost")


@pytest.mark.parametrize(
    "option, bar",
    [
        ("--fail-under", "accuracy"),  # no value
        ("--fail-under", "accuracy=high"),  # not a number
        ("--fail-under", "cost=0.3"),  # cost is lower-is-better
        ("--fail-over", "accuracy=0.3"),  # accuracy is higher-is-better
        ("--fail-under", "auc=0.5"),  # unknown metric
    ],
)
def test_eval_bad_bars_exit_2(trained_run, option, bar):
    result = invoke("eval", trained_run, option, bar, expect=2)
    one_line_error(result.stderr)


def test_eval_bad_split_exits_2(trained_run):
    one_line_error(invoke("eval", trained_run, "--split", "validation", expect=2).stderr)


def _test_split(run: Path):
    model = load_model(run)
    return load_splits(model.spec.data, model.spec.seed, default_datasets_dir()).test


def test_eval_data_files_match_the_split(trained_run, tmp_path):
    test = _test_split(trained_run)
    np.savez(tmp_path / "test.npz", x=test.x, y=test.y)
    flat = np.hstack([test.x.reshape(len(test), -1), test.y[:, None]])
    np.savetxt(tmp_path / "test.csv", flat, delimiter=",", fmt="%.10g")
    on_split = invoke_json("eval", trained_run, "--split", "test")["metrics"]
    for name in ("test.npz", "test.csv"):
        on_file = invoke_json("eval", trained_run, "--data", tmp_path / name)
        assert on_file["examples"] == len(test) and on_file["data"].endswith(name)
        assert on_file["metrics"] == pytest.approx(on_split, rel=1e-9)


def test_eval_data_file_on_generated_data(trained_moons_run, tmp_path):
    test = _test_split(trained_moons_run)
    np.savetxt(tmp_path / "moons.csv", np.hstack([test.x, test.y[:, None]]), delimiter=",", fmt="%.17g")
    result = invoke_json("eval", trained_moons_run, "--data", tmp_path / "moons.csv", "--fail-under", "accuracy=0.7")
    assert result["examples"] == 40 and result["passed"]


def test_eval_data_file_with_the_wrong_shape_exits_2(trained_run, tmp_path):
    np.savez(tmp_path / "bad.npz", x=np.zeros((4, 5)), y=np.zeros(4, dtype=int))
    result = invoke("eval", trained_run, "--data", tmp_path / "bad.npz", expect=2)
    assert "bad.npz" in one_line_error(result.stderr)


# ---------------------------------------------------------------- predict


def _expected_outputs(run: Path, x: np.ndarray) -> np.ndarray:
    model = load_model(run)
    return model.net.predict(model.normalizer.apply(x, dtype=model.net.dtype))


def test_predict_npz_to_npz_matches_the_loaded_model(trained_run, tmp_path):
    x = _test_split(trained_run).x[:25]
    np.savez(tmp_path / "in.npz", x=x)
    invoke("predict", trained_run, tmp_path / "in.npz", "--proba", "--out", tmp_path / "out.npz")
    expected = _expected_outputs(trained_run, x)
    with np.load(tmp_path / "out.npz") as out:
        assert list(out["class"]) == [str(c) for c in expected.argmax(axis=1)]
        probs = np.stack([out[f"p_{c}"] for c in range(10)], axis=1)
    assert np.array_equal(probs, expected)
    assert np.allclose(probs.sum(axis=1), 1, atol=1e-5)


def test_predict_csv_to_stdout(trained_run, tmp_path):
    x = _test_split(trained_run).x[:12]
    np.savetxt(tmp_path / "in.csv", x.reshape(len(x), -1), delimiter=",", fmt="%.10g")
    result = invoke("predict", trained_run, tmp_path / "in.csv", "--proba")
    rows = list(csv.reader(result.stdout.splitlines()))
    assert rows[0] == ["class"] + [f"p_{c}" for c in range(10)]
    expected = _expected_outputs(trained_run, x)
    assert [r[0] for r in rows[1:]] == [str(c) for c in expected.argmax(axis=1)]
    assert np.allclose(np.array([r[1:] for r in rows[1:]], dtype=float), expected, rtol=1e-5, atol=1e-7)
    plain = invoke("predict", trained_run, tmp_path / "in.csv")
    assert plain.stdout.splitlines() == ["class"] + [r[0] for r in rows[1:]]


def test_predict_csv_out_file_and_binary_probabilities(trained_moons_run, tmp_path):
    x = _test_split(trained_moons_run).x
    np.save(tmp_path / "in.npy", x)
    invoke("predict", trained_moons_run, tmp_path / "in.npy", "--proba", "--out", tmp_path / "out.csv")
    rows = list(csv.reader((tmp_path / "out.csv").read_text().splitlines()))
    assert rows[0] == ["class", "p_0", "p_1"] and len(rows) == len(x) + 1
    p1 = _expected_outputs(trained_moons_run, x)[:, 0]
    got = np.array([r[1:] for r in rows[1:]], dtype=float)
    assert np.allclose(got[:, 1], p1, rtol=1e-5) and np.allclose(got.sum(axis=1), 1, atol=1e-5)
    assert [r[0] for r in rows[1:]] == [str(int(p > 0.5)) for p in p1]


def test_predict_shape_mismatch_exits_2(trained_run, tmp_path):
    np.savez(tmp_path / "bad.npz", x=np.zeros((3, 5)))
    result = invoke("predict", trained_run, tmp_path / "bad.npz", expect=2)
    assert "expects (8, 8, 1)" in one_line_error(result.stderr)


def test_predict_bad_output_suffix_and_missing_input_exit_2(trained_run, tmp_path):
    np.savez(tmp_path / "in.npz", x=np.zeros((2, 8, 8, 1)))
    one_line_error(invoke("predict", trained_run, tmp_path / "in.npz", "--out", tmp_path / "o.txt", expect=2).stderr)
    one_line_error(invoke("predict", trained_run, tmp_path / "missing.npz", expect=2).stderr)


# ---------------------------------------------------------------- user mistakes: exit 2, one line


def _typo_spec(tmp_path: Path) -> Path:
    return write_spec(tmp_path, TINY_SPEC.replace("activation: relu", "activation: rellu"), "typo.yaml")


def test_yaml_typo_is_located_with_a_suggestion(tmp_path):
    spec = _typo_spec(tmp_path)
    result = invoke("train", spec, "--runs-dir", tmp_path, expect=2)
    line = one_line_error(result.stderr)
    assert f"{spec}:9: model.layers[0].activation:" in line and "did you mean 'relu'" in line
    assert not any(tmp_path.glob("tiny-*"))  # nothing created for an invalid spec


def test_unknown_key_is_located(tmp_path):
    spec = write_spec(tmp_path, TINY_SPEC.replace("  limit: 300", "  limt: 300"))
    line = one_line_error(invoke("train", spec, expect=2).stderr)
    assert f"{spec}:5: data.limt" in line and "did you mean 'limit'" in line


def test_output_units_not_matching_the_classes(tmp_path):
    spec = write_spec(tmp_path, TINY_SPEC.replace("{units: 10, activation: softmax}", "{units: 3, activation: softmax}"))
    line = one_line_error(invoke("train", spec, "--runs-dir", tmp_path / "runs", expect=2).stderr)
    assert f"{spec}:10: model.layers[1].units" in line and "10 classes" in line
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


@pytest.mark.parametrize(
    "override, expected",
    [
        ("train.epochs", "--set train.epochs"),
        ("train.epochs=many", "--set train.epochs=many"),
        ("train.optimiser={name: adam}", "did you mean"),
        ("model.layers.9.units=3", "--set model.layers.9.units=3"),
    ],
)
def test_bad_set_overrides(tmp_path, tiny_spec, override, expected):
    result = invoke("train", tiny_spec, "--runs-dir", tmp_path, "--set", override, expect=2)
    assert expected in one_line_error(result.stderr)


def test_missing_data_file_in_a_spec(tmp_path):
    spec = write_spec(tmp_path, """\
        name: csvdata
        data:
          source: {type: csv, path: no/such/file.csv, label_column: -1}
        model:
          layers:
            - {units: 2, activation: softmax}
        """)
    line = one_line_error(invoke("train", spec, "--runs-dir", tmp_path, expect=2).stderr)
    assert "no/such/file.csv" in line


def test_run_mistakes(tmp_path, tiny_spec):
    assert "nope" in one_line_error(invoke("train", "--resume", tmp_path / "nope", expect=2).stderr)
    empty = tmp_path / "empty-run"
    empty.mkdir()
    for command in (["eval", empty], ["predict", empty, tiny_spec], ["train", "--resume", empty]):
        assert "empty-run" in one_line_error(invoke(*command, expect=2).stderr)
    assert "SPEC" in one_line_error(invoke("train", expect=2).stderr)
    assert "SPEC" in one_line_error(invoke("train", tiny_spec, "--resume", empty, expect=2).stderr)


@pytest.mark.parametrize(
    "case",
    ["missing-spec", "typo", "bad-set", "eval-empty"],
)
def test_user_mistakes_exit_2_from_a_real_process(tmp_path, case):
    (tmp_path / "empty").mkdir()
    args = {
        "missing-spec": ["train", "missing.yaml"],
        "typo": ["train", _typo_spec(tmp_path)],
        "bad-set": ["train", CONFIGS / "quickstart.yaml", "--set", "train.batch_size=zero"],
        "eval-empty": ["eval", "empty"],
    }[case]
    done = run_nnctl(*args, "--runs-dir", tmp_path / "runs", cwd=tmp_path) if args[0] == "train" else run_nnctl(*args, cwd=tmp_path)
    assert done.returncode == 2
    line = one_line_error(done.stderr)
    assert done.stdout == ""
    if case == "missing-spec":
        assert "missing.yaml" in line
    if case == "typo":
        assert "typo.yaml:9: model.layers[0].activation" in line and "did you mean" in line


def test_exit_codes_0_and_1_from_a_real_process(trained_run, tmp_path):
    ok = run_nnctl("eval", trained_run, "--fail-under", "accuracy=0.5", "--json", cwd=tmp_path)
    assert ok.returncode == 0 and json.loads(ok.stdout)["passed"]
    missed = run_nnctl("eval", trained_run, "--checkpoint", "initial", "--fail-under", "accuracy=0.9999", cwd=tmp_path)
    assert missed.returncode == 1
    assert "Traceback" not in missed.stderr and "nnctl: error: " in missed.stderr


# ---------------------------------------------------------------- spec, data, gradcheck


def test_spec_check(tmp_path):
    assert "ok" in invoke("spec", "check", CONFIGS / "quickstart.yaml").stdout
    one_line_error(invoke("spec", "check", _typo_spec(tmp_path), expect=2).stderr)
    one_line_error(invoke("spec", "check", tmp_path / "absent.yaml", expect=2).stderr)


def test_spec_show_prints_the_resolved_spec_and_layers(tiny_spec):
    shown = invoke("spec", "show", tiny_spec, "--set", "train.epochs=9")
    out, table = shown.stdout, shown.stderr  # the spec on stdout, the layer table on stderr
    assert "epochs: 9" in out and "beta1: 0.9" in out and "momentum: 0.9" in out  # defaults filled in
    assert "dense1" in table and "dense1.bn" in table and "dense2" in table and "total" in table
    assert "(16,)" in table and "(10,)" in table
    shown = json.loads(invoke("spec", "show", tiny_spec, "--json").stdout)
    assert shown["train"]["epochs"] == 4 and shown["model"]["layers"][0]["batchnorm"]["epsilon"] == 1e-5


def test_spec_schema_is_json_schema():
    schema = json.loads(invoke("spec", "schema").stdout)
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert {"DenseLayerSpec", "AdamSpec", "DataSpec", "ModelSpec"} <= set(schema["$defs"])
    assert {"data", "model", "train"} <= set(schema["properties"])


def test_data_list():
    out = invoke("data", "list").stdout
    for name in ("digits", "moons", "spirals", "flower", "mnist"):
        assert name in out
    rows = json.loads(invoke("data", "list", "--json").stdout)
    assert {row["name"] for row in rows} >= {"digits", "moons", "mnist"}


def test_data_info():
    digits = json.loads(invoke("data", "info", "digits", "--json").stdout)
    assert digits["examples"] == 1797 and digits["classes"] == 10 and digits["input_shape"] == [8, 8, 1]
    moons = json.loads(invoke("data", "info", "moons", "--json").stdout)
    assert moons["input_shape"] == [2] and moons["class_counts"] == {"0": 200, "1": 200}
    assert "examples: 1797" in invoke("data", "info", "digits").stdout
    one_line_error(invoke("data", "info", "no-such-set", expect=2).stderr)


def test_data_fetch_mnist_from_a_mirror(tmp_path, mnist_mirror, mnist_datasets):
    datasets, out = mnist_datasets  # `nnctl data fetch mnist --mirror ... --cache-dir DATASETS/cache`
    roles = dict(line.split(": ", 1) for line in out.splitlines())
    assert set(roles) == {"images", "labels", "test_images", "test_labels"}
    assert all(Path(p).is_file() and Path(p).parent == datasets / "cache" / "mnist" for p in roles.values())
    assert not [p for p in (datasets / "cache").iterdir() if p.name.startswith(".")]  # no staging left
    again = invoke("data", "fetch", "mnist", "--cache-dir", datasets / "cache").stdout  # cached: no mirror needed
    assert again == out
    one_line_error(invoke("data", "fetch", "mnist", "--mirror", tmp_path / "empty-mirror",
                          "--cache-dir", tmp_path / "cache2", expect=2).stderr)


def test_gradcheck_spec_passes():
    report = invoke_json("gradcheck", CONFIGS / "quickstart.yaml", "--examples", "4", "--max-checks", "20")
    assert report["verdict"] == "pass"
    assert {t["tensor"] for t in report["tensors"]} == {f"dense{i}/{p}" for i in (1, 2, 3) for p in "Wb"}
    assert all(t["checked"] <= 20 for t in report["tensors"])


def test_gradcheck_a_run_directory(trained_run):
    report = invoke_json("gradcheck", trained_run, "--examples", "4", "--max-checks", "10")
    assert report["verdict"] in ("pass", "warn")
    assert "dense1.bn/gamma" in {t["tensor"] for t in report["tensors"]}


def test_gradcheck_over_tolerance_exits_1(tiny_spec):
    result = invoke("gradcheck", tiny_spec, "--examples", "4", "--max-checks", "5",
                    "--warn", "1e-30", "--fail", "1e-30", "--json", expect=1)
    assert json.loads(result.stdout)["verdict"] == "fail"
    one_line_error(invoke("gradcheck", tiny_spec, "--dropout", "random", expect=2).stderr)
