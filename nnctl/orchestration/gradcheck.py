"""Gradient checking of a spec's or a run's network on a few training examples.

The network is copied to float64, optionally trained a few steps first (a
backprop bug may only show away from the initialization), and compared
coordinate by coordinate with two-sided differences of the full cost J,
penalties included.  BLAS is held to one thread meanwhile: the check evaluates
J twice per coordinate on a handful of examples, and waking a second BLAS
thread for such tiny products costs more than they do (a ResNet check: ~3×).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from ..nn.gradcheck import GradcheckReport, check_gradients
from ..nn.optimizers import make_optimizer
from ..train.freezing import stages_due
from .model import all_splits, load_model
from .start import RunParts, prepare_run


class DropoutDuringCheck(StrEnum):
    """What dropout does while J is evaluated: nothing, or one mask drawn once and reused."""

    off = "off"
    fixed = "fixed"


@dataclass
class GradcheckSettings:
    examples: int = 16
    eps: float = 1e-7
    max_checks: int | None = None
    after_steps: int = 0
    seed: int = 0
    dropout: DropoutDuringCheck = DropoutDuringCheck.off


def train_steps(parts: RunParts, steps: int, rng: np.random.Generator) -> None:
    """Take ``steps`` optimizer steps with the spec's optimizer on random mini-batches."""
    spec, net, train = parts.spec, parts.net, parts.data["train"]
    optimizer = make_optimizer(spec.train.optimizer.name, net.n_trainable, net.dtype, net.penalized_ranges(),
                               **spec.train.optimizer.model_dump(exclude={"name"}))
    optimizer.lr_scale = net.lr_scales()
    size = len(train) if spec.train.batch_size == "full" else min(spec.train.batch_size, len(train))
    for _ in range(steps):
        rows = rng.choice(len(train), size=size, replace=False)
        net.loss_and_grad(*train.examples(rows), spec.regularization.l2, spec.regularization.l1)
        optimizer.step(net.trainable_theta, net.trainable_grad, spec.train.learning_rate)


def run_parts(run_dir: Path) -> RunParts:
    """A run's spec, recorded data and network with the parameters (and batch-norm state) of its latest checkpoint."""
    model = load_model(run_dir, "latest")
    parts = prepare_run(model.spec, normalizer=model.normalizer, splits=all_splits(model), transfer=False)
    parts.net.theta[...] = model.net.theta
    parts.net.load_state(model.net.state())
    ckpt = model.checkpoint  # check what trains at that point of a fine-tuning schedule
    parts.net.activate(stages_due(model.spec, ckpt.epoch + (1 if ckpt.batch else 0)))
    return parts


def gradcheck_run(parts: RunParts, settings: GradcheckSettings) -> GradcheckReport:
    with threadpool_limits(1, user_api="blas"):
        return _gradcheck(parts, settings)


def _gradcheck(parts: RunParts, settings: GradcheckSettings) -> GradcheckReport:
    rng = np.random.default_rng(settings.seed)
    if settings.after_steps:
        train_steps(parts, settings.after_steps, rng)
    train = parts.data["train"]
    rows = np.sort(rng.choice(len(train), size=min(settings.examples, len(train)), replace=False))
    x, y = (part.astype(np.float64) for part in train.examples(rows))
    net = parts.net.with_dtype(np.float64)
    net.set_dropout_mode(settings.dropout)
    if settings.dropout == DropoutDuringCheck.fixed:
        net.forward(x, training=True)  # draw the masks that every evaluation of J will reuse
    reg = parts.spec.regularization
    return check_gradients(net, x, y, reg.l2, reg.l1, settings.eps, settings.max_checks, rng)
