"""The ``data:`` section: the sources (bundled, registry, generated, files), how they are split, relabelled,
normalized and completed.

Relative file paths in sources, split files and relabel files are read from the
spec file's directory (``DataSpec.base_dir``, set by the loader), not from the
current directory, so a spec trains the same wherever it is started from.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, PrivateAttr, ValidationInfo, field_validator, model_validator

from .base import NonNegativeFloat, PositiveFloat, Strict

GENERATED_SETS = ("moons", "circles", "spirals", "xor", "flower", "blobs")
REGISTRY_NAMES = ("mnist",)

ClassNames = Annotated[list[str], Field(min_length=2)]
CLASSES_DESCRIPTION = ("the class names; labels are matched to them as written, or are whole-number indices into them "
                       "when no name is a number (stored in the run, shown by eval and predict)")


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
    """several label columns (names or indices) instead of label_column: multi-task 0/1 labels, an empty, NA, NaN or null cell is a missing label"""
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
SHARE_TOLERANCE = 1e-9  # of fractions summing to 1


def are_counts(shares: dict[str, float]) -> bool:
    """Whether split shares are row counts (whole numbers totalling more than 1) rather than fractions."""
    return all(v == int(v) for v in shares.values()) and sum(shares.values()) > 1


def share_problem(shares: dict[str, float], renormalize: bool = False) -> str | None:
    """What is wrong with split shares, or None: all row counts, or all fractions summing to 1 (to anything when
    ``renormalize``: a file or a source's own set took some of the splits)."""
    if are_counts(shares):
        return None
    given = ", ".join(f"{name}: {value:g}" for name, value in shares.items())
    if any(v > 1 for v in shares.values()):
        return f"mixes row counts and fractions ({given}); give all counts or all fractions"
    if not renormalize and abs(sum(shares.values()) - 1.0) > SHARE_TOLERANCE:
        return f"fractions sum to {sum(shares.values()):g}, not 1 ({given})"
    return None


def may_bring_splits(source) -> bool:
    """Whether a source has (or may have, which only reading it tells) its own test or dev examples."""
    return isinstance(source, RegistrySource) or any(getattr(source, name, None) for name in ("test", "dev", "test_x", "test_images"))


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

    @field_validator("split")
    @classmethod
    def _shares_add_up(cls, split: SplitSpec, info: ValidationInfo) -> SplitSpec:
        """Check the split's arithmetic now, without the data, where nothing else can take a share (no split file, no
        source with its own test or dev set); the rest is checked when the data is read."""
        if ("source" not in info.data or info.data.get("sources") is not None or may_bring_splits(info.data["source"])
                or isinstance(split.dev, str) or isinstance(split.test, str)):
            return split  # checked once the data is read
        problem = share_problem({name: getattr(split, name) for name in ("train", "dev", "test", "train_dev")})
        if problem:
            raise ValueError(problem)
        return split

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
