"""The search's result scored on the test split once: a test split looked at twice, and chosen by, is a second dev split."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from ..errors import SearchError
from ..runs.status import RANKED
from .cv import chosen
from .record import REFIT_DIR, SearchRecord, append_event, load_search


class Scores(Protocol):
    examples: int
    metrics: dict[str, float]


def score_test_split_once(record: SearchRecord, evaluate: Callable[[Path], Scores]) -> bool:
    """Score the refit (else the chosen trial's run) with ``evaluate`` and record it in ``record``; False, scoring
    nothing, when the test split was scored before (``record.test`` holds that first result)."""
    if record.test is not None:
        return False
    run = _result_run(record)
    result = evaluate(run)
    event = {"event": "test", "run": str(run.relative_to(record.tune_dir)), "examples": result.examples,
             "metrics": result.metrics}
    append_event(record.tune_dir, event)
    record.test = load_search(record.tune_dir).test  # as recorded, with its time
    return True


def _result_run(record: SearchRecord) -> Path:
    """The run that is the search's result: the refit when it finished, else the chosen trial of a search without cv."""
    if record.refit is not None and record.refit["status"] in RANKED:
        return record.tune_dir / REFIT_DIR
    if record.fold_runs is None and chosen(record, record.choose) is not None:
        return chosen(record, record.choose).run_dir
    raise SearchError("--test evaluates the search's result: a cross-validated search needs search.refit: true "
                      "(its fold runs are not one model), and a finished trial")
