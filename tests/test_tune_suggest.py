"""`nnctl tune --suggest SPEC`: a starting search block in the notes' priority order, valid for its spec."""

from __future__ import annotations

import yaml
from conftest import CONFIGS, invoke, write_spec

from nnctl.search.plan import load_plan, yaml_value
from nnctl.spec import parse_spec

MOMENTUM = """\
data: {source: {type: generated, name: moons, samples: 100}}
model:
  layers:
    - {units: 10, activation: tanh}
    - {type: dense, units: 6}
    - {units: 1, activation: sigmoid}
train: {optimizer: {name: momentum}, schedule: {name: inverse_time}}
checkpoint: {monitor: dev_accuracy}
"""


def _suggested(spec) -> tuple[str, dict]:
    block = invoke("tune", "--suggest", spec).stdout
    return block, yaml.safe_load(block)["search"]["parameters"]


def test_the_block_is_in_priority_order_and_leaves_adams_betas_alone(tmp_path):
    spec = write_spec(tmp_path, MOMENTUM)
    block, parameters = _suggested(spec)
    assert list(parameters) == ["train.learning_rate", "train.optimizer.beta", "train.batch_size",
                                "model.layers[0].units", "model.layers[1].units", "train.schedule.decay_rate"]
    assert parameters["train.learning_rate"] == {"log_uniform": [1e-4, 1]}
    assert parameters["train.optimizer.beta"] == {"one_minus_log_uniform": [0.9, 0.999]}
    assert parameters["model.layers[0].units"] == {"int_uniform": [5, 20]}
    assert "beta1" not in parameters and "almost never: Adam's beta1" in block
    assert block.index("# 1.") < block.index("# 2.") < block.index("# 3.") < block.index("# 4.")


def test_the_block_is_a_valid_search_for_its_spec_at_every_range_end(tmp_path):
    for spec in (write_spec(tmp_path, MOMENTUM), CONFIGS / "quickstart.yaml", CONFIGS / "digits-cnn.yaml"):
        block, parameters = _suggested(spec)
        text = spec.read_text().split("\nsearch:")[0] + "\n" + block
        plan = load_plan(text, str(spec))
        assert plan.search.metric.startswith("dev_")
        for path, distribution in parameters.items():
            for value in next(iter(distribution.values())):
                parse_spec(text, str(spec), [f"{path}={yaml_value(value)}"])


def test_suggest_needs_a_spec_and_reads_it_like_any_command(tmp_path):
    assert "--suggest needs a SPEC file" in invoke("tune", "--suggest", expect=2).stderr
    bad = write_spec(tmp_path, "model: {layers: []}\n")
    assert f"{bad}:1" in invoke("tune", "--suggest", bad, expect=2).stderr
