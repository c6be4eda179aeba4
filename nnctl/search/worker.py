"""A local trial worker: ``python -m nnctl.search.worker`` reads one task a line, answers one event a line.

The parent starts it with its share of BLAS threads in the environment (set
before NumPy loads, the only time OpenBLAS reads it), and keeps it for many
trials so the process start and imports are paid once per worker, not per
trial.  Ctrl-C reaches it with the terminal's process group: between trials it
is ignored, during one it checkpoints the trial and answers "interrupted".
"""

from __future__ import annotations

import json
import os
import signal


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # nothing else (print, a C library) may write on the protocol stream
    from .trial import TrialTask, run_trial

    for line in os.fdopen(0):
        event = run_trial(TrialTask(**json.loads(line)))
        answers.write(json.dumps(event, allow_nan=False) + "\n")


if __name__ == "__main__":
    main()
