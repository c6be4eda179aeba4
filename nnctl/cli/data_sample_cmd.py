"""`nnctl data sample`: a few example rows of a data set as CSV, ready for `predict` (or `eval --data`)."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from .common import stderr, user_errors


def sample(
    source: str = typer.Argument(..., metavar="SOURCE", help="A data set name (digits, mnist, moons, ...) or a data file."),
    rows: int = typer.Option(5, "--rows", min=1, help="How many examples."),
    out: Path | None = typer.Option(None, "--out", help="Write this CSV file instead of printing to stdout."),
    with_labels: bool = typer.Option(False, "--with-labels", help="Append each example's label as the last column (for eval --data)."),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of the row choice."),
):
    """Write example rows as CSV: inputs flattened, one example a line, drawn from the test set when there is one."""
    from ..data.sample import sample_csv
    from ..orchestration.datasets import default_datasets_dir
    from ..runs.atomic import atomic_write_text
    from ..runs.outputs import output_file

    with user_errors():
        if out is not None:
            output_file(out, "--out", (".csv",))
        text = sample_csv(source, default_datasets_dir(), rows, seed, with_labels)
        if out is None:
            sys.stdout.write(text)
            return
        atomic_write_text(out, text)
    stderr.print(f"wrote {rows} rows to {out}", markup=False, highlight=False)
