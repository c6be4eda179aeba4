"""Spec errors as one-line ``FILE:LINE: key.path: message`` reports.

Pydantic's error records are precise but written for programmers; this module
turns each into a plain sentence (what was expected, what was found, and the
nearest valid word when it looks like a typo) so a user can fix the YAML
without reading the schema.
"""

from __future__ import annotations

import types
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from nnctl.did_you_mean import hint, show, suggestion, unknown_word
from nnctl.errors import NnctlError
from nnctl.spec.schema import GENERATED_SETS, REGISTRY_NAMES, Spec

KeyPath = tuple[str | int, ...]  # a key's place in the YAML: ('model', 'layers', 2, 'units')
SHORTHAND_SOURCES = ("digits", *REGISTRY_NAMES, *GENERATED_SETS)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a spec, located as precisely as we know."""

    source: str
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = self.source if self.line is None else f"{self.source}:{self.line}"
        return ": ".join(part for part in (where, self.path, self.message) if part)


class SpecError(NnctlError):
    """A spec that cannot be used; ``str()`` is the first problem by line, ``errors`` all of them."""

    def __init__(self, errors: Iterable[Problem]):
        self.errors = sorted(errors, key=lambda p: (p.line is None, p.line or 0))
        if not self.errors:
            raise ValueError("SpecError needs at least one problem")
        super().__init__(str(self.errors[0]))

    @classmethod
    def single(cls, source: str, message: str, line: int | None = None, path: str = "") -> SpecError:
        """Shorthand for the common one-problem case."""
        return cls([Problem(source, line, path, message)])


def format_path(path: KeyPath) -> str:
    """Render ('model', 'layers', 2, 'units') as model.layers[2].units."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


# ---------------------------------------------------------------- schema walking


def _members(annotation: Any) -> list[Any]:
    """The alternatives of a (possibly Annotated/Optional) type, Annotated kept on each."""
    base = get_args(annotation)[0] if get_origin(annotation) is Annotated else annotation
    if get_origin(base) in (Union, types.UnionType):
        return [m for arg in get_args(base) for m in _members(arg)]
    return [annotation]


def _strip(annotation: Any) -> Any:
    """The bare type under Annotated, for isinstance/origin checks."""
    return get_args(annotation)[0] if get_origin(annotation) is Annotated else annotation


def _models(annotation: Any) -> list[type[BaseModel]]:
    """The model classes a value of this type may be (several for a tagged union)."""
    return [m for m in map(_strip, _members(annotation)) if isinstance(m, type) and issubclass(m, BaseModel)]


def _list_items(annotation: Any) -> list[Any]:
    """The item types of the list alternatives of a type (``list[Layer]`` → the Layer union, a [lo, hi] pair → its number)."""
    return [get_args(m)[0] for m in map(_strip, _members(annotation)) if get_origin(m) in (list, tuple)]


def _tagged(model: type[BaseModel], tag: str) -> bool:
    """Whether ``tag`` is this union member's discriminator value (pydantic puts it in locs)."""
    return any(key in model.model_fields and model.model_fields[key].default == tag for key in ("type", "name"))


@dataclass
class Located:
    """Where a pydantic loc points: the YAML path, the type expected there, and
    (for an unknown key) the model that rejected it."""

    path: KeyPath
    annotation: Any
    owner: type[BaseModel] | None = None


def resolve_loc(loc: tuple) -> Located:
    """Map a pydantic loc onto the YAML path, dropping union tags and branch labels."""
    found = Located((), Spec)
    for part in loc:
        step = _step(found, part)
        if step is None:
            break
        found = step
        if found.owner is not None:
            break
    return found


def _step(found: Located, part: str | int) -> Located | None:
    """Follow one loc element: a list index, a field, a union tag, or an unknown key."""
    annotation = found.annotation
    models = _models(annotation)
    items = _list_items(annotation)
    if isinstance(part, int) and items:
        return Located((*found.path, part), items[0])
    mappings = [m for m in map(_strip, _members(annotation)) if get_origin(m) is dict]
    if isinstance(part, str) and mappings and not models:
        return Located((*found.path, part), get_args(mappings[0])[1])  # a key the user chose (search.parameters)
    owner = next((m for m in models if part in spec_keys(m)), None)
    if owner is not None:
        return Located((*found.path, part), _full_annotation(owner.model_fields[spec_keys(owner)[part]]))
    is_union = not isinstance(annotation, type)
    tagged = next((m for m in models if is_union and _tagged(m, part)), None)
    if tagged is not None:
        return Located(found.path, tagged)
    if models:
        return Located((*found.path, part), None, models[0])
    return None


def _full_annotation(field: FieldInfo) -> Any:
    """The field's type with its own constraints re-attached (pydantic splits them off)."""
    return Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation


# ---------------------------------------------------------------- plain-words types


_BOUNDS = (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<"))


def _bounds(metadata: Iterable[Any]) -> str:
    """Numeric constraints as '>= 1 and < 10', so range errors can state the range."""
    words = []
    for item in metadata:
        for attr, sign in _BOUNDS:
            value = getattr(item, attr, None)
            if value is not None:
                words.append(f"{sign} {value:g}")
    return " and ".join(words)


def describe(annotation: Any) -> str:
    """A type as an English phrase: 'an integer >= 1 or 'full''."""
    phrases = []
    for member in _members(annotation):
        metadata = get_args(member)[1:] if get_origin(member) is Annotated else ()
        flat = [m for item in metadata for m in (item.metadata if isinstance(item, FieldInfo) else [item])]
        phrase = _base_phrase(_strip(member))
        bounds = _bounds(flat)
        phrases.append(f"{phrase} {bounds}" if bounds else phrase)
    return " or ".join(phrases)


def _base_phrase(tp: Any) -> str:
    """One unconstrained type in words."""
    if tp is type(None):
        return "null"
    if get_origin(tp) is Literal:
        words = [str(v) for v in get_args(tp)]
        return repr(words[0]) if len(words) == 1 else f"one of {', '.join(words)}"
    if get_origin(tp) is list:
        return "a list"
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return "a mapping"
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    return names.get(tp, getattr(tp, "__name__", str(tp)))


# ---------------------------------------------------------------- messages


def _noun(path: KeyPath, tag_key: str = "") -> str:
    """What the user was naming, from the path: 'activation', 'layer type', 'optimizer'."""
    words = [p for p in path if isinstance(p, str)]
    noun = words[-1].replace("_", " ") if words else "value"
    if path and isinstance(path[-1], int) and noun.endswith("s"):
        noun = noun[:-1]
    return f"{noun} type" if tag_key == "type" else noun


def _tags(annotation: Any, key: str) -> list[str]:
    """The valid discriminator values of a tagged union, in declaration order."""
    return [tag for m in _models(annotation) for tag in get_args(m.model_fields[key].annotation)]


def _literal_words(annotation: Any) -> list[str] | None:
    """The allowed words when the type is a single Literal, else None."""
    members = _members(annotation)
    if len(members) == 1 and get_origin(_strip(members[0])) is Literal:
        return [str(v) for v in get_args(_strip(members[0]))]
    return None


def explain(error: dict) -> tuple[KeyPath, str]:
    """A pydantic error record as (YAML path, plain message)."""
    kind, ctx, value = error["type"], error.get("ctx") or {}, error.get("input")
    located = resolve_loc(error["loc"])
    path = located.path
    if kind == "missing":
        return path, f"missing required key {path[-1]!r}"
    if kind == "extra_forbidden":
        return path, f"unknown key; {hint(_meant_key(located), _known_keys(located))}"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        key = ctx["discriminator"].strip("'")
        tags = _tags(located.annotation, key)
        if kind == "union_tag_not_found":
            return (*path, key), f"missing required key {key!r}; expected one of {', '.join(tags)}"
        return (*path, key), unknown_word(ctx["tag"], _noun(path, key), tags)
    if kind == "model_attributes_type" and isinstance(value, str) and path[-1:] == ("source",):
        return path, unknown_word(value, "data set", SHORTHAND_SOURCES) + " (or a mapping with a 'type')"
    if kind in ("value_error", "assertion_error"):
        return path, str(ctx.get("error", error["msg"]))
    if kind == "too_short":
        least = ctx["min_length"]
        return path, f"expected at least {least} {'item' if least == 1 else 'items'}, got {ctx['actual_length']}"
    if kind == "finite_number":
        return path, "expected a finite number"
    if kind == "string_pattern_mismatch":
        return path, f"expected a string matching {ctx['pattern']}, got {show(value)}"
    words = _literal_words(located.annotation)
    if kind == "literal_error" and words:
        return path, unknown_word(value, _noun(path), words)
    if located.annotation is None:
        return path, error["msg"]
    return path, f"expected {describe(located.annotation)}, got {show(value)}"


def _known_keys(located: Located) -> list[str]:
    return list(spec_keys(located.owner)) if located.owner else []


def spec_keys(model) -> dict[str, str]:
    """The keys a spec writes for a section's fields (an alias such as `from` where a field has one) → field names."""
    return {field.alias or name: name for name, field in model.model_fields.items()}


def _meant_key(located: Located) -> str | None:
    """For an unknown key: the known key it is probably a typo of."""
    return suggestion(located.path[-1], _known_keys(located))


MISSING_KINDS = ("missing", "union_tag_not_found")


def explain_all(errors: list[dict]) -> list[tuple[KeyPath, str]]:
    """Explain every error once, dropping 'missing X' when an unknown key nearby is a typo of X."""
    typos = set()
    for error in errors:
        if error["type"] == "extra_forbidden":
            located = resolve_loc(error["loc"])
            if meant := _meant_key(located):
                typos.add((located.path[:-1], meant))
    explained = {}
    for error in errors:
        path, message = explain(error)
        if not (error["type"] in MISSING_KINDS and (path[:-1], path[-1]) in typos):
            explained.setdefault((path, message), None)
    return list(explained)
