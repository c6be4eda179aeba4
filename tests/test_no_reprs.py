"""No Python repr (None, True, ['a', 'b'], (12,), a doubled comma) in any page or table nnctl writes for people.

The search report and the search's tables are scanned in test_tune_report.py, which has a search to scan.
"""

from __future__ import annotations

import re

import pytest
from conftest import CONFIGS, assert_no_python_reprs, invoke

pytest.importorskip("matplotlib")


def _pages_text(page: str) -> str:
    """A page's text and attributes, without its inline SVG (figures draw their text as paths)."""
    return re.sub(r"<svg.*?</svg>", "", page, flags=re.DOTALL)


@pytest.mark.parametrize("fixture", ["trained_run", "trained_moons_run"])
def test_run_report_has_no_reprs(fixture, request, tmp_path):
    run = request.getfixturevalue(fixture)
    out = tmp_path / "report.html"
    invoke("report", run, "--out", out, "--gradcheck")
    assert_no_python_reprs(_pages_text(out.read_text(encoding="utf-8")), f"report of {run.name}")


def test_tables_of_every_run_command_have_no_reprs(trained_run, trained_moons_run, tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    for run in (trained_run, trained_moons_run):
        (runs / run.name).symlink_to(run)
    commands = [
        ("runs", "list", runs), ("runs", "list", runs, "--format", "md"), ("runs", "show", trained_run),
        ("runs", "diff", trained_run, trained_moons_run),
        ("eval", trained_run, "--split", "test"), ("eval", trained_moons_run, "--split", "dev"),
        ("diagnose", trained_run), ("errors", trained_run, "--out", tmp_path / "errors.csv", "--limit", "3"),
        ("gradcheck", trained_moons_run, "--examples", "4", "--max-checks", "10"),
        ("spec", "check", CONFIGS / "quickstart.yaml"), ("data", "list"), ("data", "info", "digits"),
        ("export", trained_moons_run, "--format", "npz", "--out", tmp_path / "m.npz"),
        ("select", trained_run, trained_moons_run, "--optimize", "dev_accuracy"),
    ]
    for args in commands:
        result = invoke(*args, expect=None)
        assert result.exit_code in (0, 1), (args, result.output)
        assert_no_python_reprs(result.stdout, "nnctl " + " ".join(map(str, args)))
