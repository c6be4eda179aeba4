"""The warnings the notes insist on, each given at most once per run (docs/explanation/training-health.md).

    symmetry        a hidden layer whose units all start identical (zeros, a constant, one fixed kernel
                    in every filter): they get identical gradients and stay identical
    linear_hidden   a hidden layer with activation linear and no max-pool before the next layer with
                    weights: the two compose into one linear map
    gradient_depth  at a health record, a layer's ‖dW‖ is 10^gradient_orders times smaller (vanishing)
                    or larger (exploding) than the output layer's
    cost_rising     full-batch gradient descent without dropout or augmentation, and the cost J rose on
                    each of the last rising_epochs epochs
    plateau         the smoothed cost (the mean of each epoch's mini-batch costs) changed by less than
                    plateau_change (relative) on each of the last plateau_epochs epochs
    no_test_split   the run has no test split: dev picks best.h5 (and stops early), so dev figures are optimistic

Each check returns the warnings whose condition holds; the trainer records and prints them.
Nothing here changes training.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..nn.conv import Conv2D
from ..nn.layers import Dense
from ..nn.network import Network
from ..spec.schema import Conv2dLayerSpec, DenseLayerSpec, PoolLayerSpec, ResidualLayerSpec, Spec
from .build import weighted_layer_keys


@dataclass(frozen=True)
class TrainingWarning:
    kind: str
    key: str  # the spec key to change
    message: str


def symmetric_layers(spec: Spec, net: Network) -> list[TrainingWarning]:
    """Hidden dense/conv layers that train and whose units (rows of W, filters) and biases are all equal."""
    keys = weighted_layer_keys(spec)
    hidden = list(keys)[:-1]
    found = []
    for layer in net.all_layers():
        if not isinstance(layer, (Dense, Conv2D)) or layer.name not in hidden or layer.frozen:
            continue
        w = layer.params["W"]
        units = w.reshape(-1, w.shape[-1]).T if isinstance(layer, Conv2D) else w.reshape(w.shape[0], -1)
        b = layer.params.get("b")
        if len(units) < 2 or np.any(units != units[:1]) or (b is not None and np.any(b != b.flat[0])):
            continue
        what = "filters" if isinstance(layer, Conv2D) else "units"
        found.append(TrainingWarning(
            "symmetry", f"{keys[layer.name]}.init",
            f"{keys[layer.name]} ({layer.name}): all {len(units)} {what} start with the same weights, so they compute "
            f"the same function and get the same gradient at every step: they stay identical (symmetry). "
            f"Initialize with random values: init: he (ReLU family) or xavier (tanh, sigmoid)"))
    return found


def linear_hidden_layers(spec: Spec) -> list[TrainingWarning]:
    """Hidden dense/conv layers with activation linear that feed the next weighted layer without a max-pool."""
    layers = spec.model.layers
    found = []
    for i, layer in enumerate(layers[:-1]):
        if not isinstance(layer, (DenseLayerSpec, Conv2dLayerSpec)) or layer.activation != "linear":
            continue
        between = []
        for nxt in layers[i + 1:]:
            if isinstance(nxt, (DenseLayerSpec, Conv2dLayerSpec, ResidualLayerSpec)):
                break
            between.append(nxt)
        if any(isinstance(p, PoolLayerSpec) and p.type == "maxpool" for p in between):
            continue
        found.append(TrainingWarning(
            "linear_hidden", f"model.layers[{i}].activation",
            f"model.layers[{i}] is a hidden layer with activation linear: it and the next layer compute one "
            f"linear map, so the layer adds no capacity. Use relu (or tanh, leaky_relu) in hidden layers"))
    return found


def missing_test(splits: list[str]) -> list[TrainingWarning]:
    """A note when no test split exists among ``splits`` (the run's non-empty splits)."""
    if "test" in splits:
        return []
    return [TrainingWarning(
        "no_test_split", "data.split.test",
        "this run has no test split: dev chooses best.h5 (and early stopping), so error figures measured on dev "
        "are optimistic estimates of the error on new data; hold out a test split (data.split.test) for an unbiased one")]


def gradient_depth(rows: dict[str, dict[str, float]], orders: float, keys: dict[str, str]) -> list[TrainingWarning]:
    """The layer nearest the output whose ‖dW‖ differs from the output layer's by ≥ 10^orders."""
    norms = [(name, row["grad_norm"]) for name, row in rows.items() if math.isfinite(row["grad_norm"])]
    if len(norms) < 2 or norms[-1][1] <= 0:
        return []
    out_name, out_norm = norms[-1]
    for name, norm in reversed(norms[:-1]):
        ratio = norm / out_norm
        if ratio == 0 or abs(math.log10(ratio)) >= orders:
            vanishing = ratio < 1
            remedy = ("He/Xavier initialization, batch normalization, ReLU instead of sigmoid/tanh in hidden layers"
                      if vanishing else "He/Xavier initialization, batch normalization, a smaller learning rate, "
                                        "gradient clipping (train.clip)")
            return [TrainingWarning(
                "gradient_depth", f"{keys.get(name, 'model.layers')}",
                f"{'vanishing' if vanishing else 'exploding'} gradients: ‖dW‖ of {name} is {norm:.3g}, "
                f"{ratio:.3g} times the output layer {out_name}'s ({out_norm:.3g}); "
                f"{'layers nearer the input barely learn' if vanishing else 'updates nearer the input are huge'}. "
                f"Remedies: {remedy}")]
    return []


def full_batch_rise(costs: list[float], epochs: int) -> bool:
    """Whether the last ``epochs`` costs each rose over the one before (needs epochs + 1 costs)."""
    last = costs[-(epochs + 1):]
    return len(last) == epochs + 1 and all(b > a for a, b in zip(last, last[1:]))


def flat(smoothed: list[float], epochs: int, change: float) -> bool:
    """Whether each of the last ``epochs`` smoothed costs moved less than ``change`` relative to the one before."""
    last = smoothed[-(epochs + 1):]
    return len(last) == epochs + 1 and all(abs(b - a) < change * abs(a) for a, b in zip(last, last[1:]))


def rising_applies(spec: Spec, batch_size: int, m: int) -> bool:
    """The notes' monotone-decrease rule holds for full-batch GD with no dropout and no augmentation."""
    def dropout(layer) -> bool:
        inner = layer.layers if isinstance(layer, ResidualLayerSpec) else [layer]
        return any(getattr(each, "keep_prob", 1.0) < 1 for each in inner)

    return (batch_size == m and spec.model.input_keep_prob == 1 and not spec.train.augment
            and not any(dropout(layer) for layer in spec.model.layers))


def cost_warnings(spec: Spec, step_costs: list[float], n_batches: int, rising: bool) -> list[TrainingWarning]:
    """cost_rising and plateau, from the per-step costs so far (an epoch is its last ``n_batches`` of them)."""
    watch, found = spec.watch, []
    if rising and full_batch_rise(step_costs, watch.rising_epochs):
        found.append(TrainingWarning(
            "cost_rising", "train.learning_rate",
            f"the full-batch cost rose on each of the last {watch.rising_epochs} epochs "
            f"({', '.join(f'{c:.6g}' for c in step_costs[-(watch.rising_epochs + 1):])}); with batch gradient "
            f"descent and no dropout it should fall every step: the learning rate is likely too large"))
    epochs = len(step_costs) // n_batches
    smoothed = [float(np.mean(step_costs[e * n_batches:(e + 1) * n_batches]))
                for e in range(max(epochs - watch.plateau_epochs - 1, 0), epochs)]
    if flat(smoothed, watch.plateau_epochs, watch.plateau_change):
        found.append(TrainingWarning(
            "plateau", "train.learning_rate",
            f"the smoothed cost (mean of each epoch's mini-batch costs) changed by less than "
            f"{watch.plateau_change:.3g} (relative) on each of the last {watch.plateau_epochs} epochs, now "
            f"{smoothed[-1]:.6g}: a plateau, or convergence. If the training error is still high, try momentum "
            f"or Adam, a larger learning rate, or batch normalization"))
    return found
