"""Where a search's trial stands, in the words trials.jsonl records (the enum's values, so the file is unchanged).

A trial is a run, so its endings are a run's stop reasons, plus the search's own: pruned by the median rule,
failed (its worker died, or the run raised). Here, below both, so the search that writes the statuses and the
report that draws them (peers that do not import each other) share one word for each.
"""

from __future__ import annotations

from enum import StrEnum


class TrialStatus(StrEnum):
    """In the order a report lists them: the ranked endings, the other endings, then the unfinished."""

    completed = "completed"
    early_stopping = "early_stopping"
    pruned = "pruned"
    diverged = "diverged"
    failed = "failed"
    interrupted = "interrupted"  # stopped on request, checkpointed: `tune --resume` continues it
    running = "running"  # handed out with no end recorded: still going, or killed
    pending = "pending"  # sampled, not handed out yet


RANKED = (TrialStatus.completed, TrialStatus.early_stopping)  # endings with a value the ranking may use
FAILED = (TrialStatus.failed, TrialStatus.diverged)  # endings without a usable value
FINISHED = (*RANKED, TrialStatus.pruned, *FAILED)  # the rest (interrupted, running, pending) have yet to end
