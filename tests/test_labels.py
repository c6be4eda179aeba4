"""The small labels a person reads: epoch times, latency, plurals, remedies, default paths, a spec passed as a run."""

from __future__ import annotations

import types

import pytest
from conftest import TINY_SPEC, invoke, one_line_error, train_json, write_spec

from nnctl.report.values import count
from nnctl.spec import parse_spec
from nnctl.strategy.remedies import remedies_for


def test_epoch_time_includes_the_evaluation_passes(tmp_path, monkeypatch):
    """A fake clock that only moves while a split is evaluated: the epoch time must see those seconds."""
    import nnctl.train.loop as loop

    clock = [0.0]
    real_evaluate = loop.evaluate

    def slow_evaluate(*args, **kwargs):
        clock[0] += 100.0
        return real_evaluate(*args, **kwargs)

    monkeypatch.setattr(loop, "time", types.SimpleNamespace(perf_counter=lambda: clock[0], monotonic=lambda: clock[0]))
    monkeypatch.setattr(loop, "evaluate", slow_evaluate)
    spec = write_spec(tmp_path, TINY_SPEC.replace("epochs: 4", "epochs: 1"))
    result = train_json(spec, tmp_path / "runs")
    assert result["metrics"]["epoch_time"] >= 100.0


def test_train_summary_says_one_epoch(tmp_path):
    spec = write_spec(tmp_path, TINY_SPEC.replace("epochs: 4", "epochs: 1"))
    out = invoke("train", spec, "--runs-dir", tmp_path / "runs", "--quiet").stdout
    assert "1 epoch," in out and "1 epochs" not in out


@pytest.mark.parametrize(("n", "text"), [(0, "0 epochs"), (1, "1 epoch"), (2, "2 epochs"), (1200, "1,200 epochs")])
def test_count(n, text):
    assert count(n, "epoch") == text
    assert count(1, "class", "classes") == "1 class" and count(3, "class", "classes") == "3 classes"


def test_eval_on_test_has_no_dev_latency_row(trained_run):
    out = invoke("eval", trained_run, "--split", "test").stdout
    assert "predict_ms" not in out
    assert "latency:" in out and "measured on dev" in out


@pytest.mark.parametrize(("optimizer", "named", "not_named"), [
    ("{name: gd}", "momentum, RMSprop, Adam", None),
    ("{name: momentum}", "RMSprop, Adam", "momentum,"),
    ("{name: adam}", "learning-rate decay for Adam", "better optimizer"),
])
def test_optimizer_remedy_names_only_better_optimizers(optimizer, named, not_named):
    spec = parse_spec(TINY_SPEC.replace("{name: adam}", optimizer), "spec.yaml")
    actions = " | ".join(r.action for r in remedies_for("avoidable_bias", spec))
    assert named in actions
    assert not_named is None or not_named not in actions


def test_export_writes_into_the_run_by_default(trained_moons_run):
    out = trained_moons_run / "model.npz"
    try:
        result = invoke("export", trained_moons_run, "--format", "npz", "--json")
        assert out.is_file() and str(out) in result.stdout
    finally:
        out.unlink(missing_ok=True)


def test_eval_of_a_spec_file_says_what_to_pass(tiny_spec):
    message = one_line_error(invoke("eval", tiny_spec, expect=2).stderr)
    assert "a spec file, not a run directory" in message and f"nnctl train {tiny_spec}" in message


def test_latest_is_named_by_the_run_it_points_at(trained_run, tmp_path):
    pytest.importorskip("matplotlib")
    from nnctl.report.curves import CurveOptions, curves_figure
    from nnctl.report.history import load_history

    latest = trained_run.parent / "latest"
    assert latest.is_symlink()
    assert curves_figure([load_history(latest)], CurveOptions()).get_suptitle() == f"Learning curves: {trained_run.name}"
    invoke("report", latest, "--out", tmp_path / "r.html")
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert f"<title>nnctl report: {trained_run.name}</title>" in page and "latest" not in page.split("</h1>")[0]
