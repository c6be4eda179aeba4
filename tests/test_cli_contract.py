"""The CLI contract for every command, found by walking the Typer app (so new commands are covered
without touching this file): a bad option value, an unknown option or a missing argument is a
usage error: exit 2, one `nnctl: error:` line on stderr naming the option, no traceback."""

from __future__ import annotations

import inspect
import types
import typing
from enum import Enum
from pathlib import Path

import pytest
import typer
from conftest import invoke, one_line_error, run_nnctl
from typer.models import ArgumentInfo, OptionInfo

from nnctl.cli.main import app


def _commands(group: typer.Typer, path: tuple[str, ...] = ()):
    """(command words, callback) for every command of ``group`` and its sub-groups."""
    for info in group.registered_commands:
        yield (*path, info.name or info.callback.__name__.replace("_", "-")), info.callback
    for sub in group.registered_groups:
        yield from _commands(sub.typer_instance, (*path, sub.name))


def _parameters(callback):
    """(name, annotation, OptionInfo | ArgumentInfo) of each CLI parameter of a command."""
    hints = typing.get_type_hints(callback)
    for name, parameter in inspect.signature(callback).parameters.items():
        if isinstance(parameter.default, (OptionInfo, ArgumentInfo)):
            yield name, hints[name], parameter.default


def _bare(annotation):
    """int | None → int; list[str] → list."""
    members = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(members) == 1:
        return members[0]
    return typing.get_origin(annotation) or annotation


def _bad_values(annotation, info: OptionInfo) -> list[str]:
    """Values the parser itself must refuse for an option of this type ([] for free text and flags)."""
    kind = _bare(annotation)
    if isinstance(kind, type) and issubclass(kind, Enum):
        return ["no-such-choice"]
    if kind in (int, float):
        bad = ["not-a-number"]
        if info.min is not None:
            bad.append(str(info.min - 1 if kind is int else -abs(info.min) - 1))
        return bad
    return []  # bool flags take no value; str, Path and list[str] accept any text (the command checks it)


def _placeholders(callback) -> list[str]:
    """One word per positional argument, so only the option under test is wrong."""
    return ["placeholder" for _, _, info in _parameters(callback) if isinstance(info, ArgumentInfo)]


COMMANDS = list(_commands(app))
BAD_OPTIONS = [
    pytest.param(words, callback, info.param_decls[0], value, id=f"{' '.join(words)} {info.param_decls[0]} {value}")
    for words, callback in COMMANDS
    for name, annotation, info in _parameters(callback)
    if isinstance(info, OptionInfo)
    for value in _bad_values(annotation, info)
]


def test_the_walk_finds_every_command_and_the_choice_options():
    names = {" ".join(words) for words, _ in COMMANDS}
    assert {"train", "eval", "predict", "gradcheck", "spec check", "spec show", "data list", "data fetch"} <= names
    checked = {(" ".join(p.values[0]), p.values[2]) for p in BAD_OPTIONS}
    assert {("predict", "--checkpoint"), ("eval", "--checkpoint"), ("eval", "--split"), ("gradcheck", "--dropout"),
            ("gradcheck", "--examples")} <= checked


# Options whose value is free text by nature; any other text option must be a choice (an Enum),
# so that the parser refuses a bad word with exit 2 before the command runs.
# --max-checks is a count or "all" (its bad values: tests/test_progress_truth.py).
FREE_TEXT = {"--set", "--fail-under", "--fail-over", "--mirror", "--label-column", "--source-yaml", "--metric", "--layer",
             "--weights", "--group-by", "--learning-curve", "--optimize", "--satisfy",  # class weights, a column, shares, metric names
             "--filter", "--sort", "--columns", "--scheduler",  # runs list filters, sort keys and columns; a Dask address
             "--max-checks", "--tracking-uri", "--experiment"}  # an MLflow server and experiment name


def test_text_options_are_choices_unless_free_text():
    text = {info.param_decls[0] for _, callback in COMMANDS for _, annotation, info in _parameters(callback)
            if isinstance(info, OptionInfo) and _bare(annotation) in (str, list)}
    assert text <= FREE_TEXT, f"make {sorted(text - FREE_TEXT)} an Enum option, or add it to FREE_TEXT if any text is valid"


@pytest.mark.parametrize(("words", "callback", "option", "value"), BAD_OPTIONS)
def test_a_bad_option_value_is_one_line_and_exit_2(words, callback, option, value):
    result = invoke(*words, *_placeholders(callback), option, value, expect=2)
    line = one_line_error(result.stderr)
    assert option in line and result.stdout == ""


@pytest.mark.parametrize(("words", "callback"), COMMANDS, ids=[" ".join(w) for w, _ in COMMANDS])
def test_an_unknown_option_is_one_line_and_exit_2(words, callback):
    result = invoke(*words, *_placeholders(callback), "--no-such-option", expect=2)
    assert "--no-such-option" in one_line_error(result.stderr)


@pytest.mark.parametrize(
    ("words", "callback"),
    [(w, c) for w, c in COMMANDS if any(isinstance(i, ArgumentInfo) and i.default is ... for _, _, i in _parameters(c))],
    ids=lambda v: " ".join(v) if isinstance(v, tuple) else "",
)
def test_a_missing_argument_is_one_line_and_exit_2(words, callback):
    assert "Missing argument" in one_line_error(invoke(*words, expect=2).stderr)


def test_an_unknown_command_is_one_line_and_exit_2():
    assert "No such command 'bogus'" in one_line_error(invoke("bogus", expect=2).stderr)


def test_predict_with_a_bogus_checkpoint_in_a_real_process(tmp_path: Path):
    """The issue's own example, through the console entry point (not the test runner)."""
    (tmp_path / "in.csv").write_text("1,2\n")
    done = run_nnctl("predict", tmp_path, tmp_path / "in.csv", "--checkpoint", "bogus")
    assert done.returncode == 2 and done.stdout == ""
    line = one_line_error(done.stderr)
    assert "'bogus' is not one of 'best', 'latest', 'initial'" in line, line
