"""How to train: the ``train:`` section (optimizers, schedules, early stopping, clipping, augmentation,
fine-tuning stages), and the ``regularization:``, ``checkpoint:`` and ``watch:`` sections."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from ...nn.vocabulary import KERNEL_CHOICES
from .base import Beta, NonNegativeFloat, PositiveFloat, Strict


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
    """move each image by up to this many pixels, zero-filled; less than its height and width"""
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
