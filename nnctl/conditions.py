"""One condition on a named value, ``dev_error<=0.05``: parsed, checked and described alike wherever a user
writes one (eval's --fail-under/--fail-over, diagnose's --fail-over, select's --satisfy, runs list's --filter
and a search's ``satisfy``), so the five agree on what a condition means and say the same when one is wrong.

Usable from every layer (like ``errors``): each place keeps its own `Form` (which operators, what a bare ``=``
means, numbers or any value), and what it alone knows, such as which names exist.
"""

from __future__ import annotations

import math
import operator
import re
from dataclasses import dataclass, field
from typing import Any

from .errors import NnctlError

OPERATORS = {"<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt, "==": operator.eq,
             "!=": operator.ne}
_KEY = r"[A-Za-z0-9_.\[\]]+"
_WRITTEN = ("<=", ">=", "==", "!=", "<", ">", "=")  # longest first, so '<=' is never read as '<' then '=0.5'


class ConditionError(NnctlError):
    """A condition written wrongly, or checked against a value it cannot compare with."""


@dataclass(frozen=True)
class Condition:
    """``key op value``; ``where`` (the option or spec key it came from) only names it in messages."""

    key: str
    op: str
    value: Any  # a number; with == and != (runs list's filters) any YAML scalar
    where: str = field(default="", compare=False)

    def holds(self, actual) -> bool:
        """Does ``actual`` meet the condition? A missing value (None) never does."""
        if actual is None:
            return False
        if self.op in ("==", "!="):
            return OPERATORS[self.op](actual, self.value)
        try:
            return OPERATORS[self.op](float(actual), float(self.value))
        except (TypeError, ValueError):
            raise ConditionError(f"{self.where} {self}: {self.key} is not a number ({actual!r})".lstrip()) from None

    def miss(self, actual: float) -> str:
        """Why ``actual`` fails the condition, for a report: ``dev_error 0.06 misses dev_error<=0.05``."""
        return f"{self.key} {actual:.4g} misses {self}"

    def __str__(self) -> str:
        value = f"{self.value:g}" if isinstance(self.value, float) else self.value
        return f"{self.key}{self.op}{value}"


@dataclass(frozen=True)
class Form:
    """How one place writes its conditions: the operators it takes (the first in its messages), what a bare
    ``=`` means there (``>=`` for a --fail-under bar), whether the value must be a number, and an example."""

    operators: tuple[str, ...]
    example: str
    names: str = "METRIC"  # what the key is called in the message: METRIC, NAME, KEY
    equals: str = "=="
    numbers: bool = True

    def parse(self, text: str, where: str) -> Condition:
        """``text`` (``dev_error<=0.05``) written for ``where`` (``--satisfy``) as a Condition, or the one message."""
        match = re.fullmatch(rf"\s*({_KEY})\s*({self._ops()})\s*(.+?)\s*", text)
        if match is None:
            raise self.error(text, where)
        return self._condition(match.group(1), match.group(2), match.group(3), text, where)

    def parse_bound(self, key: str, text: str, where: str) -> Condition:
        """``text`` without its key (``<= 0.05``, a search's ``satisfy`` entry) as a Condition on ``key``."""
        match = re.fullmatch(rf"\s*({self._ops()})\s*(.+?)\s*", text) if isinstance(text, str) else None
        if match is None:
            raise self.error(text, where)
        return self._condition(key, match.group(1), match.group(2), text, where)

    def _ops(self) -> str:
        """This form's operators as a regex alternation, longest first."""
        return "|".join(re.escape(op) for op in _WRITTEN if op in self.operators)

    def error(self, text, where: str) -> ConditionError:
        """The one message for a condition written wrongly: where, what, the expected form and an example."""
        others = f" (or {', '.join(self.operators[1:])})" if len(self.operators) > 1 else ""
        value = "NUMBER" if self.numbers else "VALUE"
        return ConditionError(f"{where} {text}: expected {self.names}{self.operators[0]}{value}{others}, e.g. {self.example}")

    def _condition(self, key: str, written: str, raw: str, text: str, where: str) -> Condition:
        op = self.equals if written == "=" else written
        if not self.numbers:
            return Condition(key, op, _scalar(raw), where)
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise self.error(text, where)
        return Condition(key, op, value, where)


def _scalar(raw: str):
    """A value as the spec reader reads it (numbers, 1e-3 too, words, true), so a filter compares what a spec
    holds; text YAML cannot read stays the text."""
    from .spec.errors import SpecError
    from .spec.yaml_reader import read_yaml

    try:
        return read_yaml(raw, "filter")[0]
    except SpecError:
        return raw
