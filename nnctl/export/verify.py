"""Check an exported ONNX model against nnctl's own predictions on the same raw inputs.

A model that leaves the toolkit must compute what nnctl computes: onnxruntime
runs the serialized model on raw rows, nnctl normalizes the same rows and runs
its network, and every probability (regression: every output) must agree
within the tolerance and every label must be the same.  A label may only
differ where nnctl's own decision is within the tolerance of a tie (two top
probabilities, or a sigmoid at 0.5): float32 rounding can tip those either way.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ..data import Normalizer
from ..errors import ExportError
from ..nn.network import Network
from .extra import require

TOLERANCE = 1e-5


@dataclass
class Verification:
    examples: int
    max_difference: float  # over probabilities (regression: outputs, relative to max(1, |y|))
    label_mismatches: int  # outside ties
    ties: int  # examples whose nnctl decision is within the tolerance of a tie
    tolerance: float

    @property
    def passed(self) -> bool:
        return self.max_difference <= self.tolerance and self.label_mismatches == 0

    def as_dict(self) -> dict:
        return {**asdict(self), "passed": self.passed}


def expected_outputs(kind: str, outputs: np.ndarray) -> dict[str, np.ndarray]:
    """nnctl's output activations A[L] as the exported graph's outputs (see describe.CONVENTIONS)."""
    if kind == "regression":
        return {"outputs": outputs}
    if kind == "softmax":
        return {"probabilities": outputs, "label": outputs.argmax(axis=1)}
    labels = (outputs >= 0.5).astype(np.int64)
    if kind == "multitask":
        return {"probabilities": outputs, "label": labels}
    return {"probabilities": np.hstack([1 - outputs, outputs]), "label": labels[:, 0]}


def _near_tie(kind: str, outputs: np.ndarray, tol: float) -> np.ndarray:
    """Per example (per task for multi-task): is nnctl's decision within ``tol`` of flipping?"""
    if kind == "softmax":
        top2 = np.sort(outputs, axis=1)[:, -2:]
        return top2[:, 1] - top2[:, 0] <= 2 * tol
    near = np.abs(outputs - 0.5) <= tol
    return near if kind == "multitask" else near[:, 0]


def run_onnx(model_bytes: bytes, x: np.ndarray) -> dict[str, np.ndarray]:
    """Every output of the serialized model for raw inputs ``x``, by name, on onnxruntime's CPU provider."""
    ort = require("onnxruntime")
    from onnxruntime.capi.onnxruntime_pybind11_state import Fail, InvalidArgument, InvalidGraph
    from onnxruntime.capi.onnxruntime_pybind11_state import NotImplemented as OrtNotImplemented

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # a small check; leave the machine's cores to others
    try:
        session = ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
    except (Fail, InvalidArgument, InvalidGraph, OrtNotImplemented) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ExportError(f"onnxruntime {ort.__version__} cannot load the exported model: {first}") from None
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, {"input": np.ascontiguousarray(x, dtype=np.float32)})))


def verify_onnx(model_bytes: bytes, kind: str, net: Network, normalizer: Normalizer, x: np.ndarray,
                tol: float = TOLERANCE) -> Verification:
    """Compare onnxruntime on raw rows ``x`` with nnctl's predict (normalize, then the network)."""
    outputs = net.predict(normalizer.apply(x, dtype=net.dtype)).astype(np.float64)
    expected = expected_outputs(kind, outputs)
    got = run_onnx(model_bytes, x)
    if kind == "regression":
        diff = np.abs(got["outputs"] - expected["outputs"]) / np.maximum(1.0, np.abs(expected["outputs"]))
        return Verification(len(x), float(diff.max(initial=0.0)), 0, 0, tol)
    diff = float(np.abs(got["probabilities"] - expected["probabilities"]).max(initial=0.0))
    ties = _near_tie(kind, outputs, tol)
    mismatched = (got["label"] != expected["label"]) & ~ties
    per_example = (lambda a: a.any(axis=1)) if kind == "multitask" else (lambda a: a)
    return Verification(len(x), diff, int(per_example(mismatched).sum()), int(per_example(ties).sum()), tol)
