"""The nearest valid word to a probable typo, for one-line errors: spec keys and words, layer names, metrics,
commands.  Beside the error family and usable from every layer, so a message can offer a word without
importing the spec's schema for a difflib call."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any


def suggestion(word: Any, choices: Iterable[str]) -> str | None:
    """The closest valid word to a probable typo, if any is close enough."""
    if not isinstance(word, str):
        return None
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return close[0] if close else None


def did_you_mean(word: Any, choices: Iterable[str]) -> str:
    """``did you mean 'x'? `` when a choice is close to ``word``, else nothing: for a message that lists the choices next."""
    near = suggestion(word, choices)
    return f"did you mean {near!r}? " if near else ""


def hint(near: str | None, choices: Iterable[str]) -> str:
    """did you mean NEAR? (or, with no near word, the list of valid words)."""
    return f"did you mean {near!r}?" if near else f"expected one of {', '.join(choices)}"


def unknown_word(word: Any, noun: str, choices: Iterable[str]) -> str:
    """'x' is not a known NOUN; did you mean ...? (or the list of valid words)."""
    choices = list(choices)
    return f"{show(word)} is not a known {noun}; {hint(suggestion(word, choices), choices)}"


def show(value: Any) -> str:
    """A found value as the user wrote it in YAML terms."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)
