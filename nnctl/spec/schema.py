"""The experiment spec as typed pydantic models.

Every section has defaults, unknown keys are errors (``extra="forbid"``), and
unions are tagged by a ``type``/``name`` key so error messages can point at one
variant instead of listing every alternative.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

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
#
# Relative file paths in sources, split files and relabel files are read from the
# spec file's directory (``DataSpec.base_dir``, set by the loader), not from the
# current directory, so a spec trains the same wherever it is started from.

ClassNames = Annotated[list[str], Field(min_length=2)]


class DigitsSource(Strict):
    """The bundled UCI 8x8 digits (1,797 images): the embedded default."""

    type: Literal["digits"] = "digits"
    classes: ClassNames | None = None


class RegistrySource(Strict):
    """A data set from the registry, downloaded, checksummed and cached."""

    type: Literal["registry"] = "registry"
    name: Literal["mnist"] = "mnist"
    mirror: str | None = None
    classes: ClassNames | None = None


class GeneratedSource(Strict):
    """A seeded synthetic 2-D set for teaching and tests; ``classes`` is a count or the class names."""

    type: Literal["generated"] = "generated"
    name: Literal["moons", "circles", "spirals", "xor", "flower", "blobs"] = "moons"
    samples: Annotated[int, Field(ge=4)] = 400
    noise: NonNegativeFloat = 0.1
    classes: Annotated[int, Field(ge=2, le=50)] | ClassNames = 2

    @property
    def n_classes(self) -> int:
        return self.classes if isinstance(self.classes, int) else len(self.classes)


class Hdf5Source(Strict):
    """Named datasets in an HDF5 file (defaults: the common train_set_x/... layout).

    ``classes`` names a dataset of class names in the file, or lists the names.
    """

    type: Literal["hdf5"] = "hdf5"
    path: str
    x: str = "train_set_x"
    y: str = "train_set_y"
    test_x: str | None = "test_set_x"
    test_y: str | None = "test_set_y"
    classes: ClassNames | str | None = "list_classes"


class NpzSource(Strict):
    """Arrays in a NumPy .npz archive."""

    type: Literal["npz"] = "npz"
    path: str
    x: str = "x"
    y: str = "y"
    test_x: str | None = None
    test_y: str | None = None
    classes: ClassNames | None = None


class CsvSource(Strict):
    """One example a row; the label column is named or indexed (negative from the end).

    ``header: auto`` takes a first line that does not parse as numbers (where the
    next line does) for column names. ``test``/``dev`` name CSV files with the
    same columns holding the test/dev examples.
    """

    type: Literal["csv"] = "csv"
    path: str
    label_column: int | str = -1
    header: bool | Literal["auto"] = "auto"
    delimiter: Annotated[str, Field(min_length=1, max_length=1)] = ","
    test: str | None = None
    dev: str | None = None
    classes: ClassNames | None = None


class IdxSource(Strict):
    """IDX files (MNIST's format), raw or gzip-compressed."""

    type: Literal["idx"] = "idx"
    images: str
    labels: str
    test_images: str | None = None
    test_labels: str | None = None
    classes: ClassNames | None = None


Source = Annotated[
    DigitsSource | RegistrySource | GeneratedSource | Hdf5Source | NpzSource | CsvSource | IdxSource,
    Field(discriminator="type"),
]
PATH_FIELDS = ("path", "images", "labels", "test_images", "test_labels", "test", "dev")


def expand_source_word(value):
    """``digits`` / ``mnist`` / ``moons`` as the source mapping they stand for; anything else unchanged."""
    if value == "digits":
        return {"type": "digits"}
    if value in REGISTRY_NAMES:
        return {"type": "registry", "name": value}
    if value in GENERATED_SETS:
        return {"type": "generated", "name": value}
    return value


Share = NonNegativeFloat
FileOrShare = NonNegativeFloat | str


class SplitSpec(Strict):
    """Fractions (summing to 1) or row counts for each split, and the seed that deals them.

    ``dev``/``test`` may instead name a file: labelled examples read like the
    source, or one column of row numbers of the source (an index file).
    """

    train: Share = 0.8
    dev: FileOrShare = 0.1
    test: FileOrShare = 0.1
    train_dev: Share = 0.0
    stratify: bool = True
    seed: Annotated[int, Field(ge=0)] | None = None  # default: the spec's seed


class SourceUse(Strict):
    """One of several sources and what it is for (the notes' mismatched distributions).

    ``use: train`` puts every row in the training distribution; ``use: target``
    deals the rows into ``train``/``dev``/``test`` by these shares (fractions or
    counts); ``use: dev``/``use: test`` make the whole source that split.
    """

    source: Source
    use: Literal["train", "target", "dev", "test"] = "train"
    train: Share | None = None
    dev: Share | None = None
    test: Share | None = None

    @model_validator(mode="before")
    @classmethod
    def _source_shorthand(cls, values):
        if isinstance(values, dict) and isinstance(values.get("source"), str):
            values = {**values, "source": expand_source_word(values["source"])}
        return values

    @model_validator(mode="after")
    def _shares_for_targets_only(self):
        given = [name for name in ("train", "dev", "test") if getattr(self, name) is not None]
        if given and self.use != "target":
            raise ValueError(f"{', '.join(given)}: shares apply to use: target only (this source has use: {self.use})")
        return self

    def shares(self) -> dict[str, float]:
        """A target's shares, defaulting to half dev, half test."""
        given = {name: getattr(self, name) for name in ("train", "dev", "test")}
        if all(v is None for v in given.values()):
            return {"train": 0.0, "dev": 0.5, "test": 0.5}
        return {name: v or 0.0 for name, v in given.items()}


class RelabelSpec(Strict):
    """Corrected labels (CSV ``row,label``), applied to dev and test together; to train only on request."""

    file: str
    train: bool = False


class NormalizeSpec(Strict):
    """Input normalization fitted on the training split only."""

    method: Literal["standardize", "minmax", "scale", "none"] = "standardize"
    scale: PositiveFloat = 255.0


class DataSpec(Strict):
    source: Source | None = None
    sources: Annotated[list[SourceUse], Field(min_length=1)] | None = None
    limit: Annotated[int, Field(ge=2)] | None = None
    split: SplitSpec = Field(default_factory=SplitSpec)
    normalize: NormalizeSpec = Field(default_factory=NormalizeSpec)
    relabel: RelabelSpec | None = None
    _base_dir: str | None = PrivateAttr(default=None)

    @model_validator(mode="before")
    @classmethod
    def _shorthands(cls, values):
        """Allow ``source: digits`` / ``source: mnist`` / ``source: moons`` and ``relabel: FILE``."""
        if isinstance(values, dict):
            if isinstance(values.get("source"), str):
                values = {**values, "source": expand_source_word(values["source"])}
            if isinstance(values.get("relabel"), str):
                values = {**values, "relabel": {"file": values["relabel"]}}
        return values

    @model_validator(mode="after")
    def _one_kind_of_source(self):
        if self.sources is None:
            if self.source is None:
                self.__dict__["source"] = DigitsSource()
            return self
        if self.source is not None:
            raise ValueError("give either 'source' or 'sources', not both")
        dealt = [name for name in ("train", "dev", "test") if getattr(self.split, name) != SplitSpec.model_fields[name].default]
        if dealt:
            raise ValueError(f"data.split.{dealt[0]} does not apply with 'sources': each source's use and shares decide")
        if not any(s.use == "target" or s.use == "dev" for s in self.sources):
            raise ValueError("no source gives dev examples: mark one 'use: target' (or 'use: dev')")
        if self.limit is not None:
            raise ValueError("'limit' applies to a single 'source', not to 'sources'")
        return self

    def __eq__(self, other) -> bool:
        """Specs are equal when their keys are: where the spec file lies is not part of its value."""
        return isinstance(other, DataSpec) and self.model_dump() == other.model_dump()

    @property
    def base_dir(self) -> str | None:
        """The directory relative data paths are read from (the spec file's); None: the current directory."""
        return self._base_dir

    @base_dir.setter
    def base_dir(self, value: str | None) -> None:
        self._base_dir = value


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
    every_epochs: Annotated[int, Field(ge=1)] = 1
    monitor: str = "dev_cost"


class Spec(Strict):
    """A whole experiment: what to learn from, what to build, how to train it."""

    # A run directory is NAME-YYYYmmdd-HHMMSS[-N]: 100 characters keep it far below NAME_MAX (255).
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$", max_length=100)] = "experiment"
    seed: Annotated[int, Field(ge=0)] = 0
    precision: Literal["float32", "float64"] = "float32"
    data: DataSpec = Field(default_factory=DataSpec)
    model: ModelSpec
    loss: Literal["auto", "binary_cross_entropy", "softmax_cross_entropy", "mse"] = "auto"
    regularization: RegularizationSpec = Field(default_factory=RegularizationSpec)
    train: TrainSpec = Field(default_factory=TrainSpec)
    checkpoint: CheckpointSpec = Field(default_factory=CheckpointSpec)
