"""Training progress on stderr: a live bar on a terminal, one plain line per epoch otherwise.

Two costs appear, labelled apart because they differ by definition: the bar's
``batch cost`` is J of the mini-batch just trained on (training mode, with the
L2/L1 penalty when the spec has one: ``batch cost+penalty``); the epoch line's
``train_cost``/``dev_cost`` are the data loss over the whole split in inference
mode, without the penalty, the figures metrics.h5 records per epoch.
"""

from __future__ import annotations

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from ..literal import visible
from ..train.loop import Reporter
from .common import stderr

SHOWN = ("train_cost", "train_accuracy", "dev_cost", "dev_accuracy", "train_mse", "dev_mse")


def epoch_line(epoch: int, epochs: int, row: dict[str, float]) -> str:
    parts = [f"epoch {epoch}/{epochs}"]
    parts += [f"{name} {row[name]:.4f}" for name in SHOWN if name in row]
    parts.append(f"lr {row['learning_rate']:.3g}")
    seconds = row["epoch_time"]
    parts.append(f"{seconds:.2f}s" if seconds >= 1 else f"{seconds * 1000:.0f}ms")
    return "  ".join(parts)


def batch_cost_label(penalized: bool) -> str:
    """What the bar's cost is: J of the last mini-batch, with the weight penalty when there is one."""
    return "batch cost+penalty" if penalized else "batch cost"


def unfrozen_line(epoch: int, layers: list[str], trainable: int) -> str:
    return f"epoch {epoch}: unfreezing {', '.join(layers)} ({trainable:,} trainable parameters now)"


def warning_line(event: dict) -> str:
    """A training warning: where in the spec to act, and what the notes say (control characters shown escaped)."""
    return visible(f"warning: {event['where'] or event['key']}: {event['message']} [{event['kind']}]")


class QuietReporter(Reporter):
    """--quiet: no progress, but the training warnings still go to stderr."""

    def warned(self, event):
        stderr.print(warning_line(event), markup=False, highlight=False, soft_wrap=True)


class PlainReporter(QuietReporter):
    def __init__(self):
        self.epochs = 0

    def unfrozen(self, epoch, layers, trainable):
        stderr.print(unfrozen_line(epoch, layers, trainable), markup=False, highlight=False, soft_wrap=True)

    def epoch_start(self, epoch, epochs, n_batches):
        self.epochs = epochs

    def epoch_end(self, epoch, row):
        stderr.print(epoch_line(epoch, self.epochs, row), markup=False, highlight=False, soft_wrap=True)


class LiveReporter(Reporter):
    """A rich progress bar for the batches of each epoch, with the last mini-batch's cost and the ETA."""

    def __init__(self, penalized: bool = False):
        self.progress = Progress(
            TextColumn("epoch {task.fields[epoch]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn(batch_cost_label(penalized) + " {task.fields[cost]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=stderr,
            transient=True,
        )
        self.task = None
        self.epochs = 0

    def __enter__(self):
        self.progress.start()
        return self

    def __exit__(self, *exc):
        self.progress.stop()

    def epoch_start(self, epoch, epochs, n_batches):
        self.epochs = epochs
        if self.task is not None:
            self.progress.remove_task(self.task)
        self.task = self.progress.add_task("train", total=n_batches, epoch=f"{epoch}/{epochs}", cost="…")

    def step(self, batch, cost):
        self.progress.update(self.task, completed=batch, cost=f"{cost:.4f}")

    def unfrozen(self, epoch, layers, trainable):
        self.progress.console.print(unfrozen_line(epoch, layers, trainable), markup=False, highlight=False)

    def epoch_end(self, epoch, row):
        self.progress.console.print(epoch_line(epoch, self.epochs, row), markup=False, highlight=False)

    def warned(self, event):
        self.progress.console.print(warning_line(event), markup=False, highlight=False)
