"""Which run a file belongs to: a checkpoint or metric log copied in from another run is refused, not trusted.

A run gets an id when it starts. data.h5 records it, and every checkpoint
(``progress.run_id``) and the metric log (attribute ``run_id``) carry it. Another
run's best.h5 copied into this one holds weights trained on other rows (maybe
this run's test set): evaluating it as this run's would report a wrong result.
Runs made before data.h5 recorded the id are checked against their metrics.h5's
id instead; runs older still (no id anywhere) cannot be checked.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import MetricLogError, RunError
from ..literal import quoted
from .data_record import DATA_FILE, recorded_run_id
from .names import METRICS
from .seal import open_sealed


def check_belongs(path: Path, found, error: type[RunError]) -> None:
    """Refuse (``error``) the run file at ``path`` when the run id it carries (``found``) is not its run's."""
    own, anchor = own_run_id(path)
    if own is not None and found != own:
        raise error(foreign_file(path, found, own, anchor))


def foreign_file(path: Path, found, own: str, anchor: str) -> str:
    """The message for a run file carrying the id ``found`` in a run whose id, recorded in ``anchor``, is ``own``."""
    shown = quoted(found) if isinstance(found, str) else "missing"
    return (f"{path}: belongs to another run (run id {shown}; this run's, recorded in {anchor}, is {quoted(own)}): "
            f"a file copied in from elsewhere is never used; put back this run's own {Path(path).name}")


def own_run_id(path: Path) -> tuple[str | None, str]:
    """(the id of the run ``path`` lies in, the file that says so); (None, '') when the run recorded none."""
    run_dir = Path(path).parent
    recorded = recorded_run_id(run_dir)
    if recorded is not None:
        return recorded, DATA_FILE
    if Path(path).name == METRICS:
        return None, ""
    return _metric_log_id(run_dir / METRICS), METRICS


def _metric_log_id(path: Path) -> str | None:
    """The run id attribute of a run's metrics.h5; None when it has none or cannot be read (the metric log's
    own readers report a damaged one)."""
    if not path.is_file():
        return None
    try:
        with open_sealed(path, MetricLogError) as f:
            value = f.attrs.get("run_id")
    except MetricLogError:
        return None
    value = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    return value if isinstance(value, str) and value else None
