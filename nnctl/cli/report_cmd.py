"""`nnctl report`: one self-contained HTML page per run (inline SVG, no network, no JavaScript)."""

from __future__ import annotations

from pathlib import Path

import typer

from ..orchestration.gradcheck import GradcheckSettings
from ..orchestration.model import SPLITS
from .common import fail, stdout, user_errors
from .plot_cmd import CHECKPOINT_OPTION, CHECKPOINTS


def report(
    run: Path = typer.Argument(..., metavar="RUN", help="A run directory under runs/."),
    out: Path | None = typer.Option(None, "--out", help="The .html file to write (default RUN/report.html)."),
    split: str | None = typer.Option(None, "--split", help="Split for the confusion matrix and boundary (default dev, else test)."),
    which: str = CHECKPOINT_OPTION,
    gradcheck: bool = typer.Option(False, "--gradcheck", help="Also check the latest parameters' gradients (as `nnctl gradcheck RUN`)."),
):
    """Write the run's report: spec, data and splits, metrics, learning curves, confusion matrix, boundary (2-D)."""
    from ..report.html import write_report  # here, not at the top: `nnctl --help` stays as fast as without it

    if split is not None and split not in SPLITS:
        raise fail(f"--split {split}: expected one of {', '.join(SPLITS)}")
    if which not in CHECKPOINTS:
        raise fail(f"--checkpoint {which}: expected one of {', '.join(CHECKPOINTS)}")
    with user_errors():
        path = write_report(run, out, split, which, GradcheckSettings() if gradcheck else None)
    stdout.print(str(path), markup=False)
