"""The export formats (``--format``), importable without NumPy so that `nnctl --help` stays fast."""

from __future__ import annotations

from enum import StrEnum


class ExportFormat(StrEnum):
    onnx = "onnx"
    npz = "npz"  # plain arrays plus the JSON layer graph
