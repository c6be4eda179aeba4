"""Which kernel implementation a ``train.kernels`` choice means, known without importing NumPy or numba
(``nnctl --version`` and the spec's schema need it at start-up)."""

from __future__ import annotations

import importlib.util
from importlib import metadata

from ..vocabulary import KERNEL_CHOICES


def compiled_installed() -> bool:
    """Whether numba (the ``fast`` extra) can be imported, found without importing it."""
    return importlib.util.find_spec("numba") is not None


def resolve(choice: str) -> str:
    """numpy or compiled: auto is compiled when the ``fast`` extra is installed."""
    if choice not in KERNEL_CHOICES:
        raise ValueError(f"unknown kernels '{choice}'; expected one of {', '.join(KERNEL_CHOICES)}")
    if choice == "auto":
        return "compiled" if compiled_installed() else "numpy"
    return choice


def describe(choice: str) -> str:
    """One line for ``spec show``: which kernels ``train.kernels: choice`` runs on this machine."""
    if choice == "numpy":
        return "kernels: numpy (train.kernels: numpy)"
    if compiled_installed():
        return f"kernels: compiled, numba {metadata.version('numba')} (train.kernels: {choice})"
    if choice == "auto":
        return "kernels: numpy (train.kernels: auto; pip install 'nnctl[fast]' for the compiled ones)"
    return "kernels: compiled, but numba is not installed: training will stop; pip install 'nnctl[fast]'"
