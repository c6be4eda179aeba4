"""Bounded YAML reading: every limit is checked before a single Python object is built.

A spec is a small hand-written file, so anything far beyond that is hostile or a
mistake: an alias "billion laughs" bomb (kilobytes of text, gigabytes of data),
thousands of nesting levels (Python's recursion limit), megabyte scalars,
integers past Python's 4,300-digit conversion limit, or explicit tags whose
value does not fit them (``!!int x``, ``!!bool maybe``), which PyYAML's
constructors report as bare ValueError/KeyError. The checks run in three linear
passes: the text's size, the token stream (depth and scalar length, no
recursion), then the composed node graph (expanded size and depth with aliases
counted as often as they are used, cycles, scalar values against their tags).
Every violation is a SpecError at the line it happens.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from nnctl.spec.errors import KeyPath, Problem, SpecError, format_path

MAX_CHARACTERS = 1_000_000  # a spec is a few hundred lines
MAX_DEPTH = 64  # nesting levels of mappings and sequences, after alias expansion
MAX_SCALAR = 10_000  # characters in one scalar (a path is at most a few thousand)
MAX_NODES = 100_000  # values after alias expansion
MAX_INT_DIGITS = 4_000  # below Python's int-conversion limit of 4,300 digits

INT_TAG = "tag:yaml.org,2002:int"
FLOAT_TAG = "tag:yaml.org,2002:float"
_OPENING = (yaml.BlockMappingStartToken, yaml.BlockSequenceStartToken,
            yaml.FlowMappingStartToken, yaml.FlowSequenceStartToken)
_CLOSING = (yaml.BlockEndToken, yaml.FlowMappingEndToken, yaml.FlowSequenceEndToken)


# YAML 1.2's exponents without a dot or a sign (1e-3, 2.5e4), which YAML 1.1 leaves as text: a spec's values are
# taken strictly, and `learning_rate: 1e-3` is a number wherever it is written.
EXPONENT_FLOAT = re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)[eE][-+]?[0-9]+$")


class LineLoader(yaml.SafeLoader):
    """A SafeLoader that records the line of every key and item, rejects duplicate keys,
    and refuses documents beyond the limits above before constructing anything."""

    def __init__(self, stream: str, filename: str):
        super().__init__(stream)
        self.filename = filename
        self.lines: dict[KeyPath, int] = {}
        self.problems: list[Problem] = []

    def load_with_lines(self) -> Any:
        """The single document's data (None when empty), with ``lines`` filled in."""
        try:
            node = self.get_single_node()
            if node is None:
                return None
            _check_graph(node, self.filename)
            self._record(node, ())
            if self.problems:
                raise SpecError(self.problems)
            return self.construct_document(node)
        finally:
            self.dispose()

    def _record(self, root: yaml.Node, root_path: KeyPath) -> None:
        """Note the line of every path in the tree, visiting each node once (aliases keep their first path)."""
        seen: set[int] = set()
        stack = [(root, root_path)]
        while stack:
            node, path = stack.pop()
            self.lines.setdefault(path, node.start_mark.line + 1)
            if id(node) in seen:
                continue
            seen.add(id(node))
            if isinstance(node, yaml.SequenceNode):
                stack.extend(((item, (*path, index)) for index, item in enumerate(node.value)))
            elif isinstance(node, yaml.MappingNode):
                stack.extend(self._mapping_children(node, path))

    def _mapping_children(self, node: yaml.MappingNode, path: KeyPath):
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
            yield value_node, (*path, key)


LineLoader.add_implicit_resolver(FLOAT_TAG, EXPONENT_FLOAT, list("-+0123456789."))


def _tag_patterns() -> dict[str, list]:
    """The regular expressions by which a spec's YAML resolves plain scalars to each core tag."""
    patterns: dict[str, list] = {}
    for resolvers in LineLoader.yaml_implicit_resolvers.values():
        for tag, regexp in resolvers:
            if regexp not in patterns.setdefault(tag, []):
                patterns[tag].append(regexp)
    return patterns


TAG_PATTERNS = _tag_patterns()


def read_yaml(text: str, source: str) -> tuple[Any, dict[KeyPath, int]]:
    """Parse ``text`` within the limits: (data, line of every key path), or a SpecError naming the line."""
    if len(text) > MAX_CHARACTERS:
        raise SpecError.single(source, f"the file is {len(text):,} characters long; a spec may have at most {MAX_CHARACTERS:,}")
    try:
        _check_tokens(text, source)
        loader = LineLoader(text, source)
        return loader.load_with_lines(), loader.lines
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise SpecError.single(source, f"invalid YAML: {exc.problem or exc.context}", line) from None
    except yaml.YAMLError as exc:  # the reader's own errors (NUL and other control characters)
        raise SpecError.single(source, f"invalid YAML: {_reader_message(exc)}", _reader_line(text, exc)) from None


def _check_tokens(text: str, source: str) -> None:
    """Depth and scalar length from the token stream: linear, before the recursive composer runs."""
    depth = 0
    for token in yaml.scan(text, Loader=yaml.SafeLoader):
        if isinstance(token, _OPENING):
            depth += 1
            if depth > MAX_DEPTH:
                raise SpecError.single(source, f"nested more than {MAX_DEPTH} levels deep", token.start_mark.line + 1)
        elif isinstance(token, _CLOSING):
            depth -= 1
        elif isinstance(token, yaml.ScalarToken) and len(token.value) > MAX_SCALAR:
            raise SpecError.single(
                source, f"a value of {len(token.value):,} characters; at most {MAX_SCALAR:,} are allowed", token.start_mark.line + 1)


def _check_graph(root: yaml.Node, source: str) -> None:
    """Expanded size and depth (aliases counted every time they are used), cycles, and scalars against their tags.

    Iterative post-order over the node graph with each node's expanded size and
    depth memoized, so a bomb of nested aliases costs its node count, not its
    expansion.
    """
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            on_path.discard(key)
            kids = _children(node)
            size[key] = 1 + sum(size[id(kid)] for kid in kids)
            depth[key] = 1 + max((depth[id(kid)] for kid in kids), default=0)
            line = node.start_mark.line + 1
            if size[key] > MAX_NODES:
                raise SpecError.single(source, f"aliases expand to more than {MAX_NODES:,} values", line)
            if depth[key] > MAX_DEPTH:
                raise SpecError.single(source, f"aliases nest more than {MAX_DEPTH} levels deep", line)
            continue
        if key in size:
            continue
        if key in on_path:
            raise SpecError.single(source, "an alias refers to the mapping or list that contains it", node.start_mark.line + 1)
        if isinstance(node, yaml.ScalarNode):
            _check_scalar(node, source)
            size[key], depth[key] = 1, 0
            continue
        on_path.add(key)
        stack.append((node, True))
        stack.extend((kid, False) for kid in _children(node) if id(kid) not in size)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _check_scalar(node: yaml.ScalarNode, source: str) -> None:
    """A scalar whose (explicit) core tag its text does not match, or an integer too long to convert."""
    patterns = TAG_PATTERNS.get(node.tag)
    line = node.start_mark.line + 1
    if patterns is not None and not any(p.match(node.value) for p in patterns):
        short = node.tag.rsplit(":", 1)[-1]
        raise SpecError.single(source, f"{node.value[:40]!r} is not a valid !!{short} value", line)
    if node.tag == INT_TAG and sum(ch.isdigit() for ch in node.value) > MAX_INT_DIGITS:
        raise SpecError.single(source, f"an integer of more than {MAX_INT_DIGITS:,} digits", line)


def _reader_message(exc: yaml.YAMLError) -> str:
    """PyYAML's ReaderError says 'unacceptable character #x0000: special characters are not allowed'."""
    character = getattr(exc, "character", None)
    if isinstance(character, int):
        return f"control character U+{character:04X} is not allowed in a spec"
    return str(exc).splitlines()[0]


def _reader_line(text: str, exc: yaml.YAMLError) -> int | None:
    position = getattr(exc, "position", None)
    return text.count("\n", 0, position) + 1 if isinstance(position, int) else None
