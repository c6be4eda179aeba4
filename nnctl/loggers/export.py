"""`nnctl runs export --format tensorboard|mlflow`: a finished (or stopped) run copied into a tracker from its files."""

from __future__ import annotations

from pathlib import Path

import yaml

from ..errors import RunError
from ..runs import rundir
from ..runs.checkpoint import load_checkpoint
from ..runs.metrics_log import MetricLog


def _run_files(run_dir: Path):
    """The latest checkpoint (the run's state and history length) and the metric log cut to it."""
    run_dir = rundir.resolve_run(run_dir)
    ckpt = load_checkpoint(rundir.checkpoint_path(run_dir, "latest"))
    path = run_dir / rundir.METRICS
    if not path.is_file():
        raise RunError(f"{path}: missing; the run has no metric history to export")
    log = MetricLog.load(path)
    log.truncate(ckpt.progress["metric_steps"], ckpt.progress["metric_epochs"])
    return run_dir, ckpt, log


def export_tensorboard_run(run_dir: Path) -> Path:
    """RUN/tb/ written anew from metrics.h5, with the latest weights' histograms; the folder."""
    from .tensorboard import export_tensorboard

    run_dir, ckpt, log = _run_files(run_dir)
    return export_tensorboard(run_dir, log, ckpt.spec_yaml, ckpt.progress.get("best") or {}, ckpt.params, ckpt.epoch)


def export_mlflow_run(run_dir: Path, uri: str | None, experiment: str | None) -> str:
    """Upload what the tracking server lacks of a run; the MLflow run id.

    The server and experiment come from the options, else from the spec's ``logging.mlflow``,
    else $MLFLOW_TRACKING_URI and the spec's name; a run already mirrored there (RUN/mlflow.json)
    is completed rather than copied again.
    """
    from .mlflow import export_mlflow, tracking_uri

    run_dir, ckpt, log = _run_files(run_dir)
    spec = yaml.safe_load(ckpt.spec_yaml) or {}
    configured = (spec.get("logging") or {}).get("mlflow") or {}
    uri = tracking_uri(uri or configured.get("tracking_uri"))
    experiment = experiment or configured.get("experiment") or spec.get("name") or "nnctl"
    return export_mlflow(run_dir, uri, experiment, ckpt.spec_yaml, log, ckpt.progress.get("stop_reason") or "completed",
                         retry_seconds=float(configured.get("retry_seconds", 30.0)))
