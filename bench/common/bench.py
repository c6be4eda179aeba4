"""What a benchmark script describes: its network in nnctl and in PyTorch; the harness does the rest."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Bench:
    """What a benchmark script supplies; everything else (protocol, runners, verification) is shared.

    The nnctl network comes from ``config`` (its ``model`` and ``train`` sections,
    trained on all 60,000 MNIST training images).  The PyTorch side is described by
    four functions: the architecture, the nnctl-key → parameter map, and the layout
    conversions of a tensor each way (so nnctl's initial θ can be copied in and
    PyTorch's θ and gradients compared with nnctl's).
    """

    name: str                           # JSON label, e.g. "mlp_mnist"
    title: str                          # first words of the table title
    script: Path                        # the script the workers run (with --worker SYSTEM)
    config: str                         # configs/*.yaml whose network and optimizer are benchmarked
    build_torch: Callable               # (torch) -> nn.Module with PyTorch's own initial weights
    torch_params: Callable              # (model) -> {nnctl tensor key: torch Parameter}
    to_torch: Callable                  # (key, nnctl array) -> array in the parameter's layout
    to_nnctl: Callable                  # (key, torch array) -> array in nnctl's layout
    torch_input: Callable               # (nnctl inputs (m, ...)) -> PyTorch inputs (m, ...), as NumPy
    epochs: int = 5                     # default --epochs
    warmup_steps: int = 100             # default --warmup-steps
    verify_steps_float32: int = 10      # steps of the float32 check (float64 always runs VERIFY_STEPS_FLOAT64)
    extra_systems: dict = field(default_factory=dict)   # name -> runner(bench, run, spec, args) -> dict
    add_arguments: Callable | None = None  # (parser) -> names of the extra options workers need
    note: Callable | None = None        # (system, summary) -> table note for extra systems
