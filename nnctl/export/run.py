"""Export one run: load its checkpoint, describe the network, serialize it, optionally verify it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import ExportError
from ..orchestration.model import load_model, split_data
from .choices import ExportFormat
from .describe import ModelDescription, describe_run
from .npz import npz_bytes
from .onnx_graph import DEFAULT_OPSET, build_onnx, check_opset
from .verify import Verification, verify_onnx


@dataclass
class Exported:
    data: bytes
    description: ModelDescription
    checkpoint: Path
    opset: int | None = None
    verification: Verification | None = None


def export_run(run: Path, fmt: ExportFormat, which: str = "best", opset: int | None = None, verify: int = 0) -> Exported:
    """The bytes of ``run`` in ``fmt``; with ``verify`` > 0 (ONNX only) also the check on that many dev rows."""
    if fmt != ExportFormat.onnx and (opset is not None or verify):
        raise ExportError(f"--{'opset' if opset is not None else 'verify'} applies to --format onnx only")
    if fmt == ExportFormat.onnx:  # before the slow part: a missing extra or a bad opset is a usage error
        opset = DEFAULT_OPSET if opset is None else opset
        check_opset(opset)
    model = load_model(run, which)
    if fmt == ExportFormat.onnx and model.schema is not None and model.schema.target is not None:
        raise ExportError(f"{run}: the run standardizes its targets (data.normalize_target), so an ONNX graph would output "
                          "standardized values; --format npz carries the targets' shift and divisor with the network")
    desc = describe_run(model, which)
    if fmt == ExportFormat.npz:
        return Exported(npz_bytes(desc), desc, model.path)
    data = build_onnx(desc, opset).SerializeToString()
    verification = None
    if verify:
        rows = split_data(model, "dev").x[:verify]
        verification = verify_onnx(data, desc.output_kind, model.net, model.normalizer, rows)
    return Exported(data, desc, model.path, opset, verification)
