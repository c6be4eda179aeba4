"""Per-layer health every N optimizer steps (docs/explanation/training-health.md).

For each layer with weights, on the first step and every ``watch.health_every``
steps after it: ‖dW‖ (the gradient of the cost J, before clipping), ‖W‖, the update
ratio ‖ΔW‖/‖W‖ (ΔW the change the optimizer step made, W before it), and of the
layer's activations A on the batch (after batch norm and the activation, before
dropout): their mean and standard deviation, the share of dead ReLU units (a unit, or
a channel of a convolution, that is 0 for every row of the batch) and the share of
saturated sigmoid/tanh values (within 1 % of the range from either end: sigmoid
a ≤ 0.01 or a ≥ 0.99, tanh |a| ≥ 0.98). The output layer's activation is fused with
its loss, so it has no activation figures. Everything is read from what the
training step computed anyway; nothing here changes it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..nn.layers import Activate, Dropout
from ..nn.network import Network
from ..nn.residual import Residual
from ..runs.health_log import HealthLog

SATURATED = {"sigmoid": lambda a: (a <= 0.01) | (a >= 0.99), "tanh": lambda a: np.abs(a) >= 0.98}
DEAD = ("relu",)


@dataclass
class Unit:
    """One spec layer with weights: where its W tensors lie in θ, its parts and its activation."""

    name: str
    ranges: list[tuple[int, int]]  # θ[start:end] of each W (a residual block has several)
    main: list  # the layers holding W (their ``frozen`` says whether dW is computed)
    activation: str  # its g; "" for the output layer (fused with the loss)
    output_index: int  # the network layer whose output is A (-1: none watched)


def units_of(net: Network) -> list[Unit]:
    """The network's weighted layers in order, each with its parts (dense1, dense1.bn, dense1.act, ...)."""
    where = {slot.key: (slot.offset, slot.offset + slot.size) for slot in net.slots}
    groups: dict[str, list[int]] = {}
    for i, layer in enumerate(net.layers):
        groups.setdefault(layer.name.split(".")[0], []).append(i)
    units = []
    for name, indices in groups.items():
        main = [inner for i in indices for inner in net.layers[i].walk() if "W" in inner.params]
        if not main:
            continue
        g = "linear"
        for i in indices:
            layer = net.layers[i]
            if isinstance(layer, (Activate, Residual)):
                g = layer.activation.name
        last = max(i for i in indices if not isinstance(net.layers[i], Dropout))
        units.append(Unit(name, [where[f"{m.name}/W"] for m in main], main, g, last))
    if units:
        output = units[-1]
        output.activation, output.output_index = "", -1
    return units


def _norm(vector: np.ndarray, ranges: list[tuple[int, int]]) -> float:
    """‖·‖ of the θ-shaped ``vector`` over ``ranges`` (views: nothing is copied)."""
    return math.sqrt(sum(float(np.dot(vector[a:b], vector[a:b])) for a, b in ranges))


def activation_stats(a: np.ndarray, activation: str) -> dict[str, float]:
    """Mean and standard deviation of ``a``, its dead ReLU units and saturated sigmoid/tanh values."""
    dead = float(np.mean(a.reshape(-1, a.shape[-1]).max(axis=0) <= 0)) if activation in DEAD else math.nan
    saturated = float(np.mean(SATURATED[activation](a))) if activation in SATURATED else math.nan
    return {"act_mean": float(a.mean(dtype=np.float64)), "act_std": float(a.std(dtype=np.float64)),
            "dead": dead, "saturated": saturated}


class HealthRecorder:
    """Collects one health row per record step: ``see`` during the forward pass, ``before_update``
    after backprop, ``after_update`` after the optimizer step."""

    def __init__(self, net: Network, every: int):
        self.net, self.every = net, every
        self.units = units_of(net)
        self._watched = {unit.output_index: unit for unit in self.units if unit.output_index >= 0}
        self._rows: dict[str, dict[str, float]] = {}
        self._before = np.empty(0, dtype=net.dtype)  # θ before the update, then the update Δθ (reused)

    def new_log(self) -> HealthLog:
        return HealthLog({unit.name: unit.activation for unit in self.units}, self.every)

    def due(self, step: int) -> bool:
        """Whether optimizer step ``step`` (from 1) is recorded: the first, then every N-th."""
        return self.every > 0 and (step - 1) % self.every == 0

    def see(self, index: int, output: np.ndarray) -> None:
        """The network's watch callback: layer ``index`` produced ``output`` in this forward pass."""
        unit = self._watched.get(index)
        if unit is not None:
            self._rows[unit.name] = activation_stats(output, unit.activation)

    def before_update(self) -> None:
        theta, grad = self.net.theta, self.net.grad
        if self._before.shape != theta.shape or self._before.dtype != theta.dtype:
            self._before = np.empty_like(theta)
        np.copyto(self._before, theta)
        for unit in self.units:
            row = self._rows.setdefault(unit.name, activation_stats_missing())
            row["grad_norm"] = math.nan if all(m.frozen for m in unit.main) else _norm(grad, unit.ranges)
            row["weight_norm"] = _norm(theta, unit.ranges)

    def after_update(self) -> dict[str, dict[str, float]]:
        """The finished row (layer → stat → value); the recorder is then ready for the next one."""
        rows, change = self._rows, np.subtract(self.net.theta, self._before, out=self._before)
        for unit in self.units:
            weight = rows[unit.name]["weight_norm"]
            rows[unit.name]["update_ratio"] = _norm(change, unit.ranges) / weight if weight > 0 else math.nan
        self._rows = {}
        return rows


def activation_stats_missing() -> dict[str, float]:
    """The activation figures of a layer not watched (the output layer, or one before a cached frozen prefix)."""
    return dict.fromkeys(("act_mean", "act_std", "dead", "saturated"), math.nan)
