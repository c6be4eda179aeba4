"""Turn a validated spec into a Network, and data labels into its targets.

Layer names follow the spec's 1-based layer positions (dense1, bn1, act1,
drop1, ...; drop0 for input dropout) so that checkpoint paths and gradient
check reports point back at the spec line a person wrote.
"""

from __future__ import annotations

import numpy as np

from ..nn.initializers import default_initializer
from ..nn.layers import Activate, BatchNorm, Dense, Dropout, Flatten, Layer
from ..nn.losses import make_loss
from ..nn.network import Network
from ..spec.schema import DenseLayerSpec, Spec


class BuildError(ValueError):
    """A spec that validates on its own but cannot work with its data; ``key`` locates it."""

    def __init__(self, key: str, message: str):
        super().__init__(f"{key}: {message}")
        self.key = key


def _dense_block(index: int, layer: DenseLayerSpec, is_output: bool, dropout_rng) -> list[Layer]:
    """Dense → [batch norm] → activation → [batch norm, when placed after] → [dropout]."""
    init = default_initializer(layer.activation) if layer.init == "auto" else layer.init
    bn = layer.batchnorm
    before = bn is not None and bn.placement == "before"
    block: list[Layer] = [Dense(f"dense{index}", layer.units, init, layer.init_scale, use_bias=not before)]
    norm = [BatchNorm(f"bn{index}", bn.momentum, bn.epsilon)] if bn is not None else []
    if is_output:
        return block + norm
    block += norm if before else []
    block.append(Activate(f"act{index}", layer.activation))
    block += [] if before else norm
    if layer.keep_prob < 1:
        block.append(Dropout(f"drop{index}", layer.keep_prob, dropout_rng))
    return block


def build_layers(spec: Spec, input_shape: tuple[int, ...], dropout_rng: np.random.Generator) -> list[Layer]:
    layers: list[Layer] = []
    if spec.model.input_keep_prob < 1:
        layers.append(Dropout("drop0", spec.model.input_keep_prob, dropout_rng))
    if len(input_shape) > 1 and isinstance(spec.model.layers[0], DenseLayerSpec):
        layers.append(Flatten("flatten0"))
    last = len(spec.model.layers)
    for index, layer in enumerate(spec.model.layers, start=1):
        key = f"model.layers[{index - 1}]"
        if index == last and layer.keep_prob < 1:
            raise BuildError(f"{key}.keep_prob", "dropout is not allowed on the output layer")
        if index < last and layer.activation == "softmax":
            raise BuildError(f"{key}.activation", "softmax can only be the output layer's activation")
        if index == last and layer.batchnorm is not None and layer.batchnorm.placement == "after":
            raise BuildError(f"{key}.batchnorm.placement", "the output layer can only normalize before its activation")
        layers.extend(_dense_block(index, layer, index == last, dropout_rng))
    return layers


def build_network(spec: Spec, input_shape: tuple[int, ...], dropout_rng: np.random.Generator, dtype=None) -> Network:
    output = spec.model.layers[-1]
    try:
        loss = make_loss(spec.loss, output.activation)
    except ValueError as err:
        raise BuildError("loss", str(err)) from None
    layers = build_layers(spec, input_shape, dropout_rng)
    try:
        return Network(layers, loss, input_shape, dtype or spec.precision)
    except ValueError as err:
        raise BuildError("model.layers", str(err)) from None


def check_outputs(spec: Spec, task: str, n_classes: int, n_targets: int) -> None:
    """The output layer must match the data: C softmax units, 1 sigmoid unit for 2 classes, k for regression."""
    out = spec.model.layers[-1]
    key = f"model.layers[{len(spec.model.layers) - 1}]"
    if task == "regression":
        if out.units != n_targets:
            raise BuildError(f"{key}.units", f"the data has {n_targets} regression target(s), the output layer {out.units}")
        return
    if out.activation == "softmax" and out.units != n_classes:
        raise BuildError(f"{key}.units", f"the data has {n_classes} classes, the softmax layer has {out.units} units")
    if out.activation == "sigmoid" and not (out.units == 1 and n_classes == 2):
        raise BuildError(
            f"{key}.activation",
            f"a sigmoid output needs 1 unit and 2 classes (data has {n_classes}); use softmax for more classes",
        )
    if out.activation not in ("softmax", "sigmoid"):
        raise BuildError(f"{key}.activation", "a classification task needs a softmax or sigmoid output layer")


def encode_targets(y: np.ndarray, task: str, n_outputs: int, dtype) -> np.ndarray:
    """Class indices → one-hot rows (softmax) or a 0/1 column (sigmoid); regression as is."""
    if task == "regression":
        return y.reshape(len(y), -1).astype(dtype)
    if n_outputs == 1:
        return y.reshape(-1, 1).astype(dtype)
    targets = np.zeros((len(y), n_outputs), dtype=dtype)
    targets[np.arange(len(y)), y] = 1
    return targets
