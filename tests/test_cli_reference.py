"""The manual's command-line reference is every command's --help, as the app prints it now."""

from __future__ import annotations

from conftest import REPO

from nnctl.cli import reference

PAGE = REPO / "docs" / "reference" / "cli.md"


def test_the_manual_s_cli_reference_is_up_to_date():
    page = PAGE.read_text(encoding="utf-8")
    assert reference.with_reference(page) == page, "run: python -m nnctl.cli.reference docs/reference/cli.md"


def test_every_command_has_a_section_with_a_stable_id():
    page = PAGE.read_text(encoding="utf-8")
    paths = reference.command_paths()
    assert ("train",) in paths and ("data", "sample") in paths and ("plot", "boundary") in paths
    for path in paths:
        title = " ".join(("nnctl", *path))
        assert f"### `{title}` {{#{title.replace(' ', '-')}}}" in page
        assert f"Usage: {title} " in page
