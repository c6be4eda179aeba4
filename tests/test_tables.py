"""Tables at 60, 80 and 200 columns and in a pipe: no number, name or header is ever broken inside itself."""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console
from rich.table import Table
from rich.text import Text
from typer.testing import CliRunner

from nnctl.cli.main import app
from nnctl.cli.tables import fitted, print_table
from nnctl.report.values import human, is_number, numeric_column

HEADERS = ["name", "status", "epochs", "best", "train.learning_rate", "model.layers[0].units", "what to try"]
ROWS = [
    ["tiny-20261206-084512", "completed", "6", "0.82857", "0.001", "16",
     "a bigger network, or more epochs of training so that the train error falls"],
    ["tiny-20261206-084513", "stopped early", "12", "0.91", "0.0031", "32", "—"],
]


def _table() -> Table:
    table = Table(title="runs  (2 runs)")
    for header in HEADERS:
        table.add_column(header)
    for row in ROWS:
        table.add_row(*row)
    return table


def _render(width: int | None) -> str:
    buffer = io.StringIO()
    print_table(_table(), Console(file=buffer, width=80, color_system=None), width)
    return buffer.getvalue()


def _words_whole(text: str, values: list[str]) -> None:
    """Every value's words appear whole on some line: a header or a number cut in two would not."""
    words = set(re.findall(r"[^\s│┃]+", text))
    for value in values:
        for word in value.split():
            assert word in words, f"{word!r} was broken:\n{text}"


@pytest.mark.parametrize("width", [60, 80, 200])
def test_no_value_or_header_breaks_at_any_width(width):
    text = _render(width)
    assert max(len(line) for line in text.splitlines()) <= width, text
    _words_whole(text, HEADERS + [cell for row in ROWS for cell in row])


def test_wide_terminal_keeps_one_line_per_row():
    text = _render(200)
    assert "what to try" in text and "── 1 of 2" not in text
    assert any(line.count("tiny-20261206-084512") == 1 and "0.82857" in line for line in text.splitlines())


def test_narrow_terminal_switches_to_records():
    text = _render(60)
    assert "── 1 of 2 ──" in text and "── 2 of 2 ──" in text
    assert re.search(r"^best\s+0\.82857$", text, re.MULTILINE), text
    assert re.search(r"^model\.layers\[0\]\.units\s+16$", text, re.MULTILINE), text


def test_pipe_without_columns_is_one_line_per_row():
    text = _render(None)
    lines = text.splitlines()
    assert [sum("tiny-20261206-08451" in line for line in lines)] == [2]
    (row,) = [line for line in lines if "tiny-20261206-084512" in line]
    assert all(cell.split()[0] in row for cell in ROWS[0])
    assert ROWS[0][-1] in row  # the prose too: a pipe never wraps


def test_long_headers_become_letters_with_a_legend():
    table = Table(title="search")
    for header in ("rank", "trial", "dev_accuracy", "train.learning_rate", "model.layers[0].units", "train.batch_size"):
        table.add_column(header)
    table.add_row("1", "12", "0.9312", "0.0031", "32", "64")
    buffer = io.StringIO()
    print_table(table, Console(file=buffer, width=80, color_system=None), 60)
    text = buffer.getvalue()
    assert max(len(line) for line in text.splitlines()) <= 60, text
    legend = dict(line.split(maxsplit=1) for line in text.splitlines() if re.match(r"^  [A-Z]+  ", line))
    assert set(legend.values()) >= {"train.learning_rate", "model.layers[0].units"}, text
    assert list(legend) == sorted(legend) and text.index(" A ") < text.index(" B "), text  # lettered left to right
    for code in legend:
        assert re.search(rf"┃ +{code} +┃", text), text
    _words_whole(text, ["0.9312", "0.0031", "dev_accuracy"])


def test_numbers_right_aligned_and_text_left():
    table = Table()
    table.add_column("metric")
    table.add_column("train")
    table.add_row("accuracy", "0.9")
    table.add_row("cost", "12.25")
    buffer = io.StringIO()
    print_table(table, Console(file=buffer, width=80, color_system=None), 80)
    assert "│ cost     │ 12.25 │" in buffer.getvalue()
    assert "│ accuracy │   0.9 │" in buffer.getvalue()


def test_cells_are_never_markup():
    table = Table()
    table.add_column("name")
    table.add_row("[red]run[/red]")
    buffer = io.StringIO()
    print_table(table, Console(file=buffer, width=80, color_system=None), 80)
    assert "[red]run[/red]" in buffer.getvalue()


CONTROL_CELLS = ["\x1b[2J\x1b[31mRED", "line1\nline2", "tab\there", "\u202eevil", "bell\x07\x9b"]


@pytest.mark.parametrize("width", [200, 40])  # one line per row, and records
def test_control_characters_in_cells_show_escaped_and_rich_styles_stay(width):
    """A label's escape sequence never reaches the terminal (it would clear the screen, colour what follows, or
    forge a line); nnctl's own styled cells keep their colour."""
    table = Table(title="title\x1b[2J")
    table.add_column("label\tname")
    table.add_column("verdict")
    styled = Text("ok", style="green") + Text("\x1b[5m!", style="bold")
    for k, cell in enumerate(CONTROL_CELLS):
        table.add_row(cell, styled if k == 0 else "fine")
    buffer = io.StringIO()
    print_table(table, Console(file=buffer, width=width, force_terminal=True, color_system="standard"), width)
    out = buffer.getvalue()
    assert "\x1b[2J" not in out and "\x1b[31m" not in out and "\x1b[5m" not in out  # no data ESC acted on
    assert "\x1b[32m" in out  # Rich's own green
    shown = Text.from_ansi(out).plain  # what a person sees
    for cell in [r"\x1b[2J\x1b[31mRED", r"line1\nline2", r"tab\there", r"\u202eevil", r"bell\x07\x9b", r"title\x1b[2J",
                 r"label\tname", r"ok\x1b[5m!"]:
        assert cell in shown, (cell, shown)
    assert not any(c in shown for c in "\t\x07\x9b\u202e") and not any(line.startswith("line2") for line in shown.splitlines())


@pytest.mark.parametrize("columns", ["60", "80", "200", None])
def test_runs_list_at_widths(trained_run, trained_moons_run, tmp_path, columns):
    runs = tmp_path / "runs"
    runs.mkdir()
    for run in (trained_run, trained_moons_run):
        (runs / run.name).symlink_to(run)
    result = CliRunner().invoke(app, ["runs", "list", str(runs)], env={"COLUMNS": columns})
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    if columns is not None:
        assert max(len(line) for line in lines[1:]) <= int(columns), result.stdout  # the title is a path: whole
    else:
        assert sum(trained_run.name in line and trained_moons_run.name not in line for line in lines) == 1
    _words_whole(result.stdout, [trained_run.name, trained_moons_run.name, "dev_cost", "train.optimizer.name"])
    assert not re.search(r"\b(None|True|False)\b", result.stdout), result.stdout


@pytest.mark.parametrize(("text", "number"), [
    ("0.82857", True), ("1,234", True), ("12.50 %", True), ("3/10", True), ("1e-05", True), ("0.91 – 0.95", True),
    ("-0.5", True), ("nan", True), ("dev_accuracy", False), ("trial-0002", False), ("relu", False), ("2 of 3 rows", False),
])
def test_is_number(text, number):
    assert is_number(text) is number


def test_numeric_column_ignores_dashes():
    assert numeric_column(["0.5", "—", ""]) and not numeric_column(["—", ""]) and not numeric_column(["0.5", "adam"])


@pytest.mark.parametrize(("value", "key", "shown"), [
    (None, "", "—"), (True, "", "yes"), (False, "", "no"), (["customer_id", "batch_id"], "", "customer_id, batch_id"),
    ((12,), "input shape", "12"), ((28, 28, 1), "shape", "28 × 28 × 1"), (",", "delimiter", "comma (,)"),
    ("\t", "delimiter", "tab"), (0.1 + 0.2, "", "0.3"), ({"a": 1, "b": None}, "", "a: 1"), ([], "", "—"),
])
def test_human(value, key, shown):
    assert human(value, key) == shown


def test_text_curves_fit_a_narrow_terminal(trained_run):
    result = CliRunner().invoke(app, ["plot", str(trained_run), "--terminal"], env={"COLUMNS": "50"})
    assert result.exit_code == 0, result.output
    chart = [line for line in result.stdout.splitlines() if "|" in line or "+--" in line]
    assert chart and max(len(line) for line in chart) <= 50, result.stdout


def test_a_terminal_console_is_fitted_to_its_own_width(monkeypatch):
    """The live search table on stderr: no $COLUMNS, a terminal 60 wide."""
    monkeypatch.delenv("COLUMNS", raising=False)
    buffer = io.StringIO()
    console = Console(file=buffer, width=60, force_terminal=True, color_system=None)
    console.print(fitted(_table(), console))
    text = buffer.getvalue()
    assert max(len(line) for line in text.splitlines()) <= 60, text
    _words_whole(text, HEADERS + [cell for row in ROWS for cell in row])
