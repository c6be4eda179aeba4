"""The demonstration specs show the effect they claim, in the direction they claim.

Each trains a small network on the bundled digits for a few seconds; the
assertions compare runs of the same spec with and without one change.
"""

from __future__ import annotations

import pytest
from conftest import CONFIGS

from nnctl.orchestration.start import start_run
from nnctl.spec import load_spec

BATCHNORM_ALL = [f"model.layers.{i}.batchnorm=true" for i in range(5)]


def final_metrics(tmp_path, spec_file: str, *overrides: str) -> dict[str, float]:
    trainer = start_run(load_spec(CONFIGS / spec_file, list(overrides)), tmp_path)
    return trainer.run().metrics


@pytest.fixture(scope="module")
def as_shipped(tmp_path_factory):
    """``as_shipped(spec_file)``: the final metrics of a demo spec without changes, trained once per module
    (the runs are seeded, so every parametrized case compares against the same baseline anyway)."""
    cache: dict[str, dict[str, float]] = {}

    def metrics(spec_file: str) -> dict[str, float]:
        if spec_file not in cache:
            cache[spec_file] = final_metrics(tmp_path_factory.mktemp("as-shipped"), spec_file)
        return cache[spec_file]

    return metrics


@pytest.mark.parametrize(
    "optimizer",
    [
        ["train.optimizer={name: momentum, dampened: false}"],
        ["train.optimizer={name: momentum, dampened: false, nesterov: true}"],
        ["train.optimizer={name: rmsprop}", "train.learning_rate=0.001"],
        ["train.optimizer={name: adam}", "train.learning_rate=0.001"],
    ],
    ids=["momentum", "nesterov", "rmsprop", "adam"],
)
def test_adaptive_optimizers_beat_plain_gradient_descent(tmp_path, optimizer, as_shipped):
    plain = as_shipped("demo-optimizers.yaml")
    better = final_metrics(tmp_path, "demo-optimizers.yaml", *optimizer)
    assert better["train_cost"] < 0.5 * plain["train_cost"]


def test_dampened_momentum_equals_undamped_at_scaled_learning_rate(tmp_path):
    """v ← βv + (1−β)g with α/(1−β) takes the same steps as v ← βv + g with α (docs/explanation/algorithms.md#optimizers)."""
    dampened = final_metrics(tmp_path, "demo-optimizers.yaml", "train.optimizer={name: momentum}", "train.learning_rate=0.1")
    undamped = final_metrics(tmp_path, "demo-optimizers.yaml", "train.optimizer={name: momentum, dampened: false}")
    assert dampened["train_cost"] == pytest.approx(undamped["train_cost"], rel=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize(
    "regularizer",
    [["regularization.l2=1"], ["model.layers.0.keep_prob=0.5", "model.layers.1.keep_prob=0.5"]],
    ids=["l2", "dropout"],
)
def test_regularization_narrows_the_train_dev_gap(tmp_path, regularizer, as_shipped):
    free = as_shipped("demo-regularization.yaml")
    regular = final_metrics(tmp_path, "demo-regularization.yaml", *regularizer)
    gap = lambda m: m["train_accuracy"] - m["dev_accuracy"]  # noqa: E731
    assert free["train_accuracy"] == 1.0 and gap(free) > 0.05  # the unregularized net overfits
    assert gap(regular) < gap(free) - 0.015
    assert regular["dev_accuracy"] > free["dev_accuracy"]


def test_batch_norm_trains_a_deep_sigmoid_network(tmp_path):
    plain = final_metrics(tmp_path, "demo-batchnorm.yaml")
    normalized = final_metrics(tmp_path, "demo-batchnorm.yaml", *BATCHNORM_ALL)
    assert plain["train_accuracy"] < 0.25  # vanishing gradients: near chance (0.1)
    assert normalized["train_accuracy"] > 0.9
    assert normalized["dev_accuracy"] > 0.9
