"""Learning curves: per-epoch metrics of one or several runs, the mini-batch cost and the learning rate.

One panel per kind of metric (costs together, accuracies together: one unit
per y axis), then the learning-rate schedule on the same x axis. Several runs
are told apart by colour, splits by line style; each run's best epoch (by its
checkpoint.monitor) is marked, and an early stop is drawn where it happened.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import PlotError
from .choices import Per
from .ewma import ewma
from .figures import LINESTYLES, colour, new_figure
from .history import RunHistory

SPLIT_PREFIXES = ("train_dev_", "train_", "dev_")  # train_dev_ first: it also starts with train_
DEFAULT_METRICS = ("train_cost", "dev_cost")


@dataclass
class CurveOptions:
    metrics: tuple[str, ...] = ()  # none: DEFAULT_METRICS, those the runs recorded
    per: str = Per.epoch  # or Per.step: x in optimizer steps, with the mini-batch cost and its average
    smooth: float = 0.9  # β of the bias-corrected average of the mini-batch cost
    log_y: bool = False


def metric_kind(metric: str) -> tuple[str, str]:
    """'train_dev_cost' → ('train_dev', 'cost'); a metric without a split prefix is its own kind."""
    for prefix in SPLIT_PREFIXES:
        if metric.startswith(prefix):
            return prefix[:-1], metric[len(prefix):]
    return "", metric


def axis_label(kind: str, task: str) -> str:
    """The y-axis label of a kind of metric, with its unit."""
    if kind == "cost":
        return "cost J (nats, cross-entropy)" if task == "classification" else "cost J (½ squared error, target units²)"
    labels = {
        "accuracy": "accuracy (fraction)", "error": "error rate (fraction)", "precision": "precision (fraction)",
        "recall": "recall (fraction)", "f1": "F1 score (fraction)", "mse": "mean squared error (target units²)",
        "mae": "mean absolute error (target units)", "learning_rate": "learning rate α (per step)",
        "epoch_time": "epoch time (s)", "wall_time": "wall time (s)",
    }
    return labels.get(kind, kind)


def chosen_metrics(histories: list[RunHistory], metrics: tuple[str, ...]) -> tuple[str, ...]:
    """The metrics to draw: those asked for, each recorded by every run (PlotError with a did-you-mean
    otherwise), or by default `default_metrics`."""
    metrics = metrics or default_metrics(histories)
    for history in histories:
        for metric in metrics:
            history.column(metric)
    return metrics


def default_metrics(histories: list[RunHistory]) -> tuple[str, ...]:
    """train_cost and dev_cost as far as recorded, then each run's monitored metric (what its best epoch was
    judged on) with its train counterpart: a curve marked "best" is always on the figure."""
    chosen = [m for m in DEFAULT_METRICS if all(m in h.metrics for h in histories)] or list(DEFAULT_METRICS[:1])
    for history in histories:
        monitor = history.best.get("metric")
        if not monitor:
            continue
        partner = "train_" + metric_kind(monitor)[1]
        chosen += [m for m in (partner, monitor) if m not in chosen and all(m in h.metrics for h in histories)]
    return tuple(chosen)


def constant_rate(histories: list[RunHistory]) -> str | None:
    """A line saying what the learning rate was when no run changed it (then it needs no panel), else None."""
    if not all(h.step_lr.size and h.step_lr.min() == h.step_lr.max() for h in histories):
        return None
    if len(histories) == 1:
        return f"learning rate α = {histories[0].step_lr[0]:.4g}, constant"
    rates = {f"{h.step_lr[0]:.4g}" for h in histories}
    if len(rates) == 1:
        return f"learning rate α = {rates.pop()}, constant in every run"
    return "constant learning rates: " + ", ".join(f"{h.name} α = {h.step_lr[0]:.4g}" for h in histories)


def curves_figure(histories: list[RunHistory], options: CurveOptions):
    """The learning-curve figure of ``histories`` (overlaid) as a matplotlib Figure.

    One run: colour per metric, a legend in each panel. Several runs: colour per run and line
    style per split, in one legend beside the panels (N runs + k styles entries, not N × k).
    A learning rate no run changed is a line of text above the panels, not a panel of its own.
    """
    if options.per not in tuple(Per):
        raise PlotError(f"--per {options.per}: expected one of {', '.join(Per)}")
    metrics = chosen_metrics(histories, options.metrics)
    kinds = list(dict.fromkeys(metric_kind(m)[1] for m in metrics))
    if options.per == "step" and "cost" not in kinds:
        kinds.insert(0, "cost")
    several = len(histories) > 1
    constant = constant_rate(histories)
    n_panels = len(kinds) + (constant is None)
    fig = new_figure(9.0 if several else 7.5, 2.6 * n_panels + 0.5)
    axes = fig.subplots(n_panels, 1, sharex=True, squeeze=False)[:, 0]
    panels = dict(zip(kinds, axes))
    task = histories[0].task
    for r, history in enumerate(histories):
        scale = history.steps_per_epoch if options.per == "step" else 1
        x_epoch = history.epoch["epoch"] * scale
        for s, metric in enumerate(metrics):
            split, kind = metric_kind(metric)
            style = LINESTYLES[_split_index(split)]
            label = f"{history.name}: {metric}" if several else metric
            panels[kind].plot(x_epoch, history.column(metric), style, color=colour(r if several else s),
                              marker="." if history.n_epochs <= 30 else None, label=label)
        if options.per == "step":
            _step_cost(panels["cost"], history, options.smooth, colour(r if several else len(metrics)), several)
        _markers(panels, history, scale, colour(r) if several else "#000000", several)
        if constant is None:
            steps = np.arange(1, len(history.step_lr) + 1)
            x_lr = steps if options.per == "step" else steps / history.steps_per_epoch
            axes[-1].plot(x_lr, history.step_lr, color=colour(r), label=f"{history.name}: learning rate" if several else "learning rate")
            _changes(axes[-1], history, 1 if options.per == "step" else history.steps_per_epoch, colour(r), several)
    for kind, ax in panels.items():
        ax.set_ylabel(axis_label(kind, task))
        if options.log_y:
            ax.set_yscale("log")
    if constant is None:
        axes[-1].set_ylabel(axis_label("learning_rate", task))
        if _spans_decades(histories):
            axes[-1].set_yscale("log")
    else:
        axes[0].set_title(constant, loc="left", fontsize="small", color="#444444")
    axes[-1].set_xlabel("step (mini-batch updates)" if options.per == "step" else "epoch (passes over the training set)")
    for ax in axes:
        ax.grid(True, alpha=0.3)
        if not several:
            ax.legend(fontsize="small", loc="best")
    if several:
        fig.legend(handles=_grouped_legend(histories, metrics, options), loc="outside right upper", fontsize="small")
    title = f"Learning curves: {histories[0].name}" if not several else f"Learning curves of {len(histories)} runs"
    fig.suptitle(title)
    return fig


def _grouped_legend(histories: list[RunHistory], metrics: tuple[str, ...], options: CurveOptions) -> list:
    """One entry per run (its colour), then one per line style (split, mini-batch cost, markers) in grey."""
    from matplotlib.lines import Line2D

    grey = "#555555"
    handles = [Line2D([], [], color=colour(r), linewidth=2.5, label=h.name) for r, h in enumerate(histories)]
    splits = list(dict.fromkeys(metric_kind(m)[0] for m in metrics))
    handles += [Line2D([], [], color=grey, linestyle=LINESTYLES[_split_index(split)], label=f"{split or 'other'} split")
                for split in splits]
    if options.per == "step":
        handles.append(Line2D([], [], color=grey, alpha=0.3, linewidth=0.8, label="mini-batch cost (with penalty)"))
        if options.smooth > 0:
            handles.append(Line2D([], [], color=grey, linewidth=1.6, label=f"its average, β = {options.smooth:g}"))
    if any(h.best.get("epoch") is not None for h in histories):
        handles.append(Line2D([], [], color=grey, linestyle=":", marker="*", markersize=9,
                              label="best epoch (★ on the monitored metric)"))
    if any(h.stopped_early_at is not None for h in histories):
        handles.append(Line2D([], [], color=grey, linestyle="-.", label="early stop"))
    return handles


def _split_index(split: str) -> int:
    return {"train": 0, "dev": 1, "train_dev": 2}.get(split, 3)


def _step_cost(ax, history: RunHistory, beta: float, line_colour: str, several: bool) -> None:
    """The noisy mini-batch cost, faint, under its bias-corrected exponentially weighted average."""
    steps = np.arange(1, len(history.step_cost) + 1)
    prefix = f"{history.name}: " if several else ""
    ax.plot(steps, history.step_cost, color=line_colour, alpha=0.25, linewidth=0.8, label=f"{prefix}mini-batch cost (with penalty)")
    if beta > 0:
        ax.plot(steps, ewma(history.step_cost, beta), color=line_colour, linewidth=1.6,
                label=f"{prefix}its average, β = {beta:g} (bias-corrected)")


def _markers(panels: dict, history: RunHistory, scale: int, line_colour: str, several: bool) -> None:
    """The best epoch (a star on the monitored curve, a dotted line elsewhere) and an early stop.

    ``scale`` turns epochs into x: steps per epoch on a step axis, 1 on an epoch axis.
    """
    prefix = f"{history.name}: " if several else ""
    best_epoch, monitor = history.best.get("epoch"), history.best.get("metric")
    if best_epoch is not None:
        x_best = best_epoch * scale
        for kind, ax in panels.items():
            ax.axvline(x_best, color=line_colour, linestyle=":", linewidth=1,
                       label=f"{prefix}best epoch {best_epoch} ({monitor})" if kind == next(iter(panels)) else None)
        kind = metric_kind(monitor)[1]
        if kind in panels and history.best.get("value") is not None:
            panels[kind].plot([x_best], [history.best["value"]], "*", color=line_colour, markersize=12, zorder=5,
                              label=f"{prefix}best {monitor} {history.best['value']:.4g}")
    stop = history.stopped_early_at
    if stop is not None:
        for kind, ax in panels.items():
            ax.axvline(stop * scale, color=line_colour, linestyle="-.", linewidth=1,
                       label=f"{prefix}early stop after epoch {stop}" if kind == next(iter(panels)) else None)


def _changes(ax, history: RunHistory, steps_per_x: int, line_colour: str, several: bool) -> None:
    """Where the learning rate or its schedule was changed by hand on resume (a `set` event): a dashed line
    at the first step that used the new setting."""
    prefix = f"{history.name}: " if several else ""
    for event in history.events:
        if event.get("event") != "set":
            continue
        change = (f"α {event['from']:g} → {event['to']:g}" if event["key"] == "train.learning_rate"
                  else f"schedule → {event['to'].get('name', '?')}")
        ax.axvline(event["step"] / steps_per_x, color=line_colour, linestyle="--", linewidth=1,
                   label=f"{prefix}{change} from step {event['step']} (resume)")


def _spans_decades(histories: list[RunHistory]) -> bool:
    """A schedule that decays over more than a factor of 20 reads better on a log axis."""
    lr = np.concatenate([h.step_lr for h in histories])
    return lr.size > 0 and lr.min() > 0 and lr.max() / lr.min() > 20
