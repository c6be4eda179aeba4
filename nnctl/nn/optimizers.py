"""Optimizers that update the flat parameter vector θ in place (docs/explanation/algorithms.md#optimizers).

Hyperparameters have no defaults here: the spec's schema holds them, once.

Each class's ``update`` is the definition: a handful of whole-vector NumPy
operations writing into preallocated scratch space.  A step runs the active
kernels' version of it (``kernels/``: this one, or one compiled pass over θ
doing the same arithmetic in the same order).  Moment vectors whose gradients are always zero
(blank image borders) decay towards denormal floats, which CPUs process very
slowly; every ``FLUSH_EVERY`` steps such values are flushed to zero.
"""

from __future__ import annotations

import math

import numpy as np

from . import kernels

FLUSH_EVERY = 128


def flush_denormals(arr: np.ndarray) -> None:
    arr[np.abs(arr) < np.finfo(arr.dtype).tiny] = 0


class Optimizer:
    """``step(theta, grad, lr)`` applies one update; state round-trips through ``state_dict``.

    ``decayed`` is the number of leading entries weight decay acts on, or a list of
    (start, end) ranges.  ``grow`` extends the optimizer to entries that become
    trainable later (fine-tuning stages): their moments start at zero, and Adam counts
    their bias-correction steps from the step they joined (``segments``), as a
    freshly started Adam would.  ``lr_scale``, when set, multiplies each entry's step.
    """

    name = "base"
    moments: tuple[str, ...] = ()

    def __init__(self, size: int, dtype, n_decayed: int | list[tuple[int, int]] = 0):
        self.t = 0
        self.decayed = _ranges(n_decayed)
        self.segments = np.zeros(1, dtype=np.int64)  # entry offset where each segment starts, then its first step
        self.segment_steps = np.zeros(1, dtype=np.int64)
        self.lr_scale: np.ndarray | None = None
        self.state = {name: np.zeros(size, dtype=dtype) for name in self.moments}
        self._tmp = np.empty(size, dtype=dtype)
        self._tmp2 = np.empty(size, dtype=dtype)

    @property
    def size(self) -> int:
        return len(self._tmp)

    def grow(self, size: int, decayed: list[tuple[int, int]], lr_scale: np.ndarray | None = None) -> None:
        """Take on entries [self.size, size) from the next step on, with zero moments."""
        if size > self.size:
            self.segments = np.append(self.segments, self.size)
            self.segment_steps = np.append(self.segment_steps, self.t)
            for name, arr in self.state.items():
                self.state[name] = np.concatenate([arr, np.zeros(size - len(arr), dtype=arr.dtype)])
            self._tmp = np.empty(size, dtype=self._tmp.dtype)
            self._tmp2 = np.empty(size, dtype=self._tmp.dtype)
        self.decayed = _ranges(decayed)
        self.lr_scale = lr_scale

    def step(self, theta: np.ndarray, grad: np.ndarray, lr: float) -> None:
        self.t += 1
        kernels.active().optimizer_step(self, theta, grad, float(lr))
        if self.t % FLUSH_EVERY == 0:
            for arr in self.state.values():
                flush_denormals(arr)

    def update(self, theta, grad, lr):
        """The reference update of θ for step ``self.t``, one whole-vector operation at a time."""
        raise NotImplementedError

    def _apply(self, theta, step):
        """θ ← θ − step, the step scaled per entry when layers have their own learning rates."""
        if self.lr_scale is not None:
            step *= self.lr_scale
        theta -= step

    def state_dict(self) -> dict:
        return {"t": self.t, **self.state}

    def load_state_dict(self, state: dict) -> None:
        self.t = int(state["t"])
        for name, arr in self.state.items():
            arr[...] = state[name]

    def segment_table(self) -> list[list[int]]:
        """[[first entry, step it joined], ...] per segment: what ``grow`` recorded, for checkpoints."""
        return [[int(lo), int(t)] for lo, t in zip(self.segments, self.segment_steps)]

    def load_segment_table(self, table: list[list[int]]) -> bool:
        """Take the steps at which the segments joined; False (nothing changed) when ``table`` does not
        describe this optimizer's segments."""
        if [row[0] if isinstance(row, list) and len(row) == 2 else None for row in table] != self.segments.tolist():
            return False
        if not all(isinstance(row[1], int) and 0 <= row[1] <= self.t for row in table):
            return False
        self.segment_steps = np.array([row[1] for row in table], dtype=np.int64)
        return True


def _ranges(decayed) -> list[slice]:
    if isinstance(decayed, (int, np.integer)):
        return [slice(0, int(decayed))]
    return [slice(lo, hi) for lo, hi in decayed]


class GradientDescent(Optimizer):
    """θ ← θ − α·dθ."""

    name = "gd"

    def update(self, theta, grad, lr):
        np.multiply(grad, lr, out=self._tmp)
        self._apply(theta, self._tmp)


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

    def update(self, theta, grad, lr):
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
        self._apply(theta, tmp)


class RMSprop(Optimizer):
    """s ← β·s + (1−β)·dθ²; θ ← θ − α·dθ/(√s + ε)."""

    name = "rmsprop"
    moments = ("s",)

    def __init__(self, size, dtype, n_decayed=0, *, beta, epsilon):
        super().__init__(size, dtype, n_decayed)
        self.beta, self.epsilon = beta, epsilon

    def update(self, theta, grad, lr):
        s, tmp = self.state["s"], self._tmp
        s *= self.beta
        np.square(grad, out=tmp)
        tmp *= 1 - self.beta
        s += tmp
        np.sqrt(s, out=tmp)
        tmp += self.epsilon
        np.divide(grad, tmp, out=tmp)
        tmp *= lr
        self._apply(theta, tmp)


class Adam(Optimizer):
    """Adam with bias correction on both moments:

    v ← β1·v + (1−β1)·dθ; s ← β2·s + (1−β2)·dθ²;
    θ ← θ − α·v̂/(√ŝ + ε) with v̂ = v/(1−β1ᵗ), ŝ = s/(1−β2ᵗ).

    The corrections are folded into scalars, saving a pass over θ: with c = √(1−β2ᵗ),
    α·v̂/(√ŝ + ε) = (α·c/(1−β1ᵗ))·v/(√s + ε·c), the same value up to rounding.
    ``weight_decay`` > 0 adds AdamW's decoupled decay θ ← θ − α·λ·θ on the weights.
    Entries added by ``grow`` use t counted from the step they joined (their segment).
    """

    name = "adam"
    moments = ("v", "s")

    def __init__(self, size, dtype, n_decayed=0, *, beta1, beta2, epsilon, weight_decay):
        super().__init__(size, dtype, n_decayed)
        self.beta1, self.beta2, self.epsilon, self.weight_decay = beta1, beta2, epsilon, weight_decay

    def update(self, theta, grad, lr):
        v, s, tmp = self.state["v"], self.state["s"], self._tmp
        b1, b2 = self.beta1, self.beta2
        if self.weight_decay:
            self._decay(theta, lr)
        v *= b1
        np.multiply(grad, 1 - b1, out=tmp)
        v += tmp
        s *= b2
        np.square(grad, out=tmp)
        tmp *= 1 - b2
        s += tmp
        np.sqrt(s, out=tmp)
        for entries, part, t in self._segments():
            c2 = math.sqrt(1 - b2**t)
            part += self.epsilon * c2
            np.divide(v[entries], part, out=part)
            part *= lr * c2 / (1 - b1**t)
        self._apply(theta, tmp)

    def _segments(self):
        """(entries, their part of tmp, their step count) per segment; one segment: the whole vector."""
        tmp = self._tmp
        if len(self.segments) == 1:
            yield slice(None), tmp, self.t
            return
        ends = list(self.segments[1:]) + [len(tmp)]
        for lo, hi, first in zip(self.segments, ends, self.segment_steps):
            yield slice(lo, hi), tmp[lo:hi], self.t - int(first)

    def _decay(self, theta, lr):
        """AdamW: θ ← θ − α·λ·θ on the weights (times each entry's learning-rate scale)."""
        for part in self.decayed:
            if self.lr_scale is None:
                theta[part] *= 1 - lr * self.weight_decay
            else:
                theta[part] -= (lr * self.weight_decay) * self.lr_scale[part] * theta[part]


OPTIMIZERS = {cls.name: cls for cls in (GradientDescent, Momentum, RMSprop, Adam)}


def make_optimizer(name: str, size: int, dtype, n_decayed: int = 0, **hyper) -> Optimizer:
    if name not in OPTIMIZERS:  # the schema admits only known names: this is a caller's bug, as in make_schedule
        raise ValueError(f"unknown optimizer '{name}'")
    return OPTIMIZERS[name](size, dtype, n_decayed, **hyper)
