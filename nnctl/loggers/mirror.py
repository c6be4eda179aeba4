"""What every mirror shares: a failure turns the mirror off with one notice instead of reaching the trainer."""

from __future__ import annotations

import functools
import logging

from ..train.loop import Reporter

log = logging.getLogger("nnctl")


def guarded(method):
    """Run a mirror's callback; the first exception switches the mirror off and becomes its notice."""

    @functools.wraps(method)
    def call(self, *args, **kwargs):
        if self.notice is not None:
            return None
        try:
            return method(self, *args, **kwargs)
        except Exception as err:  # noqa: BLE001 — a logger must never stop a run, whatever it raises
            self.notice = f"{self.name}: {type(err).__name__}: {err}; {self.repair}"
            return None

    return call


class Mirror(Reporter):
    """A copy of a run elsewhere; ``notice`` is None while it works, else the one line to show the user."""

    name = "mirror"

    def __init__(self, run_dir):
        self.notice: str | None = None
        self.run_dir = run_dir

    @property
    def repair(self) -> str:
        return f"the run itself is complete in {self.run_dir}"

    def finished(self, result) -> None:
        """Complete the copy, then say once (a warning on stderr) if it is not whole."""
        self.complete(result)
        if self.notice:
            log.warning(self.notice)

    def complete(self, result) -> None:
        """What the mirror writes when training ends (guarded in each mirror)."""
