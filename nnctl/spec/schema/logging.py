"""The ``logging:`` section of a spec: mirrors of a run in TensorBoard and MLflow.

The run directory stays the source of truth; these only copy what the trainer
records, so they are never able to change a result. ``true`` switches a mirror on
with its defaults, ``false`` (the default) leaves it off.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator

from .base import Strict


class TensorBoardSpec(Strict):
    """Event files in RUN/tb/, for `tensorboard --logdir runs/`."""

    histogram_every: Annotated[int, Field(ge=0)] | None = None
    """epochs between histograms of each layer's weights (0: none; null: about ten per run, and the last epoch)"""


class MlflowSpec(Strict):
    """Params, per-epoch metrics, tags and artifacts logged to an MLflow tracking server."""

    tracking_uri: Annotated[str, Field(min_length=1)] | None = None
    """the tracking server, e.g. http://127.0.0.1:5000 (null: $MLFLOW_TRACKING_URI)"""
    experiment: Annotated[str, Field(min_length=1, max_length=250)] | None = None
    """the MLflow experiment, created when missing (null: the spec's name)"""
    retry_seconds: Annotated[float, Field(ge=0, le=3600)] = 30.0
    """how long one logging call retries an unreachable server (with back-off) before the mirror gives up;
    training never waits for it, and `nnctl runs export --format mlflow RUN` uploads the run later"""


def _switch(value):
    """``true`` is the mirror with its defaults, ``false`` none."""
    if value is True:
        return {}
    if value is False:
        return None
    return value


class LoggingSpec(Strict):
    """Where else the run is shown while it trains (the run directory is always written)."""

    tensorboard: TensorBoardSpec | None = None
    """true, or {histogram_every: N}: TensorBoard event files in RUN/tb/ (needs nnctl[tensorboard])"""
    mlflow: MlflowSpec | None = None
    """true, or {tracking_uri, experiment, retry_seconds}: log the run to MLflow (needs nnctl[mlflow])"""

    _tensorboard = field_validator("tensorboard", "mlflow", mode="before")(_switch)
