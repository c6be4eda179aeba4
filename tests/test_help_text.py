"""Every command's --help shows the text it declares, literally: brackets such as `nnctl[plot]` or
`classes: [a, b]` are text, not markup to swallow."""

from __future__ import annotations

import inspect
import re

import pytest
import typer.main
from typer.testing import CliRunner

from nnctl.cli.main import app

ROOT = typer.main.get_command(app)


def commands(group=ROOT, path: tuple[str, ...] = ()):
    """(argv path, command) for every command and group under ``group``, itself included."""
    yield path, group
    for name, command in group.commands.items():
        if hasattr(command, "commands"):  # a group (Typer's own click)
            yield from commands(command, (*path, name))
        else:
            yield (*path, name), command


def flat(text: str) -> str:
    """Whitespace-insensitive form: help is rewrapped to the terminal's width."""
    return " ".join(text.split())


def declared(command) -> list[str]:
    """The texts a command declares for its help: its description and every parameter's help."""
    texts = [inspect.cleandoc(command.help).split("\f")[0]] if command.help else []
    for param in command.params:
        if getattr(param, "help", None) and not getattr(param, "hidden", False):
            texts.append(param.help)
    return [paragraph for text in texts for paragraph in re.split(r"\n\s*\n", text) if paragraph.strip()]


@pytest.mark.parametrize("path, command", [pytest.param(p, c, id=" ".join(p) or "nnctl") for p, c in commands()])
def test_help_shows_every_declared_text_literally(path, command):
    shown = CliRunner().invoke(app, [*path, "--help"], terminal_width=120)
    assert shown.exit_code == 0, shown.output
    for text in declared(command):
        assert flat(text.replace("\b", "")) in flat(shown.output), f"nnctl {' '.join(path)} --help loses: {text!r}"


def test_the_bracketed_examples_survive():
    """The two the issue found swallowed by Rich markup."""
    assert "nnctl[plot]" in flat(CliRunner().invoke(app, ["train", "--help"], terminal_width=120).output)
    assert "classes: [a, b]}" in flat(CliRunner().invoke(app, ["eval", "--help"], terminal_width=120).output)
