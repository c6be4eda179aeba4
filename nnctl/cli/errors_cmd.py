"""`nnctl errors`: the notes' error-analysis spreadsheet of a run, and `nnctl errors tally` of its tags."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from ..orchestration.choices import Split
from ..runs.names import CheckpointName
from .common import fail, print_json, real_run, stdout, user_errors
from .tables import print_table

if TYPE_CHECKING:
    from ..strategy.error_analysis import Tally

PAIRS_SHOWN = 15


def errors(
    target: str = typer.Argument(..., metavar="RUN|tally", help="A run directory, or 'tally' followed by a tagged errors CSV.", callback=real_run),
    sheet: Path | None = typer.Argument(None, metavar="[ERRORS.csv]", help="With 'tally': the CSV whose tags to count."),
    split: Split = typer.Option(Split.dev, "--split", help="Which of the run's splits to sample errors from."),
    limit: int = typer.Option(100, "--limit", min=1, help="At most this many misclassified examples (the notes look at ~100)."),
    include_correct: int = typer.Option(0, "--include-correct", min=0, metavar="N", help="Also sample N correctly "
                                        "classified examples (marked correct: yes): when fixing labels, the notes check some the model got right."),
    seed: int = typer.Option(0, "--seed", help="Seed of the random sample."),
    out: Path | None = typer.Option(None, "--out", help="Write the spreadsheet (CSV) here."),
    images: Path | None = typer.Option(None, "--images", help="Write each sampled image input as a PNG into this folder."),
    which: CheckpointName = typer.Option(CheckpointName.best, "--checkpoint", help="Which checkpoint of the run."),
    threshold: float | None = typer.Option(None, "--threshold", help="Class-1 threshold of a sigmoid output (default 0.5)."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as one JSON object."),
):
    """Sample misclassified examples into a spreadsheet to tag; `errors tally FILE` counts the tags."""
    from rich.table import Table

    from ..runs.outputs import output_file, output_folder
    from ..strategy.error_analysis import find_errors, sample, sheet_rows, tally, write_images, write_sheet

    if target == "tally":
        if sheet is None:
            raise fail("nnctl errors tally ERRORS.csv: give the tagged CSV")
        with user_errors():
            result = tally(sheet)
        print_json(result.to_dict()) if as_json else _print_tally(result)
        return
    if sheet is not None:
        raise fail(f"unexpected argument {sheet}: only 'nnctl errors tally' takes a CSV")
    with user_errors():
        if out is not None:
            output_file(out, "--out", (".csv",))
        if images is not None:
            output_folder(images, "--images")
        found = find_errors(Path(target), split, which, threshold)
        picked = sample(found, limit, seed)
        names = write_images(found, picked, images) if images is not None else None
        mixed = include_correct > 0
        rows = sheet_rows(found, picked, names, correct=False if mixed else None)
        if mixed:
            right = find_errors(Path(target), split, which, threshold, correct=True)
            chosen = sample(right, include_correct, seed)
            rows += sheet_rows(right, chosen, write_images(right, chosen, images) if images is not None else None, correct=True)
        if out is not None:
            write_sheet(out, found, rows)
    summary = {"run": target, "split": split, "checkpoint": found.checkpoint, "examples": found.examples,
               "errors": len(found.rows), "error": found.error, "sampled": len(picked),
               "correct_sampled": len(rows) - len(picked),
               "out": None if out is None else str(out), "images": None if images is None else str(images)}
    if as_json:
        print_json(summary | {"rows": rows})
        return
    plus = f", and {len(rows) - len(picked)} classified correctly" if mixed else ""
    table = Table(title=f"{target}: {len(picked)} of {len(found.rows)} misclassified {split} examples "
                        f"({100 * found.error:.2f} % of {found.examples}){plus}")
    for column in ("row", "true", "predicted", "p(predicted)", "margin"):
        table.add_column(column, justify="right" if column in ("row", "p(predicted)", "margin") else "left")
    for row in rows:
        table.add_row(str(row["row"]), row["true"], row["predicted"], f"{row['p_' + row['predicted']]:.3f}", f"{row['margin']:.3f}")
    print_table(table)
    if out is not None:
        stdout.print(f"wrote {out}: tag each row (comma-separated tags), then run nnctl errors tally {out}", markup=False)


def _print_tally(result: Tally) -> None:
    from rich.table import Table

    e = result.error
    table = Table(title=f"{result.run} {result.split}: error {100 * e:.2f} % ({result.errors} of {result.examples}), "
                        f"{result.sampled} errors tagged")
    for column in ("category", "count", "share of errors", "error removed at most", "error at best"):
        table.add_column(column, justify="left" if column == "category" else "right")
    for c in result.categories:
        table.add_row(c.tag, str(c.count), f"{100 * c.share:.1f} %", f"{100 * c.ceiling:.2f} %", f"{100 * c.error_after:.2f} %")
    if result.untagged:
        table.add_row("(untagged)", str(result.untagged), f"{100 * result.untagged / result.sampled:.1f} %", "", "")
    print_table(table)
    pairs = Table(title=f"confusion pairs among all {result.errors} {result.split} errors")
    for column in ("true", "predicted", "count", "share"):
        pairs.add_column(column, justify="right" if column in ("count", "share") else "left")
    for pair in result.confusion_pairs[:PAIRS_SHOWN]:
        pairs.add_row(pair["true"], pair["predicted"], str(pair["count"]), f"{100 * pair['share']:.1f} %")
    print_table(pairs)
