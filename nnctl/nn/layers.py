"""Layers of the NumPy core.

Conventions (said once here, used everywhere):

* Arrays are batch-first: X is (m, n_x), images are NHWC (m, n_H, n_W, n_C).
  W of a dense layer is (n[l], n[l-1]) as in the lecture notes, so the notes'
  column-major ``Z = W A + b`` becomes ``Z = A_prev @ W.T + b`` here.
* ``backward`` receives and returns gradients of the *mean* cost J, i.e. the
  1/m is applied once by the loss, so ``dW = dZ.T @ A_prev`` with no division.
* Parameters and their gradients are views into the network's flat vectors
  θ and dθ; a layer only declares their shapes and fills them in place.
* With ``training=True`` outputs go into buffers the layer reuses from one
  mini-batch to the next (no allocation on the hot path); inference allocates.
"""

from __future__ import annotations

import numpy as np

from . import kernels
from .activations import make_activation
from .initializers import init_weights


class Layer:
    """Base class: a differentiable function with optional named parameters."""

    penalized: tuple[str, ...] = ()  # parameters that L1/L2 and weight decay apply to
    # False when backward is never asked for dX: set before build on a network's first trainable
    # layer, so that build can plan without the dX machinery (an unfreeze that moves that layer
    # re-plans both layers with another build).
    input_gradient = True
    stage: int | None = 0  # 0: trains from the start; k: unfrozen by fine-tuning stage k; None: never trains
    lr_scale = 1.0  # multiplies the learning rate of this layer's parameters
    frozen = False  # set by the network: parameters fixed now, so backward skips their gradients

    def __init__(self, name: str):
        self.name = name
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.statistics: dict[str, np.ndarray] = {}  # non-trained arrays saved with θ (batch norm's running averages)
        self._buffers: dict[str, np.ndarray] = {}

    def build(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Fix the shapes for a per-example input shape; return the output shape."""
        return input_shape

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        return {}

    @property
    def trainable(self) -> bool:
        """Whether this layer, or one inside it, has parameters; known before ``build``."""
        declares = type(self).param_shapes is not Layer.param_shapes
        return declares or any(child.trainable for child in self.children())

    def children(self) -> list[Layer]:
        """Sub-layers of a composite layer (a residual block); their parameters join θ."""
        return []

    def walk(self):
        """This layer and every layer inside it, depth first."""
        yield self
        for child in self.children():
            yield from child.walk()

    def initialize(self, rng: np.random.Generator) -> None:
        """Fill the bound parameter views with their initial values."""

    def forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        raise NotImplementedError

    def backward(self, dy: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
        raise NotImplementedError

    def kinks(self, eps: float) -> int:
        """Inputs of the last forward pass within eps of a non-differentiable point (for gradcheck)."""
        return 0

    def switches(self) -> list[np.ndarray]:
        """Copies of the discrete choices the last training-mode forward pass made (a ReLU's side
        of zero, a max-pool's argmax): where two passes differ in them, a difference quotient
        between the two spans a kink and measures no derivative (for gradcheck)."""
        return []

    def _buffer(self, key: str, shape: tuple[int, ...], dtype) -> np.ndarray:
        """A scratch array kept across calls, reallocated only when the shape changes."""
        buf = self._buffers.get(key)
        if buf is None or buf.shape != shape or buf.dtype != dtype:
            buf = self._buffers[key] = np.empty(shape, dtype=dtype)
        return buf

    def _out(self, key, shape, dtype, training):
        return self._buffer(key, shape, dtype) if training else np.empty(shape, dtype=dtype)


class Dense(Layer):
    """Affine map Z = A_prev W^T + b (the bias is dropped before batch norm)."""

    penalized = ("W",)

    def __init__(self, name: str, units: int, init: str = "he", init_scale: float = 0.01, use_bias: bool = True,
                 init_gain: float = 1.0):
        super().__init__(name)
        self.units, self.init, self.init_scale, self.use_bias = units, init, init_scale, use_bias
        self.init_gain = init_gain

    def build(self, input_shape):
        if len(input_shape) != 1:
            raise ValueError(f"{self.name}: a dense layer needs flat inputs, got shape {input_shape}")
        self.fan_in = input_shape[0]
        return (self.units,)

    def param_shapes(self):
        shapes = {"W": (self.units, self.fan_in)}
        if self.use_bias:
            shapes["b"] = (1, self.units)
        return shapes

    def initialize(self, rng):
        init_weights(self.params["W"], self.init, self.fan_in, self.units, rng, self.init_scale, self.init_gain)
        if self.use_bias:
            self.params["b"].fill(0)

    def forward(self, x, training):
        self._x = x
        z = np.matmul(x, self.params["W"].T, out=self._out("z", (x.shape[0], self.units), x.dtype, training))
        if self.use_bias:
            kernels.active().add_bias(z, self.params["b"])
        return z

    def backward(self, dy, need_dx=True):
        if not self.frozen:
            np.matmul(dy.T, self._x, out=self.grads["W"])
            if self.use_bias:
                kernels.active().bias_gradient(dy, self.grads["b"])
        if not need_dx:
            return None
        return np.matmul(dy, self.params["W"], out=self._buffer("dx", self._x.shape, dy.dtype))


class Activate(Layer):
    """A = g(Z) for a hidden layer (the output activation is fused with the loss)."""

    def __init__(self, name: str, activation: str, alpha: float | None = None):
        super().__init__(name)
        self.activation = make_activation(activation, alpha)
        if self.activation.grad is None:
            raise ValueError(f"{name}: '{activation}' can only be the output activation")

    def forward(self, x, training):
        self._z = x
        self._a = kernels.active().activate(self.activation, x, self._out("a", x.shape, x.dtype, training))
        return self._a

    def backward(self, dy, need_dx=True):
        return kernels.active().activate_backward(self.activation, self._z, self._a, dy, self._buffer("dz", dy.shape, dy.dtype))

    def kinks(self, eps):
        return self.activation.kinks(self._z, eps)

    def switches(self):
        return [self._z > 0] if self.activation.kinked else []


class Dropout(Layer):
    """Inverted dropout: keep each unit with probability p and scale by 1/p while training.

    ``mode`` is "on" (fresh mask each forward), "fixed" (reuse the last mask, for
    gradient checking) or "off" (identity, as at inference).
    """

    def __init__(self, name: str, keep_prob: float, rng: np.random.Generator):
        super().__init__(name)
        self.keep_prob, self.rng, self.mode = keep_prob, rng, "on"
        self._mask = None

    def forward(self, x, training):
        self._active = training and self.mode != "off"
        if not self._active:
            return x
        if self.mode == "on" or self._mask is None or self._mask.shape != x.shape:
            mask = self._buffer("mask", x.shape, x.dtype)
            np.less(self.rng.random(x.shape, dtype=x.dtype), self.keep_prob, out=mask)
            mask *= 1.0 / self.keep_prob
            self._mask = mask
        return np.multiply(x, self._mask, out=self._buffer("y", x.shape, x.dtype))

    def backward(self, dy, need_dx=True):
        if not self._active:
            return dy
        return np.multiply(dy, self._mask, out=self._buffer("dx", dy.shape, dy.dtype))


class BatchNorm(Layer):
    """Batch normalization over all axes but the last (units, or channels of NHWC maps).

    Training uses the batch's mean and variance and updates exponentially
    weighted running statistics, which inference uses instead. A frozen batch norm
    computes as at inference even while training (running statistics, left unchanged),
    so a frozen trunk is exactly the function that was transferred.
    """

    def __init__(self, name: str, momentum: float = 0.9, epsilon: float = 1e-5):
        super().__init__(name)
        self.momentum, self.epsilon = momentum, epsilon

    def build(self, input_shape):
        self.channels = input_shape[-1]
        self.statistics = {"running_mean": np.zeros((1, self.channels)), "running_var": np.ones((1, self.channels))}
        return input_shape

    def param_shapes(self):
        return {"gamma": (1, self.channels), "beta": (1, self.channels)}

    def initialize(self, rng):
        self.params["gamma"].fill(1)
        self.params["beta"].fill(0)
        self.statistics["running_mean"].fill(0)
        self.statistics["running_var"].fill(1)

    def forward(self, x, training):
        z = x.reshape(-1, self.channels)
        if training and not self.frozen:
            if z.shape[0] < 2:
                raise ValueError(f"{self.name}: batch normalization needs at least 2 values per unit in training")
            mean = z.mean(axis=0, keepdims=True)
            var = z.var(axis=0, keepdims=True)
            rho = self.momentum
            self.statistics["running_mean"] *= rho
            self.statistics["running_mean"] += (1 - rho) * mean
            self.statistics["running_var"] *= rho
            self.statistics["running_var"] += (1 - rho) * var
        else:
            mean = self.statistics["running_mean"].astype(z.dtype)
            var = self.statistics["running_var"].astype(z.dtype)
        self._inv_std = 1.0 / np.sqrt(var + self.epsilon)
        self._zhat = (z - mean) * self._inv_std
        return (self._zhat * self.params["gamma"] + self.params["beta"]).reshape(x.shape)

    def backward(self, dy, need_dx=True):
        g_out = dy.reshape(-1, self.channels)
        if self.frozen:  # fixed statistics: an affine map per channel
            return (g_out * (self.params["gamma"] * self._inv_std)).reshape(dy.shape)
        zhat = self._zhat
        np.sum(g_out * zhat, axis=0, keepdims=True, out=self.grads["gamma"])
        np.sum(g_out, axis=0, keepdims=True, out=self.grads["beta"])
        g = g_out * self.params["gamma"]
        dz = (g - g.mean(axis=0, keepdims=True) - zhat * (g * zhat).mean(axis=0, keepdims=True)) * self._inv_std
        return dz.reshape(dy.shape)


class Flatten(Layer):
    """(m, H, W, C) -> (m, H*W*C) in C order, between convolutional and dense parts."""

    def build(self, input_shape):
        self._in_shape = input_shape
        return (int(np.prod(input_shape)),)

    def forward(self, x, training):
        return x.reshape(x.shape[0], -1)

    def backward(self, dy, need_dx=True):
        return dy.reshape((dy.shape[0],) + self._in_shape)
