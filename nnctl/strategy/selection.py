"""Satisficing and optimizing metrics across runs (docs/explanation/algorithms.md#single-number-evaluation).

Drop every run that misses a satisficing bar (e.g. ``predict_ms<=100``,
``dev_fpr<=0.01``), then rank the rest by the one optimizing metric. Metrics
come from each run's eval.json; a run whose record lacks its dev evaluation
is evaluated on dev (and recorded) first. Test metrics count only when `eval`
was asked for them: selection never reads the test split itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..conditions import Condition, Form
from ..errors import StrategyError
from ..runs import rundir
from ..train.evaluate import lower_is_better
from . import records
from .evaluation import evaluate_checkpoint

SATISFY = Form(("<=", ">=", "<", ">"), "--satisfy 'predict_ms<=100'")


def parse_bar(text: str) -> Condition:
    """A --satisfy bar, ``predict_ms<=100``."""
    return SATISFY.parse(text, "--satisfy")


@dataclass
class Candidate:
    run: str
    metrics: dict[str, float]
    failed: list[str] = field(default_factory=list)

    @property
    def qualifies(self) -> bool:
        return not self.failed

    def to_dict(self, names: list[str]) -> dict:
        return {"run": self.run, "qualifies": self.qualifies, "failed": self.failed,
                "metrics": {name: self.metrics.get(name) for name in names}}


@dataclass
class Selection:
    optimize: str
    bars: list[Condition]
    ranked: list[Candidate]  # qualifying runs first, each group best first

    @property
    def chosen(self) -> Candidate | None:
        return self.ranked[0] if self.ranked and self.ranked[0].qualifies else None

    @property
    def metrics(self) -> list[str]:
        """The optimizing metric, then each satisficing one not already named: a table's columns."""
        return [self.optimize] + [bar.key for bar in self.bars if bar.key != self.optimize]

    def to_dict(self) -> dict:
        return {"optimize": self.optimize, "higher_is_better": not lower_is_better(self.optimize),
                "satisfy": [str(bar) for bar in self.bars], "chosen": self.chosen.run if self.chosen else None,
                "ranked": [candidate.to_dict(self.metrics) for candidate in self.ranked]}


def run_metrics(run_dir: Path, which: str = "best") -> dict[str, float]:
    """The run's recorded metrics (``dev_accuracy``, ``predict_ms``, ...), evaluating dev first if unrecorded."""
    checkpoint = rundir.checkpoint_path(run_dir, which)
    entry = records.recorded(run_dir, checkpoint)
    if "dev" not in entry["splits"] or "predict_ms" not in entry:
        evaluate_checkpoint(Path(run_dir), "dev", which)
        entry = records.recorded(run_dir, checkpoint)
    return records.flat_metrics(entry)


def select(runs: list[Path], optimize: str, bars: list[Condition], which: str = "best") -> Selection:
    candidates = [Candidate(str(run), run_metrics(run, which)) for run in dict.fromkeys(map(rundir.resolve_run, runs))]
    known = sorted({name for c in candidates for name in c.metrics})
    for name, option in [(optimize, "--optimize")] + [(bar.key, "--satisfy") for bar in bars]:
        if name not in known:
            raise StrategyError(f"{option} {name}: no run reports this metric; they report {', '.join(known)}")
    for candidate in candidates:
        for name in [optimize] + [bar.key for bar in bars]:
            if name not in candidate.metrics:
                candidate.failed.append(f"no {name}")
        for bar in bars:
            value = candidate.metrics.get(bar.key)
            if value is not None and not bar.holds(value):
                candidate.failed.append(bar.miss(value))
    sign = 1.0 if lower_is_better(optimize) else -1.0
    ranked = sorted(candidates, key=lambda c: (not c.qualifies, sign * c.metrics.get(optimize, sign * float("inf")), c.run))
    return Selection(optimize, bars, ranked)
