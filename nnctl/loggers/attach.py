"""The mirrors a spec's ``logging:`` section asks for, checked before a run starts and attached to its trainer."""

from __future__ import annotations

import importlib.util

from ..errors import MissingExtraError
from ..spec.schema import Spec


def check_mirrors(spec: Spec) -> None:
    """Refuse, before any run directory exists, mirrors that cannot work here (a missing extra, no MLflow server)."""
    if spec.logging.tensorboard is not None and importlib.util.find_spec("tensorboardX") is None:
        from .tensorboard import HINT

        raise MissingExtraError(HINT)
    if spec.logging.mlflow is not None:
        from .mlflow import require_mlflow, tracking_uri

        require_mlflow()
        tracking_uri(spec.logging.mlflow.tracking_uri)


def attach_mirrors(trainer, resumed: bool) -> None:
    """Feed the trainer's events to each mirror the spec names; a resumed run's mirrors pick up where its checkpoint is."""
    settings = trainer.spec.logging
    if settings.tensorboard is not None:
        from .tensorboard import TensorBoardMirror

        trainer.mirrors.append(TensorBoardMirror(trainer, settings.tensorboard, resumed))
    if settings.mlflow is not None:
        from .mlflow import MlflowMirror

        trainer.mirrors.append(MlflowMirror(trainer, settings.mlflow, resumed))
