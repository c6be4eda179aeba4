"""A local trial worker: ``python -m nnctl.search.worker`` reads one task a line, answers one event a line.

The parent starts it with its share of BLAS threads in the environment (set
before NumPy loads, the only time OpenBLAS reads it), and keeps it for many
trials so the process start and imports are paid once per worker, not per
trial.  Ctrl-C reaches it with the terminal's process group: between trials it
is ignored, during one it checkpoints the trial and answers "interrupted".
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def _stop_with_parent() -> None:
    """On Linux, a SIGTERM when the search process dies: the trial checkpoints instead of running on unseen."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _stop_with_parent()
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # nothing else (print, a C library) may write on the protocol stream
    from .trial import TrialTask, run_trial

    for line in os.fdopen(0):
        event = run_trial(TrialTask(**json.loads(line)))
        try:
            answers.write(json.dumps(event, allow_nan=False) + "\n")
        except BrokenPipeError:
            return  # the search process is gone; the trial's checkpoint is what it left


if __name__ == "__main__":
    main()
