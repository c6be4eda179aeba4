"""``--set key.path=value`` overrides, applied to the raw YAML data before validation.

Values are parsed as YAML (``32`` is an int, ``full`` a string, ``{name: adam}``
a mapping) so the schema, not this module, decides what types are acceptable.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from nnctl.literal import clipped
from nnctl.spec.errors import KeyPath, SpecError
from nnctl.spec.yaml_reader import read_yaml

SHOWN_CHARACTERS = 60  # of an override quoted in a message: enough to recognise it, one line


def shown(override: str) -> str:
    """An override as a message quotes it: ``--set`` and enough of it to recognise it, on one line."""
    return f"--set {override if len(override) <= SHOWN_CHARACTERS else override[:SHOWN_CHARACTERS] + '…'}"


def _fail(override: str, message: str) -> SpecError:
    return SpecError.single(shown(override), message)


def parse_override(override: str) -> tuple[KeyPath, Any]:
    """Split ``a.b[1].c=value`` into (('a', 'b', 1, 'c'), parsed value)."""
    key, sep, raw = override.partition("=")
    if not sep:
        raise _fail(override, "expected KEY.PATH=VALUE, found no '='")
    parts = re.sub(r"\[(\d+)\]", r".\1", key.strip()).split(".")
    if not all(parts):
        raise _fail(override, f"malformed key path {clipped(repr(key.strip()), SHOWN_CHARACTERS)}")
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
        node = _child(node, part, path, depth, override)
    _check_container(node, path[-1], path, len(path) - 1, override)
    if isinstance(node, list):
        node[path[-1]] = value
    else:
        node[str(path[-1])] = value


def _child(node: Any, part: str | int, path: KeyPath, depth: int, override: str) -> Any:
    """Step into ``part`` (``path[depth]``) of ``node``, making an empty mapping when it is absent."""
    _check_container(node, part, path, depth, override)
    if isinstance(node, list):
        return node[part]
    key = str(part)
    if key not in node or node[key] is None:
        node[key] = {}
    return node[key]


def _check_container(node: Any, part: str | int, path: KeyPath, depth: int, override: str) -> None:
    """Refuse paths through scalars, indices into non-lists, and list indices that do not exist.

    The path so far is named only when refusing: joining it at every step made a long path quadratic."""
    def where() -> str:
        return clipped(".".join(map(str, path[:depth])) or "the spec", SHOWN_CHARACTERS)

    if isinstance(node, list):
        if not isinstance(part, int):
            raise _fail(override, f"{where()} is a list; expected an index, got {clipped(repr(part), SHOWN_CHARACTERS)}")
        if part >= len(node):
            name = str(path[depth - 1]) if depth > 0 else "items"
            name = name[:-1] if len(node) == 1 and name.endswith("s") else name
            raise _fail(override, f"index {part} is out of range ({len(node)} {clipped(name, SHOWN_CHARACTERS)})")
    elif isinstance(part, int):
        raise _fail(override, f"{where()} is not a list; cannot use index {part}")
    elif not isinstance(node, dict):
        raise _fail(override, f"cannot set {clipped(repr(str(part)), SHOWN_CHARACTERS)} inside {where()}, "
                              f"which is {clipped(repr(node), SHOWN_CHARACTERS)}, not a mapping")
