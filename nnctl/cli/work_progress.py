"""Progress of long jobs on stderr, beside training's own bar (progress.py).

A counted job (gradcheck's coordinates): on a terminal, a transient bar naming
the current part; otherwise plain lines, one as each part finishes, once the
job has run for ``QUIET_SECONDS`` (a job that ends within a second prints
nothing). A wait without a count (loading MNIST, evaluating a split): a
transient spinner on a terminal; nothing in a pipe, where a line printed
halfway through would interleave with the one-line error contract.
"""

from __future__ import annotations

import time
from contextlib import contextmanager

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from .common import plain, stderr

QUIET_SECONDS = 1.0


@contextmanager
def counting(title: str, total: int, unit: str):
    """Yield ``advance(part, part_finished)``, to be called once per unit of work."""
    started = time.perf_counter()
    done = 0
    if plain():
        def advance(part: str, finished: bool) -> None:
            nonlocal done
            done += 1
            elapsed = time.perf_counter() - started
            if finished and elapsed >= QUIET_SECONDS:
                stderr.print(f"{title}: {part} done, {done}/{total} {unit}, {elapsed:.1f}s",
                             markup=False, highlight=False, soft_wrap=True)
        yield advance
        return
    bar = Progress(TextColumn(f"{title} {{task.fields[part]}}", markup=False), BarColumn(), MofNCompleteColumn(),
                   TextColumn(unit, markup=False), TimeElapsedColumn(), TimeRemainingColumn(), console=stderr, transient=True)
    task = bar.add_task(title, total=total, part="")
    with bar:
        def advance(part: str, finished: bool) -> None:
            bar.update(task, advance=1, part=part)
        yield advance


@contextmanager
def busy(what: str):
    """A spinner saying ``what`` is under way, on a terminal only."""
    if plain():
        yield
        return
    with stderr.status(what):
        yield
