"""Gradient checking of a spec's or a run's network on a few training examples.

The network is copied to float64, optionally trained a few steps first (a
backprop bug may only show away from the initialization), and compared
coordinate by coordinate with two-sided differences of the full cost J,
penalties included.  BLAS is held to one thread meanwhile: the check evaluates
J twice per coordinate on a handful of examples, and waking a second BLAS
thread for such tiny products costs more than they do (a ResNet check: ~3×).

Defaults that finish in seconds on every shipped spec: ``CHECKS_PER_TENSOR``
coordinates sampled per tensor (all of a smaller tensor). A bug that corrupts a
fraction p of a tensor's gradient escapes k samples with probability at most
(1 − p)^k: with k = 30, 4 % for p = 10 %, 0.1 % for p = 20 %, 1e-9 for p = 50 %, and nothing
for the usual bugs that corrupt the whole tensor (a transpose, a lost factor).
``max_checks=None`` checks every coordinate.

Kinks: zero biases at initialization put every ReLU input of a blank image
region exactly on zero, where no two-sided difference is a derivative. When
the checked batch has such exact zeros, its inputs are moved off them by
Gaussian noise of ``JITTER`` (normalized units; backprop must be right for any
input); the few coordinates that still straddle a kink are left out and
counted (nn/gradcheck.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from ..nn.gradcheck import GradcheckReport, check_gradients
from ..train.batches import resolve_batch_size
from ..train.build import build_optimizer
from ..train.freezing import stages_due
from .choices import CHECKS_PER_TENSOR, JITTER, DropoutDuringCheck
from .model import all_splits, load_model
from .start import RunParts, prepare_run


@dataclass
class GradcheckSettings:
    examples: int = 16
    eps: float = 1e-7
    max_checks: int | None = CHECKS_PER_TENSOR
    after_steps: int = 0
    seed: int = 0
    dropout: DropoutDuringCheck = DropoutDuringCheck.off


def train_steps(parts: RunParts, steps: int, rng: np.random.Generator) -> None:
    """Take ``steps`` optimizer steps with the spec's optimizer on random mini-batches."""
    spec, net, train = parts.spec, parts.net, parts.data["train"]
    optimizer = build_optimizer(spec, net)
    size = resolve_batch_size(spec.train.batch_size, len(train))
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


def gradcheck_run(parts: RunParts, settings: GradcheckSettings, progress=None) -> GradcheckReport:
    """``progress(tensor, done, total)`` is called after each checked coordinate."""
    with threadpool_limits(1, user_api="blas"):
        return _gradcheck(parts, settings, progress)


def _gradcheck(parts: RunParts, settings: GradcheckSettings, progress) -> GradcheckReport:
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
    net.objective(x, y, reg.l2, reg.l1)
    jittered = sum(layer.kinks(0.0) for layer in net.all_layers()) > 0
    if jittered:
        x = x + rng.normal(0.0, JITTER, size=x.shape)  # "fixed" dropout keeps its mask: the shape is the same
    report = check_gradients(net, x, y, reg.l2, reg.l1, settings.eps, settings.max_checks, rng, progress=progress)
    report.jittered = jittered
    return report
