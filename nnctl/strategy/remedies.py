"""The notes' remedies for each gap (docs/explanation/algorithms.md#error-decomposition), as spec keys to change.

Ordered as the notes list them: the first is what they would try first. Where
the spec already holds a value the remedy shows it, so the user sees what
"train longer" or "more L2" means for this run.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Remedy:
    gap: str
    action: str
    key: str  # the spec key (or command) to change
    now: str | None = None  # the run's current value, when it has one

    def to_dict(self) -> dict:
        return asdict(self)


def _keep_probs(spec) -> str | None:
    probs = [f"{i}: {layer.keep_prob:g}" for i, layer in enumerate(spec.model.layers) if getattr(layer, "keep_prob", 1.0) < 1]
    return ", ".join(probs) if probs else "1 everywhere"


def _layers(spec) -> str:
    return f"{len(spec.model.layers)} layers"


# Each optimizer of the notes improves on those before it (docs/explanation/algorithms.md#optimizers): the remedy
# names only the later ones.
OPTIMIZER_LADDER = (("gd", "gradient descent"), ("momentum", "momentum"), ("rmsprop", "RMSprop"), ("adam", "Adam"))


def _optimizer_remedy(gap: str, spec, now) -> Remedy:
    """A better optimizer than the run's; a run already on the last rung is pointed at a decaying learning rate."""
    names = [name for name, _ in OPTIMIZER_LADDER]
    used = spec.train.optimizer.name if spec is not None else None
    rung = names.index(used) + 1 if used in names else 1
    better = [label for _, label in OPTIMIZER_LADDER[rung:]]
    if not better:
        return Remedy(gap, f"learning-rate decay for {OPTIMIZER_LADDER[-1][1]} (a schedule)", "train.schedule",
                      now(lambda s: s.train.schedule.name))
    return Remedy(gap, f"a better optimizer ({', '.join(better)})", "train.optimizer", now(lambda s: s.train.optimizer.name))


def remedies_for(gap: str, spec=None) -> list[Remedy]:
    """What to try against ``gap`` (avoidable_bias, variance, data_mismatch, dev_overfitting), best first."""
    now = (lambda get: get(spec)) if spec is not None else (lambda get: None)
    if gap == "avoidable_bias":
        return [
            Remedy(gap, "a bigger network: more hidden units or more layers", "model.layers", now(_layers)),
            Remedy(gap, "train longer", "train.epochs", now(lambda s: str(s.train.epochs))),
            _optimizer_remedy(gap, spec, now),
            Remedy(gap, "another architecture or a hyperparameter search (activation, units, learning rate)",
                   "train.learning_rate", now(lambda s: f"{s.train.learning_rate:g}")),
        ]
    if gap == "variance":
        return [
            Remedy(gap, "more training data", "data.split.train", now(lambda s: f"{s.data.split.train:g}")),
            Remedy(gap, "L2 regularization", "regularization.l2", now(lambda s: f"{s.regularization.l2:g}")),
            Remedy(gap, "dropout", "model.layers[i].keep_prob", now(_keep_probs)),
            Remedy(gap, "data augmentation", "train.augment", now(lambda s: "off" if s.train.augment is None else "on")),
            Remedy(gap, "another architecture or a hyperparameter search", "model.layers", now(_layers)),
        ]
    if gap == "data_mismatch":
        return [
            Remedy(gap, "error analysis of dev against train-dev: what differs?", "nnctl errors RUN --split dev"),
            Remedy(gap, "training data more like dev/test (collect it, or move target-like rows into training)", "data.source"),
            Remedy(gap, "artificial data synthesis (e.g. noise like the target's)", "train.augment.noise",
                   now(lambda s: f"{s.train.augment.noise:g}" if s.train.augment else "0")),
        ]
    if gap == "dev_overfitting":
        return [Remedy(gap, "a bigger dev set (the model was tuned to this one)", "data.split.dev", now(lambda s: f"{s.data.split.dev:g}"))]
    raise ValueError(f"no remedies for gap '{gap}'")
