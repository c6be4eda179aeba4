"""A starting ``search:`` block for a spec, ordered by the notes' tuning priority (`nnctl tune --suggest SPEC`).

The notes rank hyperparameters by how much they usually matter
(docs/explanation/algorithms.md#hyperparameter-sampling): first the learning rate α;
then the momentum β, the mini-batch size and the hidden units; then the number of
layers and the learning-rate decay; Adam's β1, β2 and ε almost never (0.9, 0.999 and
1e-8 work). The block samples the first tiers on the notes' scales and names the
rest in comments, so a search starts where the notes would and says what it left out.
"""

from __future__ import annotations

from ..spec.schema import DenseLayerSpec, Spec
from ..train.batches import AUTO_SIZES, FULL_BATCH_UP_TO

DECAY = {  # the schedule's decay knob and its range
    "inverse_time": ("decay_rate", "log_uniform", (0.01, 1.0)),
    "exponential": ("base", "uniform", (0.9, 0.99)),
    "step": ("factor", "uniform", (0.1, 0.9)),
    "inv_sqrt": ("k", "log_uniform", (0.1, 10.0)),
}


def _line(path: str, kind: str, args, why: str) -> str:
    values = ", ".join(f"{a:g}" if isinstance(a, float) else str(a) for a in args)
    return f"    {path}: {{{kind}: [{values}]}}".ljust(68) + f"  # {why}"


def suggested_search(spec: Spec) -> str:
    """The ``search:`` block (YAML with comments, tier by tier) to paste into ``spec``."""
    monitor = spec.checkpoint.monitor
    lines = ["search:", f"  metric: {monitor if monitor.startswith('dev_') else 'dev_cost'}   # a dev metric, never test",
             "  trials: 30", "  parameters:", "    # 1. the learning rate: the one that matters most",
             _line("train.learning_rate", "log_uniform", (1e-4, 1.0), "log scale: 1e-4 … 1")]
    tier2 = []
    optimizer = spec.train.optimizer.name
    if optimizer in ("momentum", "rmsprop"):
        tier2.append(_line("train.optimizer.beta", "one_minus_log_uniform", (0.9, 0.999), "1 − β log-uniform"))
    tier2.append(_line("train.batch_size", "choice", AUTO_SIZES, f"powers of two; full batch if m ≤ {FULL_BATCH_UP_TO}"))
    for i, layer in enumerate(spec.model.layers[:-1]):
        if isinstance(layer, DenseLayerSpec):
            tier2.append(_line(f"model.layers[{i}].units", "int_uniform", (max(1, layer.units // 2), 2 * layer.units),
                               "hidden units: half to twice"))
    lines += ["    # 2. then " + ("the momentum β, " if optimizer in ("momentum", "rmsprop") else "")
              + "the mini-batch size, the hidden units", *tier2]
    lines.append("    # 3. then the learning-rate decay (and the number of layers: compare specs, a search varies values)")
    schedule = spec.train.schedule.name
    if schedule in DECAY:
        knob, kind, args = DECAY[schedule]
        lines.append(_line(f"train.schedule.{knob}", kind, args, f"{schedule}'s decay"))
    else:
        lines.append("    # train.schedule: {choice: [{name: constant}, {name: inverse_time, decay_rate: 1.0}]}")
    lines.append("    # 4. almost never: Adam's beta1 (0.9), beta2 (0.999) and epsilon (1e-8) work as they are")
    return "\n".join(lines) + "\n"
