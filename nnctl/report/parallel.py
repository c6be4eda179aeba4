"""A parallel-coordinates view of a search, written as SVG by hand.

One vertical axis per parameter, each on the scale the search sampled it on
(log10 for log-sampled ranges, 1 - β for momentum-like ones, evenly spaced
categories for choices, labelled as the tips write them and shortened by their
start and end where space is short), then the metric; one polyline per trial,
coloured by its metric (the brightest is the best). The geometry is computed here rather
than by matplotlib so that each vertex is exactly where the parameter's scaled
value puts it; a `<title>` per line names the trial when a browser hovers it.
"""

from __future__ import annotations

import html
import math
import re

import numpy as np

from ..literal import visible
from .figures import SEQUENTIAL
from .tune_view import ParameterAxis, TrialPoint, TuneView

WIDTH, HEIGHT = 960, 460
# Margins (px): names above the axes, the colour key right of the metric; LEFT grows to fit the first axis's labels.
LEFT, RIGHT, TOP, BOTTOM = 80, 150, 84, 52
NAME_SIZE, TICK_SIZE, NOTE_SIZE = 13, 12, 12  # font sizes (px) at the page's width: readable without zooming
CHAR_WIDTH = 0.6  # of the font size: a sans-serif character's width, on the wide side
TICK_GAP = 7  # px between an axis and its tick labels
LABEL_CHARS = 32  # a longer choice (a file's path) is labelled by its start and end (``short_labels``)
# Tick labels and names drawn over the lines get a white halo, so a line crossing them never hides them.
HALO = 'stroke="#ffffff" stroke-width="3" stroke-linejoin="round" paint-order="stroke"'
NO_VALUE = "#999999"
KEY_STEPS = 24  # bands of the colour key beside the metric axis


def axis_x(k: int, n_axes: int, left: float) -> float:
    """The x of the k-th vertical axis (0-based) of ``n_axes``, the first at ``left``."""
    return left + k * axis_gap(n_axes, left)


def axis_gap(n_axes: int, left: float) -> float:
    """The distance between two neighbouring axes."""
    return (WIDTH - left - RIGHT) / max(n_axes - 1, 1)


def left_margin(view: TuneView) -> float:
    """Room left of the first axis for its tick labels (choices shortened to ``LABEL_CHARS``): at least LEFT, so
    that no label runs off the picture's edge."""
    if not view.parameters:
        return LEFT
    widest = max((len(label) for _, label in _ticks(view.parameters[0], LABEL_CHARS)), default=0)
    return max(LEFT, widest * TICK_SIZE * CHAR_WIDTH + TICK_GAP + 4)


def tick_chars(room: float) -> int:
    """The characters of a choice's label that fit ``room`` px (at most ``LABEL_CHARS``)."""
    return max(1, min(LABEL_CHARS, int(room / (TICK_SIZE * CHAR_WIDTH))))


def axis_y(unit: float) -> float:
    """The y of a position in [0, 1] along an axis (1 at the top)."""
    return TOP + (1.0 - unit) * (HEIGHT - TOP - BOTTOM)


def metric_range(view: TuneView) -> tuple[float, float]:
    values = [t.value for t in view.scored()]
    return min(values), max(values)


def metric_unit(view: TuneView, value: float) -> float:
    lo, hi = metric_range(view)
    return 0.5 if hi == lo else (value - lo) / (hi - lo)


def goodness(view: TuneView, value: float) -> float:
    """0 for the worst value among the trials, 1 for the best (by the search's goal)."""
    unit = metric_unit(view, value)
    return 1.0 - unit if view.goal == "minimize" else unit


def vertices(view: TuneView, trial: TrialPoint, left: float) -> list[tuple[float, float]]:
    """The polyline of one trial: its value on each parameter axis, then its metric (when it has one)."""
    n_axes = len(view.parameters) + 1
    points = [(axis_x(k, n_axes, left), axis_y(axis.unit_position(trial.params[axis.path])))
              for k, axis in enumerate(view.parameters)]
    if trial.value is not None:
        points.append((axis_x(n_axes - 1, n_axes, left), axis_y(metric_unit(view, trial.value))))
    return points


def _hex(rgba) -> str:
    return "#{:02x}{:02x}{:02x}".format(*(round(255 * c) for c in rgba[:3]))


def _ticks(axis: ParameterAxis, chars: int) -> list[tuple[float, str]]:
    """(position in [0, 1], label) of an axis's ticks: every choice (its label cut to ``chars``), powers of ten,
    or five even steps."""
    if axis.categorical:
        return list(zip(map(axis.unit_position, axis.choices), axis.choice_labels(chars)))
    lo, hi = axis.plotted_range
    if axis.log:
        decades = [10.0 ** e for e in range(math.ceil(math.log10(lo) - 1e-9), math.floor(math.log10(hi) + 1e-9) + 1)]
        values = decades if len(decades) >= 2 else [lo, hi]
    else:
        values = list(np.linspace(lo, hi, 5))
    return [(axis.unit_of_plotted(v), f"{v:g}") for v in values]


def _axis(x: float, name: str, ticks: list[tuple[float, str]], room: float, labels_right: bool = False) -> str:
    """A vertical axis with its name above (wrapped to ``room`` px, at dots and spaces) and tick labels
    left of it (right: beyond the colour key)."""
    label_x, anchor = (x + 20, "start") if labels_right else (x - TICK_GAP, "end")
    lines = wrap_name(name, int(room / (NAME_SIZE * CHAR_WIDTH)))
    top = TOP - 22 - (len(lines) - 1) * (NAME_SIZE + 2)
    parts = [f'<line x1="{x:.2f}" y1="{axis_y(1):.2f}" x2="{x:.2f}" y2="{axis_y(0):.2f}" stroke="#333" stroke-width="1"/>']
    parts += [f'<text x="{x:.2f}" y="{top + i * (NAME_SIZE + 2):.2f}" text-anchor="middle" font-size="{NAME_SIZE}" '
              f'fill="#222">{html.escape(line)}</text>' for i, line in enumerate(lines)]
    for unit, label in ticks:
        y = axis_y(unit)
        parts.append(f'<line x1="{x - 4:.2f}" y1="{y:.2f}" x2="{x:.2f}" y2="{y:.2f}" stroke="#333"/>'
                     f'<text x="{label_x:.2f}" y="{y + TICK_SIZE * 0.35:.2f}" text-anchor="{anchor}" font-size="{TICK_SIZE}" '
                     f'fill="#222" {HALO}>{html.escape(label)}</text>')
    return "".join(parts)


def wrap_name(name: str, width: int) -> list[str]:
    """``name`` in lines of at most ``width`` characters, broken after a dot or at a space, never inside a word
    (a word longer than ``width`` keeps its own line)."""
    pieces = re.split(r"(\s+|(?<=\.))", name)  # words at even indices, what separated them at odd ones
    lines = [pieces[0]]
    for gap, word in zip(pieces[1::2], pieces[2::2]):
        if len(lines[-1]) + len(gap) + len(word) <= width:
            lines[-1] += gap + word
        else:
            lines.append(word)
    return [line for line in lines if line]


def _line(view: TuneView, trial: TrialPoint, cmap, best: bool, left: float) -> str:
    points = " ".join(f"{x:.2f},{y:.2f}" for x, y in vertices(view, trial, left))
    colour = NO_VALUE if trial.value is None else _hex(cmap(goodness(view, trial.value)))
    width = 3.5 if best else 1.6
    underlay = (f'<polyline points="{points}" fill="none" stroke="#000000" stroke-width="{width + 2}"/>'
                if best else "")  # a dark edge: the brightest colour alone is faint on white
    dash = ' stroke-dasharray="5 3"' if trial.outcome != "ranked" else ""
    value = "no value" if trial.value is None else f"{view.metric} {trial.value:.4g}"
    params = ", ".join(f"{a.path} = {a.format(trial.params[a.path])}" for a in view.parameters)
    tip = visible(f"trial {trial.index} ({trial.status}{', best' if best else ''}): {value}; {params}")
    return (f'{underlay}<polyline data-trial="{trial.index}" points="{points}" fill="none" stroke="{colour}" '
            f'stroke-width="{width}" stroke-opacity="{1.0 if best else 0.85}"'
            f'{dash}><title>{html.escape(tip)}</title></polyline>')


def parallel_svg(view: TuneView) -> str:
    """The whole view as an `<svg>` element to inline in a page."""
    import matplotlib

    cmap = matplotlib.colormaps[SEQUENTIAL]
    n_axes = len(view.parameters) + 1
    left = left_margin(view)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" '
             f'font-family="sans-serif" role="img"><title>Parallel coordinates of {html.escape(view.name)}</title>']
    best = view.best
    # Worst first, so better lines lie on top; trials without a value at the bottom; the best last of all.
    order = sorted(view.trials, key=lambda t: -1.0 if t.value is None else goodness(view, t.value))
    parts += [_line(view, t, cmap, False, left) for t in order if best is None or t.index != best.index]
    if best is not None:
        parts.append(_line(view, best, cmap, True, left))
    room = axis_gap(n_axes, left) - 8  # between two axes' names, and for the labels left of an axis
    for k, axis in enumerate(view.parameters):
        ticks = _ticks(axis, tick_chars(room - TICK_GAP) if k else LABEL_CHARS)
        parts.append(_axis(axis_x(k, n_axes, left), axis.label, ticks, room if k else min(room, 2 * left - 8)))
    lo, hi = metric_range(view)
    x_metric = axis_x(n_axes - 1, n_axes, left)
    metric_ticks = [(metric_unit(view, v), f"{v:.4g}") for v in ([lo] if lo == hi else np.linspace(lo, hi, 5))]
    parts.append(_axis(x_metric, view.metric_label, metric_ticks, min(room, 2 * RIGHT - 16), labels_right=True))
    band = (HEIGHT - TOP - BOTTOM) / KEY_STEPS
    for i in range(KEY_STEPS):  # the colour key: the metric axis's own scale, coloured
        unit = (i + 0.5) / KEY_STEPS
        colour = _hex(cmap(unit if view.goal == "maximize" else 1.0 - unit))
        parts.append(f'<rect x="{x_metric + 6:.2f}" y="{axis_y(unit) - band / 2:.2f}" width="10" height="{band + 0.2:.2f}" '
                     f'fill="{colour}"/>')
    parts.append(f'<text x="{WIDTH / 2:.0f}" y="{HEIGHT - 16}" text-anchor="middle" font-size="{NOTE_SIZE}" fill="#444">'
                 f"solid: ranked trials; dashed: pruned or unmet satisfy; grey: no value; thick: the best "
                 f"({html.escape(view.goal)} {html.escape(view.metric)})</text>")
    parts.append("</svg>")
    return "".join(parts)
