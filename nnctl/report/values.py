"""Values as a person writes them, for every table and page a person reads (never a Python repr).

`human` turns what a spec or a record holds into text: nothing (None) is a dash,
booleans are yes/no, a list is its items joined by commas, a shape is 28 × 28 × 1,
a lone punctuation character (a CSV delimiter) is named. `is_number` tells the
renderers which cells to right-align: numbers line up by their last digit, prose reads from the left.
"""

from __future__ import annotations

import math
import re

NOTHING = "—"
# A number as nnctl prints one: sign, digits with thousands commas, decimals, exponent, then an optional
# unit-like tail (%, s, ms, ×) or a ratio/interval of two such numbers (3/10, 0.91 – 0.95, 0.83 ± 0.02).
_NUMBER = r"[-+−]?(?:\d[\d,]*(?:\.\d*)?|\.\d+)(?:e[-+]?\d+)?|nan|inf|-inf"
_NUMERIC = re.compile(rf"^(?:{_NUMBER})(?:\s?(?:%|ms|s|×))?(?:\s?(?:/|–|-|±)\s?(?:{_NUMBER})(?:\s?%)?)?$", re.IGNORECASE)
_SEPARATORS = {",": "comma (,)", ";": "semicolon (;)", "\t": "tab", " ": "space", "|": "vertical bar (|)",
               ":": "colon (:)", "": "empty text"}


def is_number(text: str) -> bool:
    """True for a cell that shows a number (``0.8286``, ``1,234``, ``12.5 %``, ``3/10``, ``0.91 – 0.95``)."""
    return bool(_NUMERIC.match(text.strip()))


def numeric_column(cells: list[str]) -> bool:
    """A column of numbers: every cell that is not empty or a dash shows one (and at least one does)."""
    shown = [c.strip() for c in cells if c.strip() not in ("", NOTHING, "-")]
    return bool(shown) and all(is_number(c) for c in shown)


def human(value, key: str = "") -> str:
    """``value`` as a person would write it in a table cell; ``key`` says how to read a tuple (a shape)."""
    if value is None:
        return NOTHING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.6g}" if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return _SEPARATORS.get(value, value) if not value.strip() or len(value) == 1 and not value.isalnum() else value
    if isinstance(value, dict):
        return ", ".join(f"{k}: {human(v, k)}" for k, v in value.items() if v is not None) or NOTHING
    if isinstance(value, (list, tuple)):
        if not value:
            return NOTHING
        joiner = " × " if "shape" in key else ", "
        return joiner.join(human(item) for item in value)
    if hasattr(value, "model_dump"):
        return human(value.model_dump(), key)
    return str(value)


def facts(value, prefix: str) -> list[tuple[str, str]]:
    """A nested spec section as (dotted key, human value) rows, unset (None) keys left out."""
    if hasattr(value, "model_dump"):
        value = value.model_dump()
    if not isinstance(value, dict):
        return [(prefix, human(value, prefix))]
    rows: list[tuple[str, str]] = []
    for key, item in value.items():
        if item is None:
            continue
        name = f"{prefix}.{key}"
        rows += facts(item, name) if isinstance(item, dict) and item else [(name, human(item, key))]
    return rows


def count(n: int, noun: str, plural: str | None = None) -> str:
    """``1 epoch``, ``2 epochs``, ``1,200 examples``: a number with its noun in the right number."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"
