"""Optimizers that update the flat parameter vector θ in place (docs/algorithms.md, "Optimizers").

Hyperparameters have no defaults here: the spec's schema holds them, once.

Each step is a handful of whole-vector NumPy operations writing into
preallocated scratch space.  Moment vectors whose gradients are always zero
(blank image borders) decay towards denormal floats, which CPUs process very
slowly; every ``FLUSH_EVERY`` steps such values are flushed to zero.
"""

from __future__ import annotations

import math

import numpy as np

FLUSH_EVERY = 128


def flush_denormals(arr: np.ndarray) -> None:
    arr[np.abs(arr) < np.finfo(arr.dtype).tiny] = 0


class Optimizer:
    """``step(theta, grad, lr)`` applies one update; state round-trips through ``state_dict``."""

    name = "base"
    moments: tuple[str, ...] = ()

    def __init__(self, size: int, dtype, n_decayed: int = 0):
        self.t = 0
        self.n_decayed = n_decayed
        self.state = {name: np.zeros(size, dtype=dtype) for name in self.moments}
        self._tmp = np.empty(size, dtype=dtype)
        self._tmp2 = np.empty(size, dtype=dtype)

    def step(self, theta: np.ndarray, grad: np.ndarray, lr: float) -> None:
        self.t += 1
        self._update(theta, grad, lr)
        if self.t % FLUSH_EVERY == 0:
            for arr in self.state.values():
                flush_denormals(arr)

    def _update(self, theta, grad, lr):
        raise NotImplementedError

    def state_dict(self) -> dict:
        return {"t": self.t, **self.state}

    def load_state_dict(self, state: dict) -> None:
        self.t = int(state["t"])
        for name, arr in self.state.items():
            arr[...] = state[name]


class GradientDescent(Optimizer):
    """θ ← θ − α·dθ."""

    name = "gd"

    def _update(self, theta, grad, lr):
        np.multiply(grad, lr, out=self._tmp)
        theta -= self._tmp


class Momentum(Optimizer):
    """v ← β·v + (1−β)·dθ; θ ← θ − α·v (``dampened=False``: v ← β·v + dθ).

    Nesterov looks ahead along the new velocity: θ ← θ − α·(β·v + (1−β)·dθ).
    """

    name = "momentum"
    moments = ("v",)

    def __init__(self, size, dtype, n_decayed=0, *, beta, dampened, nesterov):
        super().__init__(size, dtype, n_decayed)
        self.beta, self.nesterov = beta, nesterov
        self.grad_weight = (1 - beta) if dampened else 1.0

    def _update(self, theta, grad, lr):
        v, tmp = self.state["v"], self._tmp
        v *= self.beta
        np.multiply(grad, self.grad_weight, out=tmp)
        v += tmp
        if self.nesterov:
            np.multiply(v, self.beta, out=self._tmp2)
            tmp += self._tmp2
        else:
            np.copyto(tmp, v)
        tmp *= lr
        theta -= tmp


class RMSprop(Optimizer):
    """s ← β·s + (1−β)·dθ²; θ ← θ − α·dθ/(√s + ε)."""

    name = "rmsprop"
    moments = ("s",)

    def __init__(self, size, dtype, n_decayed=0, *, beta, epsilon):
        super().__init__(size, dtype, n_decayed)
        self.beta, self.epsilon = beta, epsilon

    def _update(self, theta, grad, lr):
        s, tmp = self.state["s"], self._tmp
        s *= self.beta
        np.square(grad, out=tmp)
        tmp *= 1 - self.beta
        s += tmp
        np.sqrt(s, out=tmp)
        tmp += self.epsilon
        np.divide(grad, tmp, out=tmp)
        tmp *= lr
        theta -= tmp


class Adam(Optimizer):
    """Adam with bias correction on both moments:

    v ← β1·v + (1−β1)·dθ; s ← β2·s + (1−β2)·dθ²;
    θ ← θ − α·v̂/(√ŝ + ε) with v̂ = v/(1−β1ᵗ), ŝ = s/(1−β2ᵗ).

    The corrections are folded into scalars, saving a pass over θ: with c = √(1−β2ᵗ),
    α·v̂/(√ŝ + ε) = (α·c/(1−β1ᵗ))·v/(√s + ε·c), the same value up to rounding.
    ``weight_decay`` > 0 adds AdamW's decoupled decay θ ← θ − α·λ·θ on the weights.
    """

    name = "adam"
    moments = ("v", "s")

    def __init__(self, size, dtype, n_decayed=0, *, beta1, beta2, epsilon, weight_decay):
        super().__init__(size, dtype, n_decayed)
        self.beta1, self.beta2, self.epsilon, self.weight_decay = beta1, beta2, epsilon, weight_decay

    def _update(self, theta, grad, lr):
        v, s, tmp = self.state["v"], self.state["s"], self._tmp
        b1, b2, t = self.beta1, self.beta2, self.t
        if self.weight_decay:
            theta[: self.n_decayed] *= 1 - lr * self.weight_decay
        v *= b1
        np.multiply(grad, 1 - b1, out=tmp)
        v += tmp
        s *= b2
        np.square(grad, out=tmp)
        tmp *= 1 - b2
        s += tmp
        c2 = math.sqrt(1 - b2**t)
        np.sqrt(s, out=tmp)
        tmp += self.epsilon * c2
        np.divide(v, tmp, out=tmp)
        tmp *= lr * c2 / (1 - b1**t)
        theta -= tmp


OPTIMIZERS = {cls.name: cls for cls in (GradientDescent, Momentum, RMSprop, Adam)}


def make_optimizer(name: str, size: int, dtype, n_decayed: int = 0, **hyper) -> Optimizer:
    return OPTIMIZERS[name](size, dtype, n_decayed, **hyper)
