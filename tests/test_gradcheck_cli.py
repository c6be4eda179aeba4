"""`nnctl gradcheck`: the CI gate over every example spec, and proof that it can fail."""

from __future__ import annotations

import json

import pytest
from conftest import CONFIGS, PLACEHOLDER_CONFIGS, invoke, train_json

from nnctl.nn import layers
from nnctl.spec import load_spec

ALL_CONFIGS = sorted(p for p in CONFIGS.glob("*.yaml") if p.name not in PLACEHOLDER_CONFIGS)


def gradcheck(*args: str):
    result = invoke("gradcheck", *args, "--json", expect=None)
    return result.exit_code, (json.loads(result.stdout) if result.stdout.strip() else None), result


@pytest.fixture
def mnist_cached(monkeypatch, mnist_datasets):
    """MNIST fetched once from the mirror into a temporary datasets folder, not the repository's datasets/."""
    datasets, _ = mnist_datasets
    monkeypatch.setenv("NNCTL_DATASETS", str(datasets))


@pytest.mark.parametrize("config", [
    pytest.param(c, id=c.stem, marks=[pytest.mark.slow] if c.stem in ("mnist-resnet", "mnist-lenet5") else [])
    for c in ALL_CONFIGS
])
def test_every_example_spec_passes_gradcheck(config, request):
    """Backprop of every shipped architecture agrees with two-sided differences (sampled for big nets)."""
    if config.stem.startswith("mnist"):
        request.getfixturevalue("mnist_cached")
    # A few steps first: zero-initialized biases put blank-pixel pre-activations exactly on the ReLU kink.
    # A transfer spec is checked as its architecture (its frozen layers included), without its source run.
    standalone = ["--set", "model.init_from=null"] if load_spec(config).model.init_from else []
    code, report, result = gradcheck(str(config), "--examples", "6", "--max-checks", "25", "--after-steps", "3", *standalone)
    assert code == 0, result.output
    assert report["verdict"] == "pass"
    assert all(t["verdict"] in ("pass", "unresolved") for t in report["tensors"])


@pytest.mark.slow
def test_relu_kinks_at_initialization_are_explained(mnist_cached):
    """At init, LeNet's zero conv biases sit blank-pixel pre-activations on the kink: the check moves
    its inputs off them, passes, and says so."""
    human = invoke("gradcheck", str(CONFIGS / "mnist-lenet5.yaml"), "--examples", "4", "--max-checks", "6")
    assert "moved off the kink by Gaussian noise" in human.stdout and "FAIL" not in human.stdout


def test_report_lists_every_tensor_and_samples_when_asked():
    code, report, _ = gradcheck(str(CONFIGS / "quickstart.yaml"), "--examples", "4", "--max-checks", "10")
    assert code == 0
    keys = [t["tensor"] for t in report["tensors"]]
    assert keys == ["dense1/W", "dense2/W", "dense3/W", "dense1/b", "dense2/b", "dense3/b"]
    w1 = report["tensors"][0]
    assert w1["sampled"] and w1["checked"] == 10 and w1["size"] == 64 * 64
    assert report["tensors"][3]["checked"] == 10  # b1 has 64 > 10 entries
    assert report["tensors"][5]["sampled"] is False  # b3 has 10 entries: all checked


def test_a_broken_backward_pass_fails_and_is_pinned_to_its_tensor(monkeypatch):
    original = layers.Dense.backward

    def wrong_db(self, dy, need_dx=True):
        dx = original(self, dy, need_dx)
        if self.name == "dense2":
            self.grads["b"] *= -1  # a sign error in db of layer 2
        return dx

    monkeypatch.setattr(layers.Dense, "backward", wrong_db)
    code, report, result = gradcheck(str(CONFIGS / "quickstart.yaml"), "--examples", "4", "--max-checks", "20")
    assert code == 1
    verdicts = {t["tensor"]: t["verdict"] for t in report["tensors"]}
    assert verdicts.pop("dense2/b") == "fail"
    assert set(verdicts.values()) == {"pass"}
    worst = next(t for t in report["tensors"] if t["tensor"] == "dense2/b")["worst"][0]
    assert worst["analytic"] == pytest.approx(-worst["numerical"], rel=1e-4)
    human = invoke("gradcheck", str(CONFIGS / "quickstart.yaml"), "--examples", "4", "--max-checks", "20", expect=None)
    assert human.exit_code == 1
    assert "dense2/b: worst coordinates" in human.stdout and "FAIL" in human.stdout


def test_a_missing_penalty_gradient_fails_only_the_weights(monkeypatch):
    from nnctl.nn.network import Network

    original = Network.loss_and_grad
    monkeypatch.setattr(Network, "loss_and_grad", lambda self, x, y, l2=0.0, l1=0.0: original(self, x, y, 0.0, l1) + self.penalty(len(x), l2, 0.0))
    code, report, _ = gradcheck(str(CONFIGS / "quickstart.yaml"), "--examples", "4", "--max-checks", "20", "--set", "regularization.l2=3")
    assert code == 1
    failed = {t["tensor"] for t in report["tensors"] if t["verdict"] == "fail"}
    assert failed == {"dense1/W", "dense2/W", "dense3/W"}


def test_thresholds_decide_the_verdict():
    code, report, _ = gradcheck(str(CONFIGS / "quickstart.yaml"), "--examples", "4", "--max-checks", "10", "--warn", "1e-15", "--fail", "1e-14")
    assert code == 1 and report["verdict"] == "fail"
    code, report, _ = gradcheck(str(CONFIGS / "quickstart.yaml"), "--examples", "4", "--max-checks", "10", "--warn", "1e-15", "--fail", "1e-3")
    assert code == 0 and report["verdict"] == "warn"


def test_dropout_with_a_fixed_mask_and_after_training_steps():
    args = [str(CONFIGS / "quickstart.yaml"), "--examples", "5", "--max-checks", "15", "--set", "model.layers.0.keep_prob=0.5"]
    code, report, _ = gradcheck(*args, "--dropout", "fixed", "--after-steps", "5")
    assert code == 0 and report["verdict"] == "pass"


def test_batch_norm_and_l1_in_training_mode():
    code, report, _ = gradcheck(
        str(CONFIGS / "quickstart.yaml"), "--examples", "6", "--max-checks", "15",
        "--set", "model.layers.0.batchnorm=true", "--set", "model.layers.1.batchnorm={placement: after}",
        "--set", "regularization.l1=0.5",
    )
    assert code == 0
    assert {"dense1.bn/gamma", "dense1.bn/beta", "dense2.bn/gamma", "dense2.bn/beta"} <= {t["tensor"] for t in report["tensors"]}


def test_vanishing_gradients_are_reported_as_unresolved_not_as_bugs():
    code, report, _ = gradcheck(str(CONFIGS / "demo-batchnorm.yaml"), "--examples", "4", "--max-checks", "20")
    assert code == 0
    verdicts = {t["tensor"]: t["verdict"] for t in report["tensors"]}
    assert verdicts["dense1/W"] == "unresolved" and verdicts["dense6/W"] == "pass"


def test_a_run_directory_is_checked_at_its_latest_parameters(tmp_path):
    run = train_json(CONFIGS / "planar-tanh.yaml", tmp_path, "train.epochs=20")["run"]
    code, report, _ = gradcheck(run, "--examples", "8")
    assert code == 0 and report["target"] == run


@pytest.mark.parametrize(
    "args, message",
    [
        (["configs/nope.yaml"], "configs/nope.yaml: no such file"),
        ([str(CONFIGS / "quickstart.yaml"), "--dropout", "sometimes"], "'--dropout': 'sometimes' is not one of 'off', 'fixed'"),
        ([str(CONFIGS / "quickstart.yaml"), "--set", "model.layers.0.units=0"], "model.layers[0].units: expected an integer >= 1"),
        ([str(CONFIGS / "quickstart.yaml"), "--warn", "1e-3", "--fail", "1e-5"], "is above --fail"),
    ],
)
def test_bad_input_exits_2_with_one_line(args, message):
    result = invoke("gradcheck", *args, expect=None)
    assert result.exit_code == 2
    assert message in result.stderr and "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1
