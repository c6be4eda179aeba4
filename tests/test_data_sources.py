"""Several sources with roles (the notes' mismatched training and dev/test distributions) and train-dev."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import invoke, invoke_json, one_line_error, train_run, write_spec

from nnctl.data import load_splits
from nnctl.errors import BuildError
from nnctl.runs.data_record import load_data_record
from nnctl.spec import parse_spec
from nnctl.spec.errors import SpecError
from nnctl.spec.schema import DataSpec

MODEL = "model: {layers: [{units: 3}]}\n"

# "web": 600 clean moons for training; "app": 300 noisy moons, the distribution we care about.
MISMATCH = """\
name: mismatch
seed: 3
data:
  sources:
    - {source: {type: generated, name: moons, samples: 600, noise: 0.05}, use: train}
    - {source: {type: generated, name: moons, samples: 300, noise: 0.45}, use: target, train: 60, dev: 120, test: 120}
  split: {train_dev: 0.1}
model:
  layers:
    - {units: 16, activation: tanh}
    - {units: 1, activation: sigmoid}
train: {epochs: 80, batch_size: 32, learning_rate: 0.02, optimizer: {name: adam}}
"""


def sources_spec(text: str) -> DataSpec:
    return parse_spec(text + MODEL).data


def test_train_dev_dev_and_test_come_from_the_distributions_the_notes_say():
    data = sources_spec(MISMATCH.split("model:")[0])
    splits = load_splits(data, 3, "unused")
    assert [p.key for p in splits.parts] == ["data.sources[0].source", "data.sources[1].source"]
    # 600 web + 60 app rows are the training distribution; train-dev is a tenth of them
    assert (len(splits.train), len(splits.train_dev), len(splits.dev), len(splits.test)) == (594, 66, 120, 120)
    assert set(splits.dev.part.tolist()) == {1} and set(splits.test.part.tolist()) == {1}
    for part in (splits.train, splits.train_dev):
        assert set(part.part.tolist()) == {0, 1}
    assert np.bincount(np.concatenate([splits.train.part, splits.train_dev.part])).tolist() == [600, 60]
    app = np.concatenate([s.rows[s.part == 1] for s in (splits.train, splits.train_dev, splits.dev, splits.test)])
    web = np.concatenate([s.rows[s.part == 0] for s in (splits.train, splits.train_dev)])
    assert sorted(app.tolist()) == list(range(300)) and sorted(web.tolist()) == list(range(600))


def test_a_model_trained_on_the_web_shows_data_mismatch_between_train_dev_and_dev(tmp_path):
    run = train_run(write_spec(tmp_path, MISMATCH), tmp_path / "runs")
    errors = {split: invoke_json("eval", run, "--split", split, "--checkpoint", "latest")["metrics"]["error"]
              for split in ("train", "train_dev", "dev")}
    # low variance (train ≈ train-dev), a large jump to dev: the notes' data mismatch
    assert abs(errors["train_dev"] - errors["train"]) < 0.03 and errors["dev"] > errors["train_dev"] + 0.1
    record = load_data_record(run)
    assert sorted(record.splits) == ["dev", "test", "train", "train_dev"]
    assert len(record.parts) == 2 and all(len(p["sha256"]) == 64 and p["files"] == [] for p in record.parts)


def test_use_dev_and_use_test_sources_are_those_splits():
    data = sources_spec("""data:
  sources:
    - {source: {type: generated, name: moons, samples: 100}, use: train}
    - {source: {type: generated, name: moons, samples: 40, noise: 0.3}, use: dev}
    - {source: {type: generated, name: moons, samples: 30, noise: 0.3}, use: test}
""")
    splits = load_splits(data, 0, "unused")
    assert (len(splits.train), len(splits.dev), len(splits.test), splits.train_dev) == (100, 40, 30, None)
    assert set(splits.test.part.tolist()) == {2}


def test_target_shares_as_fractions_default_to_half_dev_half_test():
    data = sources_spec("""data:
  sources:
    - {source: moons, use: train}
    - {source: circles, use: target}
""")
    splits = load_splits(data, 0, "unused")
    assert (len(splits.train), len(splits.dev), len(splits.test)) == (400, 200, 200)


@pytest.mark.parametrize("text,message", [
    ("data:\n  source: moons\n  sources: [{source: moons}]\n", "give either 'source' or 'sources', not both"),
    ("data:\n  sources: [{source: moons, use: train}]\n", "no source gives dev examples"),
    ("data:\n  sources: [{source: moons, use: train, dev: 10}]\n", "shares apply to use: target only"),
    ("data:\n  sources: [{source: moons, use: target}]\n  split: {train: 0.5, dev: 0.3, test: 0.2}\n",
     "data.split.train does not apply with 'sources'"),
])
def test_sources_spec_mistakes_are_located(text, message):
    with pytest.raises(SpecError, match=message):
        parse_spec(text + MODEL, "x.yaml")


def test_a_target_share_larger_than_the_source():
    data = sources_spec("data:\n  sources: [{source: moons, use: train}, {source: circles, use: target, dev: 300, test: 200}]\n")
    with pytest.raises(BuildError, match=r"data.sources\[1\]: asks for 500 rows but the data has 400"):
        load_splits(data, 0, "unused")


def test_sources_through_the_cli_and_spec_check_data(tmp_path):
    spec = write_spec(tmp_path, MISMATCH)
    out = invoke("spec", "check", spec, "--data").stdout
    assert "ok: train 594, dev 120, test 120, train_dev 66 examples, input shape 2, 2 classes (0, 1)" in out
    bad = write_spec(tmp_path, MISMATCH.replace("{units: 1, activation: sigmoid}", "{units: 3, activation: softmax}"), "bad.yaml")
    line = one_line_error(invoke("spec", "check", bad, "--data", expect=2).stderr)
    assert "bad.yaml" in line and "units" in line
