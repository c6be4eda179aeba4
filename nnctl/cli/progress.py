"""Training progress on stderr: a live bar on a terminal, one plain line per epoch otherwise."""

from __future__ import annotations

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

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


def unfrozen_line(epoch: int, layers: list[str], trainable: int) -> str:
    return f"epoch {epoch}: unfreezing {', '.join(layers)} ({trainable:,} trainable parameters now)"


class PlainReporter(Reporter):
    def __init__(self):
        self.epochs = 0

    def unfrozen(self, epoch, layers, trainable):
        stderr.print(unfrozen_line(epoch, layers, trainable), markup=False, highlight=False, soft_wrap=True)

    def epoch_start(self, epoch, epochs, n_batches):
        self.epochs = epochs

    def epoch_end(self, epoch, row):
        stderr.print(epoch_line(epoch, self.epochs, row), markup=False, highlight=False, soft_wrap=True)


class LiveReporter(Reporter):
    """A rich progress bar for the batches of each epoch, with the live cost and ETA."""

    def __init__(self):
        self.progress = Progress(
            TextColumn("epoch {task.fields[epoch]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("cost {task.fields[cost]:.4f}"),
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
        self.task = self.progress.add_task("train", total=n_batches, epoch=f"{epoch}/{epochs}", cost=float("nan"))

    def step(self, batch, cost):
        self.progress.update(self.task, completed=batch, cost=cost)

    def unfrozen(self, epoch, layers, trainable):
        self.progress.console.print(unfrozen_line(epoch, layers, trainable), markup=False, highlight=False)

    def epoch_end(self, epoch, row):
        self.progress.console.print(epoch_line(epoch, self.epochs, row), markup=False, highlight=False)
