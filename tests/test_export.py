"""`nnctl export`: ONNX graphs checked in onnxruntime against nnctl's own forward pass,
the npz format checked by an independent NumPy forward written here from its JSON alone,
every config in configs/ exported and verified, and the bad inputs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import CONFIGS, PLACEHOLDER_CONFIGS, init_from_source, invoke, invoke_json, one_line_error, train_run, write_spec

from nnctl import __version__
from nnctl.data import Normalizer
from nnctl.errors import ExportError
from nnctl.export.describe import describe
from nnctl.export.npz import npz_bytes
from nnctl.export.onnx_graph import DEFAULT_OPSET, MIN_OPSET, build_onnx
from nnctl.export.verify import verify_onnx
from nnctl.nn.conv import AvgPool, Conv2D, GlobalAvgPool, MaxPool
from nnctl.nn.layers import Activate, BatchNorm, Dense, Dropout, Flatten, Layer
from nnctl.nn.losses import make_loss
from nnctl.nn.network import Network
from nnctl.nn.residual import Residual
from nnctl.spec import load_spec

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

TOL = 1e-5
ALL_OPSETS = list(range(MIN_OPSET, onnx.defs.onnx_opset_version() + 1))


# ---------------------------------------------------------------- hand-built networks


def _random_network(layers, input_shape, output_activation, seed, dtype=np.float32, loss="auto") -> Network:
    """A network with random parameters and random batch-norm statistics (so every tensor matters)."""
    net = Network(layers, make_loss(loss, output_activation), input_shape, dtype)
    rng = np.random.default_rng(seed)
    net.theta[...] = rng.normal(0, 0.6, net.theta.shape)
    for key, value in net.state().items():
        value[...] = rng.uniform(0.5, 2.0, value.shape) if key.endswith("var") else rng.normal(0, 0.5, value.shape)
    return net


def _dropout(name):
    return Dropout(name, 0.7, np.random.default_rng(0))


def dense_all_activations():
    """Every hidden activation, batch norm before and after the activation, dropout, a dense residual; softmax."""
    layers = [_dropout("input.drop")]
    for i, fn in enumerate(("relu", "leaky_relu", "elu", "tanh", "sigmoid", "linear"), start=1):
        layers += [Dense(f"dense{i}", 6, use_bias=i % 2 == 0)]
        block = [BatchNorm(f"dense{i}.bn")] + ([Activate(f"dense{i}.act", fn)] if fn != "linear" else [])
        layers += block if i % 2 else block[::-1]
        layers += [_dropout(f"dense{i}.drop")]
    body = [Dense("res1.dense1", 6), Activate("res1.dense1.act", "elu"), Dense("res1.dense2", 6)]
    layers += [Residual("res1", body, "tanh"), Dense("dense7", 4)]
    shift, divisor = np.linspace(-1, 2, 5), np.linspace(0.5, 3, 5)
    return _random_network(layers, (5,), "softmax", 1), Normalizer("standardize", shift, divisor), "classification", list("abcd")


def conv_options():
    """Rectangular kernels, strides, int/same/valid padding, per-channel batch norm before and after
    the activation, a ReLU after its max-pool (as build places it), overlapping max and average pools."""
    layers = [
        Conv2D("conv1", 4, (3, 2), stride=2, padding=1, use_bias=False), BatchNorm("conv1.bn"),
        MaxPool("pool1", 2, 1), Activate("conv1.act", "relu"),
        Conv2D("conv2", 5, 3, padding="same"), Activate("conv2.act", "elu"), BatchNorm("conv2.bn"),
        Conv2D("conv3", 3, (2, 3), padding="valid"), Activate("conv3.act", "leaky_relu"),
        AvgPool("pool2", 2, 1), Flatten("flatten1"), Dense("dense1", 3),
    ]
    x_min, x_range = np.linspace(-3, 0, 11 * 9 * 2).reshape(11, 9, 2), np.linspace(1, 8, 11 * 9 * 2).reshape(11, 9, 2)
    return _random_network(layers, (11, 9, 2), "softmax", 2), Normalizer("minmax", x_min, x_range), "classification", ["x", "y", "z"]


def residual_blocks():
    """Identity and projected (strided 1x1 conv) shortcuts, global average pooling, one sigmoid unit."""
    identity = [Conv2D("res1.conv1", 3, 3, padding="same"), BatchNorm("res1.conv1.bn"), Activate("res1.conv1.act", "relu"),
                Conv2D("res1.conv2", 3, 3, padding="same", use_bias=False), BatchNorm("res1.conv2.bn")]
    projected = [Conv2D("res2.conv1", 6, 3, stride=2, padding=1), Activate("res2.conv1.act", "tanh"),
                 Conv2D("res2.conv2", 6, 3, padding="same")]
    layers = [
        Conv2D("conv1", 3, 3, padding="same"), Activate("conv1.act", "relu"),
        Residual("res1", identity, "relu"),
        Residual("res2", projected, "leaky_relu", Conv2D("res2.proj", 6, 1, 2, "valid", "xavier")),
        GlobalAvgPool("gap1"), Dense("dense1", 1),
    ]
    return _random_network(layers, (8, 8, 3), "sigmoid", 3), Normalizer("scale", 0.0, 255.0), "classification", ["no", "yes"]


def regression_linear():
    """Regression with two linear outputs and no normalization."""
    layers = [Dense("dense1", 7), Activate("dense1.act", "tanh"), Dense("dense2", 2)]
    return _random_network(layers, (4,), "linear", 4), Normalizer("none"), "regression", []


def regression_sigmoid_float64():
    """A float64 network with a sigmoid regression output on (H, W) inputs without channels."""
    layers = [Flatten("flatten1"), Dense("dense1", 5), Activate("dense1.act", "relu"), Dense("dense2", 1)]
    net = _random_network(layers, (3, 4), "sigmoid", 5, np.float64, loss="mse")
    return net, Normalizer("standardize", np.full((3, 4), 0.5), np.full((3, 4), 2.0)), "regression", []


def multitask():
    """Several sigmoid units: independent binary tasks with a label per task."""
    layers = [Dense("dense1", 8), Activate("dense1.act", "relu"), Dense("dense2", 3)]
    return _random_network(layers, (6,), "sigmoid", 6), Normalizer("scale", 0.0, 10.0), "classification", ["car", "sign", "light"]


NETWORKS = [dense_all_activations, conv_options, residual_blocks, regression_linear, regression_sigmoid_float64, multitask]


def _raw_inputs(net: Network, normalizer: Normalizer, n=40, seed=0) -> np.ndarray:
    """Raw (un-normalized) rows whose normalized values are of order one."""
    z = np.random.default_rng(seed).normal(0, 1.5, (n, *net.input_shape))
    return (z * normalizer.divisor + normalizer.shift).astype(np.float32)


def _describe(build):
    net, normalizer, task, names = build()
    return net, normalizer, describe(net, normalizer, task, names, {"run": build.__name__, "checkpoint": "test", "epoch": 3})


def _onnx_outputs(model, x) -> dict[str, np.ndarray]:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, {"input": x})))


def _nnctl_outputs(net, normalizer, x) -> np.ndarray:
    return net.predict(normalizer.apply(x, dtype=net.dtype)).astype(np.float64)


def _check_against_nnctl(kind: str, got: dict, ref: np.ndarray) -> None:
    """The exported outputs, worked out here from nnctl's A[L] by their documented meaning."""
    if kind == "regression":
        assert list(got) == ["outputs"]
        np.testing.assert_allclose(got["outputs"], ref, rtol=TOL, atol=TOL)
        return
    assert list(got) == ["probabilities", "label"] and got["label"].dtype == np.int64
    if kind == "softmax":
        probs, labels, margin = ref, ref.argmax(axis=1), np.diff(np.sort(ref, axis=1)[:, -2:], axis=1)[:, 0]
    elif kind == "binary":
        probs, labels, margin = np.hstack([1 - ref, ref]), (ref[:, 0] >= 0.5).astype(int), np.abs(ref[:, 0] - 0.5)
    else:
        probs, labels, margin = ref, (ref >= 0.5).astype(int), np.abs(ref - 0.5)
    assert got["probabilities"].shape == probs.shape and got["label"].shape == labels.shape
    assert np.abs(got["probabilities"] - probs).max() <= TOL
    assert margin.min() > 1e-4  # the random inputs are not near a tie, so every label must agree
    np.testing.assert_array_equal(got["label"], labels)


@pytest.mark.parametrize("build", NETWORKS, ids=lambda b: b.__name__)
def test_onnx_matches_nnctl_on_hand_built_networks(build):
    net, normalizer, desc = _describe(build)
    x = _raw_inputs(net, normalizer)
    got = _onnx_outputs(build_onnx(desc, DEFAULT_OPSET), x)
    _check_against_nnctl(desc.output_kind, got, _nnctl_outputs(net, normalizer, x))
    assert verify_onnx(build_onnx(desc).SerializeToString(), desc.output_kind, net, normalizer, x).passed


@pytest.mark.parametrize("opset", ALL_OPSETS)
@pytest.mark.parametrize("build", [conv_options, residual_blocks], ids=lambda b: b.__name__)
def test_every_supported_opset_runs_and_agrees(build, opset):
    net, normalizer, desc = _describe(build)
    model = build_onnx(desc, opset)
    assert [(o.domain, o.version) for o in model.opset_import] == [("", opset)]
    x = _raw_inputs(net, normalizer, n=8)
    _check_against_nnctl(desc.output_kind, _onnx_outputs(model, x), _nnctl_outputs(net, normalizer, x))


def test_the_graph_keeps_nhwc_at_its_edges_and_flattens_in_h_w_c_order():
    """A flatten after convolutions transposes back from NCHW first, so dense1/W is used unchanged;
    the graph starts at `input` (NHWC, float32, any batch size)."""
    net, normalizer, desc = _describe(conv_options)
    model = build_onnx(desc)
    (inp,) = model.graph.input
    dims = [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim]
    assert inp.name == "input" and dims == ["batch", 11, 9, 2]
    ops = [(n.op_type, list(n.input)) for n in model.graph.node]
    flatten = next(i for i, (op, _) in enumerate(ops) if op == "Flatten")
    assert ops[flatten - 1][0] == "Transpose"
    perm = next(a.ints for a in model.graph.node[flatten - 1].attribute if a.name == "perm")
    assert list(perm) == [0, 2, 3, 1]
    weights = {i.name: onnx.numpy_helper.to_array(i) for i in model.graph.initializer}
    np.testing.assert_array_equal(weights["dense1/W"], net.tensors()["dense1/W"])
    # Only two transposes: into NCHW before conv1, back before the flatten.
    assert sum(op == "Transpose" for op, _ in ops) == 2


def test_batch_norm_is_exported_in_inference_form_with_the_running_statistics():
    net, normalizer, desc = _describe(conv_options)
    model = build_onnx(desc)
    bn = next(n for n in model.graph.node if n.name == "conv2.bn")
    assert bn.op_type == "BatchNormalization"
    assert next(a.f for a in bn.attribute if a.name == "epsilon") == pytest.approx(1e-5)
    weights = {i.name: onnx.numpy_helper.to_array(i) for i in model.graph.initializer}
    state = net.state()
    np.testing.assert_array_equal(weights[bn.input[3]], state["conv2.bn/running_mean"].ravel().astype(np.float32))
    np.testing.assert_array_equal(weights[bn.input[4]], state["conv2.bn/running_var"].ravel().astype(np.float32))


def test_dropout_is_identity_and_the_output_activation_is_the_models():
    net, normalizer, desc = _describe(dense_all_activations)
    model = build_onnx(desc)
    ops = [n.op_type for n in model.graph.node]
    assert "Dropout" not in ops and ops.count("Softmax") == 1
    assert {"Relu", "LeakyRelu", "Elu", "Tanh", "Sigmoid"} <= set(ops)
    alphas = {n.op_type: n.attribute[0].f for n in model.graph.node if n.op_type in ("LeakyRelu", "Elu")}
    assert alphas == {"LeakyRelu": pytest.approx(0.01), "Elu": pytest.approx(1.0)}


def test_a_tampered_model_fails_verification():
    net, normalizer, desc = _describe(dense_all_activations)
    desc.arrays["dense7/W"] = desc.arrays["dense7/W"].copy()
    desc.arrays["dense7/W"][0] += np.float32(1e-3)  # one class's weights: a shift of all logits would cancel
    x = _raw_inputs(net, normalizer)
    check = verify_onnx(build_onnx(desc).SerializeToString(), desc.output_kind, net, normalizer, x)
    assert not check.passed and check.max_difference > TOL


def test_an_unsupported_layer_is_named():
    class Squash(Layer):
        def forward(self, x, training):
            return x / (1 + np.abs(x))

    net = Network([Dense("dense1", 3), Squash("squash1"), Dense("dense2", 2)], make_loss("auto", "softmax"), (4,))
    with pytest.raises(ExportError, match="layer squash1: Squash layers cannot be exported"):
        describe(net, Normalizer("none"), "classification", ["a", "b"], {})


def test_an_unsupported_activation_names_its_layer_on_the_command_line(tmp_path, trained_run, monkeypatch):
    from nnctl.export import describe as describe_module

    monkeypatch.setattr(describe_module, "_KNOWN_ACTIVATIONS", ("softmax",))  # as if relu had no exported form
    result = invoke("export", trained_run, "--out", tmp_path / "m.onnx", expect=2)
    assert "layer dense1.act: activation 'relu' cannot be exported" in one_line_error(result.stderr)
    assert not (tmp_path / "m.onnx").exists()


def test_a_one_unit_multilabel_output_keeps_a_label_per_task():
    net = _random_network([Dense("dense1", 1)], (3,), "sigmoid", 7)
    desc = describe(net, Normalizer("none"), "multilabel", ["pedestrian"], {})
    assert desc.output_kind == "multitask"
    x = _raw_inputs(net, Normalizer("none"))
    got = _onnx_outputs(build_onnx(desc), x)
    assert got["probabilities"].shape == got["label"].shape == (len(x), 1)
    _check_against_nnctl("multitask", got, _nnctl_outputs(net, Normalizer("none"), x))


# ---------------------------------------------------------------- the npz format, re-implemented from its JSON


def _act(fn: dict, x):
    name = fn["function"]
    if name == "relu":
        return np.maximum(x, 0)
    if name == "leaky_relu":
        return np.where(x > 0, x, fn["alpha"] * x)
    if name == "elu":
        return np.where(x > 0, x, fn["alpha"] * (np.exp(np.minimum(x, 0)) - 1))
    if name == "tanh":
        return np.tanh(x)
    if name == "sigmoid":
        return 1 / (1 + np.exp(-x))
    if name == "softmax":
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    assert name == "linear"
    return x


def _windows(x, kh, kw, stride):
    """(m, oh, ow, kh, kw, C) windows of an NHWC map, by explicit loops over the kernel taps."""
    m, h, w, c = x.shape
    oh, ow = (h - kh) // stride + 1, (w - kw) // stride + 1
    out = np.empty((m, oh, ow, kh, kw, c))
    for u in range(kh):
        for v in range(kw):
            out[:, :, :, u, v] = x[:, u:u + stride * oh:stride, v:v + stride * ow:stride]
    return out


def _npz_layer(e: dict, a: dict, x):
    kind = e["type"]
    if kind == "dense":
        return x @ a[e["weights"]].T + (a[e["bias"]] if e["bias"] else 0)
    if kind == "conv2d":
        ph, pw = e["padding"]
        padded = np.pad(x, ((0, 0), (ph, ph), (pw, pw), (0, 0)))
        y = np.einsum("mijuvc,uvcf->mijf", _windows(padded, *e["kernel"], e["stride"]), a[e["weights"]])
        return y + (a[e["bias"]].reshape(-1) if e["bias"] else 0)
    if kind == "batchnorm":
        return (x - a[e["mean"]].ravel()) / np.sqrt(a[e["var"]].ravel() + e["epsilon"]) * a[e["gamma"]].ravel() + a[e["beta"]].ravel()
    if kind == "activation":
        return _act(e, x)
    if kind in ("maxpool", "avgpool"):
        win = _windows(x, e["size"], e["size"], e["stride"])
        return win.max(axis=(3, 4)) if kind == "maxpool" else win.mean(axis=(3, 4))
    if kind == "global_avgpool":
        return x.mean(axis=(1, 2))
    if kind == "flatten":
        return x.reshape(len(x), -1)
    if kind == "dropout":
        return x
    assert kind == "residual"
    h = x
    for inner in e["body"]:
        h = _npz_layer(inner, a, h)
    return _act(e["activation"], h + (_npz_layer(e["shortcut"], a, x) if e["shortcut"] else x))


def npz_forward(path: Path, x: np.ndarray) -> tuple[dict, np.ndarray]:
    """The graph and its output activations for raw inputs, in float64, from the .npz file alone."""
    with np.load(path, allow_pickle=False) as f:
        graph = json.loads(f["graph"].item())
        arrays = {k: f[k].astype(np.float64) for k in f.files if k != "graph"}
    norm = graph["normalization"]
    h = (x.astype(np.float64) - arrays[norm["shift"]]) / arrays[norm["divisor"]]
    for entry in graph["layers"]:
        h = _npz_layer(entry, arrays, h)
    return graph, _act(graph["output"]["activation"], h)


@pytest.mark.parametrize("build", NETWORKS, ids=lambda b: b.__name__)
def test_npz_is_enough_to_reimplement_the_forward_pass(tmp_path, build):
    net, normalizer, desc = _describe(build)
    path = tmp_path / "model.npz"
    path.write_bytes(npz_bytes(desc))
    x = _raw_inputs(net, normalizer)
    graph, outputs = npz_forward(path, x)
    assert graph["nnctl_version"] == __version__ and graph["output"]["kind"] == desc.output_kind
    np.testing.assert_allclose(outputs, _nnctl_outputs(net, normalizer, x), rtol=TOL, atol=TOL)


# ---------------------------------------------------------------- runs and the command line

# configs/ spec → overrides that keep it to a second or two (MNIST ones also get a small split).
SMALL = ["data.limit=300", "train.epochs=1", "checkpoint.every_epochs=1"]
ALL_CONFIGS = sorted(p for p in CONFIGS.glob("*.yaml") if p.name not in PLACEHOLDER_CONFIGS)


def _uses_mnist(path: Path) -> bool:
    return load_spec(path).data.source.type == "registry"


@pytest.fixture
def mnist_source(request, monkeypatch):
    """Overrides reading MNIST from the shared mirror (skips without it) through a temporary datasets folder."""
    mirror = request.getfixturevalue("mnist_mirror")
    datasets, _ = request.getfixturevalue("mnist_datasets")
    monkeypatch.setenv("NNCTL_DATASETS", str(datasets))
    return [f"data.source={{type: registry, name: mnist, mirror: {mirror}}}", "data.split={train: 0.8, dev: 0.2, test: 0}"]


@pytest.mark.parametrize("path", ALL_CONFIGS, ids=lambda p: p.stem)
def test_every_config_exports_and_verifies(tmp_path, request, path):
    extra = request.getfixturevalue("mnist_source") if _uses_mnist(path) else init_from_source(path, tmp_path / "source")
    run = train_run(path, tmp_path / "runs", *SMALL, *extra)
    out = tmp_path / "model.onnx"
    result = invoke_json("export", run, "--out", out, "--verify", 32)
    assert result["written"] and result["verify"]["passed"], result
    assert result["verify"]["examples"] == 32 and result["verify"]["max_difference"] <= TOL
    assert out.stat().st_size == result["bytes"]
    onnx.checker.check_model(onnx.load(str(out)), full_check=True)


def test_onnx_metadata_and_loading_it_as_the_readme_shows(tmp_path, trained_run):
    out = tmp_path / "model.onnx"
    invoke("export", trained_run, "--out", out, "--checkpoint", "latest")
    model = onnx.load(str(out))
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["nnctl_version"] == __version__ and model.producer_name == "nnctl"
    assert json.loads(meta["class_names"]) == [str(i) for i in range(10)]
    assert meta["task"] == "classification" and meta["output_kind"] == "softmax"
    assert meta["normalization"] == "standardize" and json.loads(meta["input_shape"]) == [8, 8, 1]
    assert meta["checkpoint"] == "latest" and meta["epoch"] == "6" and meta["run"] == trained_run.name
    assert "name: tiny" in meta["spec"]
    # The README's three lines: raw 8x8 images in, probabilities and labels out.
    session = ort.InferenceSession(str(out))
    assert json.loads(session.get_modelmeta().custom_metadata_map["class_names"]) == [str(i) for i in range(10)]
    x = np.random.default_rng(0).uniform(0, 16, (5, 8, 8, 1)).astype(np.float32)
    probabilities, label = session.run(["probabilities", "label"], {"input": x})
    assert probabilities.shape == (5, 10) and np.allclose(probabilities.sum(axis=1), 1, atol=1e-6)
    np.testing.assert_array_equal(label, probabilities.argmax(axis=1))


def test_initial_checkpoint_exports_the_untrained_network(tmp_path, trained_run):
    """--checkpoint picks the weights: initial and latest differ, and each verifies against its own."""
    results = {}
    for which in ("initial", "latest"):
        out = tmp_path / f"{which}.onnx"
        results[which] = invoke_json("export", trained_run, "--out", out, "--checkpoint", which, "--verify", 20)
        assert results[which]["verify"]["passed"]
    assert results["initial"]["epoch"] == 0 and results["latest"]["epoch"] == 6
    w = {which: {i.name: onnx.numpy_helper.to_array(i) for i in onnx.load(str(tmp_path / f"{which}.onnx")).graph.initializer}
         for which in results}
    assert not np.array_equal(w["initial"]["dense1/W"], w["latest"]["dense1/W"])


def test_npz_export_of_a_run_matches_predict(tmp_path, trained_moons_run):
    out = tmp_path / "moons.npz"
    result = invoke_json("export", trained_moons_run, "--format", "npz", "--out", out)
    assert result["format"] == "npz" and result["opset"] is None and result["verify"] is None
    rows = np.random.default_rng(1).normal(0, 1, (30, 2))
    np.save(tmp_path / "rows.npy", rows)
    predicted = invoke("predict", trained_moons_run, tmp_path / "rows.npy", "--proba").stdout.splitlines()[1:]
    graph, outputs = npz_forward(out, rows)
    assert graph["output"]["kind"] == "binary" and graph["class_names"] == ["0", "1"]
    for line, p in zip(predicted, outputs[:, 0]):
        name, p0, p1 = line.split(",")
        assert name == ("1" if p >= 0.5 else "0")
        assert float(p1) == pytest.approx(p, abs=1e-5) and float(p0) == pytest.approx(1 - p, abs=1e-5)


def test_a_regression_run_exports_its_outputs(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(0, 3, (200, 3)) + 5
    y = np.stack([x @ [0.5, -1.0, 0.25], np.sin(x[:, 0])], axis=1)
    np.savez(tmp_path / "reg.npz", x=x, y=y)
    spec = write_spec(tmp_path, f"""\
        name: reg
        seed: 0
        data:
          source: {{type: npz, path: {tmp_path / 'reg.npz'}}}
          split: {{train: 0.6, dev: 0.4, test: 0}}
        model:
          layers:
            - {{units: 8, activation: elu, batchnorm: {{placement: after}}}}
            - {{units: 2, activation: linear}}
        train: {{epochs: 3, batch_size: 20, learning_rate: 0.01, optimizer: {{name: adam}}}}
        """)
    run = train_run(spec, tmp_path / "runs")
    result = invoke_json("export", run, "--out", tmp_path / "reg.onnx", "--verify", 80)
    assert result["output_kind"] == "regression" and result["verify"]["passed"] and result["verify"]["examples"] == 80
    session = ort.InferenceSession(str(tmp_path / "reg.onnx"))
    assert [o.name for o in session.get_outputs()] == ["outputs"]


def test_a_failed_verification_exits_1_and_writes_nothing(tmp_path, trained_run, monkeypatch):
    from nnctl.export import run as export_module

    real = export_module.build_onnx

    def off_by_a_little(desc, opset):
        desc.arrays["dense2/b"] = desc.arrays["dense2/b"] + np.linspace(0, 0.01, 10, dtype=np.float32)
        return real(desc, opset)

    monkeypatch.setattr(export_module, "build_onnx", off_by_a_little)
    out = tmp_path / "model.onnx"
    result = invoke("export", trained_run, "--out", out, "--verify", 10, "--json", expect=1)
    assert json.loads(result.stdout)["verify"]["passed"] is False
    assert "verification failed" in one_line_error(result.stderr) and not out.exists()


@pytest.mark.parametrize("args, message", [
    (["--format", "tflite"], "Invalid value for '--format': 'tflite' is not one of 'onnx', 'npz'"),
    (["--opset", "5"], "--opset 5: supported opsets are 13 to"),
    (["--opset", "999"], "--opset 999: supported opsets are 13 to"),
    (["--opset", "x"], "Invalid value for '--opset'"),
    (["--verify", "0"], "Invalid value for '--verify'"),
    (["--checkpoint", "newest"], "Invalid value for '--checkpoint': 'newest' is not one of 'best', 'latest', 'initial'"),
    (["--format", "npz", "--verify", "3"], "--verify applies to --format onnx only"),
    (["--format", "npz", "--opset", "17"], "--opset applies to --format onnx only"),
])
def test_bad_options_are_one_line_and_write_nothing(tmp_path, trained_run, args, message):
    out = tmp_path / "model.onnx"
    result = invoke("export", trained_run, "--out", out, *args, expect=2)
    assert message in one_line_error(result.stderr)
    assert not out.exists()


def test_bad_paths_are_one_line(tmp_path, trained_run):
    line = one_line_error(invoke("export", tmp_path / "no-such-run", expect=2).stderr)  # the default --out is in the run
    assert "no-such-run: no such run directory" in line
    line = one_line_error(invoke("export", tmp_path / "no-such-run", "--out", tmp_path / "m.onnx", expect=2).stderr)
    assert "no-such-run: no such run directory" in line
    line = one_line_error(invoke("export", trained_run, "--out", tmp_path / "missing" / "m.onnx", expect=2).stderr)
    assert f"directory {tmp_path / 'missing'} does not exist" in line
    line = one_line_error(invoke("export", trained_run, "--out", tmp_path, expect=2).stderr)
    assert "is a directory" in line
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "file").write_text("")
    line = one_line_error(invoke("export", trained_run, "--out", tmp_path / "file" / "m.onnx", expect=2).stderr)
    assert f"directory {tmp_path / 'file'} is not a directory" in line


def test_a_failed_write_is_one_line_and_keeps_the_old_file(tmp_path, trained_run, monkeypatch):
    import errno

    from nnctl.runs import atomic

    out = tmp_path / "model.onnx"
    out.write_bytes(b"old model")

    def full_disk(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.os, "replace", full_disk)
    line = one_line_error(invoke("export", trained_run, "--out", out, expect=2).stderr)
    assert "cannot write (No space left on device)" in line
    assert out.read_bytes() == b"old model" and sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]


def test_verify_needs_a_dev_split(tmp_path):
    spec = write_spec(tmp_path, """\
        name: nodev
        data: {source: moons, limit: 60, split: {train: 1.0, dev: 0, test: 0}}
        model: {layers: [{units: 1, activation: sigmoid}]}
        train: {epochs: 1, batch_size: full}
        checkpoint: {monitor: train_cost}
        """)
    run = train_run(spec, tmp_path / "runs")
    line = one_line_error(invoke("export", run, "--out", tmp_path / "m.onnx", "--verify", 5, expect=2).stderr)
    assert "no dev split" in line and not (tmp_path / "m.onnx").exists()


@pytest.mark.parametrize("missing", ["onnx", "onnxruntime"])
def test_without_the_extra_a_one_line_install_hint(tmp_path, trained_run, monkeypatch, missing):
    monkeypatch.setitem(sys.modules, missing, None)  # import now raises ImportError
    args = ["--verify", "3"] if missing == "onnxruntime" else []
    result = invoke("export", trained_run, "--out", tmp_path / "m.onnx", *args, expect=2)
    assert f"needs the {missing} package" in one_line_error(result.stderr)
    assert "pip install 'nnctl[onnx]'" in result.stderr
    assert not (tmp_path / "m.onnx").exists()
    invoke("export", trained_run, "--format", "npz", "--out", tmp_path / "m.npz")  # npz needs neither


def test_the_command_line_does_not_import_onnx_until_asked():
    code = "import sys, nnctl.cli.main; print(sorted(m for m in sys.modules if m.split('.')[0] in ('onnx', 'onnxruntime')))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


# ---------------------------------------------------------------- multi-task outputs and frozen layers

MULTITASK_SPEC = """\
name: tasks
seed: 0
data:
  source: {{type: npz, path: {path}}}
  split: {{train: 0.6, dev: 0.4, test: 0}}
model:
  layers:
    - {{units: 12, activation: relu, trainable: false}}
    - {{units: 8, activation: tanh, batchnorm: true}}
    - {{units: 3, activation: sigmoid}}
train: {{epochs: 3, batch_size: 25, learning_rate: 0.02, optimizer: {{name: adam}}}}
"""


def test_a_multitask_run_with_a_frozen_layer_exports_a_label_per_task(tmp_path):
    """Three independent sigmoid tasks (some labels missing) behind a frozen first layer."""
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, (250, 4))
    y = np.stack([x[:, 0] > 0, x[:, 1] + x[:, 2] > 0, x[:, 3] > 0.5], axis=1).astype(float)
    y[rng.random(y.shape) < 0.1] = np.nan
    np.savez(tmp_path / "tasks.npz", x=x, y=y)
    run = train_run(write_spec(tmp_path, MULTITASK_SPEC.format(path=tmp_path / "tasks.npz")), tmp_path / "runs")
    out = tmp_path / "tasks.onnx"
    result = invoke_json("export", run, "--out", out, "--verify", 100)
    assert result["output_kind"] == "multitask" and result["verify"]["passed"] and result["verify"]["examples"] == 100
    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert meta["task"] == "multilabel" and len(json.loads(meta["class_names"])) == 3
    probabilities, label = ort.InferenceSession(str(out)).run(["probabilities", "label"], {"input": x[:7].astype(np.float32)})
    assert probabilities.shape == label.shape == (7, 3)
    np.testing.assert_array_equal(label, probabilities >= 0.5)
    # predict's one 0/1 column per task agrees with the exported labels
    np.save(tmp_path / "rows.npy", x[:7])
    lines = invoke("predict", run, tmp_path / "rows.npy").stdout.splitlines()
    assert [[int(v) for v in line.split(",")] for line in lines[1:]] == label.tolist()
