"""`diagnose_run`: a trained run's errors on its splits, decomposed into the notes' gaps, with remedies.

Reads train, train-dev (when the run has one), dev, and test only when asked:
the notes choose between models on dev and keep test for the final estimate,
so a diagnosis never looks at test by accident.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..conditions import Condition, Form
from ..errors import MissingSplitError, StrategyError
from ..orchestration.model import LoadedModel, all_splits, load_model, split_data
from ..runs.data_record import corrected_label_counts
from .decomposition import DEFAULT_TOLERANCE, Decomposition, Level, decompose
from .evaluation import Options, evaluate_data, score_split
from .remedies import Remedy, remedies_for

LEVEL_GATES = ("train_error", "train_dev_error", "dev_error", "test_error")
GAP_GATES = ("avoidable_bias", "variance", "data_mismatch", "dev_overfitting")
GATES = GAP_GATES + LEVEL_GATES
GATE = Form(("=",), "--fail-over variance=0.02", names="NAME", equals="<=")
HOW_TO_GET = {
    "dev": "set data.split.dev (e.g. 0.1) and train again",
    "train_dev": "set data.split.train_dev (e.g. 0.05) and train again",
    "test": "set data.split.test (e.g. 0.1) and train again",
}


@dataclass
class Diagnosis:
    run: str
    checkpoint: str
    metric: str  # "error", or "weighted_error" when class weights are given
    options: Options
    decomposition: Decomposition
    remedies: list[Remedy]
    splits: dict[str, dict] = field(default_factory=dict)  # per split: examples, metrics, groups
    labels_corrected: dict[str, int] | None = None  # by data.relabel, per split (None: the run corrected none)

    def values(self) -> dict[str, float | None]:
        """Every gate-able number: the gaps and each measured split's error."""
        gaps = {name: gap.value for name, gap in self.decomposition.gaps.items()}
        levels = {f"{name}_error": level.error for name, level in self.decomposition.levels.items() if name != "human"}
        return gaps | levels

    def to_dict(self) -> dict:
        return {"run": self.run, "checkpoint": self.checkpoint, "metric": self.metric, "options": self.options.to_dict(),
                **self.decomposition.to_dict(), "remedies": [r.to_dict() for r in self.remedies], "splits": self.splits,
                "labels_corrected": self.labels_corrected}


def diagnose_run(run_dir: Path, human_error: float | None = None, with_test: bool = False, *, which: str = "best",
                 tolerance: float = DEFAULT_TOLERANCE, threshold: float | None = None,
                 weights: dict[str, float] | None = None, group_by: str | int | None = None) -> Diagnosis:
    """Diagnose a run's ``which`` checkpoint; ``human_error`` overrides the spec's ``strategy.human_error``."""
    if not 0 <= tolerance < 1:
        raise StrategyError(f"--tolerance {tolerance:g}: expected a number in [0, 1)")
    model = load_model(Path(run_dir), which)
    task = model.checkpoint.task
    check_human_error(human_error, "--human-error", rate=task != "regression")
    if task == "multilabel":
        raise StrategyError(f"{run_dir}: diagnose decomposes one error measure; this run has several tasks (multilabel)")
    options = Options.for_model(model, threshold, weights, group_by)
    metric = regression_measure(model.spec) if task == "regression" else "weighted_error" if options.weights else "error"
    wanted = ["train", "train_dev", "dev"] + (["test"] if with_test else [])
    levels, splits, data = {}, {}, all_splits(model)
    for split in wanted:
        measured = _measure(model, split, options, metric, data, required=split != "train_dev", run_dir=run_dir)
        if measured is not None:
            levels[split], splits[split] = measured
    human = model.spec.strategy.human_error if human_error is None else human_error
    if task == "regression":  # the tolerance is a share of the dev level: MSE has the targets' units squared
        tolerance *= levels["dev"].error
    decomposition = decompose(levels["train"], levels["dev"], human, levels.get("train_dev"), levels.get("test"), tolerance)
    if task == "regression":
        decomposition.notes.append(f"regression: the levels are {metric} in the targets' units (the measure of "
                                   "checkpoint.monitor, else mse); a gap counts from the --tolerance share of the dev level")
    remedies = [remedy for gap in decomposition.focus for remedy in remedies_for(gap, model.spec)]
    corrected = _labels_corrected(Path(run_dir), model)
    if corrected is not None:
        decomposition.notes.append("labels corrected by data.relabel: " + ", ".join(f"{n} in {split.replace('_', '-')}"
                                                                               for split, n in corrected.items()))
    return Diagnosis(str(run_dir), model.path.name, metric, options, decomposition, remedies, splits, corrected)


def _labels_corrected(run_dir: Path, model: LoadedModel) -> dict[str, int] | None:
    """Per split, from the run's data record: dev and test always (the notes correct them together), train when asked."""
    relabel = model.spec.data.relabel
    counts = corrected_label_counts(run_dir)
    if relabel is None or counts is None:
        return None
    shown = ("dev", "test") + (("train", "train_dev") if relabel.train else ())
    return {split: counts[split] for split in shown if split in counts}


def check_human_error(value: float | None, option: str, rate: bool = True) -> None:
    """An error rate in [0, 1) (a regression's human-level MSE or MAE: any number from 0)."""
    if value is not None and value < 0:
        raise StrategyError(f"{option} {value:g}: expected a human-level error of 0 or more")
    if value is not None and rate and not value < 1:
        raise StrategyError(f"{option} {value:g}: expected an error rate in [0, 1), e.g. 0.01 for 1 %")


def parse_gates(texts: list[str]) -> list[Condition]:
    """``--fail-over variance=0.02`` bars: every gap and split error is lower-is-better, so ``=`` means at most."""
    gates = [GATE.parse(text, "--fail-over") for text in texts]
    for text, gate in zip(texts, gates):
        if gate.key not in GATES:
            raise StrategyError(f"--fail-over {text}: unknown '{gate.key}'; expected one of {', '.join(GATES)}")
    return gates


def check_gates(diagnosis: Diagnosis, gates: list[Condition]) -> list[str]:
    """The ``--fail-over`` bars missed; a bar on a gap this run cannot measure is a usage error."""
    values = diagnosis.values()
    missed = []
    for gate in gates:
        if gate.key not in values:
            split = {"data_mismatch": "train_dev", "dev_overfitting": "test", "test_error": "test"}.get(gate.key, "train_dev")
            how = "give --with-test" if split == "test" else HOW_TO_GET[split]
            raise StrategyError(f"--fail-over {gate.key}: {diagnosis.run} has no {split} measurement; {how}")
        value = values[gate.key]
        if value is not None and not gate.holds(value):
            missed.append(gate.miss(value))
    return missed


def _measure(model: LoadedModel, split: str, options: Options, metric: str, loaded, required: bool,
             run_dir) -> tuple[Level, dict] | None:
    try:
        data = split_data(model, split, loaded)
    except MissingSplitError:
        if not required:
            return None
        raise MissingSplitError(f"{run_dir}: the run has no {split} split, which diagnose needs; {HOW_TO_GET[split]}") from None
    if model.checkpoint.task == "regression":
        metrics = evaluate_data(model, data, split, options).metrics
        return Level(split, metrics[metric], len(data), rate=False), {"examples": len(data), "metrics": metrics, "groups": {}}
    _, scores = score_split(model, data, options)
    level = Level(split, scores.metrics[metric], len(data), scores.effective_examples)
    return level, {"examples": len(data), "metrics": scores.metrics, "groups": scores.groups}


def regression_measure(spec) -> str:
    """The error a regression is diagnosed on: the one its checkpoint.monitor names (dev_mae → mae), else MSE."""
    measure = spec.checkpoint.monitor.rsplit("_", 1)[-1]
    return measure if measure in ("mse", "rmse", "mae") else "mse"
