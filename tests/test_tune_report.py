"""Pictures of a search: `nnctl plot tune` and `nnctl report TUNE_DIR`, their numbers checked by hand, and bad input."""

from __future__ import annotations

import itertools
import json
import math
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import TINY_SPEC, assert_no_python_reprs, invoke, invoke_json, one_line_error, write_spec
from test_report import assert_self_contained

from nnctl.cli.views import load_tune_view
from nnctl.report import parallel
from nnctl.report.figures import SHORT_CHARS, short_label, short_labels
from nnctl.report.parallel import parallel_svg
from nnctl.report.tune_figures import NO_VALUE_Y, tune_figure
from nnctl.report.tune_page import tune_report_html
from nnctl.report.tune_view import ParameterAxis, TrialPoint, TuneView
from nnctl.search.record import TRIALS_FILE, load_search

pytest.importorskip("matplotlib")

# Six 2-epoch trials over every kind of scale: log, linear, a choice, and 1 - β in log;
# the satisfy condition and the median rule leave trials unranked and pruned.
SEARCH_SPEC = TINY_SPEC.replace("epochs: 4", "epochs: 2") + """\
search:
  metric: dev_error
  trials: 6
  seed: 3
  satisfy: {train_error: '<= 0.6'}
  prune: {after_epochs: 1, min_trials: 2}
  parameters:
    train.learning_rate: {log_uniform: [1.0e-4, 1.0]}
    regularization.l2: {uniform: [0.0, 0.5]}
    train.batch_size: {choice: [32, full]}
    train.optimizer.beta1: {one_minus_log_uniform: [0.8, 0.99]}
"""
SCALES = {"train.learning_rate": "log", "regularization.l2": "linear", "train.batch_size": "linear",
          "train.optimizer.beta1": "log"}


@pytest.fixture(scope="module")
def tune_dir(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("tune-report")
    result = invoke_json("tune", write_spec(base, SEARCH_SPEC), "--runs-dir", base / "runs", "--workers", "2", "--quiet")
    record = load_search(result["tune_dir"])
    statuses = {t.status for t in record.trials}
    # The fixture exercises what the pictures distinguish: ranked, unsatisfied and pruned trials.
    assert "pruned" in statuses and any(not t.feasible and t.status == "completed" for t in record.trials)
    assert record.ranked()
    return Path(result["tune_dir"])


def _ends(tune_dir: Path) -> dict[int, dict]:
    """The end event of each trial, read straight from the log."""
    events = [json.loads(line) for line in (tune_dir / TRIALS_FILE).read_text().splitlines()]
    return {e["trial"]: e for e in events if e["event"] == "end"}


# ---------------------------------------------------------------- plot tune


def test_plot_tune_writes_a_png_in_the_tune_dir_by_default(tune_dir):
    result = invoke("plot", "tune", tune_dir)
    path = Path(result.stdout.strip())
    assert path == tune_dir / "plots" / "tune.png"
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000


def test_plot_tune_writes_an_svg_that_parses(tune_dir, tmp_path):
    out = tmp_path / "tune.svg"
    invoke("plot", "tune", tune_dir, "--out", out)
    root = ET.parse(out).getroot()
    assert root.tag.endswith("svg") and len(list(root.iter())) > 100


def test_each_parameter_axis_is_log_exactly_when_sampled_in_log(tune_dir):
    view = load_tune_view(tune_dir)
    fig = tune_figure(view)
    panels = fig.axes[:len(view.parameters)]
    assert [a.path for a in view.parameters] == list(SCALES)
    for ax, axis in zip(panels, view.parameters):
        assert ax.get_xscale() == SCALES[axis.path], axis.path
        assert axis.path in ax.get_xlabel()
    batch = panels[list(SCALES).index("train.batch_size")]
    assert [t.get_text() for t in batch.get_xticklabels()] == ["32", "full"]
    beta = panels[list(SCALES).index("train.optimizer.beta1")]
    assert beta.get_xlabel().startswith("1 − ")
    lo, hi = beta.get_xlim()
    assert lo < 1 - 0.99 and hi > 1 - 0.8  # 1 - β: [0.01, 0.2] on the axis


def test_the_points_are_the_trials_values_at_their_parameters(tune_dir):
    view = load_tune_view(tune_dir)
    ends = _ends(tune_dir)
    lr = tune_figure(view).axes[0]
    plotted = set()
    for collection in lr.collections:
        plotted |= {(round(float(x), 12), round(float(y), 12)) for x, y in collection.get_offsets()}
    for trial in load_search(tune_dir).trials:
        point = (round(trial.params["train.learning_rate"], 12), round(ends[trial.index]["value"], 12))
        assert point in plotted, trial.index


def test_best_so_far_matches_a_hand_computation_from_the_log(tune_dir):
    ends = _ends(tune_dir)
    best, expected = math.inf, []
    for index in sorted(ends):
        e = ends[index]
        if e["status"] in ("completed", "early_stopping") and e.get("feasible", True) and e.get("value") is not None:
            best = min(best, e["value"])  # the search minimizes dev_error
        expected.append(best)
    view = load_tune_view(tune_dir)
    got = [leader.value if leader else math.inf for _, leader in view.best_so_far()]
    assert got == expected
    progress = tune_figure(view).axes[len(view.parameters)]
    line = next(line for line in progress.get_lines() if line.get_label().startswith("best so far"))
    finite = [(i, v) for i, v in enumerate(expected) if v < math.inf]
    assert list(line.get_xdata()) == [i for i, _ in finite] and list(line.get_ydata()) == [v for _, v in finite]


def test_best_so_far_follows_a_maximize_goal(tune_dir):
    view = load_tune_view(tune_dir)
    view.goal = "maximize"
    view.ranked = sorted(view.ranked, key=lambda i: -view.trial(i).value)  # as the search ranks for maximize
    running, expected = -math.inf, []
    for trial in view.trials:
        if trial.index in view.ranked:
            running = max(running, trial.value)
        expected.append(running)
    assert [leader.value if leader else -math.inf for _, leader in view.best_so_far()] == expected


# ---------------------------------------------------------------- parallel coordinates


def _unit(path: str, value, lo, hi) -> float:
    """Independent of the code under test: the value's place on its sampling scale."""
    if path == "train.batch_size":
        return [32, "full"].index(value) / 1
    if path == "train.learning_rate":
        return (math.log10(value) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))
    if path == "train.optimizer.beta1":  # 1 - β on a log axis, from 1 - 0.99 up to 1 - 0.8
        return (math.log10(1 - value) - math.log10(1 - hi)) / (math.log10(1 - lo) - math.log10(1 - hi))
    return (value - lo) / (hi - lo)


def test_parallel_coordinates_vertices_sit_at_the_scaled_values(tune_dir):
    view = load_tune_view(tune_dir)
    ranges = {"train.learning_rate": (1e-4, 1.0), "regularization.l2": (0.0, 0.5), "train.batch_size": (None, None),
              "train.optimizer.beta1": (0.8, 0.99)}
    ends = _ends(tune_dir)
    values = [e["value"] for e in ends.values()]
    v_lo, v_hi = min(values), max(values)
    root = ET.fromstring(parallel_svg(view))
    lines = {int(p.get("data-trial")): p for p in root.iter("{http://www.w3.org/2000/svg}polyline") if p.get("data-trial")}
    assert sorted(lines) == sorted(ends)
    n_axes = len(ranges) + 1
    top, bottom = parallel.TOP, parallel.HEIGHT - parallel.BOTTOM
    span = (parallel.WIDTH - parallel.LEFT - parallel.RIGHT) / (n_axes - 1)
    for trial in load_search(tune_dir).trials:
        points = [tuple(map(float, p.split(","))) for p in lines[trial.index].get("points").split()]
        units = [_unit(path, trial.params[path], *ranges[path]) for path in ranges]
        units.append((ends[trial.index]["value"] - v_lo) / (v_hi - v_lo))
        expected = [(parallel.LEFT + k * span, bottom - u * (bottom - top)) for k, u in enumerate(units)]
        assert len(points) == n_axes
        for (x, y), (ex, ey) in zip(points, expected):
            assert abs(x - ex) <= 0.005 and abs(y - ey) <= 0.005, (trial.index, points, expected)
    best = view.best.index
    assert float(lines[best].get("stroke-width")) > max(float(p.get("stroke-width")) for i, p in lines.items() if i != best)


SVG = "{http://www.w3.org/2000/svg}"
OPTIMIZERS = ({"name": "gd"}, {"name": "momentum", "beta": 0.9}, {"name": "adam"})
PATHS = ("/home/someone/projects/experiments-2026/data/<script>=1+1.csv", "/data/esc\x1b[2J.csv")


def _choices_view() -> TuneView:
    """A grid over optimizers (dicts) and data files (a long path, a name with an escape), first axis and inner."""
    axes = [ParameterAxis("train.optimizer", "choice", False, None, OPTIMIZERS),
            ParameterAxis("data.source.path", "choice", False, None, PATHS)]
    trials = [TrialPoint(k, {"train.optimizer": o, "data.source.path": p}, "completed", 0.1 * (k + 1))
              for k, (o, p) in enumerate(itertools.product(OPTIMIZERS, PATHS))]
    return TuneView("choices", "dev_error", "dev_error", "minimize", "grid", len(trials), axes, trials,
                    [t.index for t in trials])


def test_parallel_coordinates_label_choices_as_the_tips_write_them_and_inside_the_picture(tmp_path):
    """Optimizers read 'name: momentum, beta: 0.9' (not a Python dict), a path by its start and end, an escape
    shown escaped; no label runs past the picture's edge."""
    view = _choices_view()
    root = ET.fromstring(parallel_svg(view))
    shown = [(float(t.get("x")), t.get("text-anchor"), t.text) for t in root.iter(SVG + "text")]
    labels = {text for _, _, text in shown}
    assert {"name: gd", "name: momentum, beta: 0.9", "name: adam"} <= labels
    paths = [label for label in labels if label.endswith(".csv")]
    assert len(paths) == 2 and any(p.startswith("/home/") and "…" in p and p.endswith("=1+1.csv") for p in paths)
    assert "/data/esc\\x1b[2J.csv" in paths
    reach = parallel.TICK_SIZE * parallel.CHAR_WIDTH
    for x, anchor, text in shown:
        width = len(text) * reach
        left, right = {"end": (x - width, x), "start": (x, x + width)}.get(anchor, (x - width / 2, x + width / 2))
        assert 0 <= left and right <= parallel.WIDTH, (text, left, right)
    tips = [t.text for t in root.iter(SVG + "title")]
    assert any("train.optimizer = name: momentum, beta: 0.9, data.source.path = /data/esc\\x1b[2J.csv" in t for t in tips)
    assert_no_python_reprs(" ".join(labels | set(tips)), "parallel coordinates")
    fig = tune_figure(view)
    fig.canvas.draw()
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == view.parameters[0].choice_labels()
    assert view.parameters[0].choice_labels()[1] == "name: m…entum, beta: 0.9"
    page = tune_report_html(view, tmp_path)  # the summary keeps choices written with commas apart
    assert "choice of name: gd; name: momentum, beta: 0.9; name: adam" in page


def test_a_one_panel_figure_keeps_its_title_inside():
    """One searched parameter makes a narrow figure: its title wraps rather than running off both sides."""
    from nnctl.report.tune_figures import parameters_figure

    view = _choices_view()
    view.name, view.parameters = "digits-tune-tune-20261206-184954", view.parameters[:1]
    fig = parameters_figure(view)
    fig.canvas.draw()
    title = next(t for t in fig.texts if t.get_text().startswith(view.name)).get_window_extent()
    assert 0 <= title.x0 and title.x1 <= fig.bbox.width


# ---------------------------------------------------------------- the HTML report


def test_report_of_a_tune_dir_is_one_self_contained_page(tune_dir):
    result = invoke("report", tune_dir)
    path = Path(result.stdout.strip())
    assert path == tune_dir / "report.html"
    page = path.read_text(encoding="utf-8")
    assert_self_contained(page)
    for anchor in ("summary", "trials", "parameters", "progress", "parallel"):
        assert f'<section id="{anchor}">' in page
    assert page.count("<svg") == 3
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids))
    record = load_search(tune_dir)
    trials_table = page[page.index('<section id="trials">'):page.index('<section id="parameters">')]
    first_cells = re.findall(r"<tr><td[^>]*>([^<]*)</td><td[^>]*>(\d+)</td>", trials_table)
    ranked = [t.index for t in record.ranked()]
    assert [int(index) for rank, index in first_cells[:len(ranked)]] == ranked
    assert [rank for rank, _ in first_cells] == [str(r) for r in range(1, len(ranked) + 1)] + ["—"] * (len(record.trials) - len(ranked))
    best = record.ranked()[0]
    assert f"{best.index}: dev_error {best.value:.6g} at epoch {best.best_epoch}" in page


def test_report_out_writes_where_asked(tune_dir, tmp_path):
    out = tmp_path / "search.html"
    assert invoke("report", tune_dir, "--out", out).stdout.strip() == str(out)
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


# ---------------------------------------------------------------- bad input


def _unstarted_copy(tune_dir: Path, tmp_path: Path) -> Path:
    """A copy of the search as it was before any trial ended (start events only)."""
    copy = Path(shutil.copytree(tune_dir, tmp_path / "unfinished", ignore=shutil.ignore_patterns("plots", "report.html")))
    lines = (copy / TRIALS_FILE).read_text().splitlines(keepends=True)
    (copy / TRIALS_FILE).write_text("".join(line for line in lines if '"event": "start"' in line))
    return copy


@pytest.mark.parametrize("command", [("plot", "tune"), ("report",)])
def test_bad_input_is_one_line_exit_2_and_nothing_written(tune_dir, tmp_path, command):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "not a tune directory" in one_line_error(invoke("plot", "tune", empty, expect=2).stderr)
    assert list(empty.iterdir()) == []
    unstarted = _unstarted_copy(tune_dir, tmp_path)
    before = sorted(p.name for p in unstarted.iterdir())
    assert "no trial has finished" in one_line_error(invoke(*command, unstarted, expect=2).stderr)
    assert sorted(p.name for p in unstarted.iterdir()) == before
    wrong = "x.gif" if command[0] == "plot" else "x.png"
    assert "unknown file type" in one_line_error(invoke(*command, tune_dir, "--out", tmp_path / wrong, expect=2).stderr)
    missing = tmp_path / "nope" / ("x.png" if command[0] == "plot" else "x.html")
    assert "does not exist" in one_line_error(invoke(*command, tune_dir, "--out", missing, expect=2).stderr)
    assert not (tmp_path / "nope").exists() and not (tmp_path / wrong).exists()


def test_report_refuses_run_options_for_a_tune_dir(tune_dir):
    assert "is a tune directory" in one_line_error(invoke("report", tune_dir, "--split", "dev", expect=2).stderr)


def test_metric_draws_another_recorded_metric_at_each_trials_scored_epoch(tune_dir, tmp_path):
    import h5py

    out = tmp_path / "cost.png"
    invoke("plot", "tune", tune_dir, "--metric", "dev_cost", "--out", out)
    assert out.read_bytes()[:4] == b"\x89PNG"
    view = load_tune_view(tune_dir, "dev_cost")
    for trial in load_search(tune_dir).trials:
        with h5py.File(trial.run_dir / "metrics.h5") as f:
            expected = float(f["epoch/dev_cost"][trial.best_epoch - 1])
        assert view.trial(trial.index).value == expected
    assert view.ranked == [t.index for t in load_search(tune_dir).ranked()]  # still the search's ranking
    assert "trials ranked by dev_error" in tune_figure(view).get_suptitle()
    line = one_line_error(invoke("plot", "tune", tune_dir, "--metric", "dev_cots", expect=2).stderr)
    assert "metric 'dev_cots' was not recorded; did you mean 'dev_cost'?" in line


def test_a_failed_trial_is_marked_on_the_top_edge_and_listed_with_its_message(tune_dir, tmp_path):
    copy = Path(shutil.copytree(tune_dir, tmp_path / "failed", ignore=shutil.ignore_patterns("plots", "report.html")))
    record = load_search(copy)
    victim = record.ranked()[-1]  # a ranked trial that is not the best
    lines = []
    for line in (copy / TRIALS_FILE).read_text().splitlines():
        event = json.loads(line)
        if event["event"] == "end" and event["trial"] == victim.index:
            line = json.dumps({"event": "end", "trial": victim.index, "status": "failed", "message": "out of memory"})
        lines.append(line)
    (copy / TRIALS_FILE).write_text("\n".join(lines) + "\n")
    view = load_tune_view(copy)
    assert view.trial(victim.index).outcome == "no value"
    lr = tune_figure(view).axes[0]
    failed = next(c for c in lr.collections if c.get_label().startswith("failed"))
    assert [tuple(p) for p in failed.get_offsets()] == [(victim.params["train.learning_rate"], NO_VALUE_Y)]
    assert failed.get_transform() != lr.transData  # y in axes coordinates: near the top edge
    invoke("report", copy)
    page = (copy / "report.html").read_text(encoding="utf-8")
    assert "failed: out of memory" in page
    root = ET.fromstring(parallel_svg(view))
    line = next(p for p in root.iter("{http://www.w3.org/2000/svg}polyline") if p.get("data-trial") == str(victim.index))
    assert line.get("stroke") == parallel.NO_VALUE and len(line.get("points").split()) == len(SCALES)


def test_search_page_and_tables_have_no_reprs(tune_dir, tmp_path):
    out = tmp_path / "search.html"
    invoke("report", tune_dir, "--out", out)
    page = re.sub(r"<svg.*?</svg>", lambda m: re.sub(r"<path[^>]*>", "", m.group(0)), out.read_text(encoding="utf-8"),
                  flags=re.DOTALL)  # the figures' own text is drawn as paths; the parallel view's tips are text
    assert_no_python_reprs(page, "search report")
    assert_no_python_reprs(invoke("runs", "list", tune_dir).stdout, "runs list of a search")


def test_a_long_choice_is_labelled_by_its_start_and_end():
    """A file's path as a choice: its tick label keeps the file name, and is short enough not to squeeze the panel."""
    path = "/home/someone/projects/experiments-2026/data/flowers-v2.csv"
    label = short_label(path)
    assert len(label) == SHORT_CHARS and "…" in label
    assert path.startswith(label.split("…")[0]) and label.endswith("flowers-v2.csv")
    assert short_label("relu") == "relu" and short_label(0.5) == "0.5"


def test_long_categories_that_would_read_the_same_are_numbered():
    names = [f"experiment {k} of the long series that ends the same way" for k in range(2)] + ["short"]
    labels = short_labels(names)
    assert labels == ["0: experi…s the same way", "1: experi…s the same way", "short"]
    assert all(len(label) <= SHORT_CHARS for label in labels)
