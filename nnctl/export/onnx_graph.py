"""A model description as an ONNX graph, built with onnx.helper (nothing hand-serialized).

The graph takes nnctl's raw inputs (`input`, float32, NHWC images or feature
rows), normalizes them inside the graph, and ends in `probabilities` and
`label` (regression: `outputs`).  ONNX's Conv and pooling operators want NCHW,
so an image is transposed to NCHW before the first of them and stays NCHW
through convolutions, batch norm, activations and residual blocks; a flatten
transposes back first, so the dense layer after it sees nnctl's (H, W, C) order
and takes its weights unchanged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from .. import __version__
from ..errors import ExportError
from .describe import ModelDescription
from .extra import require

MIN_OPSET = 13  # Squeeze/ReduceMean-era changes settle here; GreaterOrEqual needs 12
DEFAULT_OPSET = 17  # run by every onnxruntime from 1.13 on
TO_NCHW, TO_NHWC = [0, 3, 1, 2], [0, 2, 3, 1]
_SIMPLE_ACTIVATIONS = {"relu": "Relu", "tanh": "Tanh", "sigmoid": "Sigmoid"}
_ALPHA_ACTIVATIONS = {"leaky_relu": "LeakyRelu", "elu": "Elu"}


def max_opset() -> int:
    """The newest opset the installed onnx package knows."""
    return require("onnx").defs.onnx_opset_version()


def check_opset(opset: int) -> None:
    if not MIN_OPSET <= opset <= max_opset():
        raise ExportError(f"--opset {opset}: supported opsets are {MIN_OPSET} to {max_opset()}")


@dataclass(frozen=True)
class _Tensor:
    name: str
    image: bool  # rank 4 (an image map) rather than (batch, features)
    nchw: bool = False  # transposed for ONNX's convolution operators


class _GraphBuilder:
    def __init__(self, desc: ModelDescription):
        self.onnx = require("onnx")
        self.helper = self.onnx.helper
        self.arrays = desc.arrays
        self.nodes: list = []
        self.initializers: list = []

    # ------------------------------------------------------------ primitives

    def const(self, name: str, value, dtype=np.float32) -> str:
        self.initializers.append(self.onnx.numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def param(self, key: str, transform=lambda a: a) -> str:
        """An initializer holding description array ``key`` (float32), named by it."""
        return self.const(key, transform(self.arrays[key]))

    def op(self, op_type: str, inputs: list[str], output: str, **attrs) -> str:
        self.nodes.append(self.helper.make_node(op_type, inputs, [output], name=output, **attrs))
        return output

    def nchw(self, t: _Tensor) -> _Tensor:
        if not t.image or t.nchw:
            return t
        return _Tensor(self.op("Transpose", [t.name], f"{t.name}.nchw", perm=TO_NCHW), True, True)

    def nhwc(self, t: _Tensor) -> _Tensor:
        if not t.nchw:
            return t
        return _Tensor(self.op("Transpose", [t.name], f"{t.name}.nhwc", perm=TO_NHWC), True, False)

    def activate(self, fn: dict, t: _Tensor, output: str) -> _Tensor:
        name = fn["function"]
        if name == "linear":
            return t
        if name in _SIMPLE_ACTIVATIONS:
            return _Tensor(self.op(_SIMPLE_ACTIVATIONS[name], [t.name], output), t.image, t.nchw)
        if name in _ALPHA_ACTIVATIONS:
            return _Tensor(self.op(_ALPHA_ACTIVATIONS[name], [t.name], output, alpha=float(fn["alpha"])), t.image, t.nchw)
        raise ExportError(f"{output}: activation '{name}' has no ONNX form here")

    # ------------------------------------------------------------ the graph

    def normalized_input(self, method: dict, shape: list[int]) -> _Tensor:
        t = "input"
        shift, divisor = self.arrays[method["shift"]], self.arrays[method["divisor"]]
        if np.any(shift != 0):
            t = self.op("Sub", [t, self.const("normalizer/shift", shift)], "input.shifted")
        if np.any(divisor != 1):
            t = self.op("Div", [t, self.const("normalizer/divisor", divisor)], "input.normalized")
        return _Tensor(t, image=len(shape) == 3)

    def layers(self, entries: list[dict], t: _Tensor) -> _Tensor:
        for entry in entries:
            t = getattr(self, f"_{entry['type']}")(entry, t)
        return t

    def _dense(self, e, t):
        inputs = [t.name, self.param(e["weights"])]
        if e["bias"]:
            inputs.append(self.param(e["bias"], np.ravel))
        return _Tensor(self.op("Gemm", inputs, e["name"], transB=1), False)

    def _conv2d(self, e, t):
        t = self.nchw(t)
        inputs = [t.name, self.param(e["weights"], lambda w: w.transpose(3, 2, 0, 1))]  # (fH, fW, C', C) -> (C, C', fH, fW)
        if e["bias"]:
            inputs.append(self.param(e["bias"], np.ravel))
        (ph, pw), s = e["padding"], e["stride"]
        return _Tensor(self.op("Conv", inputs, e["name"], kernel_shape=e["kernel"], strides=[s, s], pads=[ph, pw, ph, pw]),
                       True, True)

    def _batchnorm(self, e, t):
        t = self.nchw(t)  # channels on axis 1 either way: (N, units) or NCHW
        inputs = [t.name] + [self.param(e[k], np.ravel) for k in ("gamma", "beta", "mean", "var")]
        return _Tensor(self.op("BatchNormalization", inputs, e["name"], epsilon=float(e["epsilon"])), t.image, t.nchw)

    def _activation(self, e, t):
        return self.activate(e, t, e["name"])

    def _dropout(self, e, t):
        return t

    def _pool(self, op, e, t):
        t = self.nchw(t)  # no padding and floor rounding (ceil_mode 0), as nnctl's pools
        return _Tensor(self.op(op, [t.name], e["name"], kernel_shape=[e["size"]] * 2, strides=[e["stride"]] * 2), True, True)

    def _maxpool(self, e, t):
        return self._pool("MaxPool", e, t)

    def _avgpool(self, e, t):
        return self._pool("AveragePool", e, t)

    def _global_avgpool(self, e, t):
        pooled = self.op("GlobalAveragePool", [self.nchw(t).name], f"{e['name']}.map")
        return _Tensor(self.op("Flatten", [pooled], e["name"], axis=1), False)

    def _flatten(self, e, t):
        return _Tensor(self.op("Flatten", [self.nhwc(t).name], e["name"], axis=1), False)

    def _residual(self, e, t):
        t = self.nchw(t)
        body = self.layers(e["body"], t)
        shortcut = self._conv2d(e["shortcut"], t) if e["shortcut"] else t
        total = self.op("Add", [body.name, shortcut.name], f"{e['name']}.sum")
        return self.activate(e["activation"], _Tensor(total, body.image, body.nchw), e["name"])

    def outputs(self, kind: str, fn: dict, z: _Tensor, units: int) -> list:
        """The graph's outputs after the logits ``z``, as (name, element type, shape) value infos."""
        tensor, batch = self.onnx.TensorProto, "batch"
        info = self.helper.make_tensor_value_info
        if kind == "regression":
            out = self.activate(fn, z, "outputs.activation").name
            self.op("Identity", [out], "outputs")
            return [info("outputs", tensor.FLOAT, [batch, units])]
        if kind == "softmax":
            self.op("Softmax", [z.name], "probabilities", axis=1)
            self.op("ArgMax", ["probabilities"], "label", axis=1, keepdims=0)
            return [info("probabilities", tensor.FLOAT, [batch, units]), info("label", tensor.INT64, [batch])]
        p = self.op("Sigmoid", [z.name], "probabilities" if kind == "multitask" else "p")
        positive = self.op("GreaterOrEqual", [p, self.const("threshold", 0.5)], "positive")
        if kind == "multitask":
            self.op("Cast", [positive], "label", to=tensor.INT64)
            return [info("probabilities", tensor.FLOAT, [batch, units]), info("label", tensor.INT64, [batch, units])]
        q = self.op("Sub", [self.const("one", 1.0), p], "q")
        self.op("Concat", [q, p], "probabilities", axis=1)
        column = self.op("Cast", [positive], "label.column", to=tensor.INT64)
        self.op("Reshape", [column, self.const("batch_shape", [-1], np.int64)], "label")
        return [info("probabilities", tensor.FLOAT, [batch, 2]), info("label", tensor.INT64, [batch])]


def metadata(desc: ModelDescription) -> dict[str, str]:
    """The model's metadata_props: what a consumer needs to read its outputs, and where it came from."""
    g = desc.graph
    prov = g["provenance"]
    return {
        "nnctl_version": __version__,
        "task": g["task"],
        "output_kind": g["output"]["kind"],
        "class_names": json.dumps(g["class_names"]),
        "input_shape": json.dumps(g["input"]["shape"]),
        "input_layout": g["input"]["layout"],
        "normalization": g["normalization"]["method"],
        "run": str(prov.get("run", "")),
        "checkpoint": str(prov.get("checkpoint", "")),
        "epoch": str(prov.get("epoch", "")),
        "spec": str(prov.get("spec", "")),
        "input_contract": json.dumps(prov.get("input_contract")),  # input names and order, as the run read its file
    }


def build_onnx(desc: ModelDescription, opset: int = DEFAULT_OPSET):
    """The checked onnx.ModelProto of ``desc`` for ``opset``."""
    check_opset(opset)
    b = _GraphBuilder(desc)
    onnx, helper, g = b.onnx, b.helper, desc.graph
    z = b.layers(g["layers"], b.normalized_input(g["normalization"], g["input"]["shape"]))
    outputs = b.outputs(g["output"]["kind"], g["output"]["activation"], z, g["output"]["units"])
    inputs = [helper.make_tensor_value_info("input", onnx.TensorProto.FLOAT, ["batch", *g["input"]["shape"]])]
    graph = helper.make_graph(b.nodes, "nnctl", inputs, outputs, b.initializers,
                              doc_string=f"nnctl {__version__} run {g['provenance'].get('run', '')}")
    opsets = [helper.make_opsetid("", opset)]
    model = helper.make_model(graph, opset_imports=opsets, producer_name="nnctl", producer_version=__version__,
                              doc_string="exported by nnctl; metadata_props say how to read the outputs")
    model.ir_version = helper.find_min_ir_version_for(opsets)  # loadable by the oldest runtime that knows the opset
    helper.set_model_props(model, metadata(desc))
    onnx.checker.check_model(model, full_check=True)
    return model
