"""Learning curves as plain text, for a terminal over SSH: no matplotlib, no files, no colour needed.

Each series gets its own marker character (the legend names them), so the chart
reads the same in colour, in black and white and in a log file.
"""

from __future__ import annotations

import math

import numpy as np

from .curves import CurveOptions, axis_label, chosen_metrics, metric_kind
from .ewma import ewma
from .history import RunHistory
from .values import count

SERIES_MARKS = "*o+x#@%&"
WIDTH, HEIGHT = 64, 14
MIN_CHART = 20  # columns: narrower than this a chart says nothing
CHART_MARGIN = 12  # columns beside the plotting area: the y scale's numbers and the frame


def text_chart(series: list[tuple[str, np.ndarray, np.ndarray]], title: str, x_label: str, y_label: str,
               log_y: bool = False, width: int = WIDTH, height: int = HEIGHT) -> str:
    """A width × height character plot of (label, x, y) series with a y scale, an x scale and a legend.

    Each column takes a series' value interpolated linearly at that column's x, so
    a curve is continuous however many points it has; later series draw over earlier ones.
    """
    kept = [(label, np.asarray(x, float), _transform(np.asarray(y, float), log_y)) for label, x, y in series]
    finite = np.concatenate([y[np.isfinite(y)] for _, _, y in kept] or [np.zeros(0)])
    xs = np.concatenate([x for _, x, _ in kept] or [np.zeros(0)])
    lines = [title]
    if finite.size == 0 or xs.size == 0:
        return "\n".join(lines + ["  (no finite values to plot)"])
    y_low, y_high = float(finite.min()), float(finite.max())
    if y_high == y_low:
        y_low, y_high = y_low - 0.5, y_high + 0.5
    x_low, x_high = float(xs.min()), float(xs.max())
    grid = [[" "] * width for _ in range(height)]
    columns = np.linspace(x_low, x_high, width)
    for s, (_, x, y) in enumerate(kept):
        ok = np.isfinite(y)
        if not ok.any():
            continue
        x, y = x[ok], y[ok]
        inside = (columns >= x[0]) & (columns <= x[-1])
        if len(x) == 1:  # one point (one epoch so far): one mark in the nearest column, not a flat line
            inside = np.arange(width) == np.argmin(np.abs(columns - x[0]))
        values = np.interp(columns, x, y)
        for col in np.flatnonzero(inside):
            row = int(round((y_high - values[col]) / (y_high - y_low) * (height - 1)))
            grid[row][col] = SERIES_MARKS[s % len(SERIES_MARKS)]
    ticks = {0: y_high, (height - 1) // 2: (y_high + y_low) / 2, height - 1: y_low}
    labels = {row: _number(_untransform(value, log_y)) for row, value in ticks.items()}
    pad = max(len(text) for text in labels.values())
    lines.append(f"{'':>{pad}}  {y_label}{' (log scale)' if log_y else ''}")
    for row in range(height):
        lines.append(f"{labels.get(row, ''):>{pad}} |{''.join(grid[row])}")
    lines.append(f"{'':>{pad}} +{'-' * width}")
    left, right = _number(x_low), _number(x_high)
    lines.append(f"{'':>{pad}}  {left}{right:>{width - len(left)}}")
    lines.append(f"{'':>{pad}}  {x_label:^{width}}")
    lines.extend(f"{'':>{pad}}  {SERIES_MARKS[s % len(SERIES_MARKS)]} {label}" for s, (label, _, _) in enumerate(kept))
    return "\n".join(lines)


def terminal_curves(histories: list[RunHistory], options: CurveOptions, width: int = WIDTH, height: int = HEIGHT) -> str:
    """One text chart per kind of metric (as `curves_figure` has one panel per kind), best epochs listed below."""
    metrics = chosen_metrics(histories, options.metrics)
    several = len(histories) > 1
    by_kind: dict[str, list] = {}
    for history in histories:
        scale = history.steps_per_epoch if options.per == "step" else 1
        prefix = f"{history.name}: " if several else ""
        if options.per == "step":
            steps = np.arange(1, len(history.step_cost) + 1)
            cost = ewma(history.step_cost, options.smooth) if options.smooth > 0 else history.step_cost
            what = f"mini-batch cost, average β = {options.smooth:g}" if options.smooth > 0 else "mini-batch cost"
            by_kind.setdefault("cost", []).append((f"{prefix}{what}", steps, cost))
        for metric in metrics:
            by_kind.setdefault(metric_kind(metric)[1], []).append(
                (f"{prefix}{metric}", history.epoch["epoch"] * scale, history.column(metric)))
    x_label = "step" if options.per == "step" else "epoch"
    title = histories[0].name if not several else f"{len(histories)} runs"
    charts = [text_chart(series, f"{kind} — {title}", x_label, axis_label(kind, histories[0].task), options.log_y, width, height)
              for kind, series in by_kind.items()]
    notes = [_summary(h) for h in histories]
    return "\n\n".join(charts) + "\n\n" + "\n".join(notes)


def _summary(history: RunHistory) -> str:
    best = history.best
    text = f"{history.name}: {count(history.n_epochs, 'epoch')}, {history.stop_reason or 'running'}"
    if best.get("epoch") is not None:
        text += f"; best {best['metric']} {best['value']:.4g} at epoch {best['epoch']}"
    return text


def _transform(y: np.ndarray, log_y: bool) -> np.ndarray:
    if not log_y:
        return y
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(y > 0, np.log10(np.where(y > 0, y, 1.0)), np.nan)


def _untransform(value: float, log_y: bool) -> float:
    return 10.0 ** value if log_y else value


def _number(value: float) -> str:
    if value == 0 or 1e-3 <= abs(value) < 1e5:
        return f"{value:.4g}"
    return f"{value:.2e}" if math.isfinite(value) else str(value)
