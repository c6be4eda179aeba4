"""The residual block: a body of layers (convolutional or dense) with a skip connection around it
(docs/explanation/algorithms.md#residual-shortcuts)."""

from __future__ import annotations

import numpy as np

from . import kernels
from .activations import make_activation
from .layers import Layer


class Residual(Layer):
    """A = g(body(x) + shortcut(x)); the shortcut is x itself, or a projection when the body changes
    the shape (a 1×1 convolution on images, a dense layer on flat inputs).

    The skip path lets the gradient reach x without passing through the body,
    so deep stacks stay trainable.
    """

    def __init__(self, name: str, body: list[Layer], activation: str = "relu", projection: Layer | None = None,
                 alpha: float | None = None):
        super().__init__(name)
        self.body, self.projection = list(body), projection
        self.activation = make_activation(activation, alpha)
        if self.activation.grad is None:
            raise ValueError(f"{name}: '{activation}' cannot be a residual block's activation")

    def build(self, input_shape):
        shape = tuple(input_shape)
        for layer in self.body:
            shape = tuple(layer.build(shape))
        shortcut = tuple(self.projection.build(input_shape)) if self.projection else tuple(input_shape)
        if shape != shortcut:
            raise ValueError(
                f"{self.name}: the body maps {tuple(input_shape)} to {shape} but the "
                f"{'projection' if self.projection else 'identity shortcut'} gives {shortcut}; "
                "add or fix the projection so both match"
            )
        return shape

    def children(self):
        return self.body + ([self.projection] if self.projection else [])

    def forward(self, x, training):
        h = x
        for layer in self.body:
            h = layer.forward(h, training)
        shortcut = self.projection.forward(x, training) if self.projection else x
        self._z = np.add(h, shortcut, out=self._out("z", h.shape, h.dtype, training))
        self._a = kernels.active().activate(self.activation, self._z, self._out("a", h.shape, h.dtype, training))
        return self._a

    def kinks(self, eps):
        return self.activation.kinks(self._z, eps)

    def switches(self):
        return [self._z > 0] if self.activation.kinked else []

    def backward(self, dy, need_dx=True):
        dz = kernels.active().activate_backward(self.activation, self._z, self._a, dy, self._buffer("dz", dy.shape, dy.dtype))
        d = dz
        for i in range(len(self.body) - 1, -1, -1):
            d = self.body[i].backward(d, need_dx=need_dx or i > 0)
        d_short = self.projection.backward(dz, need_dx) if self.projection else dz
        if not need_dx:
            return None
        return np.add(d, d_short, out=self._buffer("dx", d.shape, d.dtype))
