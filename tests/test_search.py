"""`nnctl tune`: sampling scales, determinism, the tune directory, resume, refine, pruning, TPE, bad input."""

from __future__ import annotations

import itertools
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml

from nnctl.search.plan import load_plan, yaml_value
from nnctl.search.record import TRIALS_FILE, load_search
from nnctl.search.refine import refine_distribution
from nnctl.search.space import Distribution, Space
from nnctl.search.trial import TrialTask, median_says_prune
from nnctl.spec.schema.search import SearchSpec
from tests.conftest import TINY_SPEC, h5_datasets, invoke, invoke_json, nnctl_cmd, one_line_error, run_nnctl, subprocess_env, write_spec

# The shared tiny digits spec (batch norm, dropout, Adam) with a search over learning rate and L2.
TUNE_SPEC = TINY_SPEC.replace("epochs: 4", "epochs: 3") + """\
search:
  metric: dev_error
  trials: 4
  seed: 3
  parameters:
    train.learning_rate: {log_uniform: [1.0e-4, 1.0]}
    regularization.l2: {log_uniform: [1.0e-3, 10]}
"""


def space(parameters: dict, **search) -> Space:
    return Space(SearchSpec.model_validate({"parameters": parameters, **search}))


def draws(dist: dict, n: int = 20000, seed: int = 0) -> np.ndarray:
    s = space({"x": dist}, seed=seed)
    return np.array([s.trial(i)["x"] for i in range(n)], dtype=float)


def tune_json(spec: Path, *args) -> dict:
    return invoke_json("tune", spec, *args, "--quiet")


# ---------------------------------------------------------------- sampling on the right scale


def test_uniform_on_the_notes_range_spends_90_percent_above_a_tenth():
    x = draws({"uniform": [1e-4, 1.0]})
    assert x.min() >= 1e-4 and x.max() < 1.0
    share = np.mean(x >= 0.1)
    assert abs(share - (1 - 0.1) / (1 - 1e-4)) < 0.01  # 0.90009: the notes' "about 90 %"


def test_log_uniform_puts_a_quarter_in_each_decade():
    x = draws({"log_uniform": [1e-4, 1.0]})
    assert x.min() >= 1e-4 and x.max() < 1.0
    decades = np.histogram(np.log10(x), bins=[-4, -3, -2, -1, 0])[0] / len(x)
    assert np.allclose(decades, 0.25, atol=0.01), decades


def test_one_minus_log_uniform_samples_one_minus_beta_per_decade():
    beta = draws({"one_minus_log_uniform": [0.9, 0.999]})
    assert beta.min() > 0.9 and beta.max() <= 0.999  # documented ends: (lo, hi]
    decades = np.histogram(np.log10(1 - beta), bins=[-3, -2, -1])[0] / len(beta)
    assert np.allclose(decades, 0.5, atol=0.015), decades  # 1 - β in [0.001, 0.01) and [0.01, 0.1): half each
    assert abs(np.mean(beta > 0.99) - 0.5) < 0.015  # uniform sampling of β would put only ~9 % there


def test_int_uniform_is_inclusive_and_even():
    x = draws({"int_uniform": [50, 100]}, n=51000)
    assert x.min() == 50 and x.max() == 100
    counts = np.bincount(x.astype(int) - 50)
    assert len(counts) == 51 and abs(counts / len(x) - 1 / 51).max() < 0.003


def test_int_log_uniform_is_inclusive_and_log_spaced():
    x = draws({"int_log_uniform": [1, 1000]})
    assert x.min() == 1 and x.max() <= 1000 and np.all(x == np.round(x))
    # log-uniform over [1, 1001): P(x < 10) = log(10)/log(1001) ≈ 1/3
    assert abs(np.mean(x < 10) - math.log(10) / math.log(1001)) < 0.01


def test_choice_is_even():
    x = space({"b": {"choice": [64, 128, 256, 512]}})
    values = [x.trial(i)["b"] for i in range(8000)]
    assert {v: values.count(v) / 8000 for v in (64, 128, 256, 512)} == pytest.approx({64: 0.25, 128: 0.25, 256: 0.25, 512: 0.25},
                                                                                    abs=0.02)


def test_log_uniform_is_ten_to_a_uniform_exponent():
    d = Distribution("a", "log_uniform", 1e-4, 1.0)
    assert d.from_unit(0.0) == pytest.approx(1e-4, rel=1e-15)
    assert d.from_unit(0.25) == pytest.approx(1e-3, rel=1e-14)  # r = -4 + 4u
    assert d.from_unit(0.5) == pytest.approx(1e-2, rel=1e-14)
    beta = Distribution("b", "one_minus_log_uniform", 0.9, 0.999)
    assert beta.from_unit(0.5) == pytest.approx(1 - 10 ** -2, rel=1e-15)  # r ∈ [-3, -1), β = 1 - 10^r


def test_trial_values_depend_on_seed_and_index_alone():
    params = {"lr": {"log_uniform": [1e-4, 1]}, "units": {"int_uniform": [50, 100]}}
    a, b = space(params, seed=5), space({"units": params["units"], "lr": params["lr"], "extra": {"uniform": [0, 1]}}, seed=5)
    forward = [a.trial(i) for i in range(10)]
    backward = [a.trial(i) for i in reversed(range(10))][::-1]
    assert forward == backward
    assert all(b.trial(i)["lr"] == forward[i]["lr"] and b.trial(i)["units"] == forward[i]["units"] for i in range(10))
    assert space(params, seed=6).trial(0) != forward[0]


def test_grid_covers_every_combination_in_a_seeded_order():
    s = space({"a": {"choice": ["x", "y"]}, "b": {"log_uniform": [1e-3, 1e-1]}, "c": {"int_uniform": [2, 4]}},
              method="grid", grid_points=3)
    points = [s.trial(i) for i in range(s.grid_size)]
    assert s.grid_size == 2 * 3 * 3
    assert sorted({p["b"] for p in points}) == pytest.approx([1e-3, 1e-2, 1e-1])
    assert len({json.dumps(p, sort_keys=True) for p in points}) == 18


def test_grid_order_is_the_shuffled_product_a_resumed_search_recorded():
    """Combinations are decoded from their numbers now, in the order the full itertools.product list gave."""
    s = space({"a": {"choice": ["x", "y"]}, "b": {"log_uniform": [1e-3, 1e-1]}, "c": {"int_uniform": [2, 4]}},
              method="grid", grid_points=3, seed=5)
    listed = [dict(zip("abc", values)) for values in itertools.product(["x", "y"], s.distributions[1].grid(3), [2, 3, 4])]
    order = np.random.default_rng([5, len(listed)]).permutation(len(listed))
    assert [s.trial(i) for i in range(s.grid_size)] == [listed[i] for i in order]


def test_a_grid_too_large_to_run_is_refused_by_spec_check_with_its_count(tmp_path):
    spec = write_spec(tmp_path, TUNE_SPEC)
    line = one_line_error(invoke("spec", "check", spec, "--set", "search.method=grid", "--set", "search.grid_points=1000000",
                                 expect=2).stderr)
    assert ": search.parameters: the grid has " in line and "combinations" in line and "at most 10,000" in line
    assert "grid_points: 1,000,000" in line
    line = one_line_error(invoke("spec", "check", spec, "--set", "search.method=grid", "--set", "search.grid_points=2",
                                 "--set", "search.trials=1000", expect=2).stderr)
    assert ": search.parameters: the grid has only " in line and "fewer than search.trials: 1,000" in line


def test_a_grid_at_the_bound_is_counted_without_listing_it(monkeypatch):
    def listing_the_combinations(*axes):
        raise AssertionError("the grid was listed")

    monkeypatch.setattr(itertools, "product", listing_the_combinations)
    s = space({"a": {"uniform": [0, 1]}, "b": {"uniform": [0, 1]}}, method="grid", grid_points=100)
    assert s.grid_size == 10_000 and s.trial(9_999).keys() == {"a", "b"}


def test_yaml_values_read_back_exactly():
    for value in (1e-5, 0.1 + 0.2, 64, "full", {"name": "adam"}, True, [1, 2], None):
        assert yaml.safe_load(yaml_value(value)) == value


# ---------------------------------------------------------------- refine and the median rule


def test_refine_shrinks_on_the_log_scale_around_the_top_trials():
    d = Distribution("lr", "log_uniform", 1e-4, 1.0)
    narrow = refine_distribution(d, [1e-3, 1e-2])
    # span on log10: [-3, -2], widened by a quarter each side: [-3.25, -1.75]
    assert math.log10(narrow.low) == pytest.approx(-3.25) and math.log10(narrow.high) == pytest.approx(-1.75)
    beta = refine_distribution(Distribution("b", "one_minus_log_uniform", 0.9, 0.999), [0.99, 0.999])
    assert beta.low == pytest.approx(1 - 10 ** -1.75) and beta.high == pytest.approx(0.999)  # clipped to the old end
    units = refine_distribution(Distribution("u", "int_uniform", 50, 100), [60, 70])
    assert (units.low, units.high) == (57, 73)
    same = refine_distribution(Distribution("x", "uniform", 0.0, 1.0), [0.5, 0.5])
    assert (same.low, same.high) == pytest.approx((0.45, 0.55))
    assert refine_distribution(Distribution("c", "choice", choices=(1, 2, 3)), [3, 1]).choices == (1, 3)


def test_median_rule():
    task = TrialTask(tune_dir="x", index=9, spec_yaml="", metric="dev_error", minimize=True, satisfy={},
                     prune_after=2, prune_min_trials=3, references=[[0.5, 0.3], [0.5, 0.2], [0.5, 0.4, 0.1], [0.9]])
    assert not median_says_prune(task, 1, 0.99)  # before after_epochs
    assert median_says_prune(task, 2, 0.31)  # median of 0.3, 0.2, 0.4 is 0.3
    assert not median_says_prune(task, 2, 0.3)
    assert not median_says_prune(task, 3, 0.9)  # only one finished trial reached epoch 3
    task.minimize = False
    assert median_says_prune(task, 2, 0.29)


# ---------------------------------------------------------------- the command


def test_tune_writes_a_tune_directory_of_ordinary_runs(tmp_path):
    spec = write_spec(tmp_path, TUNE_SPEC)
    result = tune_json(spec, "--runs-dir", tmp_path / "runs", "--workers", "2")
    tune_dir = Path(result["tune_dir"])
    assert result["completed"] and result["counts"] == {"completed": 4}
    assert sorted(p.name for p in tune_dir.iterdir()) == ["spec.yaml", "trial-0000", "trial-0001", "trial-0002", "trial-0003",
                                                         "trials.jsonl", "tune.json"]
    record = load_search(tune_dir)
    expected = space(load_plan(spec.read_text(), str(spec)).search.model_dump()["parameters"], seed=3)
    for trial in record.trials:
        assert trial.params == expected.trial(trial.index)
        with h5py.File(trial.run_dir / "metrics.h5") as f:
            dev_error = f["epoch/dev_error"][()]
            assert "epoch/test_error" not in f  # the test split is never evaluated, let alone used to choose
        assert trial.value == dev_error.min() and trial.best_epoch == int(np.argmin(dev_error)) + 1
        assert (trial.run_dir / "best.h5").exists()
    best = min(record.trials, key=lambda t: (t.value, t.index))
    assert result["best"]["trial"] == best.index
    lr = [d for d in record.parameters if d.path == "train.learning_rate"][0]
    assert lr.log and lr.kind == "log_uniform" and (lr.low, lr.high) == (1e-4, 1.0)
    events = [json.loads(line) for line in (tune_dir / TRIALS_FILE).read_text().splitlines()]
    assert [e["event"] for e in events].count("start") == 4 and [e["event"] for e in events].count("end") == 4
    # eval works on any trial: it is an ordinary run directory
    assert invoke_json("eval", best.run_dir, "--split", "dev")["metrics"]["error"] == pytest.approx(best.value)


def test_one_worker_and_two_workers_give_the_same_trials(tmp_path):
    spec = write_spec(tmp_path, TUNE_SPEC)
    one = tune_json(spec, "--runs-dir", tmp_path / "a", "--workers", "1")
    two = tune_json(spec, "--runs-dir", tmp_path / "b", "--workers", "2")
    strip = [{k: v for k, v in t.items() if k != "run"} for t in one["trials"]]
    assert strip == [{k: v for k, v in t.items() if k != "run"} for t in two["trials"]]


def test_plain_progress_is_one_line_per_trial(tmp_path):
    spec = write_spec(tmp_path, TUNE_SPEC)
    proc = run_nnctl("tune", spec, "--runs-dir", tmp_path / "runs", "--workers", "2", "--trials", "3")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 3 and all(line.startswith("trial ") and "dev_error" in line for line in lines)
    assert "best dev_error" in proc.stdout


def test_pruned_trials_are_marked_not_deleted(tmp_path):
    spec = write_spec(tmp_path, TUNE_SPEC.replace("trials: 4", "trials: 8\n  prune: {after_epochs: 1, min_trials: 2}")
                      .replace("epochs: 3", "epochs: 4"))
    result = tune_json(spec, "--runs-dir", tmp_path / "runs", "--workers", "1")
    record = load_search(result["tune_dir"])
    pruned = [t for t in record.trials if t.status == "pruned"]
    assert pruned, [t.status for t in record.trials]
    for trial in pruned:
        assert trial.run_dir.is_dir() and trial.epochs < 4
        # the median of the trials finished before it, at the epoch it stopped, was better
        finished = [t for t in record.trials if t.index < trial.index and t.status == "completed"]
        peers = [t.curve[trial.epochs - 1] for t in finished]
        assert len(peers) >= 2 and trial.curve[-1] > float(np.median(peers))
    assert all(t.status != "pruned" for t in record.ranked())


def test_refine_runs_a_narrower_child_search(tmp_path):
    spec = write_spec(tmp_path, TUNE_SPEC.replace("trials: 4", "trials: 6"))
    parent = tune_json(spec, "--runs-dir", tmp_path / "runs", "--workers", "2")
    child = tune_json("--refine", parent["tune_dir"], "--top", "3", "--trials", "3", "--workers", "2")
    parent_rec, child_rec = load_search(parent["tune_dir"]), load_search(child["tune_dir"])
    assert child_rec.parent == Path(parent["tune_dir"]).resolve()
    assert parent_rec.children == [Path(child["tune_dir"]).resolve()]
    top = parent_rec.ranked()[:3]
    for old, new in zip(parent_rec.parameters, child_rec.parameters):
        values = [t.params[old.path] for t in top]
        assert old.low <= new.low <= min(values) and max(values) <= new.high <= old.high
        assert math.log10(new.high / new.low) < math.log10(old.high / old.low)
    assert child["counts"] == {"completed": 3}


def test_tpe_asks_optuna_after_the_random_startup_trials(tmp_path):
    pytest.importorskip("optuna")
    spec = write_spec(tmp_path, TUNE_SPEC.replace("trials: 4", "trials: 5\n  method: tpe\n  startup_trials: 3"))
    result = tune_json(spec, "--runs-dir", tmp_path / "runs", "--workers", "1")
    record = load_search(result["tune_dir"])
    random = space(load_plan(spec.read_text(), str(spec)).search.model_dump()["parameters"], seed=3)
    assert [t.params for t in record.trials[:3]] == [random.trial(i) for i in range(3)]
    assert record.trials[3].params != random.trial(3)
    for trial in record.trials:
        assert 1e-4 <= trial.params["train.learning_rate"] < 1 and 1e-3 <= trial.params["regularization.l2"] < 10


def _ends(tune_dir: Path) -> int:
    path = tune_dir / TRIALS_FILE
    return sum('"event": "end"' in line for line in path.read_text().splitlines()) if path.exists() else 0


def _comparable(tune_dir: Path) -> list:
    record = load_search(tune_dir)
    out = []
    for t in record.trials:
        arrays = h5_datasets(t.run_dir / "checkpoint.h5")
        params = {k: v.tobytes() for k, v in arrays.items() if k.startswith(("params/", "state/", "optimizer/"))}
        out.append((t.index, t.status, t.params, t.value, t.curve, params))
    return out


@pytest.mark.slow
@pytest.mark.parametrize("how", ["sigint", "sigterm", "sigkill"])
def test_a_killed_search_resumes_to_the_uninterrupted_result(tmp_path, how):
    spec = write_spec(tmp_path, TUNE_SPEC.replace("trials: 4", "trials: 5").replace("epochs: 3", "epochs: 20"))
    whole = tune_json(spec, "--runs-dir", tmp_path / "whole", "--workers", "1")
    runs = tmp_path / "cut"
    proc = subprocess.Popen(nnctl_cmd("tune", spec, "--runs-dir", runs, "--workers", "1"), env=subprocess_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (list(runs.glob("*")) and _ends(next(runs.glob("*"))) >= 1
                                               and (next(runs.glob("*")) / "trial-0001" / "checkpoint.h5").exists()):
        time.sleep(0.005)
    if how == "sigterm":
        os.kill(proc.pid, signal.SIGTERM)  # the search process alone: its workers hear it through the STOP file
    else:
        os.killpg(proc.pid, signal.SIGINT if how == "sigint" else signal.SIGKILL)  # Ctrl-C reaches the whole group
    proc.communicate(timeout=60)
    assert proc.returncode == (-9 if how == "sigkill" else 130), proc.returncode
    tune_dir = next(runs.glob("*"))
    cut = load_search(tune_dir)
    assert 1 <= sum(t.status == "completed" for t in cut.trials) < 5
    if how != "sigkill":
        assert not (tune_dir / "STOP").exists()
        assert "interrupted" in {t.status for t in cut.trials}
    resumed = tune_json("--resume", tune_dir, "--workers", "1")
    assert resumed["completed"] and resumed["counts"] == {"completed": 5}
    assert _comparable(tune_dir) == _comparable(Path(whole["tune_dir"]))


# ---------------------------------------------------------------- bad input: one line, exit 2, nothing started


BAD_SEARCHES = [
    ("train.learing_rate: {log_uniform: [1.0e-4, 1.0]}", "tune.yaml:21: search.parameters.train.learing_rate: "
     "unknown key; did you mean 'learning_rate'?"),
    ("train.learning_rate: {log_uniform: [1.0, 1.0e-4]}", "tune.yaml:21: search.parameters.train.learning_rate: "
     "log_uniform: the bounds are inverted"),
    ("train.learning_rate: {log_uniform: [0, 1.0]}", "log_uniform: bounds must be > 0 on a log scale"),
    ("train.optimizer.beta1: {one_minus_log_uniform: [0.9, 1.0]}", "bounds must lie in [0, 1)"),
    ("train.batch_size: {choice: [32, big]}", "tune.yaml:21: search.parameters.train.batch_size: "
     "expected an integer >= 1 or one of full, auto, got 'big' (value big)"),
    ("model.layers[5].units: {int_uniform: [5, 10]}", "tune.yaml:21: search.parameters.model.layers[5].units: "
     "index 5 is out of range"),
    ("train.learning_rate: {log_uniform: [1.0e-4, 1.0], uniform: [0, 1]}", "give exactly one distribution"),
]


@pytest.mark.parametrize("line,message", BAD_SEARCHES)
def test_bad_parameters(tmp_path, line, message):
    text = TUNE_SPEC.replace("train.learning_rate: {log_uniform: [1.0e-4, 1.0]}", line).replace("regularization.l2", "train.epochs")
    text = text.replace("train.epochs: {log_uniform: [1.0e-3, 10]}", "train.shuffle: {choice: [true, false]}")
    spec = write_spec(tmp_path, text, "tune.yaml")
    result = invoke("tune", spec, "--runs-dir", tmp_path / "runs", expect=2)
    assert message in one_line_error(result.stderr), result.stderr
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("edit,message", [
    (("trials: 4", "trials: 0"), "tune.yaml:18: search.trials: expected an integer >= 1 or null, got 0"),
    (("metric: dev_error", "metric: dev_f2"), "tune.yaml:17: search.metric: 'dev_f2' is not recorded for this run"),
    (("metric: dev_error", "metric: test_error"), "the test split is never used to choose hyperparameters"),
    (("metric: dev_error", "metric: dev_error\n  satisfy: {epoch_time: fast}"), "satisfy.epoch_time fast: expected <=NUMBER (or >=, <, >, ==)"),
    (("search:\n", "serch:\n"), "unknown key; did you mean 'search'?"),
])
def test_bad_search_sections(tmp_path, edit, message):
    spec = write_spec(tmp_path, TUNE_SPEC.replace(*edit), "tune.yaml")
    result = invoke("tune", spec, "--runs-dir", tmp_path / "runs", expect=2)
    assert message in one_line_error(result.stderr), result.stderr
    assert not (tmp_path / "runs").exists()


def test_bad_options(tmp_path):
    spec = write_spec(tmp_path, TUNE_SPEC)
    assert "--trials 0" in one_line_error(invoke("tune", spec, "--trials", "0", expect=2).stderr)
    assert "exactly one of" in one_line_error(invoke("tune", expect=2).stderr)
    assert "no such tune directory" in one_line_error(invoke("tune", "--resume", tmp_path / "nope", expect=2).stderr)
    plain = write_spec(tmp_path, TUNE_SPEC.split("search:")[0], "plain.yaml")
    assert "no 'search' section" in one_line_error(invoke("tune", plain, expect=2).stderr)
    assert not Path("runs").exists() or not any(Path("runs").glob("tiny-tune-*"))


@pytest.fixture(scope="module")
def finished_tune(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("tune")
    spec = write_spec(base, TUNE_SPEC.replace("trials: 4", "trials: 2"))
    return Path(tune_json(spec, "--runs-dir", base / "runs", "--workers", "2")["tune_dir"])


def _copy(tune_dir: Path, tmp_path: Path) -> Path:
    import shutil
    return Path(shutil.copytree(tune_dir, tmp_path / "copy"))


@pytest.mark.parametrize("damage,message", [
    (lambda d: (d / "spec.yaml").write_text((d / "spec.yaml").read_text().replace("epochs: 3", "epochs: 30")),
     "spec.yaml: edited after the search started"),
    (lambda d: (d / "tune.json").write_text((d / "tune.json").read_text().replace('"0.1.0"', '"0.0.9"')),
     "made by nnctl 0.0.9, this is nnctl 0.1.0"),
    (lambda d: (d / TRIALS_FILE).write_text((d / TRIALS_FILE).read_text().replace('"learning_rate": 0.', '"learning_rate": 1.', 1)
                                            .replace('"train.learning_rate": 0.', '"train.learning_rate": 0.5', 1)),
     "values are not the ones its seed gives (edited by hand?)"),
    (lambda d: (d / TRIALS_FILE).write_text("{not json\n" + (d / TRIALS_FILE).read_text()), "trials.jsonl:1: not a JSON event"),
])
def test_a_hand_edited_tune_directory_is_refused(finished_tune, tmp_path, damage, message):
    copy = _copy(finished_tune, tmp_path)
    damage(copy)
    before = sorted(p.name for p in copy.iterdir())
    result = invoke("tune", "--resume", copy, expect=2)
    assert message in one_line_error(result.stderr)
    assert sorted(p.name for p in copy.iterdir()) == before


def test_a_torn_last_line_is_a_crash_not_an_edit(finished_tune, tmp_path):
    copy = _copy(finished_tune, tmp_path)
    with open(copy / TRIALS_FILE, "a") as f:
        f.write('{"event": "end", "tri')
    assert len(load_search(copy).trials) == 2
    assert invoke_json("tune", "--resume", copy, "--quiet")["completed"]


def test_an_unreachable_scheduler_is_one_line_within_the_timeout(tmp_path):
    pytest.importorskip("distributed")
    spec = write_spec(tmp_path, TUNE_SPEC)
    started = time.monotonic()
    proc = run_nnctl("tune", spec, "--runs-dir", tmp_path / "runs", "--scheduler", "tcp://127.0.0.1:9",
                     "--connect-timeout", "2", timeout=60)
    assert proc.returncode == 2
    assert "cannot reach a Dask scheduler within 2 s" in one_line_error(proc.stderr)
    assert time.monotonic() - started < 30
    assert not (tmp_path / "runs").exists()


def test_satisficing_metrics_keep_unmet_trials_out_of_the_ranking(tmp_path):
    spec = write_spec(tmp_path, TUNE_SPEC.replace("metric: dev_error", "metric: dev_error\n  satisfy: {train_error: '<= 0.5'}"))
    result = tune_json(spec, "--runs-dir", tmp_path / "runs", "--workers", "2")
    record = load_search(result["tune_dir"])
    for trial in record.trials:
        with h5py.File(trial.run_dir / "metrics.h5") as f:
            train_error = f["epoch/train_error"][trial.best_epoch - 1]
        assert trial.satisfied == {"train_error": train_error} and trial.feasible == (train_error <= 0.5)
    assert {t.index for t in record.ranked()} == {t.index for t in record.trials if t.feasible}
    assert any(not t.feasible for t in record.trials)  # the low learning rates cannot get there in 3 epochs


def test_a_grid_search_runs_every_point(tmp_path):
    grid = TUNE_SPEC.replace("trials: 4\n", "method: grid\n  grid_points: 2\n").replace(
        "regularization.l2: {log_uniform: [1.0e-3, 10]}", "train.batch_size: {choice: [32, full]}")
    result = tune_json(write_spec(tmp_path, grid), "--runs-dir", tmp_path / "runs", "--workers", "2")
    record = load_search(result["tune_dir"])
    assert record.trials_planned == 4
    assert sorted((t.params["train.learning_rate"], str(t.params["train.batch_size"])) for t in record.trials) == \
        sorted((lr, b) for lr in (1e-4, 1.0) for b in ("32", "full"))


def test_blas_threads_are_divided_among_workers(monkeypatch):
    from nnctl.search.local import blas_threads

    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    assert [blas_threads(w, cores=8) for w in (1, 2, 3, 8, 16)] == [8, 4, 2, 1, 1]
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "2")
    assert blas_threads(1, cores=8) == 2 and blas_threads(8, cores=8) == 1


@pytest.mark.parametrize("module,edit,args,hint", [
    ("optuna", ("trials: 4", "trials: 4\n  method: tpe"), (), "method: tpe needs Optuna; install it with: pip install 'nnctl[tune]'"),
    ("distributed", None, ("--scheduler", "tcp://127.0.0.1:8786"), "--scheduler needs Dask; install it with: pip install 'nnctl[cluster]'"),
])
def test_a_missing_extra_is_a_one_line_install_hint(tmp_path, monkeypatch, module, edit, args, hint):
    monkeypatch.setitem(sys.modules, module, None)  # what an environment without the extra looks like to import
    spec = write_spec(tmp_path, TUNE_SPEC.replace(*edit) if edit else TUNE_SPEC)
    result = invoke("tune", spec, "--runs-dir", tmp_path / "runs", *args, expect=2)
    assert one_line_error(result.stderr) == f"nnctl: error: {hint}"
    assert not (tmp_path / "runs").exists()


def test_a_trial_that_cannot_build_fails_alone(tmp_path):
    # 180 training examples in batches of 179 leave a batch of 1, which batch norm cannot normalize.
    text = TUNE_SPEC.replace("trials: 4\n", "method: grid\n").replace(
        "train.learning_rate: {log_uniform: [1.0e-4, 1.0]}\n    regularization.l2: {log_uniform: [1.0e-3, 10]}",
        "train.batch_size: {choice: [32, 179]}")
    result = tune_json(write_spec(tmp_path, text), "--runs-dir", tmp_path / "runs", "--workers", "2")
    by_size = {t["params"]["train.batch_size"]: t for t in result["trials"]}
    assert by_size[32]["status"] == "completed" and by_size[179]["status"] == "failed"
    assert "train.batch_size: batch normalization needs at least 2 examples" in by_size[179]["message"]
    assert result["best"]["trial"] == by_size[32]["trial"]


def test_trials_and_fold_runs_read_the_data_the_spec_file_means_not_the_current_folders(tmp_path, monkeypatch):
    """Relative data paths are read from the spec's folder by every process a search or a cross-validation starts
    (the tune and cv folders record them absolute); a file of the same name in the current folder is never read."""
    rng = np.random.default_rng(0)

    def table(path, rows):
        path.write_text("a,b,label\n" + "".join(f"{x:.3f},{y:.3f},{'cat' if x + y > 0 else 'dog'}\n"
                                                for x, y in rng.normal(size=(rows, 2))))

    (tmp_path / "proj").mkdir()
    table(tmp_path / "proj" / "tiny.csv", 40)
    table(tmp_path / "tiny.csv", 200)  # the decoy, where the command runs
    spec = write_spec(tmp_path / "proj", """\
name: rel
data: {source: {type: csv, path: tiny.csv, label_column: label}, split: {train: 0.6, dev: 0.2, test: 0.2}}
model: {layers: [{units: 2, activation: softmax}]}
train: {epochs: 1, batch_size: 8, learning_rate: 0.1}
search: {metric: dev_error, trials: 1, parameters: {train.learning_rate: {log_uniform: [1.0e-2, 1.0]}}}
""")
    monkeypatch.chdir(tmp_path)
    tune_json(spec, "--workers", "1", "--runs-dir", tmp_path / "runs")
    trial = next((tmp_path / "runs").glob("rel-tune-*/trial-0000"))
    assert invoke_json("eval", trial, "--split", "test")["examples"] == 8  # 20 % of proj/tiny.csv's 40, not of 200
    assert str(tmp_path / "proj" / "tiny.csv") in (trial.parent / "spec.yaml").read_text()
    invoke("cv", spec, "--folds", "2", "--workers", "1", "--runs-dir", tmp_path / "runs", "--quiet")
    fold = next((tmp_path / "runs").glob("rel-cv-*/fold-*"))
    assert invoke_json("eval", fold, "--split", "dev")["examples"] < 40
