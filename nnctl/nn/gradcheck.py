"""Gradient checking by two-sided differences (docs/explanation/algorithms.md#gradient-checking).

For each coordinate i of θ, dθ_approx[i] = (J(θ + ε·e_i) − J(θ − ε·e_i)) / 2ε is
compared with backpropagation's dθ[i].  The relative difference
‖dθ_approx − dθ‖ / (‖dθ_approx‖ + ‖dθ‖) is reported per tensor, so a wrong db
shows up as db, not as a vague overall number.  Always run in float64.

A coordinate whose two evaluations J(θ ± ε·e_i) made different discrete choices
(a ReLU input changing sides of zero, a max-pool's argmax moving) straddles a
kink: its quotient measures no derivative, so it is counted as kinked and left
out of the comparison instead of failing the check (the notes' advice).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .network import Network

ROUNDING_FACTOR = 10.0  # J's rounding error in units of machine epsilon times |J|, generously


@dataclass
class TensorCheck:
    key: str
    checked: int
    size: int
    difference: float
    worst: list[tuple[int, float, float]] = field(default_factory=list)  # (flat index, analytic, numerical)
    error: float = 0.0  # ‖dθ_approx − dθ‖ over the checked coordinates
    resolution: float = 0.0  # the rounding noise the two-sided difference can carry in that norm
    kinked: int = 0  # coordinates left out: their two evaluations straddled a kink

    @property
    def sampled(self) -> bool:
        return self.checked + self.kinked < self.size

    def verdict(self, warn: float = 1e-7, fail: float = 1e-5) -> str:
        """As ``classify``, but "unresolved" when the disagreement is within rounding noise.

        Tiny gradients (the first layers of a deep sigmoid net) cannot be measured
        by differences of J at this ε: the relative difference is then large for
        a correct backward pass, and the honest answer is that it was not resolved.
        """
        if self.checked == 0 and self.kinked:
            return "kinked"
        reading = classify(self.difference, warn, fail)
        return "unresolved" if reading != "pass" and self.error <= self.resolution else reading


@dataclass
class GradcheckReport:
    tensors: list[TensorCheck]
    difference: float  # over every checked coordinate
    kinks: int = 0  # pre-activations within ε of a ReLU kink, where differences are unreliable
    frozen: list[str] = field(default_factory=list)  # tensors not checked: they do not train, so backprop skips them
    jittered: bool = False  # the inputs were moved off exact kinks before checking

    def verdict(self, warn: float = 1e-7, fail: float = 1e-5) -> str:
        """The reading of the difference over every checked coordinate."""
        return classify(self.difference, warn, fail)


def classify(difference: float, warn: float = 1e-7, fail: float = 1e-5) -> str:
    """The notes' reading: ≤ warn is fine, up to fail deserves a look, beyond is a likely bug."""
    if difference <= warn:
        return "pass"
    return "warn" if difference <= fail else "fail"


def relative_difference(approx: np.ndarray, analytic: np.ndarray) -> float:
    denominator = np.linalg.norm(approx) + np.linalg.norm(analytic)
    return 0.0 if denominator == 0 else float(np.linalg.norm(approx - analytic) / denominator)


def check_gradients(
    net: Network,
    x: np.ndarray,
    y: np.ndarray,
    l2: float = 0.0,
    l1: float = 0.0,
    eps: float = 1e-7,
    max_checks: int | None = None,
    rng: np.random.Generator | None = None,
    worst: int = 5,
    progress: Callable[[str, int, int], None] | None = None,
) -> GradcheckReport:
    """Check ``net``'s gradient of J on (x, y); ``net`` must already be float64.

    Dropout layers should be "off" or "fixed" and batch norm is checked in
    training mode on this batch.  ``max_checks`` samples that many coordinates
    per tensor (seeded by ``rng``). Only trainable tensors are checked: backprop
    computes no gradient for frozen ones.  ``progress(tensor, done, total)`` is
    called after each coordinate.
    """
    if net.dtype != np.float64:
        raise ValueError("gradient checking needs a float64 network (use net.with_dtype(np.float64))")
    state = {k: v.copy() for k, v in net.state().items()}
    cost = net.loss_and_grad(x, y, l2, l1)
    kinks = sum(layer.kinks(eps) for layer in net.all_layers())
    noise = ROUNDING_FACTOR * np.finfo(np.float64).eps * max(abs(cost), np.finfo(np.float64).tiny) / eps
    analytic = net.grad.copy()
    tensors, all_approx, all_analytic = [], [], []
    for slot in net.trainable_slots():
        indices = np.arange(slot.offset, slot.offset + slot.size)
        if max_checks is not None and slot.size > max_checks:
            indices = np.sort((rng or np.random.default_rng(0)).choice(indices, size=max_checks, replace=False))
        approx, smooth = np.empty(len(indices)), np.ones(len(indices), dtype=bool)
        for j, i in enumerate(indices):
            approx[j], smooth[j] = _difference_quotient(net, x, y, l2, l1, eps, i)
            if progress:
                progress(slot.key, j + 1, len(indices))
        indices, approx = indices[smooth], approx[smooth]
        exact = analytic[indices]
        gap = np.abs(approx - exact)
        order = np.argsort(-gap)[:worst]
        tensors.append(TensorCheck(
            slot.key, len(indices), slot.size, relative_difference(approx, exact),
            [(int(indices[k] - slot.offset), float(exact[k]), float(approx[k])) for k in order],
            float(np.linalg.norm(approx - exact)), noise * np.sqrt(len(indices)), int(np.count_nonzero(~smooth)),
        ))
        all_approx.append(approx)
        all_analytic.append(exact)
    net.load_state(state)
    overall = relative_difference(np.concatenate(all_approx), np.concatenate(all_analytic)) if tensors else 0.0
    frozen = [slot.key for slot in net.slots if slot.offset >= net.n_trainable]
    return GradcheckReport(tensors, overall, kinks, frozen)


def _difference_quotient(net: Network, x, y, l2: float, l1: float, eps: float, i: int) -> tuple[float, bool]:
    """(J(θ + ε·e_i) − J(θ − ε·e_i)) / 2ε, and whether both evaluations made the same discrete choices."""
    theta = net.theta
    saved = theta[i]
    theta[i] = saved + eps
    plus = net.objective(x, y, l2, l1)
    choices = net.switches()
    theta[i] = saved - eps
    minus = net.objective(x, y, l2, l1)
    smooth = all(np.array_equal(a, b) for a, b in zip(choices, net.switches()))
    theta[i] = saved
    return (plus - minus) / (2 * eps), smooth
