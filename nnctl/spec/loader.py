"""Load, validate and re-emit experiment specs, keeping YAML line numbers for errors.

The YAML is composed into nodes first so every mapping key and sequence item
can be given its line before the plain data is built; validation errors are
then reported at the line the user has to edit (or at the ``--set`` override
that introduced the bad value).
"""

from __future__ import annotations

from pathlib import Path as FsPath
from typing import Any

import yaml
from pydantic import ValidationError

from nnctl.spec.errors import Path, Problem, SpecError, explain_all, format_path
from nnctl.spec.overrides import apply_overrides, parse_override
from nnctl.spec.schema import Spec

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


class LineLoader(yaml.SafeLoader):
    """A SafeLoader that also records the line of every key and item, and rejects duplicate keys."""

    def __init__(self, stream: str, filename: str):
        super().__init__(stream)
        self.filename = filename
        self.lines: dict[Path, int] = {}
        self.problems: list[Problem] = []

    def load_with_lines(self) -> Any:
        """The single document's data (None when empty), with ``lines`` filled in."""
        try:
            node = self.get_single_node()
            if node is None:
                return None
            self._record(node, (), set())
            if self.problems:
                raise SpecError(self.problems)
            return self.construct_document(node)
        finally:
            self.dispose()

    def _record(self, node: yaml.Node, path: Path, active: set[int]) -> None:
        """Walk the node tree noting lines; ``active`` guards against recursive aliases."""
        self.lines.setdefault(path, node.start_mark.line + 1)
        if id(node) in active:
            return
        active = active | {id(node)}
        if isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                self._record(item, (*path, index), active)
        elif isinstance(node, yaml.MappingNode):
            self._record_mapping(node, path, active)

    def _record_mapping(self, node: yaml.MappingNode, path: Path, active: set[int]) -> None:
        first_seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            key, line = key_node.value, key_node.start_mark.line + 1
            if key in first_seen:
                message = f"duplicate key {key!r} (first defined at line {first_seen[key]})"
                self.problems.append(Problem(self.filename, line, format_path((*path, key)), message))
                continue
            first_seen[key] = line
            self.lines[(*path, key)] = line
            self._record(value_node, (*path, key), active)


def _read_yaml(text: str, filename: str) -> tuple[dict, dict[Path, int]]:
    """The top-level mapping and its line table, or a SpecError saying why not."""
    loader = LineLoader(text, filename)
    try:
        data = loader.load_with_lines()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise SpecError.single(filename, f"invalid YAML: {exc.problem or exc.context}", line) from None
    except yaml.YAMLError as exc:
        raise SpecError.single(filename, f"invalid YAML: {exc}") from None
    if data is None:
        raise SpecError.single(filename, "the spec is empty; expected a mapping with at least a 'model' section")
    if not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else repr(data)
        raise SpecError.single(filename, f"expected a mapping at the top level, got {kind}", loader.lines.get(()))
    return data, loader.lines


def line_of(text: str, filename: str, path: Path) -> int | None:
    """The line where ``path`` (or its nearest enclosing key) is written in spec text."""
    return _line_for(path, _read_yaml(text, filename)[1])


def _line_for(path: Path, lines: dict[Path, int]) -> int | None:
    """The line of ``path`` or of its nearest enclosing key that exists in the file."""
    for end in range(len(path), -1, -1):
        if path[:end] in lines:
            return lines[path[:end]]
    return None


def _blame(path: Path, message: str, filename: str, lines: dict[Path, int], overrides: list) -> Problem:
    """Attribute a problem to the last override on the same branch as ``path``, else to the file."""
    for override, target in reversed(overrides):
        shared = min(len(path), len(target))
        if path[:shared] == target[:shared]:
            return Problem(f"--set {override}", None, format_path(path), message)
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
    path: Path = tuple(int(part) if part.isdigit() else part
                       for part in key.replace("[", ".").replace("]", "").split(".") if part)
    try:
        _, lines = _read_yaml(FsPath(filename).read_text(encoding="utf-8"), filename)
    except (OSError, UnicodeDecodeError, SpecError):
        lines = {}
    targets = [(override, parse_override(override)[0]) for override in overrides]
    problem = _blame(path, "", filename, lines, targets)
    return f"{problem.source}:{problem.line}" if problem.line else problem.source


def load_spec(path: str | FsPath, overrides: list[str] | tuple[str, ...] = ()) -> Spec:
    """Read and validate a spec file; a missing or unreadable file is a SpecError too."""
    filename = str(path)
    try:
        text = FsPath(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError.single(filename, "no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError.single(filename, f"cannot read the file: {exc}") from None
    return parse_spec(text, filename, overrides)


def spec_to_yaml(spec: Spec) -> str:
    """The fully resolved spec (every default filled) as YAML in the models' field order.

    A spec without a search section is written without one, so specs that do
    not tune read exactly as they always did.
    """
    data = spec.model_dump(mode="json")
    if data.get("search") is None:
        data.pop("search", None)
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False)


def json_schema() -> dict:
    """The JSON Schema of a spec, for editors and validators."""
    schema = Spec.model_json_schema()
    schema.pop("title", None)
    return {"$schema": JSON_SCHEMA_DIALECT, "title": "nnctl experiment spec", **schema}
