"""``--set key.path=value`` overrides, applied to the raw YAML data before validation.

Values are parsed as YAML (``32`` is an int, ``full`` a string, ``{name: adam}``
a mapping) so the schema, not this module, decides what types are acceptable.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from nnctl.spec.errors import KeyPath, SpecError
from nnctl.spec.yaml_reader import read_yaml

SHOWN_CHARACTERS = 60  # of an override quoted in a message: enough to recognise it, one line


def _fail(override: str, message: str) -> SpecError:
    shown = override if len(override) <= SHOWN_CHARACTERS else override[:SHOWN_CHARACTERS] + "…"
    return SpecError.single(f"--set {shown}", message)


def parse_override(override: str) -> tuple[KeyPath, Any]:
    """Split ``a.b[1].c=value`` into (('a', 'b', 1, 'c'), parsed value)."""
    key, sep, raw = override.partition("=")
    if not sep:
        raise _fail(override, "expected KEY.PATH=VALUE, found no '='")
    parts = re.sub(r"\[(\d+)\]", r".\1", key.strip()).split(".")
    if not all(parts):
        raise _fail(override, f"malformed key path {key.strip()!r}")
    try:
        value = read_yaml(raw, f"--set {override}")[0] if raw.strip() else None
    except SpecError as exc:
        raise _fail(override, exc.errors[0].message) from None
    return tuple(int(p) if p.isdigit() else p for p in parts), value


def apply_overrides(data: dict, overrides: list[str] | tuple[str, ...]) -> dict:
    """A copy of ``data`` with every override applied in order (later ones win)."""
    result = copy.deepcopy(data)
    for override in overrides:
        path, value = parse_override(override)
        _assign(result, path, value, override)
    return result


def _assign(data: dict, path: KeyPath, value: Any, override: str) -> None:
    """Set ``value`` at ``path``, creating missing mappings on the way."""
    node: Any = data
    for depth, part in enumerate(path[:-1]):
        node = _child(node, part, path[: depth + 1], override)
    _check_container(node, path[-1], path, override)
    if isinstance(node, list):
        node[path[-1]] = value
    else:
        node[str(path[-1])] = value


def _child(node: Any, part: str | int, upto: KeyPath, override: str) -> Any:
    """Step into ``part`` of ``node``, making an empty mapping when it is absent."""
    _check_container(node, part, upto, override)
    if isinstance(node, list):
        return node[part]
    key = str(part)
    if key not in node or node[key] is None:
        node[key] = {}
    return node[key]


def _check_container(node: Any, part: str | int, upto: KeyPath, override: str) -> None:
    """Refuse paths through scalars, indices into non-lists, and list indices that do not exist."""
    where = ".".join(map(str, upto[:-1])) or "the spec"
    if isinstance(node, list):
        if not isinstance(part, int):
            raise _fail(override, f"{where} is a list; expected an index, got {part!r}")
        if part >= len(node):
            name = str(upto[-2]) if len(upto) > 1 else "items"
            name = name[:-1] if len(node) == 1 and name.endswith("s") else name
            raise _fail(override, f"index {part} is out of range ({len(node)} {name})")
    elif isinstance(part, int):
        raise _fail(override, f"{where} is not a list; cannot use index {part}")
    elif not isinstance(node, dict):
        raise _fail(override, f"cannot set {str(part)!r} inside {where}, which is {node!r}, not a mapping")
