"""`nnctl plot`: learning curves (the default), decision boundaries, confusion matrices, misclassified images, filters,
per-layer training health, and the pictures of a search (`nnctl plot tune TUNE_DIR`).

`nnctl plot RUN...` is `nnctl plot curves RUN...`. Each kind writes one PNG or SVG
(default RUN/plots/<kind>.png) and prints its path; `--terminal` draws the
curves as text instead, without matplotlib. The commands import `nnctl.report`
when they run, so `nnctl --help` does not pay for it.
"""

from __future__ import annotations

from pathlib import Path

import typer
from typer.core import TyperGroup

from ..errors import RunError
from ..literal import visible
from ..orchestration.choices import Split
from ..report.choices import Normalize, Per
from ..runs.names import CheckpointName
from .common import fail, real_run, stdout, user_errors
from .tables import available_width
from .views import CHECKPOINT_OPTION, load_tune_view

SPLIT_OPTION = typer.Option(Split.dev, "--split", help="Which of the run's splits.")


def out_option(default: str):
    """The --out option of a plot whose file is by default ``default``."""
    return typer.Option(None, "--out", help=f"A .png or .svg file (default {default}).")


class CurvesByDefault(TyperGroup):
    """A group whose first argument, when it names no subcommand, starts the `curves` command."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["curves", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(
    cls=CurvesByDefault,
    no_args_is_help=True,
    help="Pictures of runs: `nnctl plot RUN...` draws learning curves (options: `nnctl plot curves --help`); "
    "the other commands draw the other kinds.",
)


def app_commands() -> list[str]:
    """The names of the plot kinds (the subcommands)."""
    return [info.name or info.callback.__name__ for info in app.registered_commands]


def _output(out: Path | None, run: Path, default_name: str) -> Path:
    """The file to write: ``out`` if given (checked), else RUN/plots/<default_name>. Checks matplotlib too."""
    from ..report.figures import check_output, require_matplotlib

    if out is None:
        out = Path(run) / "plots" / default_name
    else:
        check_output(out)
    require_matplotlib()
    return out


def _write(fig, out: Path) -> None:
    """Save ``fig`` (inside `user_errors`: an unwritable folder is one line) and print where."""
    from ..report.figures import save
    from ..runs.atomic import describe

    try:
        out.parent.mkdir(exist_ok=True)  # only RUN/plots/ can be missing here: a given --out was checked
    except OSError as err:
        raise RunError(f"{out.parent}: cannot create the folder ({describe(err)})") from None
    save(fig, out)
    stdout.print(visible(str(out)), markup=False)  # the path on one line, whatever it holds


def _split_figure(run: Path, which: str, split: str, out: Path | None, kind: str, what: str, draw) -> None:
    """Load the run's model and its predictions on ``split``, then write ``draw(model, predictions)``."""
    from ..orchestration.model import load_model
    from ..report.predictions import predict_split

    with user_errors():
        target = _output(out, run, f"{kind}-{split}.png")
        model = load_model(run, which)
        _write(draw(model, predict_split(model, split, what)), target)


@app.command()
def curves(
    runs: list[Path] = typer.Argument(..., metavar="RUN...", help="One or more run directories (overlaid).", callback=real_run),
    metrics: list[str] = typer.Option([], "--metric", help="A per-epoch metric to draw (repeatable; default train_cost, "
                                      "dev_cost and the monitored metric with its train counterpart)."),
    per: Per = typer.Option(Per.epoch, "--per", help="x axis: epoch, or step (adds the mini-batch cost and its average)."),
    smooth: float = typer.Option(0.9, "--smooth", help="β of the bias-corrected average of the mini-batch cost (0: none)."),
    log_y: bool = typer.Option(False, "--log-y", help="Logarithmic y axes for the metrics."),
    out: Path | None = out_option("RUN/plots/curves.png; with --per step, curves-step.png"),
    terminal: bool = typer.Option(False, "--terminal", help="Draw text-mode curves on stdout instead (no matplotlib needed)."),
):
    """Learning curves: metrics per epoch or step, the learning-rate schedule, best-epoch and early-stop markers."""
    from ..did_you_mean import suggestion
    from ..report.curves import CurveOptions, curves_figure
    from ..report.history import load_history
    from ..report.terminal import CHART_MARGIN, MIN_CHART, WIDTH, terminal_curves

    if not 0.0 <= smooth < 1.0:
        raise fail(f"--smooth {smooth}: expected a β in [0, 1), e.g. 0.9 (about the last 10 steps)")
    if terminal and out is not None:
        raise fail("--terminal draws on stdout; drop --out (or --terminal)")
    first = runs[0]
    kind = None if first.exists() else suggestion(str(first), [name for name in app_commands() if name != "curves"])
    if kind:
        raise fail(f"{first}: no such run directory; did you mean `nnctl plot {kind}`?")
    options = CurveOptions(tuple(metrics), per, smooth, log_y)
    with user_errors():
        target = None if terminal else _output(out, runs[0], "curves.png" if per == Per.epoch else "curves-step.png")
        histories = [load_history(run) for run in runs]
        if terminal:
            columns = available_width(stdout)  # a narrow terminal gets a narrower chart, never a wrapped one
            chart = WIDTH if columns is None else max(MIN_CHART, min(WIDTH, columns - CHART_MARGIN))
            stdout.print(terminal_curves(histories, options, width=chart), markup=False, highlight=False)
            return
        _write(curves_figure(histories, options), target)


@app.command()
def boundary(
    run: Path = typer.Argument(..., metavar="RUN", help="A run trained on 2-D inputs.", callback=real_run),
    split: Split = typer.Option(Split.train, "--split", help="The examples drawn over the regions."),
    resolution: int = typer.Option(200, "--resolution", min=10, max=2000, help="Grid points per axis."),
    which: CheckpointName = CHECKPOINT_OPTION,
    out: Path | None = out_option("RUN/plots/boundary-SPLIT.png"),
):
    """Decision regions of a 2-D classifier, in the original (un-normalized) input coordinates."""
    from ..report.boundary import boundary_figure

    _split_figure(run, which, split, out, "boundary", "a decision boundary",
                  lambda model, predictions: boundary_figure(model, predictions, resolution))


@app.command()
def confusion(
    run: Path = typer.Argument(..., metavar="RUN", help="A classifier's run directory.", callback=real_run),
    split: Split = SPLIT_OPTION,
    normalize: Normalize = typer.Option(Normalize.none, "--normalize", help="none (counts), true (rows sum to 1) or pred (columns sum to 1)."),
    which: CheckpointName = CHECKPOINT_OPTION,
    out: Path | None = out_option("RUN/plots/confusion-SPLIT.png"),
):
    """Confusion matrix with class names: rows true, columns predicted."""
    from ..report.confusion import confusion_figure

    _split_figure(run, which, split, out, "confusion", "a confusion matrix",
                  lambda model, predictions: confusion_figure(predictions, model.checkpoint.class_names, run.name, normalize))


def _regression_plot(kind: str, figure: str, summary: str) -> None:
    """Register `nnctl plot KIND RUN`: the regression figure ``figure`` (a function of report.regression) of one split."""

    def command(
        run: Path = typer.Argument(..., metavar="RUN", help="A regression run.", callback=real_run),
        split: Split = SPLIT_OPTION,
        which: CheckpointName = CHECKPOINT_OPTION,
        out: Path | None = out_option(f"RUN/plots/{kind}-SPLIT.png"),
    ):
        from ..orchestration.model import load_model
        from ..report import regression

        with user_errors():
            target = _output(out, run, f"{kind}-{split}.png")
            model = load_model(run, which)
            _write(getattr(regression, figure)(regression.fitted(model, split), run.name), target)

    command.__doc__ = summary
    app.command(kind)(command)


_regression_plot("fit", "fit_figure", "Regression: each prediction against its actual value (in the targets' units), "
                                      "with the line predicted = actual.")
_regression_plot("residuals", "residual_figure", "Regression: residuals (predicted − actual) against the prediction.")


@app.command()
def errors(
    run: Path = typer.Argument(..., metavar="RUN", help="A run trained on images.", callback=real_run),
    split: Split = SPLIT_OPTION,
    limit: int = typer.Option(36, "--limit", min=1, max=400, help="At most this many images, most confidently wrong first."),
    which: CheckpointName = CHECKPOINT_OPTION,
    out: Path | None = out_option("RUN/plots/errors-SPLIT.png"),
):
    """A grid of misclassified images with true and predicted labels."""
    from ..report.misclassified import errors_figure

    _split_figure(run, which, split, out, "errors", "a grid of misclassified images",
                  lambda model, predictions: errors_figure(predictions, model.checkpoint.class_names, run.name, limit))


@app.command()
def filters(
    run: Path = typer.Argument(..., metavar="RUN", help="A run with convolution layers.", callback=real_run),
    layer: str = typer.Option("conv1", "--layer", help="The convolution layer by its name: conv1, conv2, res1.conv1, ..."),
    which: CheckpointName = CHECKPOINT_OPTION,
    out: Path | None = out_option("RUN/plots/filters-LAYER.png"),
):
    """A convolution layer's filters as images, one tile per filter and input channel."""
    from ..orchestration.model import load_model
    from ..report.filters import filters_figure

    with user_errors():
        target = _output(out, run, f"filters-{layer}.png")
        _write(filters_figure(load_model(run, which), layer), target)


@app.command()
def health(
    run: Path = typer.Argument(..., metavar="RUN", help="A run directory (its metrics.h5 /health record)."),
    out: Path | None = out_option("RUN/plots/health.png"),
):
    """Per-layer health: ‖dW‖ over the steps and across depth, the update ratio, activations, dead/saturated units, warnings."""
    from ..report.health import health_figure
    from ..report.history import load_history
    from ..runs.rundir import resolve_run

    with user_errors():
        target = _output(out, run, "health.png")
        _write(health_figure(load_history(resolve_run(run))), target)


@app.command()
def tune(
    tune_dir: Path = typer.Argument(..., metavar="TUNE_DIR", help="A directory made by `nnctl tune`."),
    metric: str | None = typer.Option(None, "--metric", help="Draw this recorded metric (at each trial's scored epoch) "
                                      "instead of the searched one; the ranking stays the search's."),
    out: Path | None = out_option("TUNE_DIR/plots/tune.png"),
):
    """A search: its metric against each hyperparameter (log axes where sampled in log), and best-so-far by trial."""
    from ..report.tune_figures import tune_figure

    with user_errors():
        target = _output(out, tune_dir, "tune.png" if metric is None else f"tune-{metric}.png")
        _write(tune_figure(load_tune_view(tune_dir, metric)), target)
