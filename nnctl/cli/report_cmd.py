"""`nnctl report`: one self-contained HTML page per run, or per search when given a tune directory
(inline SVG, no network, no JavaScript)."""

from __future__ import annotations

from pathlib import Path

import typer

from ..literal import visible
from ..orchestration.choices import Split
from ..runs.names import CheckpointName
from .common import fail, real_run, stdout, user_errors
from .views import CHECKPOINT_OPTION, diagnosis_of, load_tune_view


def report(
    run: Path = typer.Argument(..., metavar="RUN", help="A run directory, or a tune directory made by `nnctl tune`.", callback=real_run),
    out: Path | None = typer.Option(None, "--out", help="The .html file to write (default RUN/report.html)."),
    split: Split | None = typer.Option(None, "--split", help="Split for the confusion matrix and boundary (default dev, else test)."),
    which: CheckpointName = CHECKPOINT_OPTION,
    gradcheck: bool = typer.Option(False, "--gradcheck", help="Also check the latest parameters' gradients (as `nnctl gradcheck RUN`)."),
):
    """Write the run's report: spec, data and splits, metrics, diagnosis, learning curves, confusion matrix, boundary (2-D).

    Given a tune directory, write the search's report instead: summary, ranked trials, the metric against each
    hyperparameter, best-so-far and parallel coordinates.
    """
    from ..orchestration.gradcheck import GradcheckSettings
    from ..report.html import write_report  # here, not at the top: `nnctl --help` stays as fast as without it
    from ..search.record import TUNE_FILE

    if (run / TUNE_FILE).is_file():
        return _tune_report(run, out, split, gradcheck)
    from ..loggers.mlflow import upload_artifact

    with user_errors():
        path = write_report(run, out, split, which, GradcheckSettings() if gradcheck else None, diagnosis_of(run, which))
    stdout.print(visible(str(path)), markup=False)  # the path on one line, whatever it holds
    with user_errors():
        upload_artifact(run, path)  # a run mirrored to MLflow gets its report there too


def _tune_report(tune_dir: Path, out: Path | None, split: Split | None, gradcheck: bool) -> None:
    from ..report.figures import check_output
    from ..report.page import HTML_FORMATS
    from ..report.tune_page import write_tune_report

    if split is not None or gradcheck:
        raise fail(f"{tune_dir} is a tune directory: --split and --gradcheck are for a run "
                   f"(report one trial with `nnctl report {tune_dir / 'trial-0000'}`)")
    with user_errors():
        if out is not None:
            check_output(out, "--out", HTML_FORMATS)
        path = write_tune_report(load_tune_view(tune_dir), tune_dir, out)
    stdout.print(visible(str(path)), markup=False)  # the path on one line, whatever it holds
