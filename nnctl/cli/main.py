"""The `nnctl` command: Typer app wiring the subcommands together.

Start-up is part of every command's time (CI scripts call nnctl many times), and
`nnctl --help` reads every command's signature. So a command module imports, at
its top, only typer, the standard library, `.common` and the light `choices`/
`names` modules that its options' enums come from; everything else (NumPy,
h5py, the spec schema, orchestration, rich tables) is imported inside the
command function, when it runs. tests/test_startup.py holds every command to this.
"""

from __future__ import annotations

import signal
import sys

import typer

from .. import __version__
from ..errors import Interrupted
from . import (
    cv_cmd,
    data_cmd,
    data_convert_cmd,
    data_sample_cmd,
    diagnose_cmd,
    errors_cmd,
    eval_cmd,
    export_cmd,
    gradcheck_cmd,
    plot_cmd,
    predict_cmd,
    report_cmd,
    runs_cmd,
    select_cmd,
    spec_cmd,
    train_cmd,
    tune_cmd,
)
from .common import OneLineUsageErrors

app = typer.Typer(
    name="nnctl",
    cls=OneLineUsageErrors,
    help="Train neural networks from YAML experiment specs.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help is plain text: `nnctl[plot]` and `[a, b]` print as written, never as markup
    context_settings={"max_content_width": 120},  # wide terminals show whole command summaries
)


def _print_version(value: bool) -> None:
    if value:
        print(f"nnctl {__version__}")
        raise typer.Exit()


@app.callback()
def options(
    version: bool = typer.Option(False, "--version", is_eager=True, callback=_print_version, help="Print the version and exit."),
):
    """Train neural networks from YAML experiment specs."""


app.command()(train_cmd.train)
app.command(name="eval")(eval_cmd.evaluate_run)
app.command()(predict_cmd.predict)
app.command()(gradcheck_cmd.gradcheck)
app.command()(export_cmd.export)
app.command()(tune_cmd.tune)
app.command()(cv_cmd.cv)
app.command()(report_cmd.report)
app.add_typer(plot_cmd.app, name="plot")
app.add_typer(spec_cmd.app, name="spec")
app.add_typer(data_cmd.app, name="data")
app.add_typer(runs_cmd.app, name="runs")
app.command()(diagnose_cmd.diagnose)
app.command(name="errors")(errors_cmd.errors)
app.command(name="select")(select_cmd.select_runs)
data_cmd.app.command(name="convert")(data_convert_cmd.data_convert)
data_cmd.app.command(name="sample")(data_sample_cmd.sample)


def _interrupt(signum, frame) -> None:
    raise Interrupted()


def main() -> None:
    """The console script: Ctrl-C or SIGTERM outside training (which checkpoints first) exits 130, unwinding
    (temporary files are removed, a run that was starting is removed or told how to resume), with what was
    left on stderr."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _interrupt)
    try:
        app(prog_name="nnctl")
    except Interrupted as stopped:
        if stopped.note:
            print(f"nnctl: {stopped.note}", file=sys.stderr)
        raise

