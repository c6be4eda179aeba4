"""`nnctl diagnose`, `errors`, `select` and eval's single-number metrics, end to end on tiny runs.

Expected numbers are computed here from the model's own outputs with plain
NumPy (argmax, counting), not through nnctl.strategy.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np
import pytest
from conftest import MOONS_SPEC, TINY_SPEC, invoke, invoke_json, one_line_error, train_run, write_spec
from test_data_sources import MISMATCH

import nnctl.strategy.diagnosis as diagnosis_module
import nnctl.strategy.error_analysis as error_analysis_module
import nnctl.strategy.evaluation as evaluation_module
from nnctl.data import Dataset, load_splits, make_generated
from nnctl.orchestration.model import load_model, split_data
from nnctl.spec import load_spec
from nnctl.strategy import records
from nnctl.strategy.confidence import wilson_interval

TRAIN_DEV_SPEC = TINY_SPEC.replace("name: tiny", "name: tinytd").replace(
    "split: {train: 0.6, dev: 0.2, test: 0.2}", "split: {train: 0.5, train_dev: 0.1, dev: 0.2, test: 0.2}")


@pytest.fixture(scope="module")
def td_run(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("td")
    return train_run(write_spec(base, TRAIN_DEV_SPEC + "strategy: {human_error: 0.02}\n", "td.yaml"), base / "runs")


@pytest.fixture
def read_splits(monkeypatch) -> list[str]:
    """Every split the strategy code asks the run for, in order."""
    asked = []

    def spy(model, split, *loaded):
        asked.append(split)
        return split_data(model, split, *loaded)

    for module in (diagnosis_module, evaluation_module, error_analysis_module):
        monkeypatch.setattr(module, "split_data", spy)
    return asked


def predictions(run: Path, split: str, threshold: float = 0.5):
    """(labels, predicted classes, outputs, rows) of a split, straight from the network."""
    model = load_model(run)
    data = split_data(model, split)
    out = model.net.predict(model.normalizer.apply(data.x, dtype=model.net.dtype)).astype(np.float64)
    pred = (out[:, 0] >= threshold).astype(int) if out.shape[1] == 1 else out.argmax(axis=1)
    return data.y, pred, out, data.rows


# ---------------------------------------------------------------- diagnose


def test_diagnose_numbers_match_the_splits(td_run, read_splits):
    report = invoke_json("diagnose", td_run)
    assert read_splits == ["train", "train_dev", "dev"]  # never test unless asked
    errors = {}
    for split in ("train", "train_dev", "dev"):
        y, pred, _, _ = predictions(td_run, split)
        errors[split] = float(np.mean(y != pred))
        level = report["levels"][split]
        assert level["error"] == errors[split] and level["examples"] == len(y)
        assert level["ci95"] == list(wilson_interval(errors[split], len(y)))
    assert report["levels"]["human"]["error"] == 0.02 and report["human_error_given"]  # from strategy: in the spec
    gaps = {name: gap["value"] for name, gap in report["gaps"].items()}
    assert gaps == {"avoidable_bias": errors["train"] - 0.02, "variance": errors["train_dev"] - errors["train"],
                    "data_mismatch": errors["dev"] - errors["train_dev"]}
    largest = max(gaps.values())
    assert report["dominant"] == [name for name, value in gaps.items() if value == largest]
    assert report["focus"] == (report["problems"] or report["dominant"])
    assert [r["gap"] for r in report["remedies"]][0] == report["focus"][0]


def test_diagnose_table_and_human_error_option(td_run, read_splits):
    out = invoke("diagnose", td_run, "--human-error", "0.005", "--with-test").stdout
    assert read_splits == ["train", "train_dev", "dev", "test"]
    for text in ("human-level (Bayes proxy)", "train-dev", "overfitting to dev", "verdict:", "95 % interval", "0.50 %"):
        assert text in out
    report = invoke_json("diagnose", td_run, "--human-error", "0", "--with-test")
    assert report["levels"]["human"]["error"] == 0.0
    assert report["gaps"]["dev_overfitting"]["value"] == report["levels"]["test"]["error"] - report["levels"]["dev"]["error"]


def test_diagnose_without_train_dev_says_so(trained_run):
    report = invoke_json("diagnose", trained_run)
    assert set(report["gaps"]) == {"avoidable_bias", "variance"}
    assert report["gaps"]["variance"]["between"] == ["train", "dev"]
    assert any("no train-dev split" in n for n in report["notes"]) and any("taken as 0" in n for n in report["notes"])


def test_diagnose_fail_over_gates(td_run):
    report = invoke_json("diagnose", td_run, "--fail-over", "variance=1", "--fail-over", "dev_error=1")
    assert report["passed"]
    variance = report["gaps"]["variance"]["value"]
    failed = invoke("diagnose", td_run, "--fail-over", f"dev_error={report['levels']['dev']['error'] / 2}", expect=1)
    *warnings, last = failed.stderr.strip().splitlines()  # small splits: gaps within noise are warned about first
    assert last.startswith("nnctl: error: missed the bar: dev_error")
    assert all(w.startswith("nnctl: warning: ") and "confidence interval" in w for w in warnings)
    assert invoke_json("diagnose", td_run, "--fail-over", f"variance={variance + 1e-9}")["passed"]


@pytest.mark.parametrize("args, message", [
    (["--human-error", "1"], "--human-error 1: expected an error rate in [0, 1)"),
    (["--human-error", "-0.1"], "--human-error"),
    (["--fail-over", "bias=0.1"], "unknown 'bias'"),
    (["--fail-over", "variance"], "expected NAME=NUMBER"),
    (["--fail-over", "test_error=0.1"], "give --with-test"),
    (["--weights", "cat=1"], "no class 'cat'"),
    (["--threshold", "0.3"], "single sigmoid output"),
    (["--group-by", "region"], "CSV source"),
    (["--checkpoint", "worst"], "--checkpoint"),
    (["--set", "train.epochs=2"], "--learning-curve"),
    (["--learning-curve", "0.5,1"], "trains a SPEC file"),
])
def test_diagnose_bad_input_exits_2_in_one_line(trained_run, args, message):
    assert message in one_line_error(invoke("diagnose", trained_run, *args, expect=2).stderr)


def test_diagnose_names_the_missing_split(trained_run, tmp_path):
    assert "data.split.train_dev" in one_line_error(invoke("diagnose", trained_run, "--fail-over", "data_mismatch=0.1", expect=2).stderr)
    no_dev = TINY_SPEC.replace("{train: 0.6, dev: 0.2, test: 0.2}", "{train: 0.8, dev: 0, test: 0.2}") + "checkpoint: {monitor: train_cost}\n"
    run = train_run(write_spec(tmp_path, no_dev), tmp_path / "runs")
    line = one_line_error(invoke("diagnose", run, expect=2).stderr)
    assert "no dev split" in line and "data.split.dev" in line
    assert "nnctl: error:" in one_line_error(invoke("diagnose", tmp_path / "nowhere", expect=2).stderr)


def test_mismatch_run_from_two_distributions(trained_moons_run, monkeypatch):
    """train-dev from the training distribution (moons), dev from another (the same points, classes swapped):
    then dev error = 1 − train-dev error exactly, so the data mismatch is known: 1 − 2·e_td."""
    x, y = make_generated("moons", 200, 0.1, 2, np.random.default_rng(99))
    same = Dataset(x, y.astype(np.int64), np.arange(200))
    swapped = Dataset(x, 1 - y.astype(np.int64), np.arange(200))

    def splits(model, split, *loaded):
        return {"train_dev": same, "dev": swapped}.get(split) or split_data(model, split, *loaded)

    monkeypatch.setattr(diagnosis_module, "split_data", splits)
    report = invoke_json("diagnose", trained_moons_run, "--human-error", "0")
    model = load_model(trained_moons_run)
    pred = (model.net.predict(model.normalizer.apply(x, dtype=model.net.dtype))[:, 0] >= 0.5).astype(int)
    e_td = float(np.mean(pred != y))
    assert report["levels"]["train_dev"]["error"] == e_td
    assert report["gaps"]["data_mismatch"]["value"] == pytest.approx(1 - 2 * e_td, abs=1e-15)
    assert report["problems"][0] == "data_mismatch" and "data mismatch" in report["verdict"]
    assert report["remedies"][0]["key"] == "nnctl errors RUN --split dev"


def test_diagnose_weighted_error(trained_moons_run):
    report = invoke_json("diagnose", trained_moons_run, "--weights", "1=10")
    assert report["metric"] == "weighted_error"
    y, pred, _, _ = predictions(trained_moons_run, "dev")
    w = np.where(y == 1, 10.0, 1.0)
    assert report["levels"]["dev"]["error"] == pytest.approx(float(w @ (y != pred) / w.sum()), abs=1e-15)
    assert report["levels"]["dev"]["effective_examples"] == pytest.approx(w.sum() ** 2 / (w @ w))


# ---------------------------------------------------------------- learning curve


def test_learning_curve_runs_share_dev_rows_and_nest_train_rows(tmp_path, tiny_spec):
    full = train_run(tiny_spec, tmp_path / "plain")
    curve = invoke_json("diagnose", tiny_spec, "--learning-curve", "0.25,0.5,1", "--runs-dir", tmp_path / "runs",
                        "--human-error", "0.01")
    folder = Path(curve["folder"])
    assert folder.parent == tmp_path / "runs" and folder.name.startswith("tiny-curve-")
    assert json.loads((folder / "curve.json").read_text()) == curve
    points = curve["points"]
    assert [p["fraction"] for p in points] == [0.25, 0.5, 1.0] and [p["train_examples"] for p in points] == [45, 90, 180]
    models = [load_model(Path(p["run"])) for p in points]
    devs = [split_data(m, "dev").rows for m in models]
    trains = [set(split_data(m, "train").rows) for m in models]
    assert all(np.array_equal(devs[0], d) for d in devs)
    assert trains[0] < trains[1] < trains[2]
    y, pred, _, _ = predictions(full, "dev")  # the full share is the ordinary run: same seeds, same numbers
    assert points[-1]["dev_error"] == float(np.mean(y != pred))
    for p in points:
        y, pred, _, _ = predictions(Path(p["run"]), "train")
        assert p["train_error"] == float(np.mean(y != pred)) and len(y) == p["train_examples"]
    assert curve["reading"]


def test_learning_curve_bad_input(tmp_path, tiny_spec):
    for fractions in ("1,0.5", "0.5,2", "x"):
        result = invoke("diagnose", tiny_spec, "--learning-curve", fractions, "--runs-dir", tmp_path / "runs", expect=2)
        assert "--learning-curve" in one_line_error(result.stderr)
    assert not (tmp_path / "runs").exists()  # nothing written


# ---------------------------------------------------------------- errors and tally


def test_errors_sheet_holds_misclassified_rows(trained_run, tmp_path, read_splits):
    out = tmp_path / "errors.csv"
    summary = invoke_json("errors", trained_run, "--out", out, "--limit", "5", "--seed", "3")
    assert read_splits == ["dev"]
    y, pred, probs, rows = predictions(trained_run, "dev")
    assert summary["errors"] == int(np.sum(y != pred)) and summary["sampled"] == min(5, summary["errors"])
    with open(out, newline="") as f:
        sheet = list(csv.DictReader(f))
    assert [int(r["row"]) for r in sheet] == sorted(int(r["row"]) for r in sheet) == [r["row"] for r in summary["rows"]]
    position = {int(row): i for i, row in enumerate(rows)}
    for record in sheet:
        i = position[int(record["row"])]
        assert pred[i] != y[i] and record["true"] == str(y[i]) and record["predicted"] == str(pred[i])
        p = np.array([float(record[f"p_{c}"]) for c in range(10)])
        assert p == pytest.approx(probs[i], abs=1e-6)
        assert float(record["margin"]) == pytest.approx(probs[i, pred[i]] - probs[i, y[i]], abs=2e-6)
        assert record["tags"] == "" and record["comment"] == ""
    again = invoke_json("errors", trained_run, "--limit", "5", "--seed", "3")
    assert again["rows"] == summary["rows"]  # seeded
    assert len(invoke_json("errors", trained_run, "--limit", "1000")["rows"]) == summary["errors"]


def test_errors_images_are_pngs_of_the_inputs(trained_run, tmp_path):
    summary = invoke_json("errors", trained_run, "--images", tmp_path / "img", "--limit", "3")
    for row in summary["rows"]:
        data = (tmp_path / "img" / row["image"]).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        assert int.from_bytes(data[16:20], "big") == 64 and int.from_bytes(data[20:24], "big") == 64  # 8x8 digits, 8x


def test_errors_tally_counts_tags_and_ceilings(trained_run, tmp_path):
    out = tmp_path / "errors.csv"
    summary = invoke_json("errors", trained_run, "--out", out, "--limit", "4")
    with open(out, newline="") as f:
        reader = csv.DictReader(f)
        columns, sheet = reader.fieldnames, list(reader)
    assert len(sheet) == 4
    for record, tags in zip(sheet, ["blurry, thin", "blurry", "", "thin,blurry,blurry"]):
        record["tags"] = tags
    with open(out, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(sheet)
    result = invoke_json("errors", "tally", out)
    e = summary["error"]
    assert result["error"] == e and result["sampled"] == 4 and result["untagged"] == 1
    assert [(c["tag"], c["count"]) for c in result["categories"]] == [("blurry", 3), ("thin", 2)]
    blurry = result["categories"][0]
    assert blurry["share"] == 0.75 and blurry["ceiling"] == 0.75 * e and blurry["error_after"] == e - 0.75 * e
    y, pred, _, _ = predictions(trained_run, "dev")
    pairs = {(p["true"], p["predicted"]): p["count"] for p in result["confusion_pairs"]}
    wrong = y != pred
    assert sum(pairs.values()) == int(wrong.sum())
    for (t, p), n in pairs.items():
        assert n == int(np.sum((y == int(t)) & (pred == int(p))))
    counts = [p["count"] for p in result["confusion_pairs"]]
    assert counts == sorted(counts, reverse=True)
    assert "error at best" in invoke("errors", "tally", out).stdout


def test_errors_tally_bad_files(trained_run, tmp_path):
    out = tmp_path / "errors.csv"
    invoke("errors", trained_run, "--out", out, "--limit", "3")
    lines = out.read_text().splitlines()
    wrong_row = tmp_path / "wrong.csv"
    fields = lines[1].split(",")
    fields[lines[0].split(",").index("row")] = "999999"
    wrong_row.write_text("\n".join([lines[0], ",".join(fields)]) + "\n")
    assert "wrong.csv:2: row 999999 is not a misclassified dev example" in one_line_error(
        invoke("errors", "tally", wrong_row, expect=2).stderr)
    no_tags = tmp_path / "notags.csv"
    no_tags.write_text("\n".join(line.rsplit(",", 2)[0] for line in lines) + "\n")
    assert "missing column tags" in one_line_error(invoke("errors", "tally", no_tags, expect=2).stderr)
    assert "no such file" in one_line_error(invoke("errors", "tally", tmp_path / "none.csv", expect=2).stderr)
    assert "give the tagged CSV" in one_line_error(invoke("errors", "tally", expect=2).stderr)


def test_errors_bad_options(trained_run, trained_moons_run, tmp_path):
    assert "--split" in one_line_error(invoke("errors", trained_run, "--split", "valid", expect=2).stderr)
    assert "--limit" in one_line_error(invoke("errors", trained_run, "--limit", "0", expect=2).stderr)
    assert "not images" in one_line_error(invoke("errors", trained_moons_run, "--images", tmp_path / "i", expect=2).stderr)
    assert "does not exist" in one_line_error(invoke("errors", trained_run, "--out", tmp_path / "a" / "b.csv", expect=2).stderr)


# ---------------------------------------------------------------- eval extras and select


def test_eval_two_class_extras(trained_moons_run):
    y, pred, out, _ = predictions(trained_moons_run, "dev")
    result = invoke_json("eval", trained_moons_run, "--split", "dev")
    m = result["metrics"]
    negatives, positives = y == 0, y == 1
    assert m["fpr"] == np.sum(pred[negatives] == 1) / negatives.sum()
    assert m["fnr"] == np.sum(pred[positives] == 0) / positives.sum()
    pairs = [(1.0 if p > n else 0.5 if p == n else 0.0) for p in out[positives, 0] for n in out[negatives, 0]]
    assert m["roc_auc"] == pytest.approx(np.mean(pairs), abs=1e-12)
    strict = invoke_json("eval", trained_moons_run, "--split", "dev", "--threshold", "0.9")
    _, pred9, _, _ = predictions(trained_moons_run, "dev", threshold=0.9)
    assert strict["metrics"]["accuracy"] == float(np.mean(pred9 == y)) and strict["threshold"] == 0.9
    assert strict["metrics"]["fpr"] <= m["fpr"] and strict["metrics"]["fnr"] >= m["fnr"]
    assert strict["metrics"]["roc_auc"] == m["roc_auc"]


def test_eval_weights_and_latency_are_recorded(trained_moons_run):
    result = invoke_json("eval", trained_moons_run, "--split", "dev", "--weights", "0=1,1=10")
    y, pred, _, _ = predictions(trained_moons_run, "dev")
    w = np.where(y == 1, 10.0, 1.0)
    assert result["metrics"]["weighted_error"] == float(w @ (y != pred) / w.sum())
    assert result["predict_ms"] > 0
    record = json.loads((trained_moons_run / "eval.json").read_text())["checkpoints"]["best.h5"]
    assert record["splits"]["dev"]["metrics"] == result["metrics"] and record["predict_ms"] == result["predict_ms"]
    assert record["splits"]["dev"]["weights"] == {"0": 1.0, "1": 10.0}


@pytest.mark.parametrize("args, message", [
    (["--threshold", "0.5"], "single sigmoid output"),
    (["--weights", "7=2,dog=1"], "no class 'dog'"),
    (["--weights", "7"], "--weights"),
    (["--fail-over", "fpr=0.1"], "unknown metric 'fpr'"),
])
def test_eval_bad_single_number_options(trained_run, args, message):
    assert message in one_line_error(invoke("eval", trained_run, "--split", "dev", *args, expect=2).stderr)


def test_group_metrics_from_a_csv_column(tmp_path):
    """The group column (text here) is ignored as an input (ignore_columns) and read back for the groups."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(240, 2))
    names = np.array(["east", "north", "south"])
    region = rng.integers(0, 3, 240)
    label = (x[:, 0] + 0.3 * rng.normal(size=240) > 0).astype(int)
    rows = [f"{a:.6f},{b:.6f},{names[g]},{y}" for (a, b), g, y in zip(x, region, label)]
    path = tmp_path / "regions.csv"
    path.write_text("a,b,region,label\n" + "\n".join(rows) + "\n")
    spec = MOONS_SPEC.replace("source: {type: generated, name: moons, samples: 200, noise: 0.1}",
                              f"source: {{type: csv, path: '{path}', label_column: label, ignore_columns: [region]}}")
    run = train_run(write_spec(tmp_path, spec + "strategy: {group_by: region}\n"), tmp_path / "runs")
    assert load_model(run).net.input_shape == (2,)  # a and b only
    result = invoke_json("eval", run, "--split", "dev")  # the spec's strategy.group_by
    y, pred, _, dev_rows = predictions(run, "dev")
    expected = {names[g]: float(np.mean((y != pred)[region[dev_rows] == g])) for g in range(3)}
    assert {g: v["error"] for g, v in result["groups"].items()} == expected
    assert result["metrics"]["group_mean_error"] == pytest.approx(np.mean(list(expected.values())), abs=1e-15)
    report = invoke_json("diagnose", run, "--group-by", "2")  # by column number as well
    assert {g: v["error"] for g, v in report["splits"]["dev"]["groups"].items()} == expected
    assert "--group-by: no column named 'zone'" in one_line_error(invoke("eval", run, "--split", "dev", "--group-by", "zone", expect=2).stderr)
    other = tmp_path / "other.csv"
    other.write_text("a,b,region,label\n" + "\n".join(rows[:50]) + "\n")
    outside = invoke_json("eval", run, "--data", other, "--source-yaml", "{label_column: label, ignore_columns: [region]}")
    assert outside["groups"] == {} and "group_mean_error" not in outside["metrics"] and outside["examples"] == 50
    assert "--data" in one_line_error(invoke("eval", run, "--data", other, "--group-by", "region", expect=2).stderr)


def test_select_satisficing_and_optimizing(tmp_path, tiny_spec, read_splits):
    weak = train_run(tiny_spec, tmp_path / "runs", "train.epochs=1")
    strong = train_run(tiny_spec, tmp_path / "runs", "train.epochs=6")
    result = invoke_json("select", weak, strong, "--optimize", "dev_accuracy", "--satisfy", "predict_ms<=1000")
    assert set(read_splits) == {"dev"}  # select evaluates unrecorded runs on dev only
    accuracy = {}
    for run in (weak, strong):
        y, pred, _, _ = predictions(run, "dev")
        accuracy[str(run)] = float(np.mean(y == pred))
    best = max(accuracy, key=accuracy.get)
    assert result["chosen"] == best and [r["run"] for r in result["ranked"]][0] == best
    assert all((Path(run) / "eval.json").exists() for run in (weak, strong))
    by_error = invoke_json("select", weak, strong, "--optimize", "dev_error")
    assert by_error["chosen"] == best and by_error["higher_is_better"] is False
    bar = f"dev_accuracy>={max(accuracy.values()) + 0.01}"
    none = invoke("select", weak, strong, "--optimize", "dev_accuracy", "--satisfy", bar, expect=1)
    assert "no run meets every bar" in one_line_error(none.stderr)
    assert "misses" in none.stdout
    excluded = invoke_json("select", weak, strong, "--optimize", "dev_error", "--satisfy", f"dev_accuracy<{max(accuracy.values())}")
    assert excluded["chosen"] != best and not [r for r in excluded["ranked"] if r["run"] == best][0]["qualifies"]


@pytest.mark.parametrize("args, message", [
    (["--optimize", "dev_speed"], "--optimize dev_speed: no run reports this metric"),
    (["--optimize", "dev_accuracy", "--satisfy", "dev_fpr<=0.01"], "--satisfy dev_fpr"),
    (["--optimize", "dev_accuracy", "--satisfy", "predict_ms=3"], "expected METRIC<=NUMBER"),
])
def test_select_bad_input(trained_run, args, message):
    assert message in one_line_error(invoke("select", trained_run, *args, expect=2).stderr)


def test_strategy_spec_keys_are_checked_where_they_are_written(tmp_path):
    spec = write_spec(tmp_path, TINY_SPEC + "strategy:\n  human_error: 1.5\n")
    line = one_line_error(invoke("spec", "check", spec, expect=2).stderr)
    assert f"{spec}:" in line and "strategy.human_error" in line
    spec = write_spec(tmp_path, TINY_SPEC + "strategy:\n  train_fraction: 0\n")
    assert "strategy.train_fraction" in one_line_error(invoke("spec", "check", spec, expect=2).stderr)


def test_errors_at_a_threshold_and_their_tally(trained_moons_run, tmp_path):
    out = tmp_path / "moons.csv"
    summary = invoke_json("errors", trained_moons_run, "--threshold", "0.9", "--out", out)
    y, pred, out9, rows = predictions(trained_moons_run, "dev", threshold=0.9)
    assert sorted(r["row"] for r in summary["rows"]) == sorted(int(r) for r in rows[pred != y])
    first = summary["rows"][0]
    assert first["threshold"] == 0.9 and first["p_1"] == pytest.approx(out9[list(rows).index(first["row"]), 0], abs=1e-6)
    assert invoke_json("errors", "tally", out)["errors"] == int(np.sum(pred != y))  # re-derived at the same threshold


def test_eval_record_is_dropped_when_the_checkpoint_changes(tmp_path, tiny_spec):
    run = train_run(tiny_spec, tmp_path / "runs")
    invoke_json("eval", run, "--split", "dev")
    best = run / "best.h5"
    assert records.recorded(run, best)["splits"]["dev"]["examples"] == 60
    stat = best.stat()
    os.utime(best, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # as a resumed run rewriting best.h5 would
    assert records.recorded(run, best) == {"splits": {}}
    invoke_json("select", run, "--optimize", "dev_accuracy")  # measures again rather than trust stale numbers
    assert records.recorded(run, best)["mtime_ns"] == stat.st_mtime_ns + 10**9
    (run / "eval.json").write_text("{not json")
    assert "eval.json: unreadable evaluation record" in one_line_error(invoke("select", run, "--optimize", "dev_accuracy", expect=2).stderr)


def test_diagnose_reports_corrected_labels(tmp_path):
    spec_path = write_spec(tmp_path, TINY_SPEC)
    splits = load_splits(load_spec(spec_path).data, 7, tmp_path)
    picked = [(splits.dev, 3), (splits.test, 2), (splits.train, 4)]
    # each listed row gets another class than its own, so every line is a real correction
    (tmp_path / "fixes.csv").write_text("".join(f"{int(data.rows[i])},{(int(data.y[i]) + 1) % 10}\n" for data, n in picked for i in range(n)))
    relabelled = TINY_SPEC.replace("  limit: 300\n", "  limit: 300\n  relabel: fixes.csv\n")
    run = train_run(write_spec(tmp_path, relabelled, "relabel.yaml"), tmp_path / "runs")
    report = invoke_json("diagnose", run)
    assert report["labels_corrected"] == {"dev": 3, "test": 2}  # train rows are left as they are (relabel.train: false)
    assert "labels corrected by data.relabel: 3 in dev, 2 in test" in report["notes"]
    assert invoke_json("diagnose", train_run(spec_path, tmp_path / "plain"))["labels_corrected"] is None


def test_diagnose_data_mismatch_of_two_generated_distributions(tmp_path, read_splits):
    run = train_run(write_spec(tmp_path, MISMATCH), tmp_path / "runs")  # web moons to train, noisy app moons as target
    report = invoke_json("diagnose", run, "--checkpoint", "latest", "--human-error", "0")
    assert read_splits == ["train", "train_dev", "dev"]
    errors = {split: invoke_json("eval", run, "--split", split, "--checkpoint", "latest")["metrics"]["error"]
              for split in ("train", "train_dev", "dev")}
    # eval's error is 1 − accuracy, diagnose's the mean of the mistakes: equal to the last bit or two
    assert {s: report["levels"][s]["error"] for s in errors} == pytest.approx(errors, abs=1e-15)
    levels = {s: report["levels"][s]["error"] for s in errors}
    gaps = {name: gap["value"] for name, gap in report["gaps"].items()}
    assert gaps == {"avoidable_bias": levels["train"], "variance": levels["train_dev"] - levels["train"],
                    "data_mismatch": levels["dev"] - levels["train_dev"]}
    assert report["problems"][0] == "data_mismatch" and report["verdict"].startswith("high data mismatch")
    assert [r["gap"] for r in report["remedies"]][:3] == ["data_mismatch"] * 3
    # rows of two sources: the sheet names each row's part, and the tally matches (part, row) pairs
    sheet = invoke_json("errors", run, "--split", "train", "--limit", "1000", "--out", tmp_path / "e.csv")
    y, pred, _, rows = predictions(run, "train")
    model = load_model(run)
    parts = split_data(model, "train").parts()
    wrong = {(int(p), int(r)) for p, r in zip(parts[pred != y], rows[pred != y])}
    assert {(r["part"], r["row"]) for r in sheet["rows"]} == wrong
    assert invoke_json("errors", "tally", tmp_path / "e.csv")["sampled"] == len(wrong)
