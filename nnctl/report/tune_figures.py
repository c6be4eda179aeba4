"""Pictures of a search: the metric against each hyperparameter on its own scale, and best-so-far by trial.

The notes sample a learning rate on a log scale because its effect is spread
over decades; it is plotted the same way (log x axes for log-sampled
parameters, 1 - β for momentum-like ones, categories for choices). Each
outcome has its own marker shape as well as its own colour, so the kinds stay
apart without colour vision.
"""

from __future__ import annotations

import math

from .figures import PALETTE, new_figure
from .tune_view import ParameterAxis, TrialPoint, TuneView

# outcome → (label, marker, face colour, edge colour); "no value" trials sit on the top edge.
OUTCOME_STYLE = {
    "ranked": ("finished", "o", PALETTE[0], PALETTE[0]),
    "unsatisfied": ("unmet satisfy condition", "o", "none", PALETTE[1]),
    "pruned": ("pruned (value when stopped)", "X", PALETTE[5], PALETTE[5]),
    "no value": ("failed or diverged (no value)", "v", PALETTE[7], PALETTE[7]),
}
BEST_COLOUR = PALETTE[2]
NO_VALUE_Y = 0.96  # in axes coordinates
COLUMNS = 3  # parameter panels per row


def _by_outcome(view: TuneView) -> dict[str, list[TrialPoint]]:
    groups = {outcome: [] for outcome in OUTCOME_STYLE}
    for trial in view.trials:
        if trial.outcome in groups:
            groups[trial.outcome].append(trial)
    return groups


def _scatter(ax, x: list[float], trials: list[TrialPoint], outcome: str) -> None:
    """Trials of one outcome at ``x``; those without a value just below the top edge (there is no y for them)."""
    label, marker, face, edge = OUTCOME_STYLE[outcome]
    if outcome == "no value":
        ax.scatter(x, [NO_VALUE_Y] * len(x), marker=marker, facecolors=face, edgecolors=edge, s=40, label=label,
                   transform=ax.get_xaxis_transform(), zorder=4)
        ax.margins(y=0.14)  # headroom, so the markers at the top do not sit on the highest values
    else:
        ax.scatter(x, [t.value for t in trials], marker=marker, facecolors=face, edgecolors=edge, s=36,
                   linewidths=1.2, label=label, zorder=3)


def draw_parameter(ax, view: TuneView, axis: ParameterAxis) -> None:
    """The metric of every trial against one parameter, on the scale the search sampled it on."""
    for outcome, trials in _by_outcome(view).items():
        if trials:
            _scatter(ax, [axis.plotted(t.params[axis.path]) for t in trials], trials, outcome)
    best = view.best
    if best is not None:
        ax.scatter([axis.plotted(best.params[axis.path])], [best.value], marker="*", s=260, facecolors=BEST_COLOUR,
                   edgecolors="#000000", linewidths=0.8, zorder=5, label=_best_label(best, view))
    if axis.categorical:
        labels = axis.choice_labels()
        slanted = max(map(len, labels)) > 8  # side by side they would overlap
        ax.set_xticks(range(len(labels)), labels, rotation=30 if slanted else 0, ha="right" if slanted else "center")
        ax.set_xlim(-0.5, len(axis.choices) - 0.5)
    else:
        if axis.log:
            ax.set_xscale("log")
        ax.set_xlim(*_padded(axis))
    ax.set_xlabel(axis.label)
    ax.set_ylabel(view.metric_label)
    ax.grid(True, alpha=0.3)


def _best_label(best: TrialPoint, view: TuneView) -> str:
    return f"best: trial {best.index}, {view.metric} {best.value:.4g}"


def _padded(axis: ParameterAxis) -> tuple[float, float]:
    """The sampled range with 4 % of room either side (on the log scale for log axes)."""
    lo, hi = axis.plotted_range
    if axis.log:
        a, b = math.log10(lo), math.log10(hi)
        pad = 0.04 * (b - a) or 0.1
        return 10 ** (a - pad), 10 ** (b + pad)
    pad = 0.04 * (hi - lo) or 0.5
    return lo - pad, hi + pad


def draw_best_so_far(ax, view: TuneView) -> None:
    """Each trial's value by index, and the best ranked value among the trials up to it (a step line)."""
    for outcome, trials in _by_outcome(view).items():
        if trials:
            _scatter(ax, [t.index for t in trials], trials, outcome)
    progress = [(index, leader.value) for index, leader in view.best_so_far() if leader is not None]
    if progress:
        ax.step([i for i, _ in progress], [v for _, v in progress], where="post", color=BEST_COLOUR, linewidth=2,
                label=view.progress_label, zorder=2)
    best = view.best
    if best is not None:
        ax.scatter([best.index], [best.value], marker="*", s=260, facecolors=BEST_COLOUR, edgecolors="#000000",
                   linewidths=0.8, zorder=5, label=_best_label(best, view))
    ax.set_xlabel("trial (index, in the order the search planned them)")
    ax.set_ylabel(view.metric_label)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(True, alpha=0.3)


def _legend(fig, *axes) -> None:
    """One legend for the whole figure, below the panels (the panels share their markers)."""
    entries = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            entries.setdefault(label, handle)
    fig.legend(list(entries.values()), list(entries), loc="outside lower center", ncols=min(len(entries), 3),
               fontsize="small")


def parameters_figure(view: TuneView):
    """One panel per searched parameter: the metric against it."""
    n = len(view.parameters)
    columns = min(n, COLUMNS)
    rows = math.ceil(n / columns)
    fig = new_figure(3.6 * columns + 0.6, 3.1 * rows + 0.9)
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    for ax, axis in zip(axes, view.parameters):
        draw_parameter(ax, view, axis)
    for ax in axes[n:]:
        ax.set_axis_off()
    _legend(fig, axes[0])
    fig.suptitle(f"{view.name}: {view.heading} against each hyperparameter", wrap=True)  # one panel: narrow
    return fig


def best_so_far_figure(view: TuneView):
    fig = new_figure(7.0, 4.0)
    ax = fig.subplots()
    draw_best_so_far(ax, view)
    ax.legend(fontsize="small", loc="best")
    fig.suptitle(f"{view.name}: best {view.metric} so far by trial")
    return fig


def tune_figure(view: TuneView):
    """`nnctl plot tune`: the parameter panels, then best-so-far across the bottom row."""
    n = len(view.parameters)
    columns = min(max(n, 1), COLUMNS)
    rows = math.ceil(n / columns)
    fig = new_figure(max(3.6 * columns + 0.6, 7.5), 3.1 * (rows + 1) + 1.0)
    grid = fig.add_gridspec(rows + 1, columns)
    panels = [fig.add_subplot(grid[i // columns, i % columns]) for i in range(n)]
    for ax, axis in zip(panels, view.parameters):
        draw_parameter(ax, view, axis)
    progress = fig.add_subplot(grid[rows, :])
    draw_best_so_far(progress, view)
    _legend(fig, *panels, progress)
    fig.suptitle(f"Search {view.name}: {view.heading}, {len(view.scored())} of {len(view.trials)} trials with a value")
    return fig
