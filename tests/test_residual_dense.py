"""Residual blocks with a dense body on flat inputs: identity and dense-projection shortcuts,
built from a spec, gradient-checked, trained; a body that cannot fit its input is a located error."""

from __future__ import annotations

import re

import numpy as np
import pytest
from conftest import invoke, one_line_error, write_spec

from nnctl.errors import BuildError
from nnctl.nn.gradcheck import check_gradients
from nnctl.nn.layers import Activate, Dense
from nnctl.nn.losses import make_loss
from nnctl.nn.network import Network
from nnctl.nn.residual import Residual
from nnctl.orchestration.gradcheck import GradcheckSettings, gradcheck_run
from nnctl.orchestration.start import prepare_run
from nnctl.spec import parse_spec

FLAT_RESNET = """\
name: flat-resnet
seed: 3
data:
  source: {type: generated, name: spirals, samples: 300, classes: 3}
model:
  layers:
    - {units: 16, activation: tanh}
    - type: residual
      activation: tanh
      layers:
        - {units: 16, activation: tanh, batchnorm: true}
        - {units: 16, activation: linear}
    - type: residual
      activation: tanh
      layers:
        - {units: 8, activation: tanh}
        - {units: 8, activation: linear}
    - {units: 3, activation: softmax}
train: {epochs: 30, batch_size: 32, learning_rate: 0.01, optimizer: {name: adam}}
checkpoint: {monitor: dev_accuracy}
"""


def test_the_shortcut_is_the_identity_or_a_dense_projection():
    net = prepare_run(parse_spec(FLAT_RESNET)).net
    blocks = [layer for layer in net.layers if isinstance(layer, Residual)]
    assert [b.name for b in blocks] == ["res1", "res2"]
    assert blocks[0].projection is None
    assert isinstance(blocks[1].projection, Dense) and blocks[1].projection.name == "res2.proj"
    assert {"res1.dense1/W", "res1.dense1.bn/gamma", "res1.dense2/b", "res2.proj/W", "res2.proj/b"} <= {s.key for s in net.slots}
    assert net.shapes[1:5] == [(16,), (16,), (16,), (8,)]  # dense1, dense1.act, res1, res2


def test_a_flat_residual_network_passes_gradcheck():
    report = gradcheck_run(prepare_run(parse_spec(FLAT_RESNET)), GradcheckSettings(examples=8, after_steps=3))
    assert report.tensors and all(t.difference < 1e-7 for t in report.tensors), [(t.key, t.difference) for t in report.tensors]


def test_a_dense_projection_block_by_hand():
    """The block's own arithmetic: out = tanh(body(x) + x·Pᵀ + p), checked by two-sided differences."""
    rng = np.random.default_rng(0)
    block = Residual("r", [Dense("d1", 5, "xavier"), Activate("a", "tanh"), Dense("d2", 3, "xavier")], "tanh",
                     projection=Dense("p", 3, "xavier"))
    net = Network([Dense("in", 4, "xavier"), block, Dense("out", 2, "xavier")], make_loss("auto", "softmax"), (6,), np.float64)
    net.initialize(rng)
    x = rng.standard_normal((4, 6))
    h = x @ net.layers[0].params["W"].T + net.layers[0].params["b"]  # the block's input
    body = np.tanh(h @ block.body[0].params["W"].T + block.body[0].params["b"]) @ block.body[2].params["W"].T + block.body[2].params["b"]
    short = h @ block.projection.params["W"].T + block.projection.params["b"]
    np.testing.assert_allclose(block.forward(h, training=False), np.tanh(body + short), rtol=1e-14)
    y = np.eye(2)[rng.integers(0, 2, 4)]
    assert all(t.difference < 1e-7 for t in check_gradients(net, x, y).tensors)


def test_a_flat_residual_network_trains(tmp_path):
    result = invoke("train", write_spec(tmp_path, FLAT_RESNET), "--runs-dir", tmp_path / "runs", "--quiet", "--json")
    assert '"stop_reason": "completed"' in result.stdout


def test_a_convolution_in_a_flat_block_is_a_located_error():
    text = FLAT_RESNET.replace("{units: 8, activation: tanh}", "{type: conv2d, filters: 4}")
    with pytest.raises(BuildError, match=re.escape("model.layers[2].layers[0].type: a conv2d layer in a residual block "
                                                   "needs image inputs (H, W, C); the block's input has shape (16,)")):
        prepare_run(parse_spec(text))


def test_a_dense_body_on_images_names_the_block_and_the_fix(tmp_path):
    spec = write_spec(tmp_path, """\
        data: {source: digits, limit: 100}
        model:
          layers:
            - {type: conv2d, filters: 4}
            - type: residual
              layers: [{units: 4, activation: linear}]
            - {units: 10, activation: softmax}
        """)
    invoke("spec", "check", spec)  # valid on its own: only the data's shape rules it out
    message = one_line_error(invoke("spec", "show", spec, expect=2).stderr)
    assert "model.layers[1].layers[0].type" in message and "add a flatten layer before the block" in message
