"""Issue 21's minor items: a long --set path, plot confusion on a multi-label run, a huge batch_size, an empty npz."""

from __future__ import annotations

import numpy as np
from conftest import invoke, one_line_error, write_spec
from test_multitask import multitask_csv, multitask_run  # noqa: F401 (fixtures)


def test_a_set_path_of_30000_parts_is_refused_in_a_short_line(tiny_spec):
    long_path = ".".join(["a"] * 30_000) + "=1"
    line = one_line_error(invoke("spec", "check", tiny_spec, "--set", long_path, expect=2).stderr)
    assert len(line) < 300 and line.startswith("nnctl: error: --set a.a.a") and "unknown key" in line
    through_a_number = "train.epochs." + ".".join(["a"] * 30_000) + "=1"
    line = one_line_error(invoke("spec", "check", tiny_spec, "--set", through_a_number, expect=2).stderr)
    assert len(line) < 300 and "cannot set 'a' inside train.epochs, which is 4, not a mapping" in line


def test_a_batch_larger_than_the_training_set_is_the_training_set(tiny_spec, tmp_path):
    """batch_size: 10⁹ trains in batches of the whole set (as the trainer does), so the estimate never blames a layer."""
    out = invoke("spec", "show", tiny_spec, "--set", "train.batch_size=1000000000").stderr
    assert "at batch 180 " in out  # 300 digits, 60 % for training
    assert "at a full batch of 180 " in invoke("spec", "show", tiny_spec, "--set", "train.batch_size=full").stderr


def test_an_empty_npz_names_the_file(tmp_path):
    np.savez(tmp_path / "empty.npz", x=np.zeros((0, 2)), y=np.zeros(0))
    spec = write_spec(tmp_path, "data:\n  source: {type: npz, path: empty.npz}\nmodel:\n  layers:\n    - {units: 1, activation: sigmoid}\n")
    line = one_line_error(invoke("train", spec, "--runs-dir", tmp_path / "runs", expect=2).stderr)
    assert line == f"nnctl: error: {tmp_path / 'empty.npz'}: no examples (x and y have 0 rows)"
    np.savez(tmp_path / "empty.npz")
    line = one_line_error(invoke("train", spec, "--runs-dir", tmp_path / "runs", expect=2).stderr)
    assert line.endswith("empty.npz: no array 'x' (the archive holds no arrays)")


def test_plot_confusion_of_a_multilabel_run_says_what_the_run_is(multitask_run, tmp_path):  # noqa: F811 (the fixture)
    result, _ = multitask_run
    line = one_line_error(invoke("plot", "confusion", result["run"], "--out", tmp_path / "c.png", expect=2).stderr)
    assert "needs a single-label classifier; this run is multi-label" in line and "regression" not in line
