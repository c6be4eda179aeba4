"""Turn a validated spec into a Network, and data labels into its targets.

Layer names follow the spec's 1-based layer positions (dense1, conv2, bn2,
act2, pool3, res4.conv1, res4.proj, ...; drop0 for input dropout) so that
checkpoint paths and gradient check reports point back at the spec line a
person wrote.
"""

from __future__ import annotations

import numpy as np

from ..errors import BuildError
from ..nn.conv import AvgPool, Conv2D, GlobalAvgPool, MaxPool
from ..nn.initializers import FIXED_PREFIX, default_initializer
from ..nn.layers import Activate, BatchNorm, Dense, Dropout, Flatten, Layer
from ..nn.losses import make_loss
from ..nn.network import Network
from ..nn.optimizers import Optimizer, make_optimizer
from ..nn.residual import Residual
from ..spec.schema import (
    Conv2dLayerSpec,
    DenseLayerSpec,
    FixedInit,
    FlattenLayerSpec,
    PoolLayerSpec,
    ResidualLayerSpec,
    Spec,
)
from .batches import resolve_batch_size
from .freezing import apply_layer_settings, assign_stages
from .memory import Footprint, check_fits, declared_parameters


class LayerNames:
    """Layers are numbered by kind in spec order (conv1, pool1, conv2, dense1, ...); the parts of a
    block are named after its main layer (conv1.bn, conv1.act, conv1.drop), and a residual block's
    body inside it (res1.conv1, res1.conv1.bn)."""

    def __init__(self, prefix: str = ""):
        self.prefix = prefix
        self.counts: dict[str, int] = {}

    def next(self, kind: str) -> str:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        return f"{self.prefix}{kind}{self.counts[kind]}"


def initializer_rule(layer: DenseLayerSpec | Conv2dLayerSpec) -> str:
    """The core's rule for a layer's ``init``: auto chosen by its activation, a fixed kernel as ``fixed:<name>``."""
    if isinstance(layer.init, FixedInit):
        return FIXED_PREFIX + layer.init.fixed
    return default_initializer(layer.activation) if layer.init == "auto" else layer.init


def _weighted_block(names: LayerNames, layer, is_output: bool, dropout_rng) -> list[Layer]:
    """Dense/conv → [batch norm] → activation → [batch norm, when placed after] → [dropout]."""
    init = initializer_rule(layer)
    bn = layer.batchnorm
    before = bn is not None and bn.placement == "before"
    if isinstance(layer, Conv2dLayerSpec):
        kernel = layer.kernel if isinstance(layer.kernel, int) else tuple(layer.kernel)
        main: Layer = Conv2D(names.next("conv"), layer.filters, kernel, layer.stride, layer.padding,
                             init, layer.init_scale, use_bias=not before, init_gain=layer.init_gain)
    else:
        main = Dense(names.next("dense"), layer.units, init, layer.init_scale, use_bias=not before, init_gain=layer.init_gain)
    norm = [BatchNorm(f"{main.name}.bn", bn.momentum, bn.epsilon)] if bn is not None else []
    if is_output:
        block = [main] + norm
    else:
        activation = [] if layer.activation == "linear" else [Activate(f"{main.name}.act", layer.activation, layer.alpha)]
        block = [main] + (norm + activation if before else activation + norm)
        if layer.keep_prob < 1:
            block.append(Dropout(f"{main.name}.drop", layer.keep_prob, dropout_rng))
    apply_layer_settings(block, layer)
    return block


def weighted_layer_keys(spec: Spec) -> dict[str, str]:
    """The spec key of each layer with weights, by its network name (dense2 → model.layers[3]), input to output."""
    names, keys = LayerNames(), {}
    for i, layer in enumerate(spec.model.layers):
        kind = {"dense": "dense", "conv2d": "conv", "residual": "res"}.get(layer.type)
        if kind:
            keys[names.next(kind)] = f"model.layers[{i}]"
    return keys


def _residual(name: str, key: str, spec: ResidualLayerSpec, input_shape: tuple[int, ...], dropout_rng, guard) -> Residual:
    """A residual block: convolutions on images, dense layers on flat inputs. When the body changes
    the shape, a learned projection carries the shortcut: a 1×1 convolution with the body's stride
    on images, a dense layer on flat inputs."""
    images = len(input_shape) == 3
    for j, inner in enumerate(spec.layers):
        if isinstance(inner, Conv2dLayerSpec) != images:
            need = "image inputs (H, W, C)" if isinstance(inner, Conv2dLayerSpec) else "flat inputs (add a flatten layer before the block)"
            raise BuildError(f"{key}.layers[{j}].type", f"a {inner.type} layer in a residual block needs {need}; "
                                                        f"the block's input has shape {input_shape}")
    body: list[Layer] = []
    inner_names = LayerNames(f"{name}.")
    for inner in spec.layers:
        body += _weighted_block(inner_names, inner, False, dropout_rng)
    shape = input_shape
    for layer in body:
        guard(layer, shape)
        shape = tuple(layer.build(shape))
    projection: Layer | None = None
    if shape != input_shape and not images:
        projection = Dense(f"{name}.proj", shape[0], "xavier")
    elif shape != input_shape:
        if input_shape[0] % shape[0]:
            raise ValueError(f"{name}: cannot project the shortcut {input_shape} onto the body's output {shape}")
        projection = Conv2D(f"{name}.proj", shape[2], 1, input_shape[0] // shape[0], "valid", "xavier")
    block = Residual(name, body, spec.activation, projection, spec.alpha)
    apply_layer_settings([block], spec)
    return block


def _layer(index: int, spec, shape: tuple[int, ...], is_output: bool, names: LayerNames, dropout_rng, guard) -> list[Layer]:
    key = f"model.layers[{index - 1}]"
    if is_output and not isinstance(spec, DenseLayerSpec):
        raise BuildError(f"{key}.type", "the output layer must be a dense layer")
    if isinstance(spec, (DenseLayerSpec, Conv2dLayerSpec)):
        if is_output and spec.keep_prob < 1:
            raise BuildError(f"{key}.keep_prob", "dropout is not allowed on the output layer")
        if not is_output and spec.activation == "softmax":
            raise BuildError(f"{key}.activation", "softmax can only be the output layer's activation")
        if is_output and spec.batchnorm is not None and spec.batchnorm.placement == "after":
            raise BuildError(f"{key}.batchnorm.placement", "the output layer can only normalize before its activation")
        if isinstance(spec, Conv2dLayerSpec) and len(shape) != 3:
            raise BuildError(f"{key}.type", f"a convolution needs image inputs (H, W, C), not shape {shape}")
        if isinstance(spec, Conv2dLayerSpec) and isinstance(spec.init, FixedInit) and spec.kernel not in (3, [3, 3]):
            raise BuildError(f"{key}.init", f"the fixed kernel '{spec.init.fixed}' is 3×3; this layer's kernel is {spec.kernel}")
        if is_output and spec.alpha is not None:
            raise BuildError(f"{key}.alpha", "the output layer's activation takes no alpha (it is fused with the loss)")
        flatten = [Flatten(names.next("flatten"))] if isinstance(spec, DenseLayerSpec) and len(shape) > 1 else []
        return flatten + _weighted_block(names, spec, is_output, dropout_rng)
    if isinstance(spec, FlattenLayerSpec):
        return [Flatten(names.next("flatten"))]
    if isinstance(spec, ResidualLayerSpec):
        return [_residual(names.next("res"), key, spec, shape, dropout_rng, guard)]
    if len(shape) != 3:
        raise BuildError(f"{key}.type", f"'{spec.type}' needs image inputs (H, W, C), not shape {shape}")
    if isinstance(spec, PoolLayerSpec):
        pool = MaxPool if spec.type == "maxpool" else AvgPool
        return [pool(names.next("pool"), spec.size, spec.stride)]
    return [GlobalAvgPool(names.next("gap"))]


def build_optimizer(spec: Spec, net: Network) -> Optimizer:
    """The spec's optimizer over the network's trainable parameters, each layer's ``lr_scale`` applied: what the
    trainer steps with, and gradcheck too when it checks after some steps."""
    settings = spec.train.optimizer
    optimizer = make_optimizer(settings.name, net.n_trainable, net.dtype, net.penalized_ranges(),
                               **settings.model_dump(exclude={"name"}))
    optimizer.lr_scale = net.lr_scales()
    return optimizer


def training_batch(spec: Spec, examples: int | None) -> int:
    """The mini-batch training will use (``resolve_batch_size``: the whole training set for ``full``, the notes'
    rule for ``auto``, never more than it has; 1 for those two when the set's size is not known: a model
    loaded for inference)."""
    size = spec.train.batch_size
    if examples is None:
        return size if isinstance(size, int) else 1  # full, auto
    return resolve_batch_size(size, examples)


def build_layers(spec: Spec, input_shape: tuple[int, ...], dropout_rng: np.random.Generator,
                 examples: int | None = None) -> list[Layer]:
    """The layers in order, building each as it comes so that shape errors name their spec key, each checked
    against the memory guard before its build allocates (``examples``: the training set's size)."""
    layers: list[Layer] = []
    if spec.model.input_keep_prob < 1:
        layers.append(Dropout("input.drop", spec.model.input_keep_prob, dropout_rng))
    shape, last, names = tuple(input_shape), len(spec.model.layers), LayerNames()
    footprint, batch = Footprint(), training_batch(spec, examples)
    itemsize, optimizer = np.dtype(spec.precision).itemsize, spec.train.optimizer.name
    for index, layer_spec in enumerate(spec.model.layers, start=1):
        key = f"model.layers[{index - 1}]"

        def guard(layer: Layer, input_shape: tuple[int, ...]) -> None:
            """Before ``layer`` is built: the network so far plus its parameters must fit."""
            before = Footprint(footprint.parameters + declared_parameters(layer, input_shape), footprint.activations_per_example)
            check_fits(before, batch, itemsize, optimizer, key)  # noqa: B023 (called within this iteration only)

        try:
            block = _layer(index, layer_spec, shape, index == last, names, dropout_rng, guard)
            for layer in block:
                guard(layer, shape)
                shape = tuple(layer.build(shape))
                footprint.add_layer(layer, shape)
                check_fits(footprint, batch, itemsize, optimizer, key)
        except ValueError as err:  # the nn layers' own shape checks
            raise BuildError(key, str(err)) from None
        layers += block
    assign_stages(spec, [inner for layer in layers for inner in layer.walk()])
    return _pool_before_relu(layers)


def _pool_before_relu(layers: list[Layer]) -> list[Layer]:
    """Run each ReLU that feeds a max-pool after it instead: relu(max(x)) = max(relu(x)) exactly,
    and so are the gradients (the window's first maximum gets dA where it is > 0), but the ReLU
    then touches f² times fewer values (LeNet-5: 0.7 ms of a 7 ms step)."""
    for i in range(len(layers) - 1):
        first, second = layers[i], layers[i + 1]
        if isinstance(first, Activate) and first.activation.name == "relu" and isinstance(second, MaxPool):
            layers[i], layers[i + 1] = second, first
    return layers


def build_network(spec: Spec, input_shape: tuple[int, ...], dropout_rng: np.random.Generator, dtype=None,
                  examples: int | None = None) -> Network:
    layers = build_layers(spec, input_shape, dropout_rng, examples)
    try:
        loss = make_loss(spec.loss, spec.model.layers[-1].activation)
    except ValueError as err:
        raise BuildError("loss", str(err)) from None
    try:
        return Network(layers, loss, input_shape, dtype or spec.precision)
    except ValueError as err:
        raise BuildError("model.layers", str(err)) from None


def check_outputs(spec: Spec, task: str, n_classes: int, n_targets: int, missing_labels: bool = False) -> None:
    """The output layer must match the data: C softmax units, 1 sigmoid unit for 2 classes, k for regression,
    k sigmoid units for k binary tasks (multi-label)."""
    out = spec.model.layers[-1]
    key = f"model.layers[{len(spec.model.layers) - 1}]"
    if task == "multilabel":
        if out.activation != "sigmoid":
            why = "the labels have missing values (NaN)" if missing_labels else f"the data has {n_targets} label columns"
            raise BuildError(f"{key}.activation", f"{why}: independent binary tasks need a sigmoid output with "
                                                  f"{n_targets} unit(s), not {out.activation}")
        if out.units != n_targets:
            raise BuildError(f"{key}.units", f"the data has {n_targets} binary tasks, the sigmoid layer has {out.units} units")
        if spec.loss not in ("auto", "binary_cross_entropy"):
            raise BuildError("loss", "multi-task labels train with binary_cross_entropy (it skips missing labels)")
        return
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
    """Class indices → one-hot rows (softmax) or a 0/1 column (sigmoid); regression and multi-label
    (0/1 with NaN for a missing label) as they are."""
    if task in ("regression", "multilabel"):
        return y.reshape(len(y), -1).astype(dtype)
    if n_outputs == 1:
        return y.reshape(-1, 1).astype(dtype)
    targets = np.zeros((len(y), n_outputs), dtype=dtype)
    targets[np.arange(len(y)), y] = 1
    return targets
