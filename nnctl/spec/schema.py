"""The experiment spec as typed pydantic models.

Every section has defaults, unknown keys are errors (``extra="forbid"``), and
unions are tagged by a ``type``/``name`` key so error messages can point at one
variant instead of listing every alternative.

The words for activations, initializers and losses come from the NumPy core's
vocabulary (nn/vocabulary.py: no NumPy, so validating a spec stays fast), those of
optimizers and schedules from the specs below, and every default lives here only (the core's
optimizers and schedules take their hyperparameters without defaults);
tests/test_vocabulary.py checks that both sides agree.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from ..nn.vocabulary import ACTIVATION_NAMES, FIXED_KERNEL_NAMES, INITIALIZER_NAMES, KERNEL_CHOICES, LOSS_NAMES
from .logging_schema import LoggingSpec
from .search_schema import SearchSpec

GENERATED_SETS = ("moons", "circles", "spirals", "xor", "flower", "blobs")
REGISTRY_NAMES = ("mnist",)

PositiveFloat = Annotated[float, Field(gt=0)]
NonNegativeFloat = Annotated[float, Field(ge=0)]
Probability = Annotated[float, Field(gt=0, le=1)]
Beta = Annotated[float, Field(ge=0, lt=1)]


class Strict(BaseModel):
    """Base for every spec section: unknown keys are mistakes, not extensions."""

    # A string under a field is its description: the JSON Schema and the manual's spec reference show it.
    model_config = ConfigDict(extra="forbid", validate_assignment=True, use_attribute_docstrings=True)


# ---------------------------------------------------------------- data sources
#
# Relative file paths in sources, split files and relabel files are read from the
# spec file's directory (``DataSpec.base_dir``, set by the loader), not from the
# current directory, so a spec trains the same wherever it is started from.

ClassNames = Annotated[list[str], Field(min_length=2)]
CLASSES_DESCRIPTION = "the class names; labels are these names or indices into them (stored in the run, shown by eval and predict)"


class DigitsSource(Strict):
    """The bundled UCI 8x8 digits (1,797 images): the embedded default."""

    type: Literal["digits"] = "digits"
    classes: ClassNames | None = Field(None, description=CLASSES_DESCRIPTION)


class RegistrySource(Strict):
    """A data set from the registry, downloaded, checksummed and cached."""

    type: Literal["registry"] = "registry"
    name: Literal["mnist"] = "mnist"
    """the registry entry"""
    mirror: str | None = None
    """a directory or URL holding the files instead of the registry's own address ($NNCTL_DATA_MIRROR also sets it)"""
    classes: ClassNames | None = Field(None, description=CLASSES_DESCRIPTION)


class GeneratedSource(Strict):
    """A seeded synthetic 2-D set for teaching and tests."""

    type: Literal["generated"] = "generated"
    name: Literal["moons", "circles", "spirals", "xor", "flower", "blobs"] = "moons"
    """which 2-D set"""
    samples: Annotated[int, Field(ge=4)] = 400
    """examples drawn"""
    noise: NonNegativeFloat = 0.1
    """standard deviation of the Gaussian noise added to the points"""
    classes: Annotated[int, Field(ge=2, le=50)] | ClassNames = 2
    """how many classes (spirals and blobs), or their names"""

    @property
    def n_classes(self) -> int:
        return self.classes if isinstance(self.classes, int) else len(self.classes)


class Hdf5Source(Strict):
    """Named datasets in an HDF5 file (defaults: the common train_set_x/... layout)."""

    type: Literal["hdf5"] = "hdf5"
    path: str
    """the HDF5 file (relative paths: from the spec's folder)"""
    x: str = "train_set_x"
    """dataset of the inputs"""
    y: str = "train_set_y"
    """dataset of the labels"""
    test_x: str | None = "test_set_x"
    """dataset of the test inputs (missing datasets are fine)"""
    test_y: str | None = "test_set_y"
    """dataset of the test labels"""
    classes: ClassNames | str | None = "list_classes"
    """dataset of the class names, or the names themselves"""
    stream: bool | Literal["auto"] = "auto"
    """read the file block by block instead of loading it; auto: when the inputs exceed memory_budget"""
    memory_budget: Annotated[str, Field(pattern=r"^\s*\d+(\.\d+)?\s*(%|[kKmMgGtT]?[bB]?)\s*$")] = "25%"
    """stream: auto streams above this share of physical memory ('25%') or size ('6GB', '512MB')"""


class NpzSource(Strict):
    """Arrays in a NumPy .npz archive."""

    type: Literal["npz"] = "npz"
    path: str
    """the .npz file (relative paths: from the spec's folder)"""
    x: str = "x"
    """array of the inputs"""
    y: str = "y"
    """array of the labels"""
    test_x: str | None = None
    """array of the test inputs"""
    test_y: str | None = None
    """array of the test labels"""
    classes: ClassNames | None = Field(None, description=CLASSES_DESCRIPTION)


class CsvSource(Strict):
    """One example a row; the label column is named or indexed (negative from the end)."""

    type: Literal["csv"] = "csv"
    path: str
    """the CSV file (relative paths: from the spec's folder)"""
    label_column: int | str = -1
    """the label column: an index (negative counts from the end) or a header name"""
    label_columns: list[int | str] | None = None
    """several label columns (names or indices) instead of label_column: multi-task 0/1 labels, an empty cell is a missing label"""
    ignore_columns: list[int | str] = []
    """columns that are neither inputs nor labels (the group column of diagnose --group-by), by name or index"""
    id_columns: list[int | str] = []
    """columns that identify a row (customer ids): not inputs, carried into predict output, the errors sheet and eval's per-row files"""
    header: bool | Literal["auto"] = "auto"
    """whether the first row holds column names; auto: when it has text where the next row has numbers"""
    delimiter: Annotated[str, Field(min_length=1, max_length=1)] = ","
    """the field separator"""
    test: str | None = None
    """a CSV file of test examples with the same columns"""
    dev: str | None = None
    """a CSV file of dev examples with the same columns"""
    classes: ClassNames | None = Field(None, description=CLASSES_DESCRIPTION)


class IdxSource(Strict):
    """IDX files (MNIST's format), raw or gzip-compressed."""

    type: Literal["idx"] = "idx"
    images: str
    """IDX file of the images"""
    labels: str
    """IDX file of the labels"""
    test_images: str | None = None
    """IDX file of the test images"""
    test_labels: str | None = None
    """IDX file of the test labels"""
    classes: ClassNames | None = Field(None, description=CLASSES_DESCRIPTION)


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
    """fraction (or row count) for training"""
    dev: FileOrShare = 0.1
    """fraction (or row count) for the dev set that picks best.h5 and early stopping, or a data or index file"""
    test: FileOrShare = 0.1
    """fraction (or row count) held out for the final evaluation, or a data or index file; a source's own test set is used instead when it has one"""
    train_dev: Share = 0.0
    """fraction (or row count) from the training distribution, evaluated but not trained on"""
    stratify: bool = True
    """keep the class proportions in every split"""
    seed: Annotated[int, Field(ge=0)] | None = None
    """the data seed (generated points, limit, split); default: the spec's seed, so fixing it trains N seeds on the same rows"""


class SourceUse(Strict):
    """One of several sources and what it is for (the notes' mismatched training and dev/test distributions).

    ``use: train`` puts every row in the training distribution; ``use: target``
    deals the rows into ``train``/``dev``/``test`` by these shares (fractions or
    counts); ``use: dev``/``use: test`` make the whole source that split.
    """

    source: Source
    """the source, as `data.source`"""
    use: Literal["train", "target", "dev", "test"] = "train"
    """train: all rows train; target: dealt by the shares below; dev or test: all rows that split"""
    train: Share | None = None
    """a target's share (fraction or count) for training"""
    dev: Share | None = None
    """a target's share for dev (default: half the target)"""
    test: Share | None = None
    """a target's share for test (default: half the target)"""

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
    """Corrected labels, applied to dev and test together (the notes' rule); to training rows only on request."""

    file: str
    """a CSV of `row,label` (or `part,row,label`) lines"""
    train: bool = False
    """also correct rows that landed in train and train_dev"""


class NormalizeSpec(Strict):
    """Input normalization fitted on the training split only.

    ``from: init_from`` (the default) reuses the normalizer of the run that
    ``model.init_from`` copies from, so transferred layers see inputs scaled as they
    were trained on; ``from: fit`` fits ``method`` on this run's training split.
    Without ``init_from`` the normalizer is always fitted.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True, populate_by_name=True, serialize_by_alias=True)

    method: Literal["standardize", "minmax", "scale", "none"] = "standardize"
    """standardize (μ, σ of the training split), minmax, scale (divide by `scale`) or none"""
    scale: PositiveFloat = 255.0
    """the divisor of method: scale"""
    from_: Literal["init_from", "fit"] = Field("init_from", alias="from")
    """with model.init_from: reuse that run's normalizer (init_from) or fit method on this run's train split (fit)"""


class MissingSpec(Strict):
    """What to do with missing input values (empty cells, NA, NaN, null): refused unless a strategy is given.

    The fill values are fitted on the training split only, stored in the run and
    applied to every split and to the inputs of `predict` and `eval --data`.
    """

    strategy: Literal["drop_rows", "mean", "median", "constant"]
    """drop_rows: leave out rows with a missing input (row numbers then count the rows kept); mean, median: the training
    split's per column; constant: `value`"""
    value: float = 0.0
    """the fill value of strategy: constant"""


class DataSpec(Strict):
    source: Source | None = None
    """digits (bundled), mnist (registry), a generated set's name, or a mapping with a `type`; default digits"""
    sources: Annotated[list[SourceUse], Field(min_length=1)] | None = None
    """several sources with roles, instead of `source`"""
    limit: Annotated[int, Field(ge=2)] | None = None
    """use a stratified subset of this many examples (quick experiments)"""
    split: SplitSpec = Field(default_factory=SplitSpec)
    """how the examples divide into train, dev, test and train_dev"""
    normalize: NormalizeSpec = Field(default_factory=NormalizeSpec)
    """input normalization, fitted on the training split only"""
    relabel: RelabelSpec | None = None
    """corrected labels: a file, or `{file, train}`"""
    missing: MissingSpec | None = None
    """missing input values: refused (counted per column) unless a strategy drops or fills them"""
    normalize_target: Literal["none", "standardize"] = "none"
    """regression: standardize the targets with the training split's mean and σ (stored in the run); the network
    learns the standardized values, per-epoch metrics are in those units, eval, predict and plots map them back"""
    _base_dir: str | None = PrivateAttr(default=None)

    @model_validator(mode="before")
    @classmethod
    def _shorthands(cls, values):
        """Allow ``source: digits`` / ``source: mnist`` / ``source: moons`` and ``relabel: FILE``."""
        if isinstance(values, dict):
            source = values.get("source")
            if isinstance(source, dict) and source.get("type") != "hdf5" and source.get("stream") not in (None, False):
                raise ValueError(f"stream: {source['stream']} needs an HDF5 source, not type {source.get('type', 'digits')!r} "
                                 "(convert it with `nnctl data convert SRC OUT.h5`)")
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
    """Base of layers with weights: accepts ``batchnorm: true`` for the default settings."""

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


class DenseLayerSpec(WeightedLayer):
    """A fully connected layer, optionally batch-normalized and followed by dropout."""

    type: Literal["dense"] = "dense"
    units: Annotated[int, Field(ge=1)]
    """units n[l]"""
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


Kernel = Annotated[int, Field(ge=1)] | Annotated[list[Annotated[int, Field(ge=1)]], Field(min_length=2, max_length=2)]


class Conv2dLayerSpec(WeightedLayer):
    """A 2-D convolution (cross-correlation) over NHWC maps, optionally batch-normalized per channel."""

    type: Literal["conv2d"] = "conv2d"
    filters: Annotated[int, Field(ge=1)]
    """output channels"""
    kernel: Kernel = 3
    """f, or [f_H, f_W]"""
    stride: Annotated[int, Field(ge=1)] = 1
    """step between windows"""
    padding: Literal["valid", "same"] | Annotated[int, Field(ge=0)] = "valid"
    """valid (none), same (stride 1, odd kernels) or zeros on each side"""
    activation: Activation = "relu"
    """as for dense layers"""
    alpha: PositiveFloat | None = None
    """as for dense layers"""
    init: Initializer | FixedInit = "auto"
    """as for dense layers (fan_in = f_H·f_W·C_in, fan_out = f_H·f_W·C_out), or {fixed: vertical_edge | horizontal_edge |
    sobel | scharr}: that 3×3 kernel in every filter"""
    init_scale: PositiveFloat = 0.01
    """standard deviation of init: random"""
    init_gain: PositiveFloat = 1.0
    """as for dense layers"""
    keep_prob: Probability = 1.0
    """inverted dropout after the activation"""
    batchnorm: BatchNormSpec | None = None
    """per channel; true for the defaults, or a mapping"""
    trainable: bool = True
    """false: the parameters (and batch-norm statistics) stay fixed while training"""
    lr_scale: PositiveFloat = 1.0
    """multiplies train.learning_rate for this layer's parameters"""


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


# ---------------------------------------------------------------- training


class GdSpec(Strict):
    name: Literal["gd"] = "gd"


class MomentumSpec(Strict):
    name: Literal["momentum"] = "momentum"
    beta: Beta = 0.9
    """β"""
    dampened: bool = True
    """the notes' v ← βv + (1 − β)dθ; false: v ← βv + dθ"""
    nesterov: bool = False
    """look ahead along the updated velocity"""


class RmspropSpec(Strict):
    name: Literal["rmsprop"] = "rmsprop"
    beta: Beta = 0.9
    """β of the squared-gradient average"""
    epsilon: PositiveFloat = 1e-8
    """added to √s"""


class AdamSpec(Strict):
    name: Literal["adam"] = "adam"
    beta1: Beta = 0.9
    """β1 of the gradient average"""
    beta2: Beta = 0.999
    """β2 of the squared-gradient average"""
    epsilon: PositiveFloat = 1e-8
    """added to √ŝ"""
    weight_decay: NonNegativeFloat = 0.0
    """AdamW's decoupled decay λ of the weights (not biases, γ, β): θ ← (1 − αλ)·θ"""


OptimizerSpec = Annotated[GdSpec | MomentumSpec | RmspropSpec | AdamSpec, Field(discriminator="name")]
OPTIMIZER_SPECS: dict[str, type[Strict]] = {cls.model_fields["name"].default: cls for cls in (GdSpec, MomentumSpec, RmspropSpec, AdamSpec)}


class ConstantSchedule(Strict):
    name: Literal["constant"] = "constant"


class InverseTimeSchedule(Strict):
    """alpha = alpha0 / (1 + decay_rate * epoch)."""

    name: Literal["inverse_time"] = "inverse_time"
    decay_rate: NonNegativeFloat = 1.0
    """α = α0/(1 + decay_rate·epoch)"""


class ExponentialSchedule(Strict):
    """alpha = alpha0 * base ** epoch."""

    name: Literal["exponential"] = "exponential"
    base: Annotated[float, Field(gt=0, le=1)] = 0.95
    """α = α0·base^epoch"""


class InvSqrtSchedule(Strict):
    """alpha = alpha0 * k / sqrt(epoch) (per: epoch) or / sqrt(t) (per: step)."""

    name: Literal["inv_sqrt"] = "inv_sqrt"
    k: PositiveFloat = 1.0
    """α = α0·k/√epoch"""
    per: Literal["epoch", "step"] = "epoch"
    """epoch, or step: α0·k/√t with t the global step"""


class StepSchedule(Strict):
    """alpha = alpha0 * factor ** floor(epoch / every)."""

    name: Literal["step"] = "step"
    every: Annotated[int, Field(ge=1)] = 10
    """epochs between drops"""
    factor: Annotated[float, Field(gt=0, le=1)] = 0.5
    """α = α0·factor^⌊epoch/every⌋"""


ScheduleSpec = Annotated[
    ConstantSchedule | InverseTimeSchedule | ExponentialSchedule | InvSqrtSchedule | StepSchedule,
    Field(discriminator="name"),
]
SCHEDULE_SPECS: dict[str, type[Strict]] = {
    cls.model_fields["name"].default: cls
    for cls in (ConstantSchedule, InverseTimeSchedule, ExponentialSchedule, InvSqrtSchedule, StepSchedule)
}


class EarlyStoppingSpec(Strict):
    """Stop after ``patience`` epochs without improvement and restore best.h5's parameters.

    The monitored metric is ``checkpoint.monitor`` (the one that picks best.h5).
    """

    monitor: str | None = None
    """must equal checkpoint.monitor when given"""
    patience: Annotated[int, Field(ge=1)] = 5
    """epochs without improvement before stopping"""
    min_delta: NonNegativeFloat = 0.0
    """the least change that counts as an improvement"""


class ClipSpec(Strict):
    """Clip the gradient by its global L2 norm or element-wise by value."""

    norm: PositiveFloat | None = None
    """rescale the whole gradient to at most this L2 norm"""
    value: PositiveFloat | None = None
    """clip each gradient entry to [−value, value]"""

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
    """mirror half of the images, chosen at random"""
    shift: Annotated[int, Field(ge=0)] = 0
    """move each image by up to this many pixels, zero-filled"""
    noise: NonNegativeFloat = 0.0
    """standard deviation of added Gaussian noise, in normalized units"""


class UnfreezeSpec(Strict):
    """A fine-tuning stage: from epoch ``after_epochs`` + 1 on, ``layers`` train too, at ``lr_scale`` times their rate."""

    after_epochs: Annotated[int, Field(ge=1)]
    """the layers train from epoch after_epochs + 1 on"""
    layers: Annotated[list[str], Field(min_length=1)]
    """frozen layers to unfreeze (a name covers its parts)"""
    lr_scale: PositiveFloat = 1.0
    """multiplies their learning rate"""


class TrainSpec(Strict):
    epochs: Annotated[int, Field(ge=1)] = 10
    """passes over the training split"""
    batch_size: Annotated[int, Field(ge=1)] | Literal["full", "auto"] = 64
    """mini-batch size (1: stochastic), full (batch gradient descent) or auto: full up to 2,000 training examples,
    else the largest of 64, 128, 256, 512 leaving at least 100 steps an epoch (64 when none does)"""
    shuffle: bool = True
    """reshuffle the training rows every epoch"""
    learning_rate: PositiveFloat = 0.01
    """α0"""
    optimizer: OptimizerSpec = Field(default_factory=GdSpec)
    """gd, momentum, rmsprop or adam, with their hyperparameters"""
    schedule: ScheduleSpec = Field(default_factory=ConstantSchedule)
    """the learning rate per epoch (or step); epochs count from 1"""
    early_stopping: EarlyStoppingSpec | None = None
    """stop when checkpoint.monitor stops improving and restore best.h5's parameters"""
    clip: ClipSpec | None = None
    """gradient clipping, by norm or by value"""
    augment: AugmentSpec | None = None
    """random changes to training mini-batches only"""
    unfreeze: list[UnfreezeSpec] = Field(default_factory=list)
    """fine-tuning stages: {after_epochs, layers, lr_scale}, one mapping or a list in epoch order"""
    train_metrics: Literal["full", "running"] = "full"
    """full: all train_* metrics by a pass over the training split after each epoch; running: train_cost only, the epoch's mean batch cost"""
    kernels: Literal[KERNEL_CHOICES] = "auto"
    """the pooling, patch, activation, loss-gradient and optimizer kernels: numpy (the reference), compiled (numba,
    pip install 'nnctl[fast]'; the same results, faster) or auto (compiled when installed)"""

    @model_validator(mode="before")
    @classmethod
    def _one_unfreeze_stage(cls, values):
        """Allow ``unfreeze: {after_epochs: 5, layers: [...]}`` for a single stage."""
        if isinstance(values, dict) and isinstance(values.get("unfreeze"), dict):
            values = {**values, "unfreeze": [values["unfreeze"]]}
        return values

    @model_validator(mode="after")
    def _stages_in_order(self):
        after = [stage.after_epochs for stage in self.unfreeze]
        if after != sorted(set(after)):
            raise ValueError("unfreeze stages must have increasing after_epochs")
        return self


class RegularizationSpec(Strict):
    l2: NonNegativeFloat = 0.0
    """λ: J += λ/(2m)·Σ‖W‖² (weights only)"""
    l1: NonNegativeFloat = 0.0
    """λ: J += λ/(2m)·Σ|W|, subgradient sign(0) = 0"""


class CheckpointSpec(Strict):
    every_epochs: Annotated[int, Field(ge=1)] | None = None
    """also write checkpoint.h5, best.h5 and the metrics every N epochs (null: by the clock only)"""
    every_seconds: NonNegativeFloat = 30.0
    """write checkpoint.h5, best.h5 and the metrics when this many seconds have passed, checked after every
    step (0: off); always at the end, on Ctrl-C/SIGTERM and on divergence (the last good epoch)"""
    monitor: str = "dev_cost"
    """the metric that picks best.h5: any recorded train_*/dev_* metric"""


WARNING_KINDS = ("symmetry", "linear_hidden", "gradient_depth", "cost_rising", "plateau", "no_test_split")


class WatchSpec(Strict):
    """What training watches besides the cost: per-layer health and the notes' warnings.

    Health rows go into metrics.h5 (/health); each warning is printed once on stderr
    and recorded in the run's events.jsonl. Neither changes what is trained.
    """

    health_every: Annotated[int, Field(ge=0)] = 10
    """record per-layer health on the first optimizer step and every N steps after it (0: off)"""
    gradient_orders: PositiveFloat = 3.0
    """gradient_depth warns when a layer's ‖dW‖ is 10^this times smaller (vanishing) or larger (exploding) than the output layer's"""
    rising_epochs: Annotated[int, Field(ge=1)] = 3
    """cost_rising warns when the training cost rose this many epochs in a row (no dropout)"""
    plateau_epochs: Annotated[int, Field(ge=1)] = 5
    """plateau warns when the smoothed training cost moved less than plateau_change this many epochs in a row"""
    plateau_change: PositiveFloat = 0.001
    """the relative change per epoch (0.001: 0.1 %) below which the smoothed cost counts as flat"""
    silence: list[Literal[WARNING_KINDS]] = Field(default_factory=list)
    """warning kinds not to give: symmetry, linear_hidden, gradient_depth, cost_rising, plateau, no_test_split"""


class Spec(Strict):
    """A whole experiment: what to learn from, what to build, how to train it."""

    # A run directory is NAME-YYYYmmdd-HHMMSS[-N]: 100 characters keep it far below NAME_MAX (255).
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$", max_length=100)] = "experiment"
    """run directory prefix"""
    seed: Annotated[int, Field(ge=0)] = 0
    """one seed; independent streams for data, init, shuffling, dropout, augmentation"""
    precision: Literal["float32", "float64"] = "float32"
    """float32, or float64 (gradient checking always uses float64)"""
    task: Literal["classification", "regression"] | None = None
    """what the labels are: classes, or numbers to predict; unset: regression for a linear output with loss mse, else
    read from the labels (text or whole numbers are classes)"""
    data: DataSpec = Field(default_factory=DataSpec)
    """what to learn from"""
    model: ModelSpec
    """what to build"""
    loss: Literal[("auto", *LOSS_NAMES)] = "auto"
    """binary_cross_entropy (sigmoid), softmax_cross_entropy (softmax), mse (½ squared error); auto follows the output activation"""
    regularization: RegularizationSpec = Field(default_factory=RegularizationSpec)
    """penalties on the weights"""
    train: TrainSpec = Field(default_factory=TrainSpec)
    """how to train"""
    checkpoint: CheckpointSpec = Field(default_factory=CheckpointSpec)
    """what is saved, and when"""
    watch: WatchSpec = Field(default_factory=WatchSpec)
    """per-layer health records and the training warnings (docs/explanation/training-health.md)"""
    strategy: StrategySpec = Field(default_factory=lambda: StrategySpec())
    """what diagnose, eval and select judge the run against"""
    logging: LoggingSpec = Field(default_factory=LoggingSpec)
    """mirrors of the run in TensorBoard and MLflow while it trains"""
    search: SearchSpec | None = None
    """what `nnctl tune` searches (training ignores it); see docs/how-to/search.md"""

    def label_task(self) -> str | None:
        """How the labels are read: ``task`` when given, regression for a linear output trained with mse
        (whole-number targets included), else None: the labels decide (text or whole numbers are classes)."""
        if self.task is not None:
            return self.task
        out = self.model.layers[-1]
        return "regression" if getattr(out, "activation", None) == "linear" and self.loss in ("auto", "mse") else None


# ---------------------------------------------------------------- ML strategy


class StrategySpec(Strict):
    """What `nnctl diagnose`, `eval` and `select` judge a run against (the notes' ML strategy)."""

    human_error: Annotated[float, Field(ge=0, lt=1)] | None = None
    """human-level error, the Bayes proxy: typical human 0.03, doctor 0.01, expert 0.007, team of experts 0.005 (take the best); unset: 0"""
    weights: dict[str, PositiveFloat] = Field(default_factory=dict)
    """class name → weight in the weighted error Σw·1[ŷ≠y]/Σw, e.g. {cat: 1, unacceptable: 10}; classes not named weigh 1"""
    group_by: str | int | None = None
    """a CSV source's column (header name or number) whose values group the errors (per-group error and their mean)"""
    train_fraction: Probability = 1.0
    """train on this nested, stratified share of the training split; dev and test untouched (what diagnose --learning-curve varies)"""


Spec.model_rebuild()  # resolve the forward reference to StrategySpec, defined after Spec
