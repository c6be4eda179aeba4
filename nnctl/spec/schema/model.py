"""The ``model:`` section: the layers (dense, conv2d, pooling, flatten, residual), their shared settings,
and where to start from (``init_from``)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from ...nn.vocabulary import ACTIVATION_NAMES, FIXED_KERNEL_NAMES, INITIALIZER_NAMES
from .base import Beta, PositiveFloat, Probability, Strict

Activation = Literal[ACTIVATION_NAMES]
Initializer = Literal[("auto", *INITIALIZER_NAMES)]
ALPHA_ACTIVATIONS = ("leaky_relu", "elu")  # the activations with an alpha (nn.activations.DEFAULT_ALPHA)
GAINED_INITIALIZERS = ("auto", "xavier", "glorot", "he")  # the rules init_gain multiplies (nn.initializers.GAINED_RULES)


def _check_alpha(activation: str, alpha: float | None) -> None:
    if alpha is not None and activation not in ALPHA_ACTIVATIONS:
        raise ValueError(f"alpha applies to {' and '.join(ALPHA_ACTIVATIONS)} only, not to activation {activation}")
    if alpha is not None and activation == "leaky_relu" and alpha >= 1:
        raise ValueError(f"leaky_relu's slope alpha must be below 1, got {alpha}")


class FixedInit(Strict):
    """A hand-made 3×3 kernel for every filter and input channel (the notes' edge detectors); nothing is drawn."""

    fixed: Literal[FIXED_KERNEL_NAMES]
    """vertical_edge [[1,0,-1]]×3, horizontal_edge its transpose, sobel [[1,0,-1],[2,0,-2],[1,0,-1]], scharr [[3,0,-3],[10,0,-10],[3,0,-3]]"""


class BatchNormSpec(Strict):
    """Batch normalization of a layer's pre-activations (or, with placement: after, its activations)."""

    momentum: Beta = 0.9
    """ρ of the running averages: μ_run ← ρ·μ_run + (1 − ρ)·μ_batch"""
    epsilon: PositiveFloat = 1e-5
    """added to the variance before the square root"""
    placement: Literal["before", "after"] = "before"
    """before the activation (the layer's bias is dropped, β replaces it) or after it"""


class WeightedLayer(Strict):
    """The settings every layer with weights has (dense and conv2d), declared once; ``batchnorm: true`` gives the
    default settings. A layer class lists its own head first (``class DenseLayerSpec(WeightedLayer, _DenseHead)``):
    pydantic puts a base's fields before a class's own, and a spec is written in the models' field order."""

    activation: Activation = "relu"
    """leaky_relu has slope 0.01; softmax only on the output layer"""
    alpha: PositiveFloat | None = None
    """leaky_relu's slope on z < 0 (default 0.01, below 1) or elu's α (default 1.0); only for those two"""
    init: Initializer = "auto"
    """weight initialization; auto: He for the ReLU family, Xavier otherwise"""
    init_scale: PositiveFloat = 0.01
    """standard deviation of init: random"""
    init_gain: PositiveFloat = 1.0
    """multiplies the standard deviation of xavier, glorot and he (and auto) draws"""
    keep_prob: Probability = 1.0
    """inverted dropout after the activation (not on the output layer)"""
    batchnorm: BatchNormSpec | None = None
    """true for the defaults, or a mapping of momentum, epsilon, placement"""
    trainable: bool = True
    """false: the parameters (and batch-norm statistics) stay fixed while training"""
    lr_scale: PositiveFloat = 1.0
    """multiplies train.learning_rate for this layer's parameters"""

    @model_validator(mode="after")
    def _alpha_and_gain_apply(self):
        _check_alpha(self.activation, self.alpha)
        if self.init_gain != 1 and self.init not in GAINED_INITIALIZERS:
            init = f"fixed: {self.init.fixed}" if isinstance(self.init, FixedInit) else self.init
            raise ValueError(f"init_gain multiplies xavier, glorot and he draws; init {init} does not take one"
                             + (" (init_scale is its standard deviation)" if init == "random" else ""))
        return self

    @model_validator(mode="before")
    @classmethod
    def _batchnorm_flag(cls, values):
        if isinstance(values, dict) and isinstance(values.get("batchnorm"), bool):
            values = {**values, "batchnorm": {} if values["batchnorm"] else None}
        return values


class _DenseHead(Strict):
    type: Literal["dense"] = "dense"
    units: Annotated[int, Field(ge=1)]
    """units n[l]"""


class DenseLayerSpec(WeightedLayer, _DenseHead):
    """A fully connected layer, optionally batch-normalized and followed by dropout."""


Kernel = Annotated[int, Field(ge=1)] | Annotated[list[Annotated[int, Field(ge=1)]], Field(min_length=2, max_length=2)]


class _Conv2dHead(Strict):
    type: Literal["conv2d"] = "conv2d"
    filters: Annotated[int, Field(ge=1)]
    """output channels"""
    kernel: Kernel = 3
    """f, or [f_H, f_W]"""
    stride: Annotated[int, Field(ge=1)] = 1
    """step between windows"""
    padding: Literal["valid", "same"] | Annotated[int, Field(ge=0)] = "valid"
    """valid (none), same (stride 1, odd kernels) or zeros on each side"""


class Conv2dLayerSpec(WeightedLayer, _Conv2dHead):
    """A 2-D convolution (cross-correlation) over NHWC maps, optionally batch-normalized per channel."""

    init: Initializer | FixedInit = "auto"  # in WeightedLayer's place, with the hand-made kernels besides
    """as for dense layers (fan_in = f_H·f_W·C_in, fan_out = f_H·f_W·C_out), or {fixed: vertical_edge | horizontal_edge |
    sobel | scharr}: that 3×3 kernel in every filter"""


class PoolLayerSpec(Strict):
    """Max or average pooling per channel; the stride defaults to the window size."""

    type: Literal["maxpool", "avgpool"]
    size: Annotated[int, Field(ge=1)] = 2
    """window f×f"""
    stride: Annotated[int, Field(ge=1)] | None = None
    """step between windows; null: the window size"""


class FlattenLayerSpec(Strict):
    """(m, H, W, C) → (m, H·W·C); inserted automatically before a dense layer on images."""

    type: Literal["flatten"] = "flatten"


class GlobalAvgPoolLayerSpec(Strict):
    """The mean of each channel over H and W: (m, H, W, C) → (m, C)."""

    type: Literal["global_avgpool"] = "global_avgpool"


BodyLayerSpec = Annotated[Conv2dLayerSpec | DenseLayerSpec, Field(discriminator="type")]


class ResidualLayerSpec(Strict):
    """a[l+2] = g(z[l+2] + a[l]): the body's output is added to the block's input before ``activation``.

    The body's last layer must be linear (the block applies the activation after
    the addition). The body holds convolutions on image inputs, dense layers on flat
    ones. When it changes the shape, a learned projection carries the shortcut: a
    1×1 convolution with the matching stride on images, a dense layer on flat inputs.
    """

    type: Literal["residual"] = "residual"
    layers: Annotated[list[BodyLayerSpec], Field(min_length=1)]
    """the body: conv2d layers on images, dense layers on flat inputs; the last one linear"""
    activation: Activation = "relu"
    """applied after the addition"""
    alpha: PositiveFloat | None = None
    """as for dense layers"""
    trainable: bool = True
    """false freezes the whole block"""
    lr_scale: PositiveFloat = 1.0
    """multiplies the learning rate of the whole block"""

    @model_validator(mode="before")
    @classmethod
    def _default_body_type(cls, values):
        return _default_dense_type(values)

    @model_validator(mode="after")
    def _linear_last(self):
        _check_alpha(self.activation, self.alpha)
        if self.layers[-1].activation != "linear":
            raise ValueError("the last layer of a residual block must have activation: linear "
                             "(the block's activation is applied after the addition)")
        return self


LayerSpec = Annotated[
    DenseLayerSpec | Conv2dLayerSpec | PoolLayerSpec | FlattenLayerSpec | GlobalAvgPoolLayerSpec | ResidualLayerSpec,
    Field(discriminator="type"),
]


def _default_dense_type(values):
    """A layer without ``type`` is a dense layer."""
    if isinstance(values, dict) and isinstance(values.get("layers"), list):
        layers = [
            {"type": "dense", **layer} if isinstance(layer, dict) and "type" not in layer else layer
            for layer in values["layers"]
        ]
        values = {**values, "layers": layers}
    return values


class InitFromSpec(Strict):
    """Start from a trained run: copy parameters (and batch-norm state) by layer name.

    ``run`` is a run directory, or ``runs/NAME`` for the newest run of spec NAME in
    ``runs/``. ``layers`` lists what to copy (a name covers its parts: conv1 copies
    conv1.bn too) and every listed layer must match in shape; without ``layers``
    every layer whose name and shapes match is copied and the others are re-initialized.
    """

    run: str
    """a run directory, or runs/NAME for the newest run of the spec named NAME"""
    checkpoint: Literal["best", "latest", "initial"] = "best"
    """which of the run's checkpoints to copy from"""
    layers: list[str] | None = None
    """the layers to copy (each must match in shape); null: every layer whose name and shapes match"""


class ModelSpec(Strict):
    layers: Annotated[list[LayerSpec], Field(min_length=1)]
    """the layers in order; a layer without `type` is dense"""
    input_keep_prob: Probability = 1.0
    """inverted dropout on the inputs"""
    freeze: list[str] = Field(default_factory=list)
    """layer names to keep fixed, as trainable: false (a name covers its parts: conv1 includes conv1.bn)"""
    init_from: InitFromSpec | None = None
    """start from a trained run: copy parameters and batch-norm state by layer name"""

    @model_validator(mode="before")
    @classmethod
    def _default_layer_type(cls, values):
        return _default_dense_type(values)
