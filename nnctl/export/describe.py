"""A trained network as a format-neutral layer graph: JSON-able dicts plus named arrays.

Both export formats and anyone re-implementing the forward pass need the same
facts (layer kinds in order, their options and parameters, the input
normalization, how outputs become predictions).  Reading them from nnctl's
layers in this one place keeps the formats consistent and makes this the one
place that decides which layers can leave nnctl.  The layer list is the built
network's, so build-time rewrites (a ReLU moved after the max-pool it fed) are
exported as they run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import __version__
from ..data import Normalizer
from ..errors import ExportError
from ..nn.activations import DEFAULT_ALPHA
from ..nn.conv import AvgPool, Conv2D, GlobalAvgPool, MaxPool
from ..nn.layers import Activate, BatchNorm, Dense, Dropout, Flatten, Layer
from ..nn.network import Network
from ..nn.residual import Residual
from ..orchestration.model import LoadedModel

FORMAT, FORMAT_VERSION = "nnctl-model", 1

# How to read each layer type, for a person re-implementing the forward pass from the JSON alone.
CONVENTIONS = {
    "input": "NHWC images (batch, height, width, channels) or (batch, features), float32",
    "normalization": "x = (x - shift) / divisor, broadcast over the batch axis",
    "dense": "y = x @ W.T + b; W is (units, inputs), b is (1, units) or absent",
    "conv2d": "cross-correlation; W is (kernel_h, kernel_w, channels_in, filters), b is (1, 1, 1, filters) or absent; "
              "x is zero-padded by padding[0] rows and padding[1] columns on each side; "
              "out = floor((n + 2 * pad - kernel) / stride) + 1",
    "batchnorm": "y = (x - mean) / sqrt(var + epsilon) * gamma + beta over the last axis (units or channels)",
    "activation": "relu max(x, 0); leaky_relu max(x, alpha * x); elu x if x > 0 else alpha * (exp(x) - 1); "
                  "tanh; sigmoid 1 / (1 + exp(-x)); softmax over the last axis; linear x",
    "maxpool": "maximum over size x size windows moved by stride, per channel, no padding",
    "avgpool": "mean over size x size windows moved by stride, per channel, no padding",
    "global_avgpool": "mean over height and width: (batch, H, W, C) -> (batch, C)",
    "flatten": "(batch, H, W, C) -> (batch, H * W * C) in row-major (H, W, C) order",
    "dropout": "identity at inference",
    "residual": "y = activation(body(x) + shortcut(x)); shortcut is x itself or the given 1x1 conv2d",
    "output": "kind softmax: probabilities = softmax(z), label = argmax; binary: p = sigmoid(z), "
              "probabilities = [1 - p, p], label = p >= 0.5; multitask: probabilities = sigmoid(z), "
              "label = probabilities >= 0.5 per task; regression: outputs = activation(z)",
}

_LAYOUTS = {1: "features", 2: "NHW", 3: "NHWC"}  # batch first, as nnctl holds inputs
_KNOWN_ACTIVATIONS = ("relu", "leaky_relu", "elu", "tanh", "sigmoid", "linear", "softmax")


@dataclass
class ModelDescription:
    graph: dict  # JSON-able; array fields hold keys of ``arrays``
    arrays: dict[str, np.ndarray]

    @property
    def output_kind(self) -> str:
        return self.graph["output"]["kind"]


def activation(name: str, where: str, alpha: float | None = None) -> dict:
    """{"function": name, ...its constants (leaky ReLU's and ELU's alpha)}; an activation nnctl does not
    know how to export is an ExportError."""
    if name not in _KNOWN_ACTIVATIONS:
        raise ExportError(f"{where}: activation '{name}' cannot be exported")
    if name not in DEFAULT_ALPHA:
        return {"function": name}
    return {"function": name, "alpha": DEFAULT_ALPHA[name] if alpha is None else alpha}


def output_kind(task: str, function: str, units: int) -> str:
    """How the output layer's activations become predictions (see CONVENTIONS["output"])."""
    if task == "regression":
        return "regression"
    if function == "softmax":
        return "softmax"
    if function == "sigmoid":  # several units, or a multi-label task even of one unit: a label per task
        return "multitask" if units > 1 or task == "multilabel" else "binary"
    raise ExportError(f"output layer: a classification output must be softmax or sigmoid, not {function}")


class _Reader:
    """Turns nnctl layers into description entries, collecting their arrays under "<layer>/<name>" keys."""

    def __init__(self, net: Network):
        self.dtype = net.dtype
        self.statistics = net.state()  # batch-norm running averages by "<layer>/<name>"
        self.arrays: dict[str, np.ndarray] = {}
        self._kinds = {
            Dense: self._dense, Conv2D: self._conv2d, BatchNorm: self._batchnorm, Activate: self._activation,
            Dropout: self._dropout, MaxPool: self._pool, AvgPool: self._pool, GlobalAvgPool: self._plain,
            Flatten: self._plain, Residual: self._residual,
        }

    def layer(self, layer: Layer) -> dict:
        read = self._kinds.get(type(layer))  # exact type: a subclass may compute something else
        if read is None:
            raise ExportError(f"layer {layer.name}: {type(layer).__name__} layers cannot be exported")
        return {"name": layer.name, **read(layer)}

    def _array(self, layer: Layer, name: str, value) -> str:
        key = f"{layer.name}/{name}"
        self.arrays[key] = np.array(value, dtype=self.dtype)
        return key

    def _params(self, layer: Layer) -> dict:
        bias = self._array(layer, "b", layer.params["b"]) if layer.use_bias else None
        return {"weights": self._array(layer, "W", layer.params["W"]), "bias": bias}

    def _dense(self, layer: Dense) -> dict:
        return {"type": "dense", "units": layer.units, **self._params(layer)}

    def _conv2d(self, layer: Conv2D) -> dict:
        return {"type": "conv2d", "filters": layer.filters, "kernel": list(layer.kernel), "stride": layer.stride,
                "padding": list(layer.padding), **self._params(layer)}

    def _batchnorm(self, layer: BatchNorm) -> dict:
        # Inference uses the running statistics in the network's precision, as BatchNorm.forward does.
        entry = {"type": "batchnorm", "channels": layer.channels, "epsilon": layer.epsilon}
        for name, value in (("gamma", layer.params["gamma"]), ("beta", layer.params["beta"]),
                            ("mean", self.statistics[f"{layer.name}/running_mean"]),
                            ("var", self.statistics[f"{layer.name}/running_var"])):
            entry[name] = self._array(layer, name, value)
        return entry

    def _activation(self, layer: Activate) -> dict:
        return {"type": "activation", **activation(layer.activation.name, f"layer {layer.name}", layer.activation.alpha)}

    def _dropout(self, layer: Dropout) -> dict:
        return {"type": "dropout", "keep_prob": layer.keep_prob}

    def _pool(self, layer: MaxPool | AvgPool) -> dict:
        return {"type": "maxpool" if isinstance(layer, MaxPool) else "avgpool", "size": layer.size, "stride": layer.stride}

    def _plain(self, layer: GlobalAvgPool | Flatten) -> dict:
        return {"type": "global_avgpool" if isinstance(layer, GlobalAvgPool) else "flatten"}

    def _residual(self, layer: Residual) -> dict:
        return {
            "type": "residual",
            "body": [self.layer(inner) for inner in layer.body],
            "shortcut": self.layer(layer.projection) if layer.projection else None,
            "activation": activation(layer.activation.name, f"layer {layer.name}", layer.activation.alpha),
        }


def describe(net: Network, normalizer: Normalizer, task: str, class_names: list[str], provenance: dict) -> ModelDescription:
    """The description of ``net`` behind ``normalizer``; ``provenance`` (run, checkpoint, epoch) goes into the graph."""
    reader = _Reader(net)
    layers = [reader.layer(layer) for layer in net.layers]
    arrays = dict(reader.arrays)
    arrays["normalizer/shift"] = np.array(normalizer.shift, dtype=np.float64)
    arrays["normalizer/divisor"] = np.array(normalizer.divisor, dtype=np.float64)
    units = int(net.output_shape[0])
    out_activation = activation(net.loss.output_activation, "output layer")
    graph = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "nnctl_version": __version__,
        "provenance": provenance,
        "task": task,
        "class_names": list(class_names),
        "precision": net.dtype.name,
        "input": {"shape": list(net.input_shape), "layout": _LAYOUTS[len(net.input_shape)]},
        "normalization": {"method": normalizer.method, "shift": "normalizer/shift", "divisor": "normalizer/divisor"},
        "layers": layers,
        "output": {"units": units, "activation": out_activation,
                   "kind": output_kind(task, out_activation["function"], units)},
        "conventions": CONVENTIONS,
    }
    return ModelDescription(graph, arrays)


def describe_run(model: LoadedModel, which: str) -> ModelDescription:
    """The description of a run's network as loaded from its ``which`` checkpoint."""
    ckpt = model.checkpoint
    provenance = {"run": model.path.parent.name, "checkpoint": which, "file": model.path.name,
                  "epoch": ckpt.epoch, "spec": ckpt.spec_yaml,
                  # what the inputs are (names, order, fill values) and, for standardized targets, y = out · divisor + shift
                  "input_contract": None if model.schema is None else model.schema.to_record()}
    return describe(model.net, model.normalizer, ckpt.task, ckpt.class_names, provenance)
