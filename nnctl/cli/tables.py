"""Tables for people at any width: a number, a name or a header is never broken inside itself.

Every command builds a rich `Table` and prints it with `print_table`, which lays it out for
the width it will be read at: the terminal's, or $COLUMNS when set; in a pipe without
$COLUMNS a row is one line, so grep, cut and a CI log see whole records. When the natural
layout is wider than that, it narrows in steps that lose nothing:

1. prose columns (sentences) and multi-word headers wrap between words;
2. long one-word headers (``train.learning_rate``) become letters, named in a legend below;
3. if it still does not fit, each row becomes a record of ``header  value`` lines.

Cells are plain text (a `str` is never read as Rich markup, so a run named ``[red]x``
shows as itself, and control characters show escaped, so a label holding ``\x1b[2J`` or a line
break neither clears the screen nor forges a line); a command that wants colour passes a styled
`Text`, whose styles are kept. Numbers are
right-aligned, everything else left-aligned, decided from the cells themselves.
`--json` and `--format csv` stay the interfaces for programs.
"""

from __future__ import annotations

import itertools
import os
import string
from dataclasses import dataclass, field

from rich.console import Console, Group
from rich.segment import Segments
from rich.table import Table
from rich.text import Text

from ..literal import CONTROL_CHARACTERS, visible
from ..report.values import numeric_column
from .common import stdout

PROSE_FROM = 24  # characters: a wider cell with spaces in it is prose and may wrap between words
RECORD_GAP = 2  # spaces between a record's keys and its values


@dataclass
class _Column:
    header: str
    cells: list[Text]
    numeric: bool = field(init=False)
    prose: bool = field(init=False)
    code: str | None = None  # the legend letter standing in for a long header

    def __post_init__(self) -> None:
        plain = [cell.plain for cell in self.cells]
        self.numeric = numeric_column(plain)
        self.prose = not self.numeric and any(" " in c and len(c) > PROSE_FROM for c in plain)

    @property
    def shown_header(self) -> str:
        return self.code or self.header

    def natural(self) -> int:
        """The width showing every cell and the header on one line."""
        return max([len(self.shown_header), *(cell.cell_len for cell in self.cells)])

    def narrowest(self) -> int:
        """The width below which a word, a number or a header word would have to break."""
        header = _longest_word(self.shown_header)
        if not self.prose:
            return max([header, *(cell.cell_len for cell in self.cells)])
        return max([header, *(_longest_word(cell.plain) for cell in self.cells)])


def _longest_word(text: str) -> int:
    return max((len(word) for word in text.split()), default=0)


def _columns(table: Table) -> list[_Column]:
    return [_Column(visible(str(column.header)), [_visible_cell(cell) for cell in column.cells]) for column in table.columns]


def _visible_cell(cell) -> Text:
    """A cell as Text with its control characters escaped (``visible``); a styled Text keeps each style on the
    characters it styled, an escaped character taking the style of the character it shows."""
    if not isinstance(cell, Text):
        return Text(visible(str(cell)))
    bounds = [end for match in CONTROL_CHARACTERS.finditer(cell.plain) for end in match.span()]
    if not bounds:
        return cell
    pieces = cell.divide(bounds)
    for piece in pieces:
        if CONTROL_CHARACTERS.fullmatch(piece.plain):
            spans, piece.plain = piece.spans, visible(piece.plain)
            piece.spans = [span._replace(end=len(piece)) for span in spans]
    return Text("").join(pieces)


def _frame(n_columns: int) -> int:
    """Characters a boxed table spends outside its cells: the borders and one space of padding each side."""
    return 3 * n_columns + 1


def available_width(console: Console = stdout) -> int | None:
    """The width to fit: $COLUMNS when set, else the terminal's; None (no limit) in a pipe."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    return console.width if console.is_terminal else None


def print_table(table: Table, console: Console = stdout, width: int | None = None) -> None:
    """Print ``table`` laid out for ``width`` (default: `available_width`), never breaking a value."""
    console.print(fitted(table, console, width), soft_wrap=True)


def fitted(table: Table, console: Console = stdout, width: int | None = None) -> Group:
    """``table`` laid out for ``width`` (default: `available_width` of ``console``) as one renderable: its title,
    then the boxed table and the legend of its letters, or its rows as records (a live display shows it too)."""
    width = available_width(console) if width is None else width
    columns = _columns(table)
    parts: list = [Text(visible(str(table.title)), style="italic")] if table.title else []
    widths = _fit(columns, width)
    if widths is None:
        return Group(*parts, *_records(columns, width))
    shown = Table(box=table.box, show_header=table.show_header, show_edge=True, padding=(0, 1))
    for column, w in zip(columns, widths):
        shown.add_column(column.shown_header, justify="right" if column.numeric else "left", width=w,
                         no_wrap=not column.prose, overflow="fold")
    for row in zip(*(column.cells for column in columns)):
        shown.add_row(*row)
    # Rendered at the table's own width: a console (a pipe's 80 columns) never re-wraps what was laid out to fit.
    lines = console.render_lines(shown, console.options.update_width(sum(widths) + _frame(len(columns))), new_lines=True)
    parts.append(Segments([segment for line in lines for segment in line]))
    parts += [Text(f"  {column.code}  {column.header}") for column in columns if column.code]  # the letters' legend
    return Group(*parts)


def _fit(columns: list[_Column], width: int | None) -> list[int] | None:
    """Column widths that fit ``width`` without breaking a value (abbreviating headers if need be), or None."""
    if width is None or sum(c.natural() for c in columns) + _frame(len(columns)) <= width:
        return [c.natural() for c in columns]
    room = width - _frame(len(columns))
    # Headers that are wider than their values, longest overhang first: more of them become letters (lettered
    # left to right) until the table fits.
    overhang = sorted((c for c in columns if len(c.header) > max((x.cell_len for x in c.cells), default=0) + 1),
                      key=lambda c: len(c.header) - max((x.cell_len for x in c.cells), default=0), reverse=True)
    for count in range(len(overhang) + 1):
        lettered = overhang[:count]
        codes = _codes()
        for column in columns:
            column.code = next(codes) if any(column is c for c in lettered) else None
        narrowest = [c.narrowest() for c in columns]
        if sum(narrowest) <= room:
            return _spread(columns, narrowest, room)
    for column in columns:
        column.code = None
    return None


def _codes():
    """Legend letters: A … Z, then AA, AB, …"""
    for size in itertools.count(1):
        for letters in itertools.product(string.ascii_uppercase, repeat=size):
            yield "".join(letters)


def _spread(columns: list[_Column], widths: list[int], room: int) -> list[int]:
    """Give the space left to the columns that wrapped (prose first, then headers), up to their natural width."""
    widths = list(widths)
    spare = room - sum(widths)
    for k in sorted(range(len(columns)), key=lambda k: not columns[k].prose):
        grow = min(spare, columns[k].natural() - widths[k])
        widths[k] += grow
        spare -= grow
    return widths


def _records(columns: list[_Column], width: int) -> list[Text]:
    """Each row as a block of ``header  value`` lines; a prose value wraps between words under its value
    column, and a header too long for the left half of the width puts its value on the next line."""
    import textwrap

    hang = min(max(len(c.header) for c in columns), width // 2) + RECORD_GAP
    rows = list(zip(*(c.cells for c in columns)))
    lines = []
    for number, row in enumerate(rows, start=1):
        lines.append(Text(f"── {number} of {len(rows)} ──"))
        for column, cell in zip(columns, row):
            fits = len(column.header) + RECORD_GAP <= hang
            key = column.header.ljust(hang) if fits else column.header + "\n" + " " * hang
            if column.prose and cell.cell_len > width - hang:
                wrapped = textwrap.wrap(cell.plain, max(width - hang, 1), break_long_words=False, break_on_hyphens=False)
                cell = Text(("\n" + " " * hang).join(wrapped))
            lines.append(Text(key) + cell)
    return lines
