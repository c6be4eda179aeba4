"""Losses on the network's logits, each fused with its output activation.

The network never materialises dA of the output layer: for the matching pairs
(sigmoid + binary cross-entropy, softmax + cross-entropy, linear + squared
error) ``dJ/dZ = (A - Y) / m``, which is both cheaper and exact where the
unfused ``-Y/A`` would overflow.  Costs are computed from logits with
log-sum-exp forms so they stay finite for saturated units.
"""

from __future__ import annotations

import numpy as np

from . import kernels
from .activations import ACTIVATIONS


class Loss:
    """Mean loss J = (1/m) sum_i L(i) over a batch, from logits Z and targets Y."""

    name: str
    requires: str | None = None  # the only output activation this loss is fused with, if any

    def __init__(self, output_activation: str | None = None):
        output_activation = output_activation or self.requires or "linear"
        if self.requires and output_activation != self.requires:
            raise ValueError(f"{self.name.replace('_', ' ')} needs a {self.requires} output layer")
        self.activation = ACTIVATIONS[output_activation]
        self.output_activation = output_activation

    def output(self, z, out=None):
        """The network's prediction A = g(Z)."""
        return self.activation.forward(z, out=out)

    def cost(self, z, y) -> float:
        raise NotImplementedError

    def grad(self, z, y, out=None):
        """dJ/dZ for the batch: (A - Y)/m for the matched pairs."""
        a = self.output(z, out=out)
        a -= y
        a *= 1.0 / z.shape[0]
        return a


class BinaryCrossEntropy(Loss):
    """Each output unit is an independent binary task; a NaN target is a missing label.

    With the mask M (1 where a label is present), docs/explanation/algorithms.md#masked-bce:
    J = (1/m) Σ_i Σ_j M_ij·L(a_ij, y_ij) and dZ = M ⊙ (A − Y)/m, m the batch's row
    count (not the number of present labels), so an example counts once however
    many of its labels are missing, and a batch without missing labels is unchanged.
    """

    name = "binary_cross_entropy"
    requires = "sigmoid"

    def cost(self, z, y) -> float:
        # L = max(z,0) - z*y + log(1 + exp(-|z|))  ==  -[y log a + (1-y) log(1-a)]
        missing, y = _missing(y)
        per_unit = np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))
        if missing is not None:
            per_unit[missing] = 0
        return float(per_unit.sum(dtype=np.float64) / z.shape[0])

    def grad(self, z, y, out=None):
        missing, y = _missing(y)
        d = super().grad(z, y, out=out)
        if missing is not None:
            d[missing] = 0
        return d


def _missing(y):
    """(mask of NaN labels or None when there are none, targets with those set to 0)."""
    missing = np.isnan(y)
    if not missing.any():
        return None, y
    return missing, np.where(missing, 0, y).astype(y.dtype, copy=False)


class SoftmaxCrossEntropy(Loss):
    name = "softmax_cross_entropy"
    requires = "softmax"

    def grad(self, z, y, out=None):
        return kernels.active().softmax_ce_grad(z, y, out)

    def cost(self, z, y) -> float:
        # L = logsumexp(z) - sum_j y_j z_j, per example on the shifted logits s = z - max(z) (≤ 0) in float64:
        # L = log sum_k exp(s_k) - sum_j y_j s_j + max(z)(1 - sum_j y_j). A confident model's L is ~1e-7, far
        # below float32's rounding of logsumexp(z) itself, so the difference of whole-batch sums cancelled to
        # noise (negative costs); term by term nothing large is subtracted. L ≥ 0 for any target distribution
        # (Gibbs' inequality), so a last-bit negative is clipped.
        return kernels.active().softmax_ce_cost(z, y)


class SquaredError(Loss):
    """L = 1/2 sum_j (a_j - y_j)^2; with a non-linear output dZ = (A - Y) * g'(Z)."""

    name = "mse"

    def __init__(self, output_activation: str | None = None):
        super().__init__(output_activation)
        if self.activation.grad is None:
            raise ValueError("squared error cannot be used with a softmax output layer")

    def cost(self, z, y) -> float:
        diff = self.output(z) - y
        return float(0.5 * np.vdot(diff, diff) / z.shape[0])

    def grad(self, z, y, out=None):
        a = self.output(z)
        d = super().grad(z, y, out=out)
        if self.output_activation != "linear":
            d *= self.activation.grad(z, a)
        return d


LOSSES = {cls.name: cls for cls in (BinaryCrossEntropy, SoftmaxCrossEntropy, SquaredError)}
DEFAULT_LOSS = {"sigmoid": "binary_cross_entropy", "softmax": "softmax_cross_entropy"}


def make_loss(name: str, output_activation: str) -> Loss:
    """Build the loss; ``auto`` follows the output activation (linear and others: squared error)."""
    if name == "auto":
        name = DEFAULT_LOSS.get(output_activation, "mse")
    return LOSSES[name](output_activation)
