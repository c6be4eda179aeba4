"""A pre-flight estimate of the memory training will hold, so an absurd spec fails at once.

Without it a schema-valid size (``units: 1000000000000``) reaches NumPy's
allocator and dies there, after the data has been loaded. The estimate counts
θ, dθ and the optimizer's moments (one float each per parameter and moment),
and one mini-batch's layer outputs twice (the forward value and its gradient).
Buffers the layers keep (patch matrices, masks) add a small multiple of the
latter, so the figure is a floor, good for refusing the impossible and for
`spec show`, not a promise.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ..errors import BuildError

MOMENTS = {"gd": 0, "momentum": 1, "rmsprop": 1, "adam": 2}  # optimizer vectors the size of θ


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

    def bytes(self, batch: int, itemsize: int, optimizer: str) -> int:
        """θ, dθ and moments, plus forward values and their gradients for one mini-batch."""
        return itemsize * (self.parameters * (2 + MOMENTS.get(optimizer, 2)) + 2 * batch * self.activations_per_example)


def physical_memory() -> int:
    """Bytes of RAM on this machine (a generous bound: the data needs some too)."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def human_bytes(n_bytes: int) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n_bytes >= size:
            return f"{n_bytes / size:,.1f} {unit}"
    return f"{n_bytes} B"


def check_fits(footprint: Footprint, batch: int, itemsize: int, optimizer: str, key: str) -> None:
    """Refuse a network whose estimate exceeds the machine's memory, naming the figures."""
    need, have = footprint.bytes(batch, itemsize, optimizer), physical_memory()
    if need > have:
        raise BuildError(
            key,
            f"training would need at least {human_bytes(need)} ({footprint.parameters:,} parameters, "
            f"{footprint.activations_per_example:,} activations per example, batch {batch}); this machine has {human_bytes(have)}",
        )
