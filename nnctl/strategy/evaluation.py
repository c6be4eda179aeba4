"""A run's model on one of its splits (or a labelled file): every metric `eval` prints and records.

The per-epoch metrics (cost, accuracy, precision, recall, F1) come from the
training code's `evaluate`; the single-number extras (weighted error, group
errors, two-class rates, ROC AUC) from `scoring`. A split's evaluation and the
dev latency measured with it go into the run's eval.json for `select`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..conditions import Condition, Form
from ..data import Dataset
from ..data.load import unseen_classes
from ..errors import MissingSplitError, RunError, StrategyError
from ..nn.metrics import confusion_matrix
from ..orchestration.model import LoadedModel, all_splits, load_model, split_data
from ..train.evaluate import evaluate_outputs, lower_is_better
from ..train.prepare import prepare_split
from . import records
from .groups import group_values
from .latency import LATENCY_EXAMPLES, LATENCY_PASSES, predict_ms
from .regression import regression_scores
from .scoring import Scores, score


@dataclass
class Options:
    """How to score: a sigmoid threshold, class weights, a CSV group column (spec defaults under ``strategy:``)."""

    threshold: float | None = None
    weights: dict[str, float] = field(default_factory=dict)
    group_by: str | int | None = None

    @classmethod
    def for_model(cls, model: LoadedModel, threshold=None, weights=None, group_by=None) -> Options:
        strategy = model.spec.strategy
        options = cls(threshold, strategy.weights if weights is None else weights,
                      strategy.group_by if group_by is None else group_by)
        task = model.checkpoint.task
        if task != "classification" and (options.threshold is not None or options.weights or options.group_by is not None):
            raise StrategyError(f"--threshold, --weights and --group-by need a (single-label) classification run; this one is {task}")
        return options

    def to_dict(self) -> dict:
        return {"threshold": self.threshold, "weights": self.weights, "group_by": self.group_by}


@dataclass
class Evaluation:
    source: str
    examples: int
    metrics: dict[str, float]
    groups: dict[str, dict] = field(default_factory=dict)
    confusion: np.ndarray | None = None
    predict_ms: float | None = None
    labels: np.ndarray | None = None  # multi-label runs: the (m, k) labels, for a per-task table
    unseen_classes: dict[str, int] | None = None  # {class: rows} the training split never had; None: not checked (a file)
    unrecorded: str | None = None  # why eval.json could not be written (a read-only run), when it could not


def prepared_for(model: LoadedModel, data: Dataset):
    """``data`` as the model consumes it (normalized, its dtype, encoded targets)."""
    return prepare_split(data, model.normalizer, model.checkpoint.task, model.net.output_shape[0], model.net.dtype)


def score_split(model: LoadedModel, data: Dataset, options: Options, prepared=None,
                outputs: np.ndarray | None = None) -> tuple[np.ndarray, Scores]:
    """Outputs and scores of a classification split (``outputs``: already computed for ``prepared``);
    groups come from the source rows of ``data``."""
    groups = None if options.group_by is None else group_values(model.spec.data, options.group_by, data)
    prepared = prepared if prepared is not None else prepared_for(model, data)
    outputs = outputs if outputs is not None else model.net.predict(prepared.x)
    return outputs, score(prepared.labels, outputs, model.checkpoint.class_names, options.threshold, options.weights, groups)


def evaluate_data(model: LoadedModel, data: Dataset, source: str, options: Options, prepared=None) -> Evaluation:
    n_classes = len(model.checkpoint.class_names)
    prepared = prepared if prepared is not None else prepared_for(model, data)
    threshold = 0.5 if options.threshold is None else options.threshold
    task = model.checkpoint.task
    tasks = model.checkpoint.class_names if task == "multilabel" else None
    metrics, outputs = evaluate_outputs(model.net, prepared.x, prepared.targets, prepared.labels, n_classes, tasks,
                                        threshold=threshold, keep=task in ("classification", "regression"))
    result = Evaluation(source, len(prepared), metrics, labels=prepared.labels if task == "multilabel" else None)
    if task == "regression":  # in float64, in the units of the training file's targets
        units = model.schema.to_units if model.schema is not None else np.asarray
        metrics.update(regression_scores(units(data.y), units(outputs)))
    if task == "classification":  # scored from the outputs of the same forward pass
        _, scores = score_split(model, data, options, prepared, outputs)
        metrics.update({name: value for name, value in scores.metrics.items() if name not in metrics})
        result.groups = scores.groups
        result.confusion = confusion_matrix(prepared.labels, scores.predictions, n_classes)
    return result


def evaluate_split(run_dir: Path, model: LoadedModel, split: str, options: Options) -> Evaluation:
    """Evaluate one of the run's splits, measure the dev latency, and record both in eval.json."""
    splits = all_splits(model)  # the data is read once for both
    data = split_data(model, split, splits)
    prepared = prepared_for(model, data)
    result = evaluate_data(model, data, split, options, prepared)
    result.unseen_classes = unseen_classes(splits, split)
    latency, x = None, None
    if split == "dev":
        x = prepared.x  # the split evaluated is the one latency is measured on: prepared once for both
    else:
        try:
            dev = split_data(model, "dev", splits)
        except MissingSplitError:
            dev = None
        if dev is not None:
            x = prepared_for(model, dev).x
    if x is not None:
        result.predict_ms = predict_ms(model.net, x)
        latency = {"predict_ms": result.predict_ms, "split": "dev", "examples": min(len(x), LATENCY_EXAMPLES), "passes": LATENCY_PASSES}
    entry = {"examples": result.examples, "metrics": result.metrics, **options.to_dict(), "groups": result.groups,
             "unseen_classes": result.unseen_classes}
    try:
        records.record(run_dir, model.path, split, entry, latency)
    except RunError as err:  # a read-only run (an archive, a shared folder): the metrics stand without their record
        result.unrecorded = str(err)
    return result


def evaluate_checkpoint(run_dir: Path, split: str, which: str = "best") -> Evaluation:
    """One of the run's checkpoints scored on one of its splits, with the options its spec sets (and recorded)."""
    model = load_model(run_dir, which)
    return evaluate_split(run_dir, model, split, Options.for_model(model))


FAIL_UNDER = Form(("=",), "--fail-under accuracy=0.97", equals=">=")
FAIL_OVER = Form(("=",), "--fail-over cost=0.3", equals="<=")


def parse_bars(fail_under: list[str], fail_over: list[str]) -> list[Condition]:
    """eval's bars: at least ``--fail-under accuracy=0.97`` of a higher-is-better metric, at most
    ``--fail-over cost=0.3`` of a lower-is-better one (a bar on the wrong side could never be missed)."""
    bars = []
    for texts, form, option in ((fail_under, FAIL_UNDER, "--fail-under"), (fail_over, FAIL_OVER, "--fail-over")):
        for text in texts:
            bar = form.parse(text, option)
            if lower_is_better(bar.key) == (form is FAIL_UNDER):
                kind = "a higher-is-better" if form is FAIL_UNDER else "a lower-is-better"
                raise StrategyError(f"{option} {text}: '{bar.key}' is not {kind} metric")
            bars.append(bar)
    return bars


def missed_bars(bars: list[Condition], metrics: dict[str, float]) -> list[str]:
    """The bars the metrics miss, each as one line; a bar on a metric the run does not report is a usage error."""
    for bar in bars:
        if bar.key not in metrics:
            raise StrategyError(f"unknown metric '{bar.key}'; this run reports {', '.join(metrics)}")
    return [bar.miss(metrics[bar.key]) for bar in bars if not bar.holds(metrics[bar.key])]
