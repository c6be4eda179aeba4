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

from ..nn.conv import Residual
from ..nn.layers import Activate, Dropout
from ..nn.network import Network
from ..runs.health_log import HealthLog

SATURATED = {"sigmoid": lambda a: (a <= 0.01) | (a >= 0.99), "tanh": lambda a: np.abs(a) >= 0.98}
DEAD = ("relu",)


@dataclass
class Unit:
    """One spec layer with weights: its parts in the network, its W tensors and its activation."""

    name: str
    weights: list[np.ndarray]
    grads: list[np.ndarray]
    main: list  # the layers holding W (their ``frozen`` says whether dW is computed)
    activation: str  # its g; "" for the output layer (fused with the loss)
    output_index: int  # the network layer whose output is A (-1: none watched)


def units_of(net: Network) -> list[Unit]:
    """The network's weighted layers in order, each with its parts (dense1, dense1.bn, dense1.act, ...)."""
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
        units.append(Unit(name, [m.params["W"] for m in main], [m.grads["W"] for m in main], main, g, last))
    if units:
        output = units[-1]
        output.activation, output.output_index = "", -1
    return units


def _norm(arrays) -> float:
    return math.sqrt(sum(float(np.dot(a.ravel(), a.ravel())) for a in arrays))


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
        self.every = every
        self.units = units_of(net)
        self._watched = {unit.output_index: unit for unit in self.units if unit.output_index >= 0}
        self._rows: dict[str, dict[str, float]] = {}
        self._before: dict[str, list[np.ndarray]] = {}

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
        for unit in self.units:
            trains = not all(m.frozen for m in unit.main)
            self._rows.setdefault(unit.name, activation_stats_missing())
            self._rows[unit.name]["grad_norm"] = _norm(unit.grads) if trains else math.nan
            self._before[unit.name] = [w.copy() for w in unit.weights]

    def after_update(self) -> dict[str, dict[str, float]]:
        """The finished row (layer → stat → value); the recorder is then ready for the next one."""
        rows = self._rows
        for unit in self.units:
            before = self._before[unit.name]
            weight = _norm(before)
            change = math.sqrt(sum(float(np.sum(np.square(w - b, dtype=np.float64))) for w, b in zip(unit.weights, before)))
            rows[unit.name]["weight_norm"] = weight
            rows[unit.name]["update_ratio"] = change / weight if weight > 0 else math.nan
        self._rows, self._before = {}, {}
        return rows


def activation_stats_missing() -> dict[str, float]:
    """The activation figures of a layer not watched (the output layer, or one before a cached frozen prefix)."""
    return dict.fromkeys(("act_mean", "act_std", "dead", "saturated"), math.nan)
