"""What a run records, in the shapes trackers take: the spec as flat params, the metric log as rows."""

from __future__ import annotations

import json
from typing import Any

import yaml

from ..runs.listing import flatten
from ..runs.metrics_log import MetricLog


def flat_spec(spec_yaml: str) -> dict[str, str | int | float | bool]:
    """Every leaf of the spec under the path `--set` takes; lists and nulls as their JSON text."""
    flat = flatten(yaml.safe_load(spec_yaml) or {})
    return {key: _scalar(value) for key, value in flat.items() if not key.startswith(("search.", "logging."))}


def _scalar(value: Any) -> str | int | float | bool:
    if isinstance(value, (bool, int, float, str)):
        return value
    return json.dumps(value)


def epoch_rows(log: MetricLog) -> list[dict[str, float]]:
    """The metric log's epochs as rows, copied (a mirror's uploader reads them while the log grows)."""
    return [{name: column[index] for name, column in log.epoch.items()} for index in range(log.n_epochs)]
