"""A run (and a search, as a parent of its trials) logged to an MLflow tracking server.

Every call to the server runs on one background thread, in order, so training
never waits for the network (MLflow itself, 1–3 s to import, is loaded there too).
A call that fails is retried with back-off for ``retry_seconds``; then the mirror
gives up, says so once, and `nnctl runs export --format mlflow RUN` uploads what
the server lacks later: the run directory is the source of truth, and RUN/mlflow.json
remembers which MLflow run mirrors it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from ..errors import BuildError, MissingExtraError, RunError
from ..runs import rundir
from ..runs.atomic import atomic_write_json
from ..runs.metrics_log import MetricLog
from .mirror import Mirror, guarded, log
from .records import epoch_rows, flat_spec

RECORD = "mlflow.json"
HINT = "MLflow logging needs the mlflow extra: pip install 'nnctl[mlflow]'"
ARTIFACTS = (rundir.BEST, rundir.SPEC_FILE, "report.html")  # what a run directory holds that people open
STATUS = {"completed": "FINISHED", "early_stopping": "FINISHED", "interrupted": "KILLED", "diverged": "FAILED"}
PERMANENT = {"INVALID_PARAMETER_VALUE", "RESOURCE_ALREADY_EXISTS", "RESOURCE_DOES_NOT_EXIST", "BAD_REQUEST",
             "PERMISSION_DENIED", "UNAUTHENTICATED", "INVALID_STATE"}
BATCH = 100  # params per log_batch call (MLflow's limit; metrics allow 1,000)
# What the end of a run waits beyond retry_seconds: MLflow's client imports in 2-3 s on an idle
# machine, and took over 40 s on one loaded twenty-fold.
IMPORT_SECONDS = 60


def require_mlflow() -> None:
    """Fail before training, with the install hint, when the client is missing (it is imported later, off the main thread)."""
    if importlib.util.find_spec("mlflow") is None:
        raise MissingExtraError(HINT)


def tracking_uri(configured: str | None) -> str:
    uri = configured or os.environ.get("MLFLOW_TRACKING_URI")
    if not uri:
        raise BuildError("logging.mlflow.tracking_uri", "no tracking server: set it (e.g. http://127.0.0.1:5000) "
                                                        "or export MLFLOW_TRACKING_URI")
    return uri


def read_record(folder: Path) -> dict | None:
    """RUN/mlflow.json (or a tune directory's): which MLflow run mirrors this folder, or None."""
    path = Path(folder) / RECORD
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise RunError(f"{path}: not a readable MLflow record ({err}); delete it to log to a new MLflow run") from None
    if not isinstance(record, dict) or not all(isinstance(record.get(k), str) for k in ("tracking_uri", "run_id", "experiment_id")):
        raise RunError(f"{path}: not an nnctl MLflow record; delete it to log to a new MLflow run")
    return record


def _client(uri: str):
    # One attempt per HTTP call with a bounded wait: the Uploader does the retrying, within retry_seconds.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    os.environ["MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"] = "true"  # stdout carries nnctl's results (and --json) only
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def _permanent(err: Exception) -> bool:
    """A refusal the server will repeat (a bad value, a missing run), not an outage worth retrying."""
    return getattr(err, "error_code", None) in PERMANENT


class Uploader:
    """Calls to one tracking server, run in order on a background thread, each retried with back-off."""

    def __init__(self, uri: str, retry_seconds: float):
        self.uri, self.retry_seconds = uri, retry_seconds
        self.calls: queue.Queue = queue.Queue()
        self.error: str | None = None
        self.client = None
        self.thread = threading.Thread(target=self._work, name="nnctl-mlflow", daemon=True)
        self.thread.start()

    def submit(self, call: Callable) -> None:
        self.calls.put(call)

    def finish(self, timeout: float | None) -> bool:
        """Wait up to ``timeout`` seconds (None: as long as it takes) for every call; True when all ran."""
        self.calls.put(None)
        self.thread.join(timeout)
        return not self.thread.is_alive() and self.error is None

    def _work(self) -> None:
        unreachable = False
        while (call := self.calls.get()) is not None:
            if not unreachable:  # after an outage, the rest is dropped: the export uploads it later
                unreachable = self._attempt(call)

    def _attempt(self, call: Callable) -> bool:
        """Run ``call`` until it succeeds, is refused (noted; later calls still run) or the server stays
        unreachable for ``retry_seconds`` (noted; True: give up on the server)."""
        deadline, delay = time.monotonic() + self.retry_seconds, 0.25
        while True:
            try:
                self.client = self.client or _client(self.uri)
                call(self.client)
                return False
            except Exception as err:  # noqa: BLE001 — any failure of the server or the client stays here
                permanent = _permanent(err)
                if permanent or time.monotonic() + delay > deadline:
                    self.error = self.error or f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
                    return not permanent
                time.sleep(delay)
                delay = min(2 * delay, 8.0)


class MlflowRun:
    """One nnctl run directory (or a tune directory, ``kind`` search) and the MLflow run that mirrors it."""

    def __init__(self, run_dir: Path, uri: str, experiment: str, kind: str = "run"):
        self.run_dir, self.uri, self.experiment, self.kind = Path(run_dir), uri, experiment, kind
        self.run_id: str | None = None

    def open(self, client, spec_yaml: str) -> None:
        """Reuse the MLflow run RUN/mlflow.json names on this server, or create one; log the params it lacks."""
        from mlflow.entities import Param, RunTag

        record = read_record(self.run_dir)
        if record and record["tracking_uri"] == self.uri and _exists(client, record["run_id"]):
            self.run_id = record["run_id"]
        else:
            experiment_id = _experiment_id(client, self.experiment)
            tags = {"nnctl.version": _version(), "nnctl.run_dir": str(self.run_dir.resolve()), "nnctl.kind": self.kind,
                    **_fingerprint(self.run_dir), **_parent_tag(self.run_dir, self.uri)}
            self.run_id = client.create_run(experiment_id, run_name=self.run_dir.name, tags=tags).info.run_id
            atomic_write_json(self.run_dir / RECORD, {"tracking_uri": self.uri, "experiment_id": experiment_id,
                                                      "run_id": self.run_id, "kind": self.kind})
        present = client.get_run(self.run_id).data.params
        wanted = {param_key(k): str(v) for k, v in flat_spec(spec_yaml).items()}
        params = [Param(k, v) for k, v in wanted.items() if k not in present]
        for first in range(0, len(params), BATCH):
            client.log_batch(self.run_id, params=params[first:first + BATCH])
        if any(present[k] != v for k, v in wanted.items() if k in present):  # MLflow keeps a param's first value
            client.log_batch(self.run_id, tags=[RunTag("nnctl.spec_changed_on_resume", "true")])

    def log_epochs(self, client, rows: list[tuple[dict[str, float], int]]) -> None:
        """Epoch rows, each with the time (ms) it was recorded, as metrics whose step is the epoch."""
        from mlflow.entities import Metric

        metrics = [Metric(name, float(value), timestamp_ms, int(row["epoch"]))
                   for row, timestamp_ms in rows for name, value in row.items() if name != "epoch"]
        for first in range(0, len(metrics), 1000):
            client.log_batch(self.run_id, metrics=metrics[first:first + 1000])

    def log_missing_epochs(self, client, rows: list[dict[str, float]]) -> None:
        """Those of ``rows`` (epochs of the metric log) the server has not recorded: a resumed or re-exported run."""
        names = [name for name in rows[0] if name != "epoch"] if rows else []
        known = {metric.step for metric in client.get_metric_history(self.run_id, names[0])} if names else set()
        now = int(time.time() * 1000)
        self.log_epochs(client, [(row, now) for row in rows if int(row["epoch"]) not in known])

    def upload_files(self, client) -> None:
        """The run's files people open (best.h5, spec.yaml, its report), those the server lacks."""
        present = {info.path for info in client.list_artifacts(self.run_id)}
        for name in ARTIFACTS:
            if (self.run_dir / name).is_file() and name not in present:
                client.log_artifact(self.run_id, str(self.run_dir / name))

    def end(self, client, stop_reason: str) -> None:
        client.set_terminated(self.run_id, STATUS.get(str(stop_reason), "FINISHED"))


def param_key(path: str) -> str:
    """A spec path as MLflow allows a key: ``model.layers[0].units`` is ``model.layers.0.units``."""
    return path.replace("[", ".").replace("]", "")


def _exists(client, run_id: str) -> bool:
    try:
        client.get_run(run_id)
    except Exception as err:  # noqa: BLE001
        if _permanent(err):
            return False
        raise
    return True


def _experiment_id(client, name: str) -> str:
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    try:
        return client.create_experiment(name)
    except Exception:  # another process created it between the two calls
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return found.experiment_id


def _version() -> str:
    from .. import __version__

    return __version__


def _fingerprint(run_dir: Path) -> dict[str, str]:
    """Each data part's SHA-256 as data.h5 records it (none for a run without a readable record)."""
    from ..errors import NnctlError
    from ..runs.data_record import load_data_record

    try:
        record = load_data_record(run_dir)
    except NnctlError:
        return {}
    return {f"nnctl.data_sha256.{part.get('key')}": str(part.get("sha256")) for part in (record.parts if record else [])}


def _parent_tag(run_dir: Path, uri: str) -> dict[str, str]:
    """A search trial (or one of its folds) is a child of the search's MLflow run, found in the tune directory above it."""
    for folder in list(Path(run_dir).resolve().parents)[:3]:
        record = read_record(folder) if (folder / RECORD).is_file() else None
        if record and record.get("kind") == "search" and record["tracking_uri"] == uri:
            return {"mlflow.parentRunId": record["run_id"]}
    return {}


class MlflowMirror(Mirror):
    """Logs a training run to MLflow as it goes through an uploader process (nnctl.loggers.mlflow_upload).

    A process, not a thread: MLflow's client takes seconds of CPU to import and more to
    build each request, and on a thread that time is taken from the trainer (they share one
    interpreter lock); measured on the quickstart spec, a thread doubled the time per epoch.
    The trainer only queues one line per epoch; a feeder thread writes them to the pipe.
    """

    name = "mlflow"

    def __init__(self, trainer, settings, resumed: bool):
        super().__init__(trainer.run_dir)
        require_mlflow()
        self.uri, self.retry_seconds = tracking_uri(settings.tracking_uri), settings.retry_seconds
        # -P: the uploader imports nnctl and MLflow, never a file of the user's working folder.
        self.process = subprocess.Popen([sys.executable, "-P", "-m", "nnctl.loggers.mlflow_upload"], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.outbox: queue.Queue = queue.Queue()
        self.feeder = threading.Thread(target=self._feed, name="nnctl-mlflow-feed", daemon=True)
        self.feeder.start()
        self.outbox.put({"run_dir": str(trainer.run_dir), "uri": self.uri, "retry_seconds": self.retry_seconds,
                         "experiment": settings.experiment or trainer.spec.name, "spec_yaml": trainer.facts.spec_yaml,
                         "resumed_epochs": epoch_rows(trainer.log) if resumed else None})

    @property
    def repair(self) -> str:
        return f"upload it later with `nnctl runs export --format mlflow {self.run_dir}`"

    def _feed(self) -> None:
        """Write the queued messages to the uploader, one JSON line each; a closed pipe ends the feed."""
        try:
            while (message := self.outbox.get()) is not None:
                self.process.stdin.write(json.dumps(message) + "\n")
                self.process.stdin.flush()
            self.process.stdin.close()
        except OSError:  # the uploader is gone: what it did not send, the export sends later
            pass

    @guarded
    def epoch_end(self, epoch, row):
        self.outbox.put({"epoch": dict(row), "time_ms": int(time.time() * 1000)})

    @guarded
    def complete(self, result):
        self.outbox.put({"end": str(result.stop_reason)})
        self.outbox.put(None)
        budget = self.retry_seconds + IMPORT_SECONDS
        deadline = time.monotonic() + budget
        try:
            self.feeder.join(budget)  # it closes the uploader's input after the last message
            self.process.wait(max(0.0, deadline - time.monotonic()))
            answer = self.process.stdout.read()
            error = (json.loads(answer.strip().splitlines()[-1]) if answer.strip() else {"error": "no answer"})["error"]
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            error = f"still uploading after {budget:.0f} s"
        except (ValueError, KeyError, IndexError):
            error = f"the uploader exited with code {self.process.returncode}"
        if error:
            self.notice = f"mlflow: {self.uri} did not take the whole run ({error}); {self.repair}"


def export_mlflow(run_dir: Path, uri: str, experiment: str, spec_yaml: str, log: MetricLog, stop_reason: str,
                  retry_seconds: float = 30.0) -> str:
    """Upload what the server lacks of a run (params, every epoch's metrics, files, status); the MLflow run's id."""
    require_mlflow()
    run = MlflowRun(run_dir, uri, experiment)
    uploader = Uploader(uri, retry_seconds)
    uploader.submit(lambda client: run.open(client, spec_yaml))
    rows = epoch_rows(log)
    uploader.submit(lambda client: run.log_missing_epochs(client, rows))
    uploader.submit(run.upload_files)
    uploader.submit(lambda client: run.end(client, stop_reason))
    if not uploader.finish(timeout=None):
        raise RunError(f"{run_dir}: MLflow at {uri} did not take the run ({uploader.error}); nothing in the run changed")
    return run.run_id


class SearchParent:
    """A search as the MLflow run its trials are children of: TUNE/mlflow.json names it to the trials' mirrors,
    so trials on local workers and on a Dask cluster alike find their parent."""

    def __init__(self, tune_dir: Path, settings, name: str, spec_yaml: str):
        require_mlflow()
        uri = tracking_uri(settings.tracking_uri)
        self.timeout = settings.retry_seconds + 10
        self.run = MlflowRun(tune_dir, uri, settings.experiment or name, kind="search")
        self.spec_yaml = spec_yaml

    def _call(self, call: Callable) -> None:
        """Run ``call`` now (trials must see the parent before they start); a warning when the server did not take it."""
        uploader = Uploader(self.run.uri, self.timeout - 10)
        uploader.submit(call)
        if not uploader.finish(self.timeout):
            log.warning(f"mlflow: {self.run.uri} did not take the search's parent run ({uploader.error or 'timed out'}); "
                        f"its trials log without a parent")

    def open(self) -> None:
        self._call(lambda client: self.run.open(client, self.spec_yaml))

    def close(self, metric: str, best: float | None, trials_done: int, completed: bool) -> None:
        """The search's outcome on the parent: its best value, how many trials ran, finished or killed."""
        def outcome(client):
            from mlflow.entities import Metric

            if self.run.run_id is None:
                self.run.open(client, self.spec_yaml)
            now = int(time.time() * 1000)
            metrics = [Metric("trials_done", float(trials_done), now, 0)]
            if best is not None:
                metrics.append(Metric(f"best_{metric}", float(best), now, 0))
            client.log_batch(self.run.run_id, metrics=metrics)
            client.set_terminated(self.run.run_id, "FINISHED" if completed else "KILLED")

        self._call(outcome)


def upload_artifact(run_dir: Path, path: Path) -> None:
    """A file made from a mirrored run later (its report, an ONNX export) added to the run's MLflow run
    (nothing for a run that is not mirrored); a warning when the server did not take it."""
    import yaml

    record = read_record(run_dir)
    if record is None:
        return None
    spec = yaml.safe_load((Path(run_dir) / rundir.SPEC_FILE).read_text(encoding="utf-8")) or {}
    settings = ((spec.get("logging") or {}).get("mlflow") or {})
    require_mlflow()
    uploader = Uploader(record["tracking_uri"], float(settings.get("retry_seconds", 30.0)))
    uploader.submit(lambda client: client.log_artifact(record["run_id"], str(path)))
    if not uploader.finish(timeout=None):
        log.warning(f"mlflow: {record['tracking_uri']} did not take {path} ({uploader.error}); "
                    f"`nnctl runs export --format mlflow {run_dir}` uploads the run's own files later")
