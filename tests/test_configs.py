"""Every example spec in configs/ validates, and each trains end to end to a stated accuracy."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import CONFIGS, PLACEHOLDER_CONFIGS, init_from_source, invoke, invoke_json, train_json

from nnctl.runs.checkpoint import load_checkpoint
from nnctl.spec import load_spec

ALL_CONFIGS = sorted(CONFIGS.glob("*.yaml"))
MNIST = CONFIGS / "mnist-mlp.yaml"

# spec → (--set overrides that keep it to a few seconds, dev accuracy it must reach at the last epoch).
# ``checkpoint.every_epochs`` only changes how often checkpoint.h5 is rewritten, never the result.
TRAINED = {
    "quickstart.yaml": ([], 0.90),  # its default settings, untouched
    "logistic-regression.yaml": ([], 0.85),
    "planar-tanh.yaml": ([], 0.85),
    "deep-relu.yaml": (["train.epochs=40", "checkpoint.every_epochs=40"], 0.60),  # 3 classes: chance is 0.33
    "demo-optimizers.yaml": ([], 0.50),  # plain GD on a deep tanh net is slow, but learns
    "demo-regularization.yaml": (["train.epochs=20", "checkpoint.every_epochs=20"], 0.85),  # 256x256: the heaviest
    "demo-batchnorm.yaml": ([f"model.layers.{i}.batchnorm=true" for i in range(5)], 0.85),
}


def _uses_mnist(path: Path) -> bool:
    return load_spec(path).data.source.type == "registry"


# Specs added to configs/ later (not in TRAINED): MNIST ones are only validated, the rest get a smoke run.
OTHERS = [p for p in ALL_CONFIGS if p.name not in (*TRAINED, *PLACEHOLDER_CONFIGS) and not _uses_mnist(p)]


def test_the_documented_configs_exist():
    names = {path.name for path in ALL_CONFIGS}
    assert set(TRAINED) | {MNIST.name} <= names
    assert _uses_mnist(MNIST)


@pytest.mark.parametrize("path", ALL_CONFIGS, ids=lambda p: p.stem)
def test_config_validates(path):
    spec = load_spec(path)
    assert spec.name == path.stem
    assert "ok" in invoke("spec", "check", path).stdout


@pytest.mark.parametrize(
    "name",
    list(TRAINED),
    ids=lambda n: n.removesuffix(".yaml"),
)
def test_config_trains_to_its_bar(tmp_path, name):
    overrides, bar = TRAINED[name]
    result = train_json(CONFIGS / name, tmp_path, *overrides)
    assert result["stop_reason"] == "completed"
    run = Path(result["run"])
    assert load_checkpoint(run / "checkpoint.h5").epoch == result["epochs"]
    assert result["metrics"]["dev_accuracy"] >= bar, f"{name}: dev accuracy {result['metrics']['dev_accuracy']:.4f} < {bar}"


@pytest.mark.parametrize("path", OTHERS, ids=lambda p: p.stem)
def test_other_configs_train_end_to_end_on_small_data(tmp_path, path):
    result = train_json(path, tmp_path, "data.limit=300", "train.epochs=1", *init_from_source(path, tmp_path / "source"))
    assert result["stop_reason"] == "completed" and result["epochs"] == 1
    assert all(v == v for v in result["metrics"].values())  # no NaN
    invoke("eval", result["run"], "--split", "dev")


def test_demo_batchnorm_does_not_learn_without_batch_norm(tmp_path):
    """The demo's claim: the same deep sigmoid net without batch norm stays near chance."""
    result = train_json(CONFIGS / "demo-batchnorm.yaml", tmp_path)
    assert result["metrics"]["dev_accuracy"] < 0.3


@pytest.mark.slow
def test_mnist_config_trains_on_a_small_subset(tmp_path, monkeypatch, mnist_mirror, mnist_datasets):
    # NNCTL_DATASETS also says where the bundled digits live; point it at tmp only in this test
    datasets, _ = mnist_datasets
    monkeypatch.setenv("NNCTL_DATASETS", str(datasets))
    result = train_json(
        MNIST, tmp_path / "runs",
        f"data.source={{type: registry, name: mnist, mirror: {mnist_mirror}}}",
        "data.limit=2000",
        "data.split={train: 0.9, dev: 0.1}",
        "train.epochs=1",
    )
    assert result["epochs"] == 1 and result["steps"] == -(-1800 // 128)
    assert result["metrics"]["dev_accuracy"] >= 0.70
    evaluated = invoke_json("eval", result["run"], "--split", "dev")
    assert evaluated["examples"] == 200
