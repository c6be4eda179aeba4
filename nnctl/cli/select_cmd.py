"""`nnctl select`: the run that maximizes one metric among those meeting every satisficing bar."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from ..runs.names import CheckpointName
from .common import EXIT_CHECK_FAILED, fail, print_json, real_run, user_errors
from .tables import print_table

if TYPE_CHECKING:
    from ..strategy.selection import Selection


def select_runs(
    runs: list[Path] = typer.Argument(..., metavar="RUN...", help="Run directories to choose from.", callback=real_run),
    optimize: str = typer.Option(..., "--optimize", help="The optimizing metric, e.g. dev_accuracy or dev_weighted_error."),
    satisfy: list[str] = typer.Option([], "--satisfy", help="A satisficing bar, e.g. 'predict_ms<=100' (repeatable)."),
    which: CheckpointName = typer.Option(CheckpointName.best, "--checkpoint", help="Which checkpoint of each run."),
    as_json: bool = typer.Option(False, "--json", help="Print the ranking as one JSON object."),
):
    """Rank runs by --optimize among those meeting every --satisfy bar; exit 1 when none does."""
    from ..strategy.selection import parse_bar, select

    with user_errors():
        bars = [parse_bar(text) for text in satisfy]
        result = select(runs, optimize, bars, which)
    print_json(result.to_dict()) if as_json else _print(result)
    if result.chosen is None:
        raise fail(f"no run meets every bar ({', '.join(str(bar) for bar in result.bars)})", EXIT_CHECK_FAILED)


def _print(result: Selection) -> None:
    from rich.table import Table

    names = result.metrics
    table = Table(title=f"optimizing {result.optimize}" + (f" subject to {', '.join(map(str, result.bars))}" if result.bars else ""))
    table.add_column("rank", justify="right")
    table.add_column("run")
    for name in names:
        table.add_column(name, justify="right")
    table.add_column("")
    for i, candidate in enumerate(result.ranked, 1):
        values = [candidate.metrics.get(name) for name in names]
        verdict = "chosen" if candidate is result.chosen else ("ok" if candidate.qualifies else "; ".join(candidate.failed))
        table.add_row(str(i), candidate.run, *("" if v is None else f"{v:.4g}" for v in values), verdict)
    print_table(table)
