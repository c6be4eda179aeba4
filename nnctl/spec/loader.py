"""Load, validate and re-emit experiment specs, keeping YAML line numbers for errors.

The YAML is composed into nodes first so every mapping key and sequence item
can be given its line before the plain data is built; validation errors are
then reported at the line the user has to edit (or at the ``--set`` override
that introduced the bad value).
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from nnctl.literal import clipped
from nnctl.spec.errors import KeyPath, Problem, SpecError, explain_all, format_path
from nnctl.spec.overrides import SHOWN_CHARACTERS, apply_overrides, parse_override, shown
from nnctl.spec.schema import Spec
from nnctl.spec.yaml_reader import read_yaml

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def _read_yaml(text: str, filename: str) -> tuple[dict, dict[KeyPath, int]]:
    """The top-level mapping and its line table, or a SpecError saying why not."""
    data, lines = read_yaml(text, filename)
    if data is None:
        raise SpecError.single(filename, "the spec is empty; expected a mapping with at least a 'model' section")
    if not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else repr(data)
        raise SpecError.single(filename, f"expected a mapping at the top level, got {kind}", lines.get(()))
    return data, lines


def line_of(text: str, filename: str, path: KeyPath) -> int | None:
    """The line where ``path`` (or its nearest enclosing key) is written in spec text."""
    return _line_for(path, _read_yaml(text, filename)[1])


def _line_for(path: KeyPath, lines: dict[KeyPath, int]) -> int | None:
    """The line of ``path`` or of its nearest enclosing key that exists in the file."""
    for end in range(len(path), -1, -1):
        if path[:end] in lines:
            return lines[path[:end]]
    return None


def _blame(path: KeyPath, message: str, filename: str, lines: dict[KeyPath, int], overrides: list) -> Problem:
    """Attribute a problem to the last override on the same branch as ``path``, else to the file."""
    for override, target in reversed(overrides):
        shared = min(len(path), len(target))
        if path[:shared] == target[:shared]:
            return Problem(shown(override), None, clipped(format_path(path), SHOWN_CHARACTERS), message)
    return Problem(filename, _line_for(path, lines), format_path(path), message)


def parse_spec(text: str, filename: str = "<spec>", overrides: list[str] | tuple[str, ...] = ()) -> Spec:
    """Validate spec text (plus ``--set`` overrides) into a Spec, or raise SpecError."""
    data, lines = _read_yaml(text, filename)
    data = apply_overrides(data, overrides)
    targets = [(override, parse_override(override)[0]) for override in overrides]
    try:
        return Spec.model_validate(data)
    except ValidationError as exc:
        problems = [_blame(path, msg, filename, lines, targets) for path, msg in explain_all(exc.errors())]
        raise SpecError(problems) from None


def locate(filename: str, key: str, overrides: list[str] | tuple[str, ...] = ()) -> str:
    """Where ``key`` (e.g. ``model.layers[2].units``) was set: ``FILE:LINE`` or ``--set OVERRIDE``.

    For problems found after validation (a spec that cannot work with its data).
    """
    path: KeyPath = tuple(int(part) if part.isdigit() else part
                       for part in key.replace("[", ".").replace("]", "").split(".") if part)
    try:
        _, lines = _read_yaml(Path(filename).read_text(encoding="utf-8"), filename)
    except (OSError, UnicodeDecodeError, SpecError):
        lines = {}
    targets = [(override, parse_override(override)[0]) for override in overrides]
    problem = _blame(path, "", filename, lines, targets)
    return f"{problem.source}:{problem.line}" if problem.line else problem.source


def load_spec(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Spec:
    """Read and validate a spec file; a missing or unreadable file is a SpecError too."""
    filename = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError.single(filename, "no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError.single(filename, f"cannot read the file: {exc}") from None
    spec = parse_spec(text, filename, overrides)
    spec.data.base_dir = str(Path(path).resolve().parent)  # relative data paths are read from the spec's folder
    return spec


def spec_to_yaml(spec: Spec) -> str:
    """The fully resolved spec (every default filled) as YAML in the models' field order.

    A spec without a search section or mirrors is written without them, so specs
    that use neither read exactly as they always did.
    """
    data = spec.model_dump(mode="json")
    if data.get("search") is None:
        data.pop("search", None)
    if not any((data.get("logging") or {}).values()):
        data.pop("logging", None)
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False)


def json_schema() -> dict:
    """The JSON Schema of a spec, for editors and validators."""
    schema = Spec.model_json_schema()
    schema.pop("title", None)
    return {"$schema": JSON_SCHEMA_DIALECT, "title": "nnctl experiment spec", **schema}
