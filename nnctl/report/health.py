"""The health figure of a run (`nnctl plot health RUN`, the report's "Training health" section).

Five panels from metrics.h5's /health record: ‖dW‖ per layer over the steps and
across depth (input to output, at the first, middle and last record: vanishing
gradients are a line falling towards the input), the update ratio ‖ΔW‖/‖W‖, the
activations' mean ± standard deviation, and the dead ReLU / saturated sigmoid-tanh
shares. The run's warnings are listed under the title.
"""

from __future__ import annotations

import numpy as np

from ..errors import PlotError
from .figures import LINESTYLES, colour, new_figure
from .history import RunHistory


def health_figure(history: RunHistory):
    health = history.health
    if not len(health):
        raise PlotError(f"{history.run}: no health record (watch.health_every was 0, or the run predates it)")
    steps = np.asarray(health.step)
    names = list(health.layers)
    fig = new_figure(11.0, 10.5)
    (grad, depth), (ratio, act), (inactive, notes) = fig.subplots(3, 2, squeeze=False)
    for i, name in enumerate(names):
        style = {"color": colour(i), "linestyle": LINESTYLES[(i // 8) % len(LINESTYLES)], "label": name}
        grad.plot(steps, health.columns[name]["grad_norm"], **style)
        ratio.plot(steps, health.columns[name]["update_ratio"], **style)
        mean, std = (np.asarray(health.columns[name][k]) for k in ("act_mean", "act_std"))
        if np.isfinite(mean).any():
            act.plot(steps, mean, **style)
            act.fill_between(steps, mean - std, mean + std, color=colour(i), alpha=0.08)
        for stat, marker in (("dead", "v"), ("saturated", "^")):
            values = np.asarray(health.columns[name][stat])
            if np.isfinite(values).any():
                inactive.plot(steps, values, marker=marker, markersize=3, **{**style, "label": f"{name} {stat}"})
    grads = np.array([health.columns[name]["grad_norm"] for name in names])  # (layers, records)
    for j, record in enumerate(dict.fromkeys((0, len(steps) // 2, len(steps) - 1))):
        depth.plot(range(1, len(names) + 1), grads[:, record], marker="o", color=colour(j), label=f"step {steps[record]}")
    depth.set_xticks(range(1, len(names) + 1), names, rotation=45, ha="right", fontsize="small")
    for ax, label in ((grad, "‖dW‖ (gradient of J)"), (depth, "‖dW‖ by layer, input → output"),
                      (ratio, "update ratio ‖ΔW‖/‖W‖"), (act, "activations: mean ± std"),
                      (inactive, "share dead (ReLU) / saturated (σ, tanh)")):
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
        if ax is not depth:
            ax.set_xlabel("step (mini-batch updates)")
    for ax in (grad, depth, ratio):
        if _positive(ax):
            ax.set_yscale("log")
    inactive.set_ylim(-0.02, 1.02)
    for ax in (grad, depth, ratio, act, inactive):
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize="x-small", loc="best", ncol=2 if len(names) > 6 else 1)
    warnings = [e for e in history.events if e.get("event") == "warning"]
    notes.axis("off")
    text = "\n\n".join(f"step {e['step']}, {e['kind']}: {e['message']}" for e in warnings) or "no warnings"
    notes.text(0.0, 1.0, text, va="top", ha="left", fontsize="small", wrap=True, transform=notes.transAxes,
               usetex=False, parse_math=False)
    fig.suptitle(f"Training health: {history.name} (every {health.every} steps)")
    return fig


def _positive(ax) -> bool:
    """Whether every plotted value is positive (a log axis can show them)."""
    values = np.concatenate([line.get_ydata() for line in ax.get_lines()] or [np.zeros(1)])
    values = values[np.isfinite(values)]
    return values.size > 0 and bool(np.all(values > 0))
