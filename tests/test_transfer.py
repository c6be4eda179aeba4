"""`model.init_from`: layers copied by name from a trained run, new heads re-initialized, the source's
normalizer reused, and a frozen trunk that stays bit for bit what was transferred."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import invoke, one_line_error, train_json, write_spec

from nnctl.data.sources import read_source
from nnctl.orchestration.datasets import default_datasets_dir
from nnctl.orchestration.transfer import resolve_run
from nnctl.runs.checkpoint import load_checkpoint
from nnctl.spec.schema import DigitsSource

LAYERS = """\
  layers:
    - {type: conv2d, filters: 8, kernel: 3, padding: same, batchnorm: true}
    - {type: maxpool, size: 2}
    - {units: 32, activation: relu}
    - {units: UNITS, activation: softmax}
"""

# The source task: digits 0-4, all of them. The target: digits 5-8 from 120 examples, a new 4-class head.
SOURCE = """\
name: source
seed: 0
data: {source: {type: npz, path: low.npz}, split: {train: 0.8, dev: 0.2, test: 0}}
model:
""" + LAYERS.replace("UNITS", "5") + """\
train: {epochs: 8, batch_size: 32, learning_rate: 0.005, optimizer: {name: adam}}
"""

TARGET = """\
name: target
seed: 1
data: {source: {type: npz, path: high.npz}, limit: 200, split: {train: 120, dev: 80, test: 0}}
model:
  init_from: {run: RUN}
  freeze: [conv1, dense1]
""" + LAYERS.replace("UNITS", "4") + """\
train: {epochs: 30, batch_size: 20, learning_rate: 0.01, optimizer: {name: adam}}
checkpoint: {monitor: dev_accuracy}
"""


@pytest.fixture(scope="module")
def source_run(tmp_path_factory) -> tuple[Path, Path]:
    """A CNN trained on digits 0-4; the folder also holds high.npz (digits 5-8) for the target task."""
    base = tmp_path_factory.mktemp("transfer")
    pool = read_source(DigitsSource(), default_datasets_dir()).pool
    y = pool.y.astype(int)
    np.savez(base / "low.npz", x=pool.x[y < 5], y=y[y < 5])
    high = (y >= 5) & (y <= 8)
    np.savez(base / "high.npz", x=pool.x[high], y=y[high])
    spec = write_spec(base, SOURCE, "source.yaml")
    run = Path(train_json(spec, base / "runs", f"data.source.path={base / 'low.npz'}")["run"])
    return base, run


def target_spec(base: Path, run: Path, name: str = "target.yaml", text: str = TARGET) -> Path:
    return write_spec(base, text.replace("RUN", str(run)).replace("path: high.npz", f"path: {base / 'high.npz'}"), name)


def test_a_new_head_on_a_frozen_transferred_trunk_learns_the_target_task(source_run, tmp_path):
    base, run = source_run
    result = train_json(target_spec(base, run), tmp_path)
    assert result["metrics"]["dev_accuracy"] >= 0.8, result["metrics"]["dev_accuracy"]  # measured 0.85; 4 classes from 120 examples
    source = load_checkpoint(run / "best.h5")
    target = load_checkpoint(Path(result["run"]) / "checkpoint.h5")
    for key in ("conv1/W", "conv1.bn/gamma", "conv1.bn/beta", "dense1/W", "dense1/b"):
        assert np.array_equal(target.params[key], source.params[key]), key
    for key in ("conv1.bn/running_mean", "conv1.bn/running_var"):
        assert np.array_equal(target.state[key], source.state[key]), key
    assert target.params["dense2/W"].shape == (4, 32)
    for name in ("shift", "divisor"):  # the source's normalizer, not one fitted on the 120 target images
        assert np.array_equal(target.normalizer[name], source.normalizer[name])
    initial = load_checkpoint(Path(result["run"]) / "initial.h5")
    assert not np.array_equal(target.params["dense2/W"], initial.params["dense2/W"])


def test_fine_tuning_the_last_hidden_layer_on_a_frozen_conv_trunk(source_run, tmp_path):
    """The notes' middle road: keep the convolutional trunk, retrain the last hidden layer with the new head."""
    base, run = source_run
    result = train_json(target_spec(base, run), tmp_path, "model.freeze=[conv1]")
    assert result["metrics"]["dev_accuracy"] >= 0.95, result["metrics"]["dev_accuracy"]  # measured 0.9875
    source = load_checkpoint(run / "best.h5")
    target = load_checkpoint(Path(result["run"]) / "checkpoint.h5")
    assert np.array_equal(target.params["conv1/W"], source.params["conv1/W"])
    assert not np.array_equal(target.params["dense1/W"], source.params["dense1/W"])


def test_spec_show_says_copied_reinitialized_or_new(source_run, tmp_path):
    base, run = source_run
    text = TARGET.replace("    - {units: 4, activation: softmax}",
                          "    - {units: 16, activation: relu}\n    - {units: 4, activation: softmax}")
    out = invoke("spec", "show", target_spec(base, run, "show.yaml", text)).stderr  # the layer table: stderr
    fates = {line.split("│")[1].strip(): line.split("│")[5].strip() for line in out.splitlines() if line.count("│") == 6}
    assert fates["conv1"] == "copied" and fates["conv1.bn"] == "copied" and fates["dense1"] == "copied"
    assert fates["dense2"] == "re-initialized" and fates["dense3"] == "new"


def test_listed_layers_are_the_only_ones_copied(source_run):
    from nnctl.orchestration.start import prepare_run
    from nnctl.spec import load_spec

    base, run = source_run
    spec = load_spec(target_spec(base, run), ["model.init_from.layers=[conv1]"])
    parts = prepare_run(spec)
    assert parts.transfer == {"conv1": "copied", "conv1.bn": "copied", "dense1": "re-initialized", "dense2": "re-initialized"}
    source = load_checkpoint(run / "best.h5")
    assert np.array_equal(parts.net.tensors()["conv1/W"], source.params["conv1/W"])
    assert not np.array_equal(parts.net.tensors()["dense1/W"], source.params["dense1/W"])


def test_normalize_from_fit_fits_on_the_target_data(source_run, tmp_path):
    base, run = source_run
    result = train_json(target_spec(base, run), tmp_path, "data.normalize.from=fit", "train.epochs=1")
    source = load_checkpoint(run / "best.h5")
    target = load_checkpoint(Path(result["run"]) / "checkpoint.h5")
    assert not np.array_equal(target.normalizer["shift"], source.normalizer["shift"])


def test_a_resumed_transfer_run_does_not_copy_again(source_run, tmp_path):
    """Resume continues from its own checkpoint: bit-exact, even if the source run is gone."""
    base, run = source_run
    spec = target_spec(base, run)
    whole = train_json(spec, tmp_path / "a", "train.epochs=4")
    half = train_json(spec, tmp_path / "b", "train.epochs=2")
    moved = base / "moved-away"
    run.rename(moved)
    try:
        resumed = invoke("train", "--resume", half["run"], "--set", "train.epochs=4", "--quiet")
        assert resumed.exit_code == 0
    finally:
        moved.rename(run)
    a = load_checkpoint(Path(whole["run"]) / "checkpoint.h5").params
    b = load_checkpoint(Path(half["run"]) / "checkpoint.h5").params
    for key in a:
        assert np.array_equal(a[key], b[key]), key


def test_a_run_name_means_its_newest_run(tmp_path):
    runs = tmp_path / "runs"
    for name in ("src-20261130-235959", "src-20261201-000001", "src-20261201-000001-1", "srcx-20261202-000000"):
        (runs / name).mkdir(parents=True)
    assert resolve_run(str(runs / "src")) == runs / "src-20261201-000001-1"
    assert resolve_run(str(runs / "src-20261130-235959")) == runs / "src-20261130-235959"


@pytest.mark.parametrize("override, message", [
    ("model.init_from.run=nowhere/none", "model.init_from.run: nowhere/none: no such run directory"),
    ("model.init_from.layers=[conv1, dens1]", "'dens1' is not a known layer with parameters in this model; did you mean 'dense1'?"),
    ("model.init_from.layers=[dense2]", "cannot copy dense2/W: shape (4, 32) here, shape (5, 32)"),
])
def test_bad_init_from_is_one_line_exit_2(source_run, tmp_path, override, message):
    base, run = source_run
    path = target_spec(base, run, "bad.yaml")
    error = one_line_error(invoke("train", path, "--runs-dir", tmp_path / "runs", "--set", override, expect=2).stderr)
    assert message in error
    assert not (tmp_path / "runs").exists()


def test_a_layer_the_source_run_lacks_is_named_with_a_suggestion(source_run, tmp_path):
    base, run = source_run
    text = TARGET.replace("    - {units: 4, activation: softmax}",
                          "    - {units: 16, activation: relu}\n    - {units: 4, activation: softmax}")
    path = target_spec(base, run, "lacks.yaml", text)
    error = one_line_error(invoke("spec", "show", path, "--set", "model.init_from.layers=[dense3]", expect=2).stderr)
    assert f"{run} has no layer 'dense3'; did you mean 'dense1'?" in error or f"{run} has no layer 'dense3'; did you mean 'dense2'?" in error
