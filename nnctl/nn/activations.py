"""Element-wise activations g and their derivatives g'.

Each derivative takes both z and a = g(z) and uses whichever is cheaper, so a
backward pass never recomputes an exponential.  ``out=`` lets layers write into
preallocated buffers on the hot path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

LEAKY_SLOPE = 0.01  # leaky ReLU's default slope α on z < 0
ELU_ALPHA = 1.0  # ELU's default α
DEFAULT_ALPHA = {"leaky_relu": LEAKY_SLOPE, "elu": ELU_ALPHA}  # the activations that take an α


def _into(out, value):
    """Store ``value`` in ``out`` when a buffer is given (for the slow, rare activations)."""
    if out is None:
        return value
    np.copyto(out, value)
    return out


def sigmoid(z, out=None):
    """Stable logistic: exp is only taken of -|z|, so it cannot overflow."""
    e = np.exp(-np.abs(z))
    return _into(out, np.where(z >= 0, 1.0, e) / (1.0 + e))


def softmax(z, out=None):
    """Row-wise softmax, shifted by the row max so exp never overflows."""
    out = np.subtract(z, z.max(axis=1, keepdims=True), out=out)
    np.exp(out, out=out)
    out /= out.sum(axis=1, keepdims=True)
    return out


def _relu(z, out=None):
    return np.maximum(z, 0, out=out)


def _relu_grad(z, a, out=None):
    return np.greater(z, 0, out=out) if out is not None else (z > 0).astype(z.dtype)


@dataclass(frozen=True)
class Activation:
    name: str
    forward: Callable
    grad: Callable | None  # g'(z, a); None for softmax, whose gradient is fused with its loss
    kinked: bool = False  # not differentiable at z = 0 (numerical derivatives there are unreliable)
    alpha: float | None = None  # leaky ReLU's slope or ELU's α; None for the others

    def kinks(self, z: np.ndarray, eps: float) -> int:
        """How many entries of z lie within eps of the kink."""
        return int(np.count_nonzero(np.abs(z) <= eps)) if self.kinked else 0


def _leaky_relu(alpha: float) -> Activation:
    return Activation(
        "leaky_relu",
        lambda z, out=None: np.maximum(z, alpha * z, out=out),
        lambda z, a, out=None: _into(out, np.where(z > 0, 1.0, alpha).astype(z.dtype)),
        kinked=True,
        alpha=alpha,
    )


def _elu(alpha: float) -> Activation:
    return Activation(
        "elu",
        lambda z, out=None: _into(out, np.where(z > 0, z, alpha * np.expm1(np.minimum(z, 0)))),
        lambda z, a, out=None: _into(out, np.where(z > 0, 1.0, a + alpha).astype(z.dtype)),
        alpha=alpha,
    )


# In the order the spec's error messages list them.
ACTIVATIONS: dict[str, Activation] = {
    "relu": Activation("relu", _relu, _relu_grad, kinked=True),
    "leaky_relu": _leaky_relu(LEAKY_SLOPE),
    "elu": _elu(ELU_ALPHA),
    "tanh": Activation("tanh", lambda z, out=None: np.tanh(z, out=out),
                       lambda z, a, out=None: np.subtract(1, np.square(a), out=out)),
    "sigmoid": Activation("sigmoid", sigmoid, lambda z, a, out=None: np.multiply(a, 1 - a, out=out)),
    "linear": Activation("linear", lambda z, out=None: _into(out, z.copy()),
                         lambda z, a, out=None: _into(out, np.ones_like(z))),
    "softmax": Activation("softmax", softmax, None),
}


def make_activation(name: str, alpha: float | None = None) -> Activation:
    """The activation ``name``; ``alpha`` sets leaky ReLU's slope or ELU's α (None: the default)."""
    if alpha is None or alpha == DEFAULT_ALPHA.get(name):
        return ACTIVATIONS[name]
    if name not in DEFAULT_ALPHA:
        raise ValueError(f"'{name}' takes no alpha (only {' and '.join(DEFAULT_ALPHA)} do)")
    if name == "leaky_relu" and not 0 < alpha < 1:
        raise ValueError(f"leaky_relu's slope alpha must lie in (0, 1), got {alpha}")
    return _leaky_relu(alpha) if name == "leaky_relu" else _elu(alpha)
