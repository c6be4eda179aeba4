"""The optional `onnx` extra, imported only when an ONNX export asks for it (keeps `nnctl --help` fast)."""

from __future__ import annotations

from ..errors import require_extra

INSTALL_HINT = "pip install 'nnctl[onnx]'"


def require(module: str):
    """Import ``module`` (onnx, onnxruntime) or say in one line how to install it."""
    return require_extra(module, f"ONNX export needs the {module} package, which is not installed: {INSTALL_HINT}")
