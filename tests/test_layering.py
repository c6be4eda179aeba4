"""The manual's architecture (docs/explanation/architecture.md) is the code's: every nnctl package imports only from layers below it."""

from __future__ import annotations

import ast
from pathlib import Path

import nnctl

PACKAGE = Path(nnctl.__file__).parent
# Lowest first; packages on one line are peers that do not import each other.
LAYERS = [
    {"nn"},
    {"spec"},
    {"data", "runs"},
    {"train"},
    {"loggers"},  # mirrors fed by the trainer's events, attached by orchestration to every run it starts
    {"orchestration"},
    {"search", "strategy", "report", "export"},  # the workflows
    {"cli"},
]
RANK = {package: rank for rank, packages in enumerate(LAYERS) for package in packages}
# error family, its did-you-mean, data shown as data, memory guard, "metric op number" conditions, version
SHARED = {"errors", "did_you_mean", "literal", "memory", "conditions", "__init__", "__main__"}


def _imported_packages(path: Path) -> set[str]:
    """The nnctl packages a module imports (first component below nnctl)."""
    here = path.relative_to(PACKAGE).parent.parts
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level:
            parts = [*here[:len(here) - node.level + 1], *(node.module or "").split(".")]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("nnctl."):
            parts = node.module.split(".")[1:]
        elif isinstance(node, ast.Import) and any(a.name.startswith("nnctl.") for a in node.names):
            parts = next(a.name.split(".")[1:] for a in node.names if a.name.startswith("nnctl."))
        else:
            continue
        parts = [p for p in parts if p]
        found.add(parts[0] if parts else "__init__")
    return found


def test_every_package_has_a_place_in_the_layer_order():
    packages = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert packages <= set(RANK), f"add {sorted(packages - set(RANK))} to LAYERS here and to docs/explanation/architecture.md"


def test_imports_point_down_only():
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).parts
        if len(parts) == 1:
            continue  # nnctl/__init__.py, __main__.py, errors.py
        for target in _imported_packages(path) - SHARED - {parts[0]}:
            if RANK.get(target, -1) >= RANK[parts[0]]:
                upward.append(f"{path.relative_to(PACKAGE.parent)} imports nnctl.{target}")
    assert not upward, "\n".join(upward)


def test_the_numpy_core_imports_nothing_else_of_nnctl():
    for path in (PACKAGE / "nn").glob("*.py"):
        assert _imported_packages(path) <= {"nn"}, path


def test_no_command_module_imports_another():
    """Commands parse options, call one function of a lower layer and render; what several share lives in
    cli's own helpers (views, tables, common, ...), and main.py alone wires the commands together."""
    cli = PACKAGE / "cli"
    commands = {path.stem for path in cli.glob("*_cmd.py")}
    crossing = []
    for path in sorted(cli.glob("*_cmd.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                names = [node.module] if node.module else [alias.name for alias in node.names]
                crossing += [f"{path.name} imports {name}" for name in names if name in commands]
    assert not crossing, "\n".join(crossing)


def test_each_schema_section_stands_alone():
    """The spec's schema is a package by concern: a section module imports the shared base (and the core's words,
    the conditions) but no other section; spec.py alone puts them together into the whole Spec."""
    schema = PACKAGE / "spec" / "schema"
    sections = {path.stem for path in schema.glob("*.py")} - {"__init__", "base", "spec"}
    crossing = []
    for path in sorted(schema.glob("*.py")):
        if path.stem in ("__init__", "spec"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module in sections:
                crossing.append(f"{path.name} imports {node.module}")
    assert not crossing, "\n".join(crossing)
    assert sections == {"data", "model", "train", "strategy", "logging", "search"}, "add the new section to docs/explanation/architecture.md"
