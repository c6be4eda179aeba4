"""Pictures and reports: every plot kind rendered from small runs, the numbers behind them, and bad input."""

from __future__ import annotations

import csv
import math
import re
import shutil
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from conftest import MOONS_SPEC, TINY_SPEC, invoke, invoke_json, one_line_error, train_json, write_spec

from nnctl.orchestration.model import load_model, split_data
from nnctl.report.boundary import boundary_figure
from nnctl.report.confusion import confusion_figure, confusion_values
from nnctl.report.curves import CurveOptions, curves_figure
from nnctl.report.ewma import ewma
from nnctl.report.history import load_history
from nnctl.report.predictions import predict_split
from nnctl.report.terminal import text_chart

pytest.importorskip("matplotlib")

# A small CNN on the bundled digits that stops early (checked in the fixture), for curves, filters, errors.
CNN_SPEC = TINY_SPEC.split("model:")[0] + """\
model:
  layers:
    - {type: conv2d, filters: 4, kernel: 3, padding: same}
    - {type: maxpool, size: 2}
    - {type: conv2d, filters: 6, kernel: 3}
    - {units: 10, activation: softmax}
train:
  epochs: 12
  batch_size: 32
  learning_rate: 0.1
  optimizer: {name: adam}
  schedule: {name: inverse_time, decay_rate: 0.5}
  early_stopping: {patience: 1}
"""

# A regression on a CSV file without a dev split: no confusion matrix, no boundary, no dev metrics.
REGRESSION_SPEC = """\
name: regression
data:
  source: {type: csv, path: CSV}
  split: {train: 0.8, dev: 0, test: 0.2}
model:
  layers:
    - {units: 8, activation: tanh}
    - {units: 1, activation: linear}
train: {epochs: 3, batch_size: 16, learning_rate: 0.05}
checkpoint: {monitor: train_cost}
"""

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """Three tiny trained runs: a CNN on digits (stopped early), moons (2-D, sigmoid) and a second moons run."""
    base = tmp_path_factory.mktemp("report")
    cnn = train_json(write_spec(base, CNN_SPEC, "cnn.yaml"), base / "runs")
    assert cnn["stop_reason"] == "early_stopping", cnn["stop_reason"]
    moons_spec = write_spec(base, MOONS_SPEC.replace("epochs: 5", "epochs: 30"), "moons.yaml")
    x = np.random.default_rng(0).uniform(-1, 1, size=(100, 2))
    np.savetxt(base / "regression.csv", np.column_stack([x, x[:, 0] ** 2 + 0.5 * x[:, 1]]), delimiter=",")
    regression_spec = write_spec(base, REGRESSION_SPEC.replace("CSV", str(base / "regression.csv")), "regression.yaml")
    return {
        "regression": Path(train_json(regression_spec, base / "runs")["run"]),
        "cnn": Path(cnn["run"]),
        "moons": Path(train_json(moons_spec, base / "runs")["run"]),
        "moons_adam": Path(train_json(moons_spec, base / "runs", "train.optimizer={name: adam}", "train.learning_rate=0.01")["run"]),
    }


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, f"{path} is not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def assert_png(path: Path, min_width: int = 300) -> None:
    width, height = png_size(path)
    assert min_width <= width <= 3000 and 200 <= height <= 3000, (width, height)
    assert 5_000 < path.stat().st_size < 2_000_000


# ---------------------------------------------------------------- the bias-corrected average


def test_ewma_matches_the_notes_hand_values():
    # docs/explanation/algorithms.md#ewa, β = 0.98: v̂_2 = 0.49495·θ1 + 0.50505·θ2 (exactly 0.0196/0.0396 and 0.02/0.0396).
    theta1, theta2 = 3.0, -1.0
    got = ewma([theta1, theta2], 0.98)
    assert got[0] == pytest.approx(theta1, rel=1e-15)
    assert got[1] == pytest.approx((0.0196 * theta1 + 0.02 * theta2) / 0.0396, rel=1e-14)
    assert 0.0196 / 0.0396 == pytest.approx(0.49495, abs=5e-6)


def test_ewma_by_hand_for_three_steps_and_its_limits():
    # β = 0.5 on 4, 8, 2: v = 2, 5, 3.5; 1 − β^t = 0.5, 0.75, 0.875; v̂ = 4, 20/3, 4.
    assert np.allclose(ewma([4.0, 8.0, 2.0], 0.5), [4.0, 20.0 / 3.0, 4.0], rtol=0, atol=1e-14)
    assert np.array_equal(ewma([1.5, -2.0, 7.0], 0.0), [1.5, -2.0, 7.0])  # β = 0: no averaging
    assert np.allclose(ewma(np.full(500, 2.5), 0.999), 2.5, rtol=1e-12)  # no pull towards 0 at the start
    with pytest.raises(ValueError):
        ewma([1.0], 1.0)


# ---------------------------------------------------------------- every kind renders


@pytest.mark.parametrize("args, name", [
    (["plot", "{cnn}"], "curves.png"),
    (["plot", "curves", "{cnn}", "--per", "step", "--smooth", "0.8", "--log-y"], "curves-step.png"),
    (["plot", "confusion", "{cnn}", "--normalize", "true"], "confusion-dev.png"),
    (["plot", "errors", "{cnn}", "--split", "train"], "errors-train.png"),
    (["plot", "filters", "{cnn}", "--layer", "conv2"], "filters-conv2.png"),
    (["plot", "boundary", "{moons}", "--split", "dev"], "boundary-dev.png"),
])
def test_each_kind_writes_a_png_into_the_run(runs, args, name):
    args = [a.format(**runs) for a in args]
    run = Path(args[1] if args[1].startswith("/") else args[2])
    result = invoke(*args)
    path = run / "plots" / name
    assert result.stdout.strip() == str(path)
    assert_png(path)


def test_several_runs_overlay_into_one_svg(runs, tmp_path):
    out = tmp_path / "both.svg"
    invoke("plot", runs["moons"], runs["moons_adam"], "--metric", "dev_cost", "--metric", "dev_accuracy", "--out", out)
    root = ET.parse(out).getroot()
    assert root.tag.endswith("svg")
    assert out.read_bytes() == save_again(runs, out, tmp_path)  # same input, same bytes (no dates, fixed ids)


def save_again(runs, out: Path, tmp_path: Path) -> bytes:
    again = tmp_path / "sub"
    again.mkdir()
    invoke("plot", runs["moons"], runs["moons_adam"], "--metric", "dev_cost", "--metric", "dev_accuracy", "--out", again / out.name)
    return (again / out.name).read_bytes()


# ---------------------------------------------------------------- what the curves show


def legend_texts(fig) -> list[str]:
    return [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]


def test_curves_mark_the_best_epoch_and_the_early_stop(runs):
    history = load_history(runs["cnn"])
    best = history.best
    fig = curves_figure([history], CurveOptions(metrics=("train_cost", "dev_cost")))
    texts = legend_texts(fig)
    assert f"best epoch {best['epoch']} (dev_cost)" in texts
    assert f"early stop after epoch {history.n_epochs}" in texts
    star = next(line for line in fig.axes[0].lines if line.get_label().startswith("best dev_cost"))
    assert star.get_xdata()[0] == best["epoch"] and star.get_ydata()[0] == pytest.approx(best["value"], rel=1e-12)
    # the monitored value at the best epoch is what metrics.h5 recorded there
    assert history.column("dev_cost")[best["epoch"] - 1] == pytest.approx(best["value"], rel=1e-12)


def test_step_curves_plot_the_bias_corrected_average_at_the_right_steps(runs):
    history = load_history(runs["cnn"])
    assert history.steps_per_epoch == math.ceil(180 / 32)  # 60 % of 300 examples in batches of 32
    fig = curves_figure([history], CurveOptions(metrics=("train_cost",), per="step", smooth=0.8))
    lines = {line.get_label(): line for line in fig.axes[0].lines}
    average = lines["its average, β = 0.8 (bias-corrected)"]
    assert np.array_equal(average.get_ydata(), ewma(history.step_cost, 0.8))
    epoch_cost = lines["train_cost"]
    assert np.array_equal(epoch_cost.get_xdata(), np.arange(1, history.n_epochs + 1) * history.steps_per_epoch)
    lr = fig.axes[-1].lines[0]
    assert np.array_equal(lr.get_ydata(), history.step_lr) and fig.axes[-1].get_ylabel().startswith("learning rate")


def test_every_figure_has_a_title_axis_labels_and_a_legend(runs):
    history = load_history(runs["moons"])
    fig = curves_figure([history, load_history(runs["moons_adam"])], CurveOptions())
    assert fig.get_suptitle() == "Learning curves of 2 runs"
    assert all(ax.get_ylabel() for ax in fig.axes) and fig.legends
    assert fig.axes[-1].get_xlabel().startswith("epoch")
    assert runs["moons_adam"].name in [t.get_text() for t in fig.legends[0].get_texts()]


def test_several_runs_legend_has_a_colour_per_run_and_a_style_per_split(runs):
    """N runs and k line styles: N + k legend entries (and one for the best-epoch marker), not N × k."""
    names = ["cnn", "moons", "moons_adam"]
    histories = [load_history(runs[name]) for name in names[1:]]
    fig = curves_figure(histories, CurveOptions(metrics=("train_cost", "dev_cost", "train_accuracy", "dev_accuracy")))
    texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert texts == [runs["moons"].name, runs["moons_adam"].name, "train split", "dev split",
                     "best epoch (★ on the monitored metric)"]
    assert not any(ax.get_legend() for ax in fig.axes)  # one legend for the figure, beside the panels
    fig = curves_figure([load_history(runs[name]) for name in names], CurveOptions())
    assert len(fig.legends[0].get_texts()) == len(names) + 2 + 2  # + best epoch, + early stop (the CNN)


def test_default_curves_draw_the_monitored_metric(tmp_path):
    spec = write_spec(tmp_path, MOONS_SPEC + "checkpoint: {monitor: dev_accuracy}\n")
    history = load_history(Path(train_json(spec, tmp_path / "runs")["run"]))
    fig = curves_figure([history], CurveOptions())
    drawn = {line.get_label() for ax in fig.axes for line in ax.lines}
    assert {"train_cost", "dev_cost", "train_accuracy", "dev_accuracy"} <= drawn
    assert any(text.startswith("best dev_accuracy") for text in legend_texts(fig))


def test_a_constant_learning_rate_is_a_line_of_text_not_a_panel(runs):
    history = load_history(runs["regression"])
    assert history.step_lr.min() == history.step_lr.max() == 0.05
    fig = curves_figure([history], CurveOptions())
    assert len(fig.axes) == 1 and not fig.axes[0].get_ylabel().startswith("learning rate")
    assert fig.axes[0].get_title(loc="left") == "learning rate α = 0.05, constant"
    fig = curves_figure([load_history(runs["moons"]), history], CurveOptions(metrics=("train_cost",)))
    assert len(fig.axes) == 2  # moons decays (inverse_time): the schedule panel is back for both


def test_per_step_curves_keep_the_per_epoch_file(runs):
    run = runs["moons"]
    invoke("plot", run)
    epoch_png = (run / "plots" / "curves.png").read_bytes()
    assert invoke("plot", run, "--per", "step").stdout.strip() == str(run / "plots" / "curves-step.png")
    assert (run / "plots" / "curves.png").read_bytes() == epoch_png


# ---------------------------------------------------------------- decision boundary


def test_boundary_regions_agree_with_predict_on_the_grid_points(runs, tmp_path):
    model = load_model(runs["moons"])
    predictions = predict_split(model, "train", "a decision boundary")
    fig = boundary_figure(model, predictions, resolution=41)
    ax = fig.axes[0]
    mesh = ax.collections[0]
    classes = np.asarray(mesh.get_array()).reshape(41, 41)
    corners = mesh.get_coordinates()  # (42, 42, 2) cell corners; nearest shading centres cells on the grid points
    centres = (corners[:-1, :-1] + corners[1:, 1:]) / 2
    points = centres.reshape(-1, 2)
    # `nnctl predict` on the same points, as a user would call it, through a CSV file
    grid_csv = tmp_path / "grid.csv"
    np.savetxt(grid_csv, points, delimiter=",", fmt="%.17g")
    result = invoke("predict", runs["moons"], grid_csv)
    predicted = [row["class"] for row in csv.DictReader(result.stdout.splitlines())]
    names = model.checkpoint.class_names
    assert [names[c] for c in classes.ravel().astype(int)] == predicted
    assert len(set(predicted)) == 2  # both regions are on the picture
    # the points are drawn in the original coordinates: the raw train split, not normalized values
    raw = split_data(model, "train").x
    drawn = np.concatenate([c.get_offsets() for c in ax.collections[1:]])
    assert np.allclose(np.sort(drawn, axis=0), np.sort(raw, axis=0))
    assert points[:, 0].min() < raw[:, 0].min() and points[:, 0].max() > raw[:, 0].max()


# ---------------------------------------------------------------- confusion matrix numbers


def test_confusion_values_count_and_normalize_by_hand(runs):
    model = load_model(runs["cnn"])
    predictions = predict_split(model, "dev", "a confusion matrix")
    counts = confusion_values(predictions, 10)
    expected = np.zeros((10, 10))
    for true, pred in zip(predictions.data.y, predictions.predicted):
        expected[true, pred] += 1
    assert np.array_equal(counts, expected)
    by_true, by_pred = confusion_values(predictions, 10, "true"), confusion_values(predictions, 10, "pred")
    rows, cols = expected.sum(axis=1), expected.sum(axis=0)
    assert np.allclose(by_true.sum(axis=1), np.where(rows > 0, 1.0, 0.0), rtol=0, atol=1e-15)
    assert np.allclose(by_pred.sum(axis=0), np.where(cols > 0, 1.0, 0.0), rtol=0, atol=1e-15)
    i = int(np.argmax(rows))
    assert by_true[i, i] == expected[i, i] / rows[i]


@pytest.mark.filterwarnings("error::UserWarning")  # a collapsed layout is a matplotlib warning
def test_confusion_matrix_with_long_class_names_keeps_its_cells(runs):
    """Class names of 50 characters label the ticks by their start and end; the matrix keeps most of the figure."""
    predictions = predict_split(load_model(runs["cnn"]), "dev", "a confusion matrix")
    names = [f"a class whose name runs on and on for a while, no. {k}" for k in range(10)]
    fig = confusion_figure(predictions, names, "cnn")
    fig.canvas.draw()
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == [f"a class…r a while, no. {k}" for k in range(10)]
    assert ax.get_position().height > 0.35  # of the figure; with the whole names it was a sliver


@pytest.mark.filterwarnings("error::UserWarning")
def test_misclassified_grid_with_long_class_names_keeps_its_images(runs, tmp_path):
    from nnctl.report.figures import save
    from nnctl.report.misclassified import errors_figure

    predictions = predict_split(load_model(runs["cnn"]), "dev", "a grid of misclassified images")
    names = [f"a class whose name runs on and on for a while, no. {k}" for k in range(10)]
    fig = errors_figure(predictions, names, "cnn")
    save(fig, tmp_path / "errors.png")
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles and all(re.fullmatch(r"a cl…le, no\. \d\n→ a cl…le, no\. \d \(\d\.\d\d\)\nrow \d+", t) for t in titles), titles[0]
    assert min(ax.get_position().height for ax in fig.axes if ax.images) > 0.05


# ---------------------------------------------------------------- terminal


def test_text_chart_puts_a_rising_line_from_bottom_left_to_top_right():
    chart = text_chart([("rising", np.arange(1.0, 11.0), np.arange(1.0, 11.0))], "t", "epoch", "cost", width=20, height=5)
    rows = [line.split("|", 1)[1] for line in chart.splitlines() if "|" in line]
    assert len(rows) == 5 and all(len(r) == 20 for r in rows)
    assert rows[-1][0] == "*" and rows[0][-1] == "*"
    assert " 10 |" in chart and "* rising" in chart


def test_text_chart_of_one_point_is_one_mark():
    chart = text_chart([("one epoch", np.array([1.0]), np.array([0.7]))], "t", "epoch", "cost", width=20, height=5)
    assert sum(line.count("*") for line in chart.splitlines() if "|" in line) == 1


def test_terminal_curves_need_no_matplotlib(runs, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    result = invoke("plot", runs["cnn"], "--terminal", "--per", "step")
    assert "mini-batch cost, average β = 0.9" in result.stdout
    assert f"best dev_cost {load_history(runs['cnn']).best['value']:.4g}" in result.stdout


# ---------------------------------------------------------------- HTML report


def assert_self_contained(page: str) -> None:
    assert "<script" not in page.lower() and "<link" not in page.lower() and "@import" not in page
    for value in re.findall(r'(?:href|src)\s*=\s*"([^"]*)"', page):
        assert value.startswith(("#", "data:")), value
    for match in re.finditer(r"https?://", page):
        before = page[max(0, match.start() - 20):match.start()]
        assert re.search(r'xmlns(:\w+)?="$', before), page[match.start() - 40:match.end() + 40]
    assert "url(" not in page.replace("url(#", "")


def test_report_is_one_self_contained_page(runs, tmp_path):
    out = tmp_path / "moons.html"
    result = invoke("report", runs["moons"], "--out", out, "--gradcheck")
    assert result.stdout.strip() == str(out)
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert_self_contained(page)
    for anchor in ("overview", "data", "metrics", "diagnosis", "curves", "health", "confusion", "boundary", "gradcheck", "spec"):
        assert f'<section id="{anchor}">' in page
    assert page.count("<svg") == 5  # two learning-curve figures, the health figure, the confusion matrix, the boundary
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids)) and len(ids) > 100  # glyphs and clip paths of five figures, none shared
    assert set(re.findall(r'href="#([^"]+)"', page)) <= set(ids)  # every reference resolves inside the page
    for svg in re.findall(r"<svg.*?</svg>", page, flags=re.S):
        ET.fromstring(svg)
    assert "dense1/W" in page and "<td>pass</td>" in page


def test_the_report_carries_the_diagnosis_of_nnctl_diagnose(runs, tmp_path):
    """The same numbers as `nnctl diagnose --json`: each level's error and the gaps, as percentages."""
    found = invoke_json("diagnose", runs["moons"])
    invoke("report", runs["moons"], "--out", tmp_path / "r.html")
    page = tmp_path / "r.html"
    text = page.read_text()
    section = text[text.index('<section id="diagnosis">'):text.index("</section>", text.index('<section id="diagnosis">'))]
    assert found["verdict"] in section
    for name in ("train", "dev"):
        assert f'<td>{name}</td><td class="num">{100 * found["levels"][name]["error"]:.2f} %</td>' in section
    assert f'<td>variance</td><td class="num">{100 * found["gaps"]["variance"]["value"]:.2f} %</td>' in section


def test_a_regression_report_has_no_diagnosis_and_says_why(runs):
    result = invoke("report", runs["regression"])
    assert 'id="diagnosis"' not in (runs["regression"] / "report.html").read_text()
    assert "nnctl: note: no diagnosis in the report:" in result.stderr


def test_report_of_an_image_run_has_no_boundary(runs):
    invoke("report", runs["cnn"])
    page = (runs["cnn"] / "report.html").read_text()
    assert_self_contained(page)
    assert 'id="confusion"' in page and 'id="boundary"' not in page and 'id="gradcheck"' not in page
    assert '<td>dev</td><td class="num">60</td>' in page  # the split table: 20 % of 300


def test_a_regression_without_dev_split_plots_what_it_recorded(runs):
    history = load_history(runs["regression"])
    fig = curves_figure([history], CurveOptions())
    assert [line.get_label() for line in fig.axes[0].lines if not line.get_label().startswith(("_", "best"))] == ["train_cost"]
    assert fig.axes[0].get_ylabel() == "cost J (½ squared error, target units²)"
    invoke("report", runs["regression"])
    page = (runs["regression"] / "report.html").read_text()
    assert_self_contained(page)
    assert 'id="confusion"' not in page and 'id="boundary"' not in page
    assert '<th>metric</th><th class="num">train</th><th class="num">test</th>' in page and "<td>mse</td>" in page
    line = one_line_error(invoke("plot", "confusion", runs["regression"], "--split", "test", expect=2).stderr)
    assert "needs a single-label classifier; this run is a regression" in line


def test_train_report_writes_the_page_at_the_end(tmp_path):
    spec = write_spec(tmp_path, MOONS_SPEC.replace("epochs: 5", "epochs: 2"), "moons.yaml")
    result = invoke("train", spec, "--runs-dir", tmp_path / "runs", "--quiet", "--report")
    run = next((tmp_path / "runs").glob("moons-*"))  # not runs/latest, the link to it
    assert (run / "report.html").is_file()
    assert f"report: {run / 'report.html'}" in result.stderr


# ---------------------------------------------------------------- bad input: one line, exit 2, nothing written


def test_boundary_needs_two_dimensional_inputs(runs):
    line = one_line_error(invoke("plot", "boundary", runs["cnn"], expect=2).stderr)
    assert "needs 2-D inputs" in line and "(8, 8, 1)" in line
    assert not (runs["cnn"] / "plots" / "boundary-train.png").exists()


def test_an_unrecorded_metric_gets_a_did_you_mean(runs):
    line = one_line_error(invoke("plot", runs["cnn"], "--metric", "dev_acuracy", expect=2).stderr)
    assert "'dev_acuracy' was not recorded; did you mean 'dev_accuracy'?" in line


def test_a_run_without_metrics_yet(tmp_path):
    from nnctl.orchestration.start import start_run
    from nnctl.spec import load_spec

    run = start_run(load_spec(write_spec(tmp_path, MOONS_SPEC, "m.yaml")), tmp_path / "runs").run_dir
    for args in (["plot", run], ["plot", run, "--terminal"], ["report", run]):
        line = one_line_error(invoke(*args, expect=2).stderr)
        assert "no metrics yet" in line
    assert not (run / "plots").exists() and not (run / "report.html").exists()


@pytest.mark.parametrize("out, message", [
    ("missing/dir/curves.png", "does not exist"),
    ("curves.jpg", "unknown file type '.jpg'; expected one of .png, .svg"),
])
def test_bad_output_paths(runs, tmp_path, out, message):
    target = tmp_path / out
    line = one_line_error(invoke("plot", runs["moons"], "--out", target, expect=2).stderr)
    assert message in line
    assert not target.exists()
    line = one_line_error(invoke("report", runs["moons"], "--out", tmp_path / "r.pdf", expect=2).stderr)
    assert "expected one of .html, .htm" in line


def test_a_run_on_a_read_only_filesystem(runs, tmp_path):
    """The run is copied onto a tmpfs that is then remounted read-only: one line each, nothing written."""
    from test_hardening_runs import mounted_tmpfs

    mount = tmp_path / "mnt"
    for _ in mounted_tmpfs(mount, "size=2m"):
        try:  # unmount even when an assertion fails (the generator's own unmount would not run)
            run = Path(shutil.copytree(runs["moons"], mount / runs["moons"].name, ignore=shutil.ignore_patterns("plots")))
            if subprocess.run(["mount", "-o", "remount,ro", str(mount)], capture_output=True).returncode != 0:
                pytest.skip("cannot remount read-only here")
            line = one_line_error(invoke("plot", run, expect=2).stderr)
            assert "plots: cannot create the folder (Read-only file system)" in line
            line = one_line_error(invoke("report", run, expect=2).stderr)
            assert "report.html: cannot write (Read-only file system)" in line
        finally:
            subprocess.run(["umount", str(mount)], check=False)


@pytest.mark.parametrize("args, message", [
    (["plot", "filters", "{cnn}", "--layer", "conv3"], "did you mean 'conv2'?"),
    (["plot", "filters", "{moons}"], "has no convolution layers"),
    (["plot", "errors", "{moons}"], "needs image inputs"),
    (["plot", "confusion", "{cnn}", "--normalize", "rows"], "'rows' is not one of 'none', 'true', 'pred'"),
    (["plot", "{cnn}", "--per", "batch"], "'batch' is not one of 'epoch', 'step'"),
    (["plot", "{cnn}", "--smooth", "1"], "--smooth 1.0: expected a β in [0, 1)"),
    (["plot", "boundary", "{moons}", "--split", "validation"], "'validation' is not one of 'train', 'dev', 'test', 'train_dev'"),
    (["plot", "{cnn}", "--terminal", "--out", "x.png"], "drop --out"),
    (["plot", "boundry", "{moons}"], "boundry: no such run directory; did you mean `nnctl plot boundary`?"),
])
def test_other_bad_options(runs, args, message):
    line = one_line_error(invoke(*[a.format(**runs) for a in args], expect=2).stderr)
    assert message in line


def test_without_matplotlib_plots_fail_with_the_install_hint(runs, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    line = one_line_error(invoke("plot", runs["moons"], "--out", tmp_path / "c.png", expect=2).stderr)
    assert "pip install 'nnctl[plot]'" in line
    spec = write_spec(tmp_path, MOONS_SPEC, "m.yaml")
    one_line_error(invoke("train", spec, "--runs-dir", tmp_path / "runs", "--report", expect=2).stderr)
    assert not (tmp_path / "runs").exists()  # refused before training, not after it


def test_the_command_line_does_not_import_plotting_until_asked():
    """Only the option words (nnctl.report.choices) and the text of values (nnctl.report.values, for every table)
    are loaded for `nnctl --help`: no matplotlib, no figure code."""
    code = "import sys, nnctl.cli.main; print(sorted(m for m in sys.modules if m.startswith(('matplotlib', 'nnctl.report'))))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "['nnctl.report', 'nnctl.report.choices', 'nnctl.report.values']"


def test_log_axes_are_labelled_in_plain_text(tmp_path):
    """Figure text is never read as mathtext (data shown as data), so log axes get 10⁻³, not $\\mathdefault{10^{-3}}$."""
    from nnctl.report.figures import new_figure, save

    fig = new_figure(4, 3)
    ax = fig.subplots()
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.plot([1e-3, 1], [0.02, 0.09])
    save(fig, tmp_path / "log.png")
    major = [t.get_text() for t in ax.get_xticklabels()]
    minor = [t.get_text() for t in ax.yaxis.get_ticklabels(minor=True)]
    assert "10⁻³" in major and "10⁰" in major and "2×10⁻²" in minor
    assert not any("$" in text or "mathdefault" in text for text in major + minor)


@pytest.mark.filterwarnings("error::UserWarning")  # a missing glyph (a tab, an escape) is a matplotlib warning
def test_control_characters_in_figure_text_are_drawn_escaped(runs, tmp_path):
    """Class names with a tab, an escape, a line break and a bidi override label a confusion matrix escaped; a
    title's own line breaks stay, a name's do not; raw labels given straight to a tick are escaped too."""
    from nnctl.report.figures import new_figure, save

    predictions = predict_split(load_model(runs["cnn"]), "dev", "a confusion matrix")
    names = ["tab\there", "\x1b[2Jred", "line1\nline2", "\u202eevil"] + [str(k) for k in range(4, 10)]
    fig = confusion_figure(predictions, names, "run\x1b[31m")
    save(fig, tmp_path / "confusion.png")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()][:4] == [r"tab\there", r"\x1b[2Jred", r"line1\nline2", r"\u202eevil"]
    assert ax.get_title().startswith("Confusion matrix: run\\x1b[31m\ndev split")
    fig = new_figure(4, 3)
    ax = fig.subplots()
    ax.bar([0, 1], [1, 2])
    ax.set_xticks([0, 1], ["a\tb", "c\x07"])
    ax.legend(["bell\x07"])
    save(fig, tmp_path / "raw.svg")
    assert [t.get_text() for t in ax.get_xticklabels()] == [r"a\tb", r"c\x07"]
    assert ax.get_legend().get_texts()[0].get_text() == r"bell\x07"
