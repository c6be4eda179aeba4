"""A pre-flight estimate of the memory training will hold, so an absurd spec fails at once.

Without it a schema-valid size (``units: 1000000000000``) reaches NumPy's
allocator and dies there, after the data has been loaded. The estimate counts
θ, dθ and the optimizer's moments (one float each per parameter and moment),
and one mini-batch's layer outputs twice (the forward value and its gradient).
Buffers the layers keep (patch matrices, masks) add a small multiple of the
latter, so the figure is a floor, good for refusing the impossible and for
`spec show`, not a promise.  A layer's parameters are counted from its settings
before its ``build`` runs: a convolution's build allocates tables the size of
its weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import BuildError
from ..memory import over_limit
from ..nn.conv import Conv2D
from ..nn.layers import Dense

MOMENTS = {"gd": 0, "momentum": 1, "rmsprop": 1, "adam": 2}  # optimizer vectors the size of θ


def declared_parameters(layer, input_shape: tuple[int, ...]) -> int:
    """A dense or convolution layer's parameter count from its settings and input shape, before it is built."""
    if isinstance(layer, Conv2D):
        return int(np.prod(layer.kernel, dtype=object)) * int(input_shape[-1]) * layer.filters + layer.filters
    if isinstance(layer, Dense):
        return layer.units * int(np.prod(input_shape, dtype=object)) + layer.units
    return 0


@dataclass
class Footprint:
    parameters: int = 0
    activations_per_example: int = 0  # values of every layer output for one example

    def add_layer(self, layer, output_shape: tuple[int, ...]) -> None:
        self.parameters += sum(int(np.prod(shape)) for inner in layer.walk() for shape in inner.param_shapes().values())
        self.activations_per_example += int(np.prod(output_shape))

    @classmethod
    def of(cls, layers, output_shapes) -> Footprint:
        footprint = cls()
        for layer, shape in zip(layers, output_shapes):
            footprint.add_layer(layer, shape)
        return footprint

    def parameter_bytes(self, itemsize: int, optimizer: str) -> int:
        return itemsize * self.parameters * (2 + MOMENTS.get(optimizer, 2))

    def bytes(self, batch: int, itemsize: int, optimizer: str) -> int:
        """θ, dθ and moments, plus forward values and their gradients for one mini-batch."""
        return self.parameter_bytes(itemsize, optimizer) + itemsize * 2 * batch * self.activations_per_example


def check_fits(footprint: Footprint, batch: int, itemsize: int, optimizer: str, key: str) -> None:
    """Refuse a network whose estimate exceeds what this process may hold, naming the figures and the key to
    change: the layer ``key`` when the parameters take most of it, else ``train.batch_size``."""
    need = footprint.bytes(batch, itemsize, optimizer)
    blamed = key if 2 * footprint.parameter_bytes(itemsize, optimizer) >= need else "train.batch_size"
    why = over_limit(need, f"training ({footprint.parameters:,} parameters, {footprint.activations_per_example:,} "
                           f"activations per example, batch {batch:,})", blamed)
    if why:
        raise BuildError(blamed, why)
