"""ELU's α and leaky ReLU's slope, the gain of Xavier/He, the notes' fixed edge kernels, batch_size: auto."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import invoke, write_spec

from nnctl.nn.activations import make_activation
from nnctl.nn.initializers import FIXED_KERNELS, init_weights
from nnctl.nn.vocabulary import FIXED_KERNEL_NAMES
from nnctl.spec import parse_spec
from nnctl.train.batches import batch_size_note, resolve_batch_size
from nnctl.train.build import build_network

Z = np.array([-2.0, -0.5, 0.0, 1.5])


def test_elu_alpha_by_hand():
    elu = make_activation("elu", 0.5)
    a = elu.forward(Z)
    np.testing.assert_allclose(a, [0.5 * (math.exp(-2) - 1), 0.5 * (math.exp(-0.5) - 1), 0.0, 1.5], rtol=1e-15)
    np.testing.assert_allclose(elu.grad(Z, a), [0.5 * math.exp(-2), 0.5 * math.exp(-0.5), 0.5, 1.0], rtol=1e-15)
    assert elu.alpha == 0.5 and make_activation("elu").alpha == 1.0


def test_leaky_relu_slope_by_hand_and_its_bounds():
    leaky = make_activation("leaky_relu", 0.2)
    np.testing.assert_array_equal(leaky.forward(Z), [-0.4, -0.1, 0.0, 1.5])
    np.testing.assert_array_equal(leaky.grad(Z, leaky.forward(Z)), [0.2, 0.2, 0.2, 1.0])
    with pytest.raises(ValueError, match="takes no alpha"):
        make_activation("tanh", 0.5)


def test_alpha_reaches_the_network_and_its_gradient_checks(tmp_path):
    spec = write_spec(tmp_path, """\
        data: {source: {type: generated, name: moons, samples: 60}}
        model:
          layers:
            - {units: 5, activation: elu, alpha: 0.3}
            - {units: 4, activation: leaky_relu, alpha: 0.2}
            - {units: 1, activation: sigmoid}
        """)
    invoke("gradcheck", spec)
    net = build_network(parse_spec(spec.read_text()), (2,), np.random.default_rng(0))
    alphas = [layer.activation.alpha for layer in net.layers if hasattr(layer, "activation")]
    assert alphas == [0.3, 0.2]


@pytest.mark.parametrize(("layer", "message"), [
    ("{units: 4, activation: tanh, alpha: 0.5}", "alpha applies to leaky_relu and elu only"),
    ("{units: 4, activation: leaky_relu, alpha: 1.5}", "slope alpha must be below 1"),
    ("{units: 4, init: random, init_gain: 2}", "init_scale is its standard deviation"),
])
def test_alpha_and_gain_where_they_do_not_apply_are_located(tmp_path, layer, message):
    spec = write_spec(tmp_path, f"model:\n  layers:\n    - {layer}\n    - {{units: 1, activation: sigmoid}}\n")
    error = invoke("spec", "check", spec, expect=2).stderr
    assert f"{spec}:3: model.layers[0]" in error and message in error


@pytest.mark.parametrize(("rule", "variance"), [("xavier", 1 / 200), ("he", 2 / 200), ("glorot", 2 / 300)])
def test_the_gain_multiplies_the_standard_deviation(rule, variance):
    out = np.empty((100, 200))
    init_weights(out, rule, 200, 100, np.random.default_rng(5), 0.01, gain=3.0)
    plain = np.empty((100, 200))
    init_weights(plain, rule, 200, 100, np.random.default_rng(5), 0.01)
    np.testing.assert_allclose(out, 3.0 * plain, rtol=1e-15)  # the same draws, scaled
    assert plain.std() == pytest.approx(math.sqrt(variance), rel=0.02)


def test_the_fixed_kernels_are_the_notes_and_reproduce_the_notes_edge_example():
    assert tuple(FIXED_KERNELS) == FIXED_KERNEL_NAMES
    assert FIXED_KERNELS["sobel"] == ((1, 0, -1), (2, 0, -2), (1, 0, -1))
    assert FIXED_KERNELS["scharr"] == ((3, 0, -3), (10, 0, -10), (3, 0, -3))
    assert np.array_equal(np.array(FIXED_KERNELS["horizontal_edge"]), np.array(FIXED_KERNELS["vertical_edge"]).T)
    spec = parse_spec("model:\n  layers:\n    - {type: conv2d, filters: 1, kernel: 3, activation: linear, "
                      "init: {fixed: vertical_edge}}\n    - {units: 1, activation: sigmoid}\n", "x.yaml")
    net = build_network(spec, (6, 6, 1), np.random.default_rng(0), "float64")
    net.initialize(np.random.default_rng(0))
    image = np.array([[3, 0, 1, 2, 7, 4], [1, 5, 8, 9, 3, 1], [2, 7, 2, 5, 1, 3], [0, 1, 3, 1, 7, 8],
                      [4, 2, 1, 6, 2, 8], [2, 4, 5, 2, 3, 9]], dtype=np.float64)
    out = net.layers[0].forward(image[None, :, :, None], False)[0, :, :, 0]
    np.testing.assert_array_equal(out, [[-5, -4, 0, 8], [-10, -2, 2, 3], [0, -2, -4, -7], [-3, -2, -3, -16]])


def test_a_fixed_kernel_needs_a_3x3_convolution(tmp_path):
    spec = write_spec(tmp_path, "data: {source: digits}\nmodel:\n  layers:\n"
                                "    - {type: conv2d, filters: 2, kernel: 5, init: {fixed: scharr}}\n"
                                "    - {units: 10, activation: softmax}\n")
    error = invoke("spec", "check", spec, "--data", expect=2).stderr
    assert "model.layers[0].init" in error and "3×3" in error


@pytest.mark.parametrize(("m", "size"), [(1, 1), (2000, 2000), (2001, 64), (12799, 64), (12800, 128),
                                         (25600, 256), (51199, 256), (51200, 512), (10**7, 512)])
def test_batch_size_auto_follows_the_notes_rule(m, size):
    """Full batch up to 2,000 rows; else the largest of 64–512 leaving ≥ 100 steps an epoch (64 when none does)."""
    assert resolve_batch_size("auto", m) == size
    assert resolve_batch_size("full", m) == m and resolve_batch_size(64, 10) == 10


def test_spec_show_prints_the_resolved_batch_size(tmp_path):
    spec = write_spec(tmp_path, "data: {source: {type: generated, name: moons, samples: 300}}\n"
                                "model:\n  layers:\n    - {units: 1, activation: sigmoid}\ntrain: {batch_size: auto}\n")
    shown = invoke("spec", "show", spec)
    assert "batch_size: auto\n" in shown.stdout  # the spec stays as written
    assert "train.batch_size: auto → 240 (full batch: 240 ≤ 2,000 training examples)" in shown.stderr
    assert batch_size_note("auto", 48000) == ("train.batch_size: auto → 256 (48,000 > 2,000 training examples: "
                                              "the largest of 64, 128, 256, 512 giving ≥ 100 steps an epoch, else 64)")
