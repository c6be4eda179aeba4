"""Source options on the command line (data info, eval --data, predict), bad files, and where data lives."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from conftest import invoke, invoke_json, one_line_error, train_run, write_spec

from nnctl.data import registry
from nnctl.data.sources import read_source
from nnctl.orchestration.datasets import default_datasets_dir
from nnctl.spec.schema import DigitsSource

NAMES = ["setosa", "versicolor", "virginica"]
CENTRES = np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 3.0]])

SPEC = """\
name: flowers
seed: 0
data:
  source: {type: csv, path: flowers.csv, label_column: 0, classes: [setosa, versicolor, virginica]}
  split: {train: 0.6, dev: 0.2, test: 0.2}
model:
  layers:
    - {units: 8, activation: tanh}
    - {units: 3, activation: softmax}
train: {epochs: 30, batch_size: 16, learning_rate: 0.05, optimizer: {name: adam}}
"""


def flowers(path, n=90, label=lambda c: str(c), header="kind,a,b"):
    """Three well separated clusters; the label (class index or name) comes first."""
    rng = np.random.default_rng(0)
    lines = [header] if header else []
    for i in range(n):
        c = i % 3
        x = CENTRES[c] + rng.normal(0, 0.3, 2)
        lines.append(f"{label(c)},{x[0]:.5f},{x[1]:.5f}")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def flower_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("flowers")
    flowers(base / "flowers.csv")
    return train_run(write_spec(base, SPEC), base / "runs")


def test_declared_class_names_reach_eval_and_predict(flower_run, tmp_path):
    table = invoke("eval", flower_run, "--split", "test").stdout
    assert all(name in table for name in NAMES)
    flowers(tmp_path / "new.csv", n=6, header=None)
    named = invoke("predict", flower_run, tmp_path / "new.csv", "--label-column", "0").stdout.split()
    assert named == ["class", *(NAMES * 2)]
    indices = invoke("predict", flower_run, tmp_path / "new.csv", "--label-column", "0", "--labels", "indices").stdout.split()
    assert indices == ["class", *(["0", "1", "2"] * 2)]


def test_predict_drops_the_label_column_it_finds(flower_run, tmp_path):
    flowers(tmp_path / "with_labels.csv", n=6, header="kind,a,b")
    result = invoke("predict", flower_run, tmp_path / "with_labels.csv")
    # the run recorded that its label is the first of three columns: no need to say so again
    assert "left out the label column 1 ('kind')" in result.stderr and result.stdout.split()[1:] == NAMES * 2
    told = invoke("predict", flower_run, tmp_path / "with_labels.csv", "--label-column", "kind")
    assert "left out the label column 1 ('kind')" in told.stderr and told.stdout == result.stdout


def test_eval_data_with_source_options(flower_run, tmp_path):
    flowers(tmp_path / "named.csv", n=30, label=lambda c: NAMES[c], header=None)
    result = invoke_json("eval", flower_run, "--data", tmp_path / "named.csv", "--label-column", "0", "--header", "no")
    assert result["examples"] == 30 and result["metrics"]["accuracy"] > 0.9
    same = invoke_json("eval", flower_run, "--data", tmp_path / "named.csv", "--source-yaml", "{type: csv, label_column: 0}")
    assert same["metrics"] == result["metrics"]
    line = one_line_error(invoke("eval", flower_run, "--label-column", "0", expect=2).stderr)
    assert "give --data too" in line


def test_data_info_reads_a_file_as_the_options_say(tmp_path):
    flowers(tmp_path / "f.csv", n=12, label=lambda c: NAMES[c])
    facts = invoke_json("data", "info", tmp_path / "f.csv", "--label-column", "kind")
    assert facts["examples"] == 12 and facts["class_counts"] == {name: 4 for name in NAMES} and facts["input_shape"] == [2]
    declared = invoke_json("data", "info", tmp_path / "f.csv", "--source-yaml", "{label_column: 0, classes: [virginica, setosa, versicolor]}")
    assert list(declared["class_counts"]) == ["virginica", "setosa", "versicolor"]


@pytest.mark.parametrize("yaml_text,message", [
    ("{label_colum: 0}", "--source-yaml: data.source.label_colum: unknown key; did you mean 'label_column'?"),
    ("[1, 2]", "--source-yaml: expected a mapping"),
    ("{type: csv, header: maybe}", "--source-yaml: data.source.header"),
    ("{type: csv, header: [", "--source-yaml:1: invalid YAML"),
])
def test_bad_source_yaml_exits_2(tmp_path, yaml_text, message):
    flowers(tmp_path / "f.csv", n=6)
    assert message in one_line_error(invoke("data", "info", tmp_path / "f.csv", "--source-yaml", yaml_text, expect=2).stderr)


def test_spec_check_data_reads_the_data_without_training(tmp_path):
    flowers(tmp_path / "flowers.csv")
    spec = write_spec(tmp_path, SPEC)
    out = invoke("spec", "check", spec, "--data").stdout
    assert "ok: train 54, dev 18, test 18 examples, input shape 2, 3 classes (setosa, versicolor, virginica)" in out
    assert not (tmp_path / "runs").exists()
    flowers(tmp_path / "flowers.csv", label=lambda c: str(c + 1))  # labels 1..3 for three names: 3 is out of range
    line = one_line_error(invoke("spec", "check", spec, "--data", expect=2).stderr)
    assert "flowers.csv: labels fall outside 0..2" in line
    assert invoke("spec", "check", spec).stdout.strip().endswith("ok")  # without --data the data is not read


def test_hdf5_bad_inputs_exit_2_with_one_line(tmp_path):
    good = tmp_path / "good.h5"
    with h5py.File(good, "w") as f:
        f["train_set_x"] = np.zeros((40, 3))
        f["train_set_y"] = np.arange(40) % 2
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(good.read_bytes()[:1000])
    (tmp_path / "text.h5").write_text("no hdf5 here")
    cases = [(truncated, {}, "truncated.h5: not a readable HDF5 file"), (tmp_path / "text.h5", {}, "text.h5: not a readable HDF5 file"),
             (good, {"x": "images"}, "good.h5: no dataset 'images' (has: train_set_x, train_set_y)")]
    for path, extra, message in cases:
        source = json.dumps({"type": "hdf5", "path": str(path), **extra})
        spec = write_spec(tmp_path, f"data:\n  source: {source}\nmodel: {{layers: [{{units: 1, activation: sigmoid}}]}}\n")
        line = one_line_error(invoke("train", spec, "--runs-dir", tmp_path / "runs", expect=2).stderr)
        assert message in line
    assert not (tmp_path / "runs").exists()


def test_the_bundled_digits_are_package_data(tmp_path):
    assert registry.BUNDLED_DIGITS.is_file() and "nnctl" in registry.BUNDLED_DIGITS.parts
    found = read_source(DigitsSource(), tmp_path / "no-datasets-here")
    assert found.pool.x.shape == (1797, 8, 8, 1)


def test_the_datasets_folder_is_the_env_then_local_then_the_user_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NNCTL_DATASETS", str(tmp_path / "env"))
    assert default_datasets_dir() == tmp_path / "env"
    monkeypatch.delenv("NNCTL_DATASETS")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_datasets_dir() == tmp_path / "xdg" / "nnctl" / "datasets"
    (tmp_path / "datasets").mkdir()
    assert default_datasets_dir() == tmp_path / "datasets"
