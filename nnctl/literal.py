"""Data shown as data: text from the user's files (labels, column names, paths, choice values) never acts
as markup, a formula or a flood of output where nnctl shows or writes it.

Usable from every layer (like ``errors``).  The CLI's consoles parse no Rich markup or emoji codes at all
(``cli.common``), and figures are rendered with mathtext off (``report.figures``).  What does need a call is
here: control characters made visible (``visible``: the table builder, the error printer and quoted names use
it, so an escape sequence in a label never drives the terminal; ``terminal_text``, the same but for a message's
own line breaks, is the consoles' last filter), cells of the CSV and Markdown files nnctl writes, and data
quoted inside a one-line message.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

# OWASP's CSV-injection rule: a spreadsheet runs a cell starting with one of these as a formula.
FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
QUOTED_LIMIT = 80  # characters of a user's name or value quoted in a message
LISTED_LIMIT = 10  # names listed in a message
# What a terminal (or a text renderer) acts on instead of showing: C0 controls (ESC, CR, LF, TAB, BEL …), DEL and
# C1 controls, the Unicode line and paragraph separators, and the bidi embeddings, overrides and isolates that
# reorder the text after them ("Trojan Source").
CONTROL_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_TERMINAL_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")  # \t, \n kept
# Markdown's own characters, shown as themselves by a backslash (CommonMark escapes any ASCII punctuation): emphasis,
# code, links and images, headings, lists, tables, strikethrough, math, and the ``:``, ``.`` and ``@`` that GFM's
# extended autolinks (``http://…``, ``www.…``, ``a@b.c``) start from.  ``&<>`` become entities instead.
_MARKDOWN_PUNCTUATION = re.compile(r"[\\`*_{}\[\]()#+\-.!|~$:@]")
_END_SPACES = re.compile(r"^ +| +$")


def _runs_as_formula(text: str) -> bool:
    """Would a spreadsheet run ``text`` (after any leading quotes) as a formula?"""
    core = text.lstrip("'")
    return core.startswith(FORMULA_LEADS) and not _PLAIN_NUMBER.fullmatch(core)


def spreadsheet_cell(value):
    """``value`` as a CSV cell no spreadsheet runs: text starting like a formula gets a leading ``'``, which
    spreadsheets show as text.  Numbers, and text that is a plain number (``-1``, ``+0.5``), are unchanged.
    Text already quoted that way gets one more quote, so ``from_spreadsheet_cell`` gives back what was written."""
    if isinstance(value, str) and _runs_as_formula(value):
        return "'" + value
    return value


def spreadsheet_row(values: Iterable) -> list:
    return [spreadsheet_cell(v) for v in values]


def from_spreadsheet_cell(text: str) -> str:
    """A cell read back from a CSV nnctl wrote: the quote ``spreadsheet_cell`` added, taken off again."""
    return text[1:] if text.startswith("'") and _runs_as_formula(text[1:]) else text


def visible(text: str) -> str:
    """``text`` with every control character (``CONTROL_CHARACTERS``) written as its escape (``\\x1b``, ``\\n``,
    ``\\u202e``), so that data shown on a terminal or in a figure is seen, never acted on: an escape sequence in a
    label cannot clear the screen or colour what follows, and a line break cannot start a forged line."""
    return _escaped(CONTROL_CHARACTERS, text)


def terminal_text(text: str) -> str:
    """``visible`` but for the line breaks and tabs a message is laid out with: what every line nnctl prints goes
    through (``cli.common``), so data that reaches a message by a path no ``visible`` call covers still cannot
    act on the terminal."""
    return _escaped(_TERMINAL_CONTROLS, text)


def _escaped(characters: re.Pattern, text: str) -> str:
    return characters.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def markdown_cell(text: str) -> str:
    """``text`` as one Markdown table cell that renders as typed (CommonMark and GitHub's tables, autolinks and
    strikethrough): control characters and line breaks escaped (``visible``), ``&<>`` as entities, every other
    Markdown character behind a backslash, and spaces at either end (which a cell would trim) as ``&#32;``."""
    escaped = _MARKDOWN_PUNCTUATION.sub(lambda m: "\\" + m.group(), visible(text))
    escaped = escaped.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _END_SPACES.sub(lambda m: "&#32;" * len(m.group()), escaped)


def listing(names: Sequence[str], limit: int = LISTED_LIMIT) -> str:
    """The first ``limit`` names, each cut short, and how many there are in all: a file of 10⁶ columns
    still makes a one-line message."""
    shown = ", ".join(clipped(name) for name in names[:limit])
    return shown if len(names) <= limit else f"{shown}, … ({len(names):,} in all)"


def quoted(text: str, limit: int = QUOTED_LIMIT) -> str:
    """``text`` in quotes, cut short (``clipped``)."""
    return f"'{clipped(text, limit)}'"


def clipped(text: str, limit: int = QUOTED_LIMIT) -> str:
    """``text`` cut to ``limit`` characters with its full length said: a name of megabytes (a typo against
    a file of 10⁶ columns) still makes a one-line message; control characters are shown escaped (``visible``)."""
    text = visible(str(text))
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text):,} characters)"


def json_text(data: Any, indent: int | None = None, default: Callable[[Any], Any] | None = None) -> str:
    """``data`` as strict JSON, what nnctl prints: a float that is not a finite number (NaN, ±inf: a diverged cost)
    is ``null``, since JSON has no word for it and ``NaN``/``Infinity`` break strict parsers (jq, browsers)."""
    finite_default = None if default is None else (lambda value: _finite(default(value)))
    return json.dumps(_finite(data), indent=indent, default=finite_default, allow_nan=False)


def _finite(value: Any) -> Any:
    """``value`` with every non-finite float, at any depth of its lists and mappings, as None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value
