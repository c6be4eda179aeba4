"""The uploader process of an MLflow mirror: reads JSON lines from the training process, logs them.

Protocol, one JSON object per line on stdin: first the run (``run_dir``, ``uri``,
``experiment``, ``retry_seconds``, ``spec_yaml``, and ``resumed_epochs``: the epochs a
resumed run already has, or null); then ``{"epoch": row, "time_ms": t}`` per epoch and
``{"end": stop_reason}``; then end of input. The answer, one line on stdout:
``{"error": null}`` when the server took everything, else the first error.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from .mlflow import MlflowRun, Uploader

FLUSH_SECONDS = 1.0  # epochs are sent at most this often: on small data one request per epoch would load the server


def main() -> int:
    messages = (json.loads(line) for line in sys.stdin if line.strip())
    first = next(messages, None)
    if first is None:
        return 0
    run = MlflowRun(Path(first["run_dir"]), first["uri"], first["experiment"])
    uploader = Uploader(first["uri"], first["retry_seconds"])
    uploader.submit(lambda client: run.open(client, first["spec_yaml"]))
    if first["resumed_epochs"] is not None:  # what a killed process may not have sent
        uploader.submit(lambda client: run.log_missing_epochs(client, first["resumed_epochs"]))
    batch, last_sent = [], 0.0

    def send_batch():
        nonlocal batch, last_sent
        if batch:
            rows, batch, last_sent = batch, [], time.monotonic()
            uploader.submit(lambda client: run.log_epochs(client, rows))

    for message in messages:
        if "epoch" in message:
            batch.append((message["epoch"], message["time_ms"]))
            if time.monotonic() - last_sent >= FLUSH_SECONDS:
                send_batch()
        elif "end" in message:
            send_batch()
            uploader.submit(run.upload_files)
            uploader.submit(lambda client, reason=message["end"]: run.end(client, reason))
    send_batch()
    uploader.finish(timeout=None)
    print(json.dumps({"error": uploader.error}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
