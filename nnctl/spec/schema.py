"""The experiment spec as typed pydantic models.

Every section has defaults, unknown keys are errors (``extra="forbid"``), and
unions are tagged by a ``type``/``name`` key so error messages can point at one
variant instead of listing every alternative.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

ACTIVATIONS = ("relu", "leaky_relu", "elu", "tanh", "sigmoid", "linear", "softmax")
INITIALIZERS = ("auto", "zeros", "random", "xavier", "glorot", "he")
GENERATED_SETS = ("moons", "circles", "spirals", "xor", "flower", "blobs")
REGISTRY_NAMES = ("mnist",)

PositiveFloat = Annotated[float, Field(gt=0)]
NonNegativeFloat = Annotated[float, Field(ge=0)]
Probability = Annotated[float, Field(gt=0, le=1)]
Beta = Annotated[float, Field(ge=0, lt=1)]


class Strict(BaseModel):
    """Base for every spec section: unknown keys are mistakes, not extensions."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


# ---------------------------------------------------------------- data sources


class DigitsSource(Strict):
    """The bundled UCI 8x8 digits (1,797 images): the embedded default."""

    type: Literal["digits"] = "digits"


class RegistrySource(Strict):
    """A data set from the registry, downloaded, checksummed and cached."""

    type: Literal["registry"] = "registry"
    name: Literal["mnist"] = "mnist"
    mirror: str | None = None


class GeneratedSource(Strict):
    """A seeded synthetic 2-D set for teaching and tests."""

    type: Literal["generated"] = "generated"
    name: Literal["moons", "circles", "spirals", "xor", "flower", "blobs"] = "moons"
    samples: Annotated[int, Field(ge=4)] = 400
    noise: NonNegativeFloat = 0.1
    classes: Annotated[int, Field(ge=2, le=50)] = 2


class Hdf5Source(Strict):
    """Named datasets in an HDF5 file (defaults: the common train_set_x/... layout)."""

    type: Literal["hdf5"] = "hdf5"
    path: str
    x: str = "train_set_x"
    y: str = "train_set_y"
    test_x: str | None = "test_set_x"
    test_y: str | None = "test_set_y"
    classes: str | None = "list_classes"
    stream: bool | Literal["auto"] = "auto"  # read the file block by block instead of loading it (see data/stream.py)
    memory_budget: Annotated[str, Field(pattern=r"^\s*\d+(\.\d+)?\s*(%|[kKmMgGtT]?[bB]?)\s*$")] = "25%"


class NpzSource(Strict):
    """Arrays in a NumPy .npz archive."""

    type: Literal["npz"] = "npz"
    path: str
    x: str = "x"
    y: str = "y"
    test_x: str | None = None
    test_y: str | None = None


class CsvSource(Strict):
    """One example a row; the label column is named or indexed (negative from the end)."""

    type: Literal["csv"] = "csv"
    path: str
    label_column: int | str = -1
    header: bool = False
    delimiter: str = ","


class IdxSource(Strict):
    """IDX files (MNIST's format), raw or gzip-compressed."""

    type: Literal["idx"] = "idx"
    images: str
    labels: str
    test_images: str | None = None
    test_labels: str | None = None


Source = Annotated[
    DigitsSource | RegistrySource | GeneratedSource | Hdf5Source | NpzSource | CsvSource | IdxSource,
    Field(discriminator="type"),
]


class SplitSpec(Strict):
    """Fractions (summing to 1) or row counts for each split."""

    train: NonNegativeFloat = 0.8
    dev: NonNegativeFloat = 0.1
    test: NonNegativeFloat = 0.1
    train_dev: NonNegativeFloat = 0.0
    stratify: bool = True


class NormalizeSpec(Strict):
    """Input normalization fitted on the training split only."""

    method: Literal["standardize", "minmax", "scale", "none"] = "standardize"
    scale: PositiveFloat = 255.0


class DataSpec(Strict):
    source: Source = Field(default_factory=DigitsSource)
    limit: Annotated[int, Field(ge=2)] | None = None
    split: SplitSpec = Field(default_factory=SplitSpec)
    normalize: NormalizeSpec = Field(default_factory=NormalizeSpec)

    @model_validator(mode="before")
    @classmethod
    def _source_shorthand(cls, values):
        """Allow ``source: digits`` / ``source: mnist`` / ``source: moons``."""
        source = values.get("source") if isinstance(values, dict) else None
        if isinstance(source, dict) and source.get("type") != "hdf5" and source.get("stream") not in (None, False):
            raise ValueError(f"stream: {source['stream']} needs an HDF5 source, not type {source.get('type', 'digits')!r} "
                             "(convert it with `nnctl data convert SRC OUT.h5`)")
        if isinstance(values, dict) and isinstance(values.get("source"), str):
            word = values["source"]
            if word == "digits":
                values = {**values, "source": {"type": "digits"}}
            elif word in REGISTRY_NAMES:
                values = {**values, "source": {"type": "registry", "name": word}}
            elif word in GENERATED_SETS:
                values = {**values, "source": {"type": "generated", "name": word}}
        return values


# ---------------------------------------------------------------- model


Activation = Literal["relu", "leaky_relu", "elu", "tanh", "sigmoid", "linear", "softmax"]
Initializer = Literal["auto", "zeros", "random", "xavier", "glorot", "he"]


class BatchNormSpec(Strict):
    """Batch normalization of a layer's pre-activations (or, with placement: after, its activations)."""

    momentum: Beta = 0.9  # running averages: mu_run <- momentum * mu_run + (1 - momentum) * mu_batch
    epsilon: PositiveFloat = 1e-5
    placement: Literal["before", "after"] = "before"


class WeightedLayer(Strict):
    """Base of layers with weights: accepts ``batchnorm: true`` for the default settings."""

    @model_validator(mode="before")
    @classmethod
    def _batchnorm_flag(cls, values):
        if isinstance(values, dict) and isinstance(values.get("batchnorm"), bool):
            values = {**values, "batchnorm": {} if values["batchnorm"] else None}
        return values


class DenseLayerSpec(WeightedLayer):
    """A fully connected layer, optionally batch-normalized and followed by dropout."""

    type: Literal["dense"] = "dense"
    units: Annotated[int, Field(ge=1)]
    activation: Activation = "relu"
    init: Initializer = "auto"
    init_scale: PositiveFloat = 0.01
    keep_prob: Probability = 1.0
    batchnorm: BatchNormSpec | None = None


Kernel = Annotated[int, Field(ge=1)] | Annotated[list[Annotated[int, Field(ge=1)]], Field(min_length=2, max_length=2)]


class Conv2dLayerSpec(WeightedLayer):
    """A 2-D convolution (cross-correlation) over NHWC maps, optionally batch-normalized per channel."""

    type: Literal["conv2d"] = "conv2d"
    filters: Annotated[int, Field(ge=1)]
    kernel: Kernel = 3  # f, or [f_H, f_W]
    stride: Annotated[int, Field(ge=1)] = 1
    padding: Literal["valid", "same"] | Annotated[int, Field(ge=0)] = "valid"
    activation: Activation = "relu"
    init: Initializer = "auto"
    init_scale: PositiveFloat = 0.01
    keep_prob: Probability = 1.0
    batchnorm: BatchNormSpec | None = None


class PoolLayerSpec(Strict):
    """Max or average pooling per channel; the stride defaults to the window size."""

    type: Literal["maxpool", "avgpool"]
    size: Annotated[int, Field(ge=1)] = 2
    stride: Annotated[int, Field(ge=1)] | None = None


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
    the addition). When the body changes the shape, a learned 1×1 convolution with
    the matching stride projects the shortcut.
    """

    type: Literal["residual"] = "residual"
    layers: Annotated[list[BodyLayerSpec], Field(min_length=1)]
    activation: Activation = "relu"

    @model_validator(mode="before")
    @classmethod
    def _default_body_type(cls, values):
        return _default_dense_type(values)

    @model_validator(mode="after")
    def _linear_last(self):
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


class ModelSpec(Strict):
    layers: Annotated[list[LayerSpec], Field(min_length=1)]
    input_keep_prob: Probability = 1.0

    @model_validator(mode="before")
    @classmethod
    def _default_layer_type(cls, values):
        return _default_dense_type(values)


# ---------------------------------------------------------------- training


class GdSpec(Strict):
    name: Literal["gd"] = "gd"


class MomentumSpec(Strict):
    name: Literal["momentum"] = "momentum"
    beta: Beta = 0.9
    dampened: bool = True  # the notes' (1 - beta) weighting; False: v = beta v + g
    nesterov: bool = False


class RmspropSpec(Strict):
    name: Literal["rmsprop"] = "rmsprop"
    beta: Beta = 0.9
    epsilon: PositiveFloat = 1e-8


class AdamSpec(Strict):
    name: Literal["adam"] = "adam"
    beta1: Beta = 0.9
    beta2: Beta = 0.999
    epsilon: PositiveFloat = 1e-8
    weight_decay: NonNegativeFloat = 0.0  # decoupled (AdamW) when > 0


OptimizerSpec = Annotated[GdSpec | MomentumSpec | RmspropSpec | AdamSpec, Field(discriminator="name")]


class ConstantSchedule(Strict):
    name: Literal["constant"] = "constant"


class InverseTimeSchedule(Strict):
    """alpha = alpha0 / (1 + decay_rate * epoch)."""

    name: Literal["inverse_time"] = "inverse_time"
    decay_rate: NonNegativeFloat = 1.0


class ExponentialSchedule(Strict):
    """alpha = alpha0 * base ** epoch."""

    name: Literal["exponential"] = "exponential"
    base: Annotated[float, Field(gt=0, le=1)] = 0.95


class InvSqrtSchedule(Strict):
    """alpha = alpha0 * k / sqrt(epoch) (per: epoch) or / sqrt(t) (per: step)."""

    name: Literal["inv_sqrt"] = "inv_sqrt"
    k: PositiveFloat = 1.0
    per: Literal["epoch", "step"] = "epoch"


class StepSchedule(Strict):
    """alpha = alpha0 * factor ** floor(epoch / every)."""

    name: Literal["step"] = "step"
    every: Annotated[int, Field(ge=1)] = 10
    factor: Annotated[float, Field(gt=0, le=1)] = 0.5


ScheduleSpec = Annotated[
    ConstantSchedule | InverseTimeSchedule | ExponentialSchedule | InvSqrtSchedule | StepSchedule,
    Field(discriminator="name"),
]


class EarlyStoppingSpec(Strict):
    """Stop after ``patience`` epochs without improvement and restore best.h5's parameters.

    The monitored metric is ``checkpoint.monitor`` (the one that picks best.h5).
    """

    monitor: str | None = None  # when given, it must equal checkpoint.monitor
    patience: Annotated[int, Field(ge=1)] = 5
    min_delta: NonNegativeFloat = 0.0


class ClipSpec(Strict):
    """Clip the gradient by its global L2 norm or element-wise by value."""

    norm: PositiveFloat | None = None
    value: PositiveFloat | None = None

    @model_validator(mode="after")
    def _exactly_one(self):
        if (self.norm is None) == (self.value is None):
            raise ValueError("give exactly one of 'norm' or 'value'")
        return self


class AugmentSpec(Strict):
    """Random changes to each training mini-batch (never to dev/test), from their own seeded stream.

    Flips and shifts need image inputs (m, H, W, C); noise works on any input and
    is in normalized units.
    """

    flip_horizontal: bool = False
    shift: Annotated[int, Field(ge=0)] = 0  # pixels; each image moves by up to this much, zero-filled
    noise: NonNegativeFloat = 0.0  # standard deviation of added Gaussian noise


class TrainSpec(Strict):
    epochs: Annotated[int, Field(ge=1)] = 10
    batch_size: Annotated[int, Field(ge=1)] | Literal["full"] = 64
    shuffle: bool = True
    learning_rate: PositiveFloat = 0.01
    optimizer: OptimizerSpec = Field(default_factory=GdSpec)
    schedule: ScheduleSpec = Field(default_factory=ConstantSchedule)
    early_stopping: EarlyStoppingSpec | None = None
    clip: ClipSpec | None = None
    augment: AugmentSpec | None = None


class RegularizationSpec(Strict):
    l2: NonNegativeFloat = 0.0
    l1: NonNegativeFloat = 0.0


class CheckpointSpec(Strict):
    every_epochs: Annotated[int, Field(ge=1)] | None = None  # None: by the clock (every_seconds) only
    every_seconds: NonNegativeFloat = 30.0  # also rewrite checkpoint.h5 when this much time has passed (0: only every_epochs)
    monitor: str = "dev_cost"


class Spec(Strict):
    """A whole experiment: what to learn from, what to build, how to train it."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$")] = "experiment"
    seed: Annotated[int, Field(ge=0)] = 0
    precision: Literal["float32", "float64"] = "float32"
    data: DataSpec = Field(default_factory=DataSpec)
    model: ModelSpec
    loss: Literal["auto", "binary_cross_entropy", "softmax_cross_entropy", "mse"] = "auto"
    regularization: RegularizationSpec = Field(default_factory=RegularizationSpec)
    train: TrainSpec = Field(default_factory=TrainSpec)
    checkpoint: CheckpointSpec = Field(default_factory=CheckpointSpec)
