"""What every figure shares: the lazy matplotlib import, the palette, output paths, PNG/SVG rendering.

Figures are `matplotlib.figure.Figure` objects drawn on the Agg canvas directly,
never through pyplot: no GUI backend, no global figure registry, and a caller
who uses matplotlib interactively keeps the backend they chose.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

from ..errors import PlotError, require_extra
from ..literal import visible
from ..runs.atomic import atomic_write_bytes

INSTALL_HINT = "plots need matplotlib, which is not installed; install it with: pip install 'nnctl[plot]'"

# Okabe & Ito (2008), "Color Universal Design": distinguishable with every common colour-vision deficiency.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
# A second cue beside colour, for lines and scatter points.
LINESTYLES = ("-", "--", ":", "-.")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")
# Sequential and diverging colour maps that stay readable without colour vision (viridis is perceptually uniform).
SEQUENTIAL, DIVERGING = "viridis", "RdBu_r"

FORMATS = (".png", ".svg")
_SVG_IDS = re.compile(r'(\bid="|href="#|url\(#)([^")]+)')  # an id, or a reference to one
DPI = 110


def require_matplotlib():
    """The matplotlib package, or a MissingExtraError carrying the one-line install hint."""
    return require_extra("matplotlib", INSTALL_HINT)


def new_figure(width: float = 7.0, height: float = 4.5):
    """A Figure attached to an Agg canvas, laid out with constrained layout."""
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def colour(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


SHORT_CHARS = 24  # a longer category (a file's path, a class name) shows its start and end around "…"


def short_label(value, chars: int = SHORT_CHARS) -> str:
    """A category where space is short (ticks, small panels' titles, a legend inside the axes): whole when
    short, else its first and last characters (a path's file name is at its end), so that long values
    neither overlap nor squeeze the plot to nothing; control characters escaped (``visible``): one line,
    no glyph missing."""
    text = visible(str(value))
    if len(text) <= chars:
        return text
    head = (chars - 1) // 3
    return text[:head] + "…" + text[-(chars - 1 - head):]


def short_labels(values, chars: int = SHORT_CHARS) -> list[str]:
    """``short_label`` of each value, with the values whose short forms coincide numbered by position
    ("3: ab…yz"), so that no two categories read the same."""
    labels = [short_label(v, chars) for v in values]
    shared = {label for label in labels if labels.count(label) > 1}
    return [f"{k}: {short_label(v, chars - len(str(k)) - 2)}" if label in shared else label
            for k, (v, label) in enumerate(zip(values, labels))]


def check_output(path: Path, option: str = "--out", formats: tuple[str, ...] = FORMATS) -> Path:
    """Refuse an unknown extension or a missing directory before anything is computed or written."""
    path = Path(path)
    if path.suffix.lower() not in formats:
        raise PlotError(f"{option} {path}: unknown file type '{path.suffix}'; expected one of {', '.join(formats)}")
    if not path.parent.is_dir():
        raise PlotError(f"{option} {path}: directory {path.parent} does not exist")
    return path


def save(fig, path: Path) -> Path:
    """Write ``fig`` as PNG or SVG (by the extension); a kill never leaves half a file."""
    path = Path(path)
    buffer = io.BytesIO()
    _render(fig, buffer, path.suffix.lower().lstrip("."), salt=path.stem)
    atomic_write_bytes(path, buffer.getvalue())
    return path


def svg_text(fig, salt: str) -> str:
    """``fig`` as an SVG element to inline in HTML: no XML declaration or DOCTYPE, and every id
    (glyphs, clip paths, images) and reference to one prefixed with ``salt``, so that several
    figures in one page never share an id."""
    buffer = io.BytesIO()
    _render(fig, buffer, "svg", salt)
    text = buffer.getvalue().decode("utf-8")
    return _SVG_IDS.sub(lambda m: f"{m.group(1)}{salt}-{m.group(2)}", text[text.index("<svg"):])


def _render(fig, stream, fmt: str, salt: str) -> None:
    import matplotlib

    # Text as paths (no fonts needed to view it), embedded images, no date: the same run gives the same file.
    # No mathtext: figure text carries data (labels, choice values), and "$\\x$" must show as typed, not crash.
    rc = {"svg.fonttype": "path", "svg.image_inline": True, "svg.hashsalt": salt, "text.parse_math": False}
    # SVG: no <metadata> block at all (its RDF carries a date and links to matplotlib.org).
    metadata = dict.fromkeys(("Creator", "Date", "Format", "Type")) if fmt == "svg" else {"Software": "nnctl"}
    with matplotlib.rc_context(rc):
        literal_text(fig)
        plain_log_ticks(fig)
        fig.savefig(stream, format=fmt, metadata=metadata)


def literal_text(fig) -> None:
    """Every text of ``fig`` drawn as typed: ``$`` is a dollar sign, never the start of mathtext, and a control
    character (a tab, an escape) in a name is drawn escaped (``visible``) rather than as a missing glyph; the
    line breaks a title is laid out with stay.  Texts made while drawing (tick labels) read the
    ``text.parse_math`` setting ``_render`` turns off, and the labels given to them escaped (``_visible_ticks``)."""
    from matplotlib.text import Text

    for text in fig.findobj(Text):
        text.set_parse_math(False)
        text.set_text(_visible_lines(text.get_text()))
    for ax in fig.axes:
        _visible_ticks(ax.xaxis)
        _visible_ticks(ax.yaxis)


def _visible_ticks(axis) -> None:
    """Tick labels given as text (``set_ticks(positions, labels)`` makes a FuncFormatter, older code a
    FixedFormatter) escaped when drawn; numbers' formatters have nothing to escape."""
    from matplotlib.ticker import FixedFormatter, FuncFormatter

    for formatter in (axis.get_major_formatter(), axis.get_minor_formatter()):
        if isinstance(formatter, FixedFormatter):
            formatter.seq = [_visible_lines(str(label)) for label in formatter.seq]
        elif isinstance(formatter, FuncFormatter):
            formatter.func = _visible_results(formatter.func)


def _visible_results(label):
    return lambda x, pos=None: _visible_lines(str(label(x, pos)))


def _visible_lines(text: str) -> str:
    """``text`` with its control characters escaped but its line breaks kept (a title's second line)."""
    return "\n".join(visible(line) for line in text.split("\n"))


_SUPERSCRIPT = str.maketrans("-−0123456789", "⁻⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def plain_log_ticks(fig) -> None:
    """Log axes labelled 10⁻³ and 2×10⁻², in plain text: matplotlib's own labels are mathtext, which
    `literal_text` (rightly) no longer reads, and would show as ``$\\mathdefault{10^{-3}}$``."""
    from matplotlib.ticker import Formatter, LogFormatterSciNotation

    class PlainLogFormatter(Formatter):
        """matplotlib's own choice of which ticks to label and how, with the label's mathtext made plain."""

        def __init__(self, inner):
            self.inner = inner

        def set_locs(self, locs):
            self.inner.set_locs(locs)

        def __call__(self, x, pos=None):
            return plain_power_of_ten(self.inner(x, pos))

    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            if axis.get_scale() != "log":
                continue
            for get, put in ((axis.get_major_formatter, axis.set_major_formatter),
                             (axis.get_minor_formatter, axis.set_minor_formatter)):
                if type(get()) is LogFormatterSciNotation:  # the default; a figure's own formatter is kept
                    put(PlainLogFormatter(get()))


def plain_power_of_ten(label: str) -> str:
    """``$\\mathdefault{2\\times10^{-2}}$`` → ``2×10⁻²`` (any other label unchanged)."""
    match = re.fullmatch(r"\$\\mathdefault\{(.*)\}\$", label)
    if match is None:
        return label
    body = match.group(1).replace("\\times", "×")
    return re.sub(r"\^\{([^}]*)\}", lambda m: m.group(1).translate(_SUPERSCRIPT), body)
