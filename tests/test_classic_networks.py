"""The classic networks shipped as specs: shapes and parameter counts against the notes' own numbers."""

from __future__ import annotations

import pytest
from conftest import CONFIGS, invoke

from nnctl.orchestration.start import prepare_run
from nnctl.spec import load_spec

# The notes (AlexNet and VGG-16 sections): AlexNet on 227×227×3 and VGG-16 on 224×224×3.
ALEXNET = {"conv1": (55, 55, 96), "pool1": (27, 27, 96), "conv2": (27, 27, 256), "pool2": (13, 13, 256),
           "conv3": (13, 13, 384), "conv4": (13, 13, 384), "conv5": (13, 13, 256), "pool3": (6, 6, 256),
           "flatten1": (9216,), "dense1": (4096,), "dense2": (4096,), "dense3": (1000,)}
VGG16 = {"conv2": (224, 224, 64), "pool1": (112, 112, 64), "conv4": (112, 112, 128), "pool2": (56, 56, 128),
         "conv7": (56, 56, 256), "pool3": (28, 28, 256), "conv10": (28, 28, 512), "pool4": (14, 14, 512),
         "conv13": (14, 14, 512), "pool5": (7, 7, 512), "flatten1": (25088,), "dense1": (4096,), "dense3": (1000,)}
# The notes' CNN example table, layer by layer: activation shape and parameters.
LENET = {"conv1": ((28, 28, 6), 456), "pool1": ((14, 14, 6), 0), "conv2": ((10, 10, 16), 2416),
         "pool2": ((5, 5, 16), 0), "flatten1": ((400,), 0), "dense1": ((120,), 48120), "dense2": ((84,), 10164),
         "dense3": ((10,), 850)}


def _net(name: str):
    return prepare_run(load_spec(CONFIGS / name), initialize=False).net


@pytest.mark.parametrize(("name", "shapes", "total", "weighted"), [
    ("alexnet.yaml", ALEXNET, 62_378_344, 8), ("vgg16.yaml", VGG16, 138_357_544, 16)])
def test_spec_show_gives_the_notes_shapes_and_parameter_count(name, shapes, total, weighted):
    shown = invoke("spec", "show", CONFIGS / name)
    assert f"{total:,}" in shown.stderr
    net = _net(name)
    assert net.theta.size == total
    by_name = {layer.name: shape for layer, shape in zip(net.layers, net.shapes[1:])}
    assert {key: by_name[key] for key in shapes} == shapes
    assert sum(1 for layer in net.all_layers() if "W" in layer.params) == weighted  # VGG-*16*: 16 layers with weights


def test_lenet5_is_the_notes_table_layer_by_layer():
    net = _net("lenet5.yaml")
    assert net.input_shape == (32, 32, 3)
    sizes: dict[str, int] = {}
    for slot in net.slots:
        sizes[slot.layer.name] = sizes.get(slot.layer.name, 0) + slot.size
    shapes = {layer.name: shape for layer, shape in zip(net.layers, net.shapes[1:])}
    assert {name: (shapes[name], sizes.get(name, 0)) for name in LENET} == LENET
    assert net.theta.size == sum(count for _, count in LENET.values()) == 62_006
