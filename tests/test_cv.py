"""k-fold cross-validation (issue 22): the folds, fold runs that never see their held-out rows, a search ranked by
mean ± SE with the one-SE rule, the refit on the whole pool, resume, `nnctl cv`, bad input."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from nnctl.data.folds import assign_folds
from nnctl.orchestration.run_data import run_splits
from nnctl.runs.checkpoint import load_checkpoint
from nnctl.runs.data_record import load_data_record
from nnctl.search.cv import chosen, combine, mean_and_se, within_one_se
from nnctl.search.record import SearchRecord, TrialRecord, load_search
from nnctl.spec import load_spec
from tests.conftest import h5_datasets, invoke, invoke_json, nnctl_cmd, one_line_error, run_nnctl, subprocess_env, write_spec

# Moons with a few noisy points: 120 rows, 72 train + 24 dev (the pool: 96) + 24 test. Standardized inputs, so the
# normalizer has statistics worth checking.
BASE = """\
name: moons
seed: 4
data:
  source: {type: generated, name: moons, samples: 120, noise: 0.25}
  split: {train: 0.6, dev: 0.2, test: 0.2}
  normalize: {method: standardize}
model:
  layers:
    - {units: 8, activation: tanh}
    - {units: 1, activation: sigmoid}
train:
  epochs: 4
  batch_size: 16
  learning_rate: 0.05
  optimizer: {name: adam}
"""
CV_SEARCH = BASE + """\
search:
  metric: dev_cost
  trials: 3
  seed: 2
  cv: {folds: 3}
  refit: true
  parameters:
    train.learning_rate: {log_uniform: [1.0e-2, 0.3]}
    model.layers[0].units: {choice: [2, 8]}
"""


def tune(spec: Path, runs: Path, *args) -> dict:
    return invoke_json("tune", spec, "--runs-dir", runs, "--quiet", "--workers", "1", *args)


def rows(run: Path, split: str) -> set[tuple[int, int]]:
    """The (part, row) pairs a run's data record holds for ``split``."""
    part, row = load_data_record(run).splits[split]
    return set(zip(part.tolist(), row.tolist()))


def pool_rows(folds: dict) -> list[tuple[int, int]]:
    return list(zip(folds["part"], folds["row"]))


@pytest.fixture(scope="module")
def cv_search(tmp_path_factory) -> tuple[Path, dict]:
    """One finished cross-validated search with a refit, shared read-only."""
    base = tmp_path_factory.mktemp("cv")
    result = tune(write_spec(base, CV_SEARCH, "search.yaml"), base / "runs")
    return Path(result["tune_dir"]), result


# ---------------------------------------------------------------- the folds


@pytest.mark.parametrize("stratify", [True, False])
def test_folds_are_disjoint_cover_the_pool_and_have_even_sizes(stratify):
    y = np.repeat([0, 1, 2], [50, 31, 19])
    folds = assign_folds(y, 7, 3, stratify, seed=11)
    assert folds.shape == (3, 100)
    for repeat in folds:
        members = [np.flatnonzero(repeat == f) for f in range(7)]
        assert sorted(np.concatenate(members).tolist()) == list(range(100))  # disjoint and covering
        sizes = [len(m) for m in members]
        assert max(sizes) - min(sizes) <= 1
        if stratify:
            for label in range(3):  # each class shared out within one row of its ideal share per fold
                counts = [int((y[m] == label).sum()) for m in members]
                assert max(counts) - min(counts) <= 1, (label, counts)
    assert not np.array_equal(folds[0], folds[1])  # each repeat deals anew
    assert np.array_equal(folds, assign_folds(y, 7, 3, stratify, seed=11))  # a function of the seed alone
    assert not np.array_equal(folds, assign_folds(y, 7, 3, stratify, seed=12))


def test_unstratified_folds_do_not_keep_class_proportions_by_construction():
    """The stratified dealing is what keeps the classes even: without it a class may bunch up."""
    y = np.repeat([0, 1], [90, 10])
    spread = [max(np.bincount(f[y == 1], minlength=5)) - min(np.bincount(f[y == 1], minlength=5))
              for f in assign_folds(y, 5, 20, False, seed=0)]
    assert max(spread) >= 2


def test_folds_need_two_to_pool_size():
    from nnctl.data.errors import DataError

    with pytest.raises(DataError, match="cannot deal 3 pool rows into 4 folds"):
        assign_folds(np.zeros(3), 4, 1, False, 0)


# ---------------------------------------------------------------- mean, SE and the one-SE rule, by hand


def test_mean_and_standard_error_by_hand():
    mean, se = mean_and_se([0.2, 0.4, 0.9])
    assert mean == pytest.approx(0.5, abs=1e-15)
    # s² = ((-.3)² + (-.1)² + .4²) / 2 = 0.13; SE = sqrt(0.13 / 3)
    assert se == pytest.approx(math.sqrt(0.13 / 3), rel=1e-14)
    assert mean_and_se([0.3]) == (0.3, None)


def test_combine_takes_the_mean_of_the_folds_and_their_mean_best_epoch():
    folds = [{"fold": f, "status": s, "value": v, "best_epoch": e, "epochs": 5, "curve": c, "seconds": 1.0, "parameters": 9,
              "satisfy": {"epoch_time": t}}
             for f, (s, v, e, c, t) in enumerate([("completed", 0.2, 2, [0.5, 0.2], 0.1),
                                                   ("early_stopping", 0.4, 3, [0.6, 0.5, 0.4], 0.3),
                                                   ("completed", 0.9, 5, [0.9], 0.2)])]
    event = combine(4, folds, {"epoch_time": "<= 0.25"})
    assert event["status"] == "early_stopping" and event["trial"] == 4
    assert event["value"] == pytest.approx(0.5) and event["se"] == pytest.approx(math.sqrt(0.13 / 3))
    assert event["best_epoch"] == 3  # round(10 / 3)
    assert event["curve"] == pytest.approx([(0.5 + 0.6 + 0.9) / 3, (0.2 + 0.5) / 2, 0.4])
    assert event["satisfy"] == {"epoch_time": pytest.approx(0.2)} and event["feasible"]
    failed = combine(4, [*folds[:2], {"fold": 2, "status": "diverged", "value": None}], {})
    assert failed["status"] == "diverged" and failed["value"] is None and "fold 2" in failed["message"]


def _record(trials: list[tuple[float, float, int]], choose: str = "one_se") -> SearchRecord:
    record = SearchRecord(Path("t"), "", "dev_cost", "minimize", "random", 0, len(trials), [], [], None, [], 5, choose)
    record.trials = [TrialRecord(i, {}, Path(f"t/{i}"), "completed", value=v, se=se, parameters=p, best_epoch=1)
                     for i, (v, se, p) in enumerate(trials)]
    return record


def test_the_one_se_rule_picks_the_fewest_parameters_within_one_se_of_the_best():
    record = _record([(0.30, 0.05, 500), (0.25, 0.04, 900), (0.28, 0.02, 100), (0.30, 0.01, 50), (0.29, 0.01, 100)])
    assert [t.index for t in within_one_se(record)] == [1, 2, 4]  # |v - 0.25| <= 0.04, the best's SE
    assert chosen(record, "best").index == 1
    assert chosen(record, "one_se").index == 2  # 100 parameters, tied with trial 4: the better mean wins


# ---------------------------------------------------------------- a cross-validated search


def test_every_trial_is_judged_on_the_recorded_folds(cv_search):
    tune_dir, result = cv_search
    folds = json.loads((tune_dir / "folds.json").read_text())
    pool = pool_rows(folds)
    assert len(pool) == 96 and len(set(pool)) == 96 and result["fold_runs"] == 3
    spec = load_spec(tune_dir / "spec.yaml")
    base_test = rows(tune_dir / "trial-0000" / "fold-0", "test")
    assert len(base_test) == 24 and not base_test & set(pool)
    for trial in result["trials"]:
        held = []
        for fold in range(3):
            run = tune_dir / f"trial-{trial['trial']:04d}" / f"fold-{fold}"
            train, dev = rows(run, "train"), rows(run, "dev")
            assert dev == {p for p, f in zip(pool, folds["fold"][0]) if f == fold}  # the same fold, every trial
            assert not train & dev and train | dev == set(pool)
            assert rows(run, "test") == base_test  # the test split never moves
            held.append(dev)
        assert set().union(*held) == set(pool)
        assert trial["value"] == pytest.approx(np.mean(trial["fold_values"]), rel=1e-12)
        assert trial["se"] == pytest.approx(np.std(trial["fold_values"], ddof=1) / math.sqrt(3), rel=1e-12)
    assert spec.search.cv.folds == 3


def test_each_fold_run_fits_its_normalizer_on_its_own_training_rows(cv_search):
    tune_dir, _ = cv_search
    spec = load_spec(tune_dir / "spec.yaml")
    pool_means = []
    for fold in range(3):
        run = tune_dir / "trial-0000" / f"fold-{fold}"
        splits = run_splits(run, spec, tune_dir)  # generated data: no files to read
        stored = load_checkpoint(run / "best.h5").normalizer
        x = splits.train.x
        assert np.allclose(stored["shift"], x.mean(axis=0), rtol=0, atol=1e-12)
        assert np.allclose(stored["divisor"], x.std(axis=0), rtol=1e-12)
        pooled = np.concatenate([x, splits.dev.x])
        assert not np.allclose(stored["shift"], pooled.mean(axis=0), rtol=0, atol=1e-6)  # the held-out rows moved it
        pool_means.append(stored["shift"])
    assert not np.allclose(pool_means[0], pool_means[1])


def test_the_refit_trains_the_chosen_trial_on_every_pool_row(cv_search, tmp_path):
    tune_dir, result = cv_search
    refit = tune_dir / "refit"
    folds = json.loads((tune_dir / "folds.json").read_text())
    assert rows(refit, "train") == set(pool_rows(folds)) and rows(refit, "dev") == set()
    assert rows(refit, "test") == rows(tune_dir / "trial-0000" / "fold-0", "test")
    best = result["chosen"]
    assert result["refit"]["trial"] == best["trial"] and result["refit"]["status"] == "completed"
    fold_epochs = [e["best_epoch"] for _, e in sorted(load_search(tune_dir).trials[best["trial"]].folds.items())]
    assert result["refit"]["epochs"] == best["best_epoch"] == max(1, round(np.mean(fold_epochs)))
    spec = load_spec(refit / "spec.yaml")
    assert spec.train.epochs == best["best_epoch"] and spec.train.early_stopping is None
    for path, value in best["params"].items():
        assert (spec.train.learning_rate if path == "train.learning_rate" else spec.model.layers[0].units) == value
    assert load_checkpoint(refit / "checkpoint.h5").epoch == best["best_epoch"]
    assert (tune_dir.parent / "latest").resolve() == refit.resolve()


def test_runs_list_shows_each_trial_mean_and_se_and_flags_those_within_one_se(cv_search):
    tune_dir, result = cv_search
    listed = {row["name"]: row for row in json.loads(invoke("runs", "list", tune_dir, "--format", "json").stdout)}
    close = set(result["within_one_se"])
    assert result["best"]["trial"] in close
    for trial in result["trials"]:
        row = listed[f"trial-{trial['trial']:04d}"]
        assert row["best"] == trial["value"] and row["se"] == trial["se"] and row["folds"] == 3
        assert row["within_1se"] == (trial["trial"] in close)
        best = result["best"]
        assert row["within_1se"] == (abs(trial["value"] - best["value"]) <= best["se"])


def test_the_search_report_shows_mean_se_the_flag_and_the_refit(cv_search, tmp_path):
    pytest.importorskip("matplotlib")
    tune_dir, result = cv_search
    out = tmp_path / "report.html"
    invoke("report", tune_dir, "--out", out)
    page = out.read_text()
    best = result["best"]
    assert f"{best['value']:.6g} ± {best['se']:.2g}" in page
    assert "within one SE of the best" in page and "refit" in page and "3 folds × 1 repeat" in page


@pytest.mark.slow
def test_a_cross_validated_search_killed_midway_resumes_on_the_same_folds(tmp_path):
    spec = write_spec(tmp_path, CV_SEARCH.replace("epochs: 4", "epochs: 30").replace("trials: 3", "trials: 4"))
    whole = tune(spec, tmp_path / "whole")
    runs = tmp_path / "cut"
    proc = subprocess.Popen(nnctl_cmd("tune", spec, "--runs-dir", runs, "--workers", "1"), env=subprocess_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (list(runs.glob("*/trial-0001/fold-1/checkpoint.h5"))):
        time.sleep(0.005)
    os.killpg(proc.pid, signal.SIGINT)
    proc.communicate(timeout=120)
    assert proc.returncode == 130
    tune_dir = next(runs.glob("*"))
    folds_before = (tune_dir / "folds.json").read_bytes()
    cut = load_search(tune_dir)
    assert "interrupted" in {t.status for t in cut.trials} and not (tune_dir / "refit").exists()
    resumed = invoke_json("tune", "--resume", tune_dir, "--workers", "1", "--quiet")
    assert resumed["completed"] and resumed["counts"] == {"completed": 4}
    assert (tune_dir / "folds.json").read_bytes() == folds_before == (Path(whole["tune_dir"]) / "folds.json").read_bytes()
    for a, b in zip(resumed["trials"], whole["trials"]):
        assert (a["params"], a["value"], a["se"], a["fold_values"]) == (b["params"], b["value"], b["se"], b["fold_values"])
        for fold in range(3):
            mine, theirs = (Path(r["run"]) / f"fold-{fold}" for r in (a, b))
            assert load_data_record(mine).splits["dev"][1].tolist() == load_data_record(theirs).splits["dev"][1].tolist()
    assert resumed["refit"]["trial"] == whole["refit"]["trial"]
    arrays = [h5_datasets(Path(r["tune_dir"]) / "refit" / "checkpoint.h5") for r in (resumed, whole)]
    assert all(np.array_equal(arrays[0][k], arrays[1][k]) for k in arrays[0] if k.startswith("params/"))


# ---------------------------------------------------------------- `nnctl cv`


def test_nnctl_cv_prints_mean_and_spread_of_every_metric(tmp_path):
    spec = write_spec(tmp_path, BASE, "moons.yaml")
    result = invoke_json("cv", spec, "--folds", "4", "--runs-dir", tmp_path / "runs", "--quiet", "--workers", "1")
    assert result["folds"] == 4 and result["pool_rows"] == 96 and result["completed"]
    cv_dir = Path(result["cv_dir"])
    for name in ("dev_cost", "dev_accuracy", "train_cost", "best_epoch"):
        spread = result["metrics"][name]
        values = spread["values"]
        assert len(values) == 4
        assert spread["mean"] == pytest.approx(np.mean(values), rel=1e-12)
        assert spread["sd"] == pytest.approx(np.std(values, ddof=1), rel=1e-12)
        assert spread["se"] == pytest.approx(np.std(values, ddof=1) / 2, rel=1e-12)
    for fold, event in enumerate(result["fold_runs"]):  # each fold run's dev_cost at its best epoch is its value
        assert result["metrics"]["dev_cost"]["values"][fold] == pytest.approx(event["value"], rel=1e-12)
        assert len(rows(cv_dir / f"fold-{fold}", "dev")) == 24
    table = run_nnctl("cv", "--resume", cv_dir, "--workers", "1")  # finished: only read again
    assert table.returncode == 0, table.stderr
    assert "dev_cost" in table.stdout and "SE" in table.stdout and "4 of 4 fold runs" in table.stdout


BAD = [
    (["--folds", "1"], "--folds 1 --repeats 1: need at least 2 folds and 1 repeat"),
    (["--folds", "97"], "cannot deal 96 pool rows into 97 folds"),
]


@pytest.mark.parametrize("args, message", BAD)
def test_nnctl_cv_refuses_bad_folds_on_one_line(tmp_path, args, message):
    spec = write_spec(tmp_path, BASE, "moons.yaml")
    result = run_nnctl("cv", spec, *args, "--runs-dir", tmp_path / "runs")
    assert result.returncode == 2 and message in one_line_error(result.stderr)
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())


BAD_SEARCHES = [
    (CV_SEARCH.replace("  refit: true\n", "  prune: {after_epochs: 2}\n"), "prune and cv"),
    (CV_SEARCH.replace("    model.layers[0].units: {choice: [2, 8]}\n", "    data.split.seed: {choice: [1, 2]}\n"),
     "search.parameters.data.split.seed: with cv every trial is judged on the same folds"),
    (CV_SEARCH.replace("cv: {folds: 3}", "cv: {folds: 3, choose: simplest}"), "search.cv.choose"),
    (CV_SEARCH.replace("  normalize: {method: standardize}\n", "  normalize: {method: standardize}\n  missing: {strategy: mean}\n"),
     "data.missing: is fitted on the training split before the folds are dealt"),
]


@pytest.mark.parametrize("text, message", BAD_SEARCHES)
def test_bad_cv_searches_fail_on_one_line_before_anything_runs(tmp_path, text, message):
    spec = write_spec(tmp_path, text, "tune.yaml")
    result = run_nnctl("tune", spec, "--runs-dir", tmp_path / "runs")
    assert result.returncode == 2 and message in one_line_error(result.stderr)
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())


def test_the_test_split_is_evaluated_on_request_and_only_once(cv_search):
    tune_dir, result = cv_search
    assert result["test"] is None  # never without --test
    first = invoke_json("tune", "--resume", tune_dir, "--test", "--quiet", "--workers", "1")
    assert first["test"]["run"] == "refit" and first["test"]["examples"] == 24
    again = invoke("tune", "--resume", tune_dir, "--test", "--quiet", "--workers", "1", "--json")
    assert json.loads(again.stdout)["test"] == first["test"]
    assert "evaluated once already" in again.stderr
    events = [json.loads(line) for line in (tune_dir / "trials.jsonl").read_text().splitlines()]
    assert [e["event"] for e in events].count("test") == 1
    evaluated = invoke_json("eval", tune_dir / "refit", "--split", "test")
    assert evaluated["metrics"] == pytest.approx(first["test"]["metrics"], rel=1e-12)


# ---------------------------------------------------------------- does it choose better? (bench/cv_selection.py: 10 seeds)

SELECTION = """\
name: pick
seed: {seed}
data:
  source: {{type: generated, name: moons, samples: 660, noise: 0.35}}
  split: {{train: 48, dev: 12, test: 600}}
  normalize: {{method: standardize}}
model:
  layers:
    - {{units: 8, activation: tanh}}
    - {{units: 1, activation: sigmoid}}
train: {{epochs: 30, batch_size: 16, learning_rate: 0.01, optimizer: {{name: adam}}}}
checkpoint: {{monitor: dev_cost}}
search:
  metric: dev_cost
  trials: 6
  seed: {seed}
  refit: true
  parameters:
    train.learning_rate: {{log_uniform: [1.0e-3, 0.3]}}
    regularization.l2: {{log_uniform: [1.0e-3, 3]}}
    model.layers[0].units: {{choice: [1, 2, 8, 32]}}
"""


@pytest.mark.slow
def test_cross_validated_selection_is_at_least_as_good_on_held_out_rows_in_most_seeds(tmp_path):
    """60 pool rows: a 12-row dev split against 4 folds, both choices refit on the same 60 rows, scored on 600 test rows."""
    seeds, wins = (0, 1, 2), 0
    for seed in seeds:
        text = SELECTION.format(seed=seed)
        single = tune(write_spec(tmp_path, text, f"dev-{seed}.yaml"), tmp_path / "dev")
        folded = tune(write_spec(tmp_path, text.replace("  refit: true\n", "  refit: true\n  cv: {folds: 4}\n"),
                                 f"cv-{seed}.yaml"), tmp_path / "cv")
        scores = [invoke_json("eval", Path(r["tune_dir"]) / "refit", "--split", "test")["metrics"]["accuracy"]
                  for r in (single, folded)]
        wins += scores[1] >= scores[0]
    assert wins >= 2, f"cv's choice was at least as good in {wins} of {len(seeds)} seeds"


def test_a_fold_whose_training_rows_hold_one_class_is_refused_like_a_training_split(tmp_path):
    (tmp_path / "odd.csv").write_text("a,b,label\n" + "".join(f"{i},{i % 3},{'y' if i == 9 else 'x'}\n" for i in range(10)))
    spec = write_spec(tmp_path, """\
name: odd
data: {source: {type: csv, path: odd.csv, label_column: label}, split: {train: 0.8, dev: 0.2, test: 0.0}}
model: {layers: [{units: 2, activation: softmax}]}
train: {epochs: 1, batch_size: 4, learning_rate: 0.1}
""")
    result = invoke_json("cv", spec, "--folds", "2", "--runs-dir", tmp_path / "runs", "--quiet", "--workers", "1", expect=None)
    failed = [event for event in result["fold_runs"] if event["status"] == "failed"]
    assert len(failed) == 1 and "the training split holds one class only ('x')" in failed[0]["message"], result["fold_runs"]
