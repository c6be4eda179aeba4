"""Data shown as data: labels with Rich markup, mathtext, emoji codes and formula characters, wherever nnctl shows
or writes them (tables, messages, figures, CSV and Markdown files)."""

from __future__ import annotations

import csv
import html
import io
import json
import logging
import re

import numpy as np
import pytest
from conftest import invoke, one_line_error, train_run, write_spec

from nnctl.cli.common import stdout
from nnctl.cli.runs_cmd import Format, emit
from nnctl.data.csv_table import read_table
from nnctl.literal import CONTROL_CHARACTERS, from_spreadsheet_cell, markdown_cell, quoted, spreadsheet_cell

# Each would act if taken for what it looks like: a markup error, a hidden hyperlink, a mathtext error, an emoji,
# a spreadsheet formula.
LABELS = ["[/]", "[link=x]y[/link]", r"$\undefinedcmd{x}$", "=1+2", "@A1:cat:"]
CENTRES = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0], [2.0, 2.0], [1.0, 1.0]])

SPEC = """\
name: hostile
seed: 0
data:
  source: {type: csv, path: hostile.csv, label_column: 0}
  split: {train: 0.6, dev: 0.2, test: 0.2}
model:
  layers:
    - {units: 8, activation: tanh}
    - {units: 5, activation: softmax}
train: {epochs: 5, batch_size: 16, learning_rate: 0.05, optimizer: {name: adam}}
"""


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory):
    """Five overlapping clusters named by LABELS: the model makes errors to list."""
    base = tmp_path_factory.mktemp("hostile")
    rng = np.random.default_rng(0)
    lines = []
    for i in range(200):
        x = CENTRES[i % 5] + rng.normal(0, 0.6, 2)
        lines.append(f"{LABELS[i % 5]},{x[0]:.5f},{x[1]:.5f}")
    (base / "hostile.csv").write_text("\n".join(lines) + "\n")
    return train_run(write_spec(base, SPEC), base / "runs")


def _shown_whole(text: str) -> None:
    flat = "".join(text.split())  # a table may wrap a long label over lines
    for label in LABELS:
        assert "".join(label.split()) in flat, label
    assert "🐱" not in text


def test_tables_show_labels_as_typed(hostile_run, monkeypatch):
    monkeypatch.setattr(stdout, "_width", 400)  # a wide terminal: no label cut to fit
    _shown_whole(invoke("eval", hostile_run, "--split", "dev").stdout)
    _shown_whole(invoke("errors", hostile_run, "--split", "train").stdout)


def test_the_errors_sheet_neutralizes_formulas_and_tallies_back(hostile_run, tmp_path):
    sheet = tmp_path / "errors.csv"
    invoke("errors", hostile_run, "--split", "train", "--out", sheet)
    rows = list(csv.DictReader(sheet.open()))
    cells = {row["true"] for row in rows} | {row["predicted"] for row in rows}
    assert "'=1+2" in cells and "'@A1:cat:" in cells and "=1+2" not in cells
    assert all(not c.startswith(("=", "+", "@")) for row in rows for c in row.values())
    assert all(float(row["margin"]) >= 0 for row in rows)  # numbers stay numbers
    tally = invoke("errors", "tally", sheet).stdout
    _shown_whole(tally)


def test_predict_writes_a_csv_no_spreadsheet_runs(hostile_run, tmp_path):
    inputs = tmp_path / "new.csv"
    inputs.write_text("".join(f"{x:.3f},{y:.3f}\n" for x, y in CENTRES))
    out = tmp_path / "predicted.csv"
    invoke("predict", hostile_run, inputs, "--proba", "--out", out)
    rows = list(csv.reader(out.open()))
    assert rows[0][0] == "class" and "p_'=1+2" not in rows[0]
    assert all(not cell.startswith(("=", "@")) for row in rows for cell in row)
    assert {from_spreadsheet_cell(row[0]) for row in rows[1:]} <= set(LABELS)


def test_figures_draw_mathtext_as_plain_text(hostile_run, tmp_path):
    invoke("plot", "confusion", hostile_run, "--out", tmp_path / "confusion.svg")
    invoke("plot", "boundary", hostile_run, "--out", tmp_path / "boundary.png")
    invoke("report", hostile_run, "--out", tmp_path / "report.html")
    assert (tmp_path / "report.html").stat().st_size > 0


# Each would act on a terminal if printed raw: clear the screen and turn what follows red, start a forged line,
# misalign a table, reverse the text after it.
CONTROL_LABELS = ["\x1b[2J\x1b[31mRED", "line1\nline2", "tab\there", "\u202eevil"]
ID_COLUMN = '=HYPERLINK("http://x")'
CONTROL_SPEC = SPEC.replace("path: hostile.csv, label_column: 0", f"path: hostile.csv, label_column: label, id_columns: ['{ID_COLUMN}']"
                            ).replace("units: 5", "units: 4")


@pytest.fixture(scope="module")
def control_run(tmp_path_factory):
    """Four overlapping clusters named by CONTROL_LABELS, with an id column named like a formula."""
    base = tmp_path_factory.mktemp("control")
    rng = np.random.default_rng(0)
    with (base / "hostile.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([ID_COLUMN, "label", "a", "b"])
        for i in range(160):
            x = CENTRES[i % 4] + rng.normal(0, 0.7, 2)
            writer.writerow([i, CONTROL_LABELS[i % 4], f"{x[0]:.5f}", f"{x[1]:.5f}"])
    return train_run(write_spec(base, CONTROL_SPEC), base / "runs")


def _inert(text: str) -> str:
    """``text`` with no control character but its line ends, every label shown escaped instead."""
    assert not CONTROL_CHARACTERS.search(text.replace("\n", "")), text
    return text


def test_control_characters_in_labels_show_escaped_in_tables(control_run, monkeypatch):
    """Whatever the width (COLUMNS=150 stacks the errors table), no label drives the terminal or starts a line."""
    for columns in ("150", "400"):
        monkeypatch.setenv("COLUMNS", columns)
        for args in (("eval", control_run), ("errors", control_run, "--split", "train")):
            out = _inert(invoke(*args).stdout)
            assert r"\x1b[2J\x1b[31mRED" in out and r"line1\nline2" in out and r"\u202eevil" in out
            assert not any(line.lstrip("│ ").startswith("line2") for line in out.splitlines()), out


def test_predict_keeps_the_labels_text_in_files_and_escapes_it_on_a_terminal(control_run, tmp_path):
    from nnctl.cli.predict_cmd import _write_csv

    inputs = tmp_path / "new.csv"
    with inputs.open("w", newline="") as f:
        csv.writer(f).writerows([[ID_COLUMN, "a", "b"], *([i, x, y] for i, (x, y) in enumerate(CENTRES[:4]))])
    out = tmp_path / "predicted.csv"
    invoke("predict", control_run, inputs, "--out", out)
    written = {from_spreadsheet_cell(row[1]) for row in list(csv.reader(out.open(newline="")))[1:]}
    assert written and written <= set(CONTROL_LABELS)  # the data, exactly
    assert invoke("predict", control_run, inputs).stdout == out.read_text()  # a pipe gets the file's text

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    screen = Terminal()
    _write_csv(screen, ["label\tname"], [CONTROL_LABELS])
    assert screen.getvalue() == r"""label\tname
\x1b[2J\x1b[31mRED
line1\nline2
tab\there
\u202eevil
"""


def test_messages_show_the_data_they_quote_escaped_and_whole(control_run, tmp_path):
    """An error quoting a label, a key or a path with a line break or an escape is one whole line."""
    (tmp_path / "new.csv").write_text("label,a,b\nnewlab,0.1,0.2\n")
    line = one_line_error(_inert(invoke("eval", control_run, "--data", tmp_path / "new.csv", expect=2).stderr))
    assert r"labels 'newlab' (line 2) in column 1 ('label') are not among the classes \x1b[2J\x1b[31mRED, line1\nline2, tab\there, \u202eevil" in line
    for name in ("bad\nname.csv", "hostile.csv"):
        (tmp_path / name).write_text((control_run.parent.parent / "hostile.csv").read_text())
    located = f"data.source.label_column: {tmp_path}/"
    for source, said in (('"bad\\nname.csv", label_column: nope', located + r"bad\nname.csv: no column named 'nope'"),
                         ('hostile.csv, label_column: "nope\\nsecond"', located + r"hostile.csv: no column named 'nope\nsecond'")):
        spec = write_spec(tmp_path, CONTROL_SPEC.replace("hostile.csv, label_column: label", source))
        line = one_line_error(_inert(invoke("spec", "check", spec, "--data", expect=2).stderr))
        assert said in line and line.endswith(")"), line  # the list of columns that follows is there too
    facts = _inert(invoke("data", "info", tmp_path / "bad\nname.csv", "--label-column", "label").stdout)
    assert "bad\\nname.csv\nkind: csv\n" in facts
    spec = write_spec(tmp_path, CONTROL_SPEC.replace("train: {epochs", 'train: {"ep\\e[2J\\e[31mochs": 3, epochs'))
    assert r"train.ep\x1b[2J\x1b[31mochs: unknown key" in one_line_error(_inert(invoke("spec", "check", spec, expect=2).stderr))


def test_library_notes_and_training_warnings_show_control_characters_escaped(capsys):
    from nnctl.cli.progress import warning_line

    logging.getLogger("nnctl.data").warning("%s: a note", "bad\x1b[2J\nname.csv")
    assert capsys.readouterr().err == "nnctl: warning: bad\\x1b[2J\\nname.csv: a note\n"
    event = {"where": "s\x1b[2J.yaml:9", "key": "train.epochs", "message": "cost rose", "kind": "divergence"}
    assert warning_line(event) == "warning: s\\x1b[2J.yaml:9: cost rose [divergence]"


@pytest.mark.parametrize("value, cell", [
    ("=1+2", "'=1+2"), ("+A1", "'+A1"), ("-2+3", "'-2+3"), ("@SUM(A1)", "'@SUM(A1)"), ("\t=x", "'\t=x"), ("\r=x", "'\r=x"),
    ("'=x", "''=x"), ("-1", "-1"), ("+0.5", "+0.5"), ("-1.5e-3", "-1.5e-3"), ("plain", "plain"), ("'quoted", "'quoted"),
    (-1.5, -1.5), (3, 3),
])
def test_the_owasp_rule_with_numbers_kept(value, cell):
    assert spreadsheet_cell(value) == cell
    if isinstance(value, str):
        assert from_spreadsheet_cell(cell) == value


def test_runs_list_csv_neutralizes_text_but_not_numbers(capsys):
    emit([["=cmd", -0.25, float("-inf"), "-inf", None]], ["name", "best", "low", "text", "none"], Format.csv)
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[1] == ["'=cmd", "-0.25", "-inf", "'-inf", ""]


def _strict_json(text: str):
    def refuse(word):
        raise AssertionError(f"{word} is not JSON")
    return json.loads(text, parse_constant=refuse)


def test_json_output_writes_numbers_that_are_not_finite_as_null(capsys):
    emit([["a", float("inf"), {"l2": float("-inf"), "seeds": [float("nan"), 1.5]}, np.float32("inf"), 2]],
         ["name", "best", "spec", "low", "epochs"], Format.json)
    assert _strict_json(capsys.readouterr().out) == [
        {"name": "a", "best": None, "spec": {"l2": None, "seeds": [None, 1.5]}, "low": None, "epochs": 2}]


def test_runs_list_markdown_escapes_html_and_pipes(capsys):
    emit([["<script>alert(1)</script>", "a|b"]], ["name", "x"], Format.md)
    out = capsys.readouterr().out
    assert "<script>" not in out and "&lt;script&gt;" in out and "a\\|b" in out
    assert markdown_cell("a\nb\x1b") == r"a\\nb\\x1b"  # line breaks and escapes shown, as on a terminal


# Each would render as something else in a CI job summary: a link, an image, an autolink (CommonMark's and GFM's
# extended ones), emphasis, code, strikethrough, an entity, a heading, a list item, math, HTML, a footnote.
MARKDOWN_HOSTILE = ["[click](http:evil.example)*b*.csv", "![x](https://evil.example/x.png)", "<https://evil.example>",
                    "http://evil.example/a_b_", "www.evil.example", "a@evil.example", "`code`", "**strong** __b__",
                    "~~gone~~", "a|b \\| c\\", "&copy; &amp;", "# h", "- item", "1. x", "$x^2$", "<script>x</script>",
                    "  spaced  ", "[^1] [a]: /u", "{x} +y+ !z"]


def test_markdown_cells_render_as_the_text_they_hold(capsys):
    """Rendered by a real CommonMark parser with tables and strikethrough: no element, and each cell's text whole."""
    markdown_it = pytest.importorskip("markdown_it")
    emit([[cell] for cell in MARKDOWN_HOSTILE], ["name"], Format.md)
    page = markdown_it.MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(capsys.readouterr().out)
    assert not re.search(r"<(a|img|em|strong|code|s|del|script|h1|li|ol|ul)\b", page), page
    assert [html.unescape(cell) for cell in re.findall(r"<td>(.*?)</td>", page, re.DOTALL)] == MARKDOWN_HOSTILE


def test_a_huge_name_is_quoted_short():
    text = quoted("x" * 1_000_000)
    assert len(text) < 120 and "1,000,000 characters" in text
    assert quoted("label") == "'label'"


def test_a_label_column_typo_on_a_file_of_a_million_columns_is_a_short_line(tmp_path):
    names = [f"c{i}" for i in range(1_000_000)]
    (tmp_path / "wide.csv").write_text(",".join(names) + "\n" + ",".join(["1"] * len(names)) + "\n")
    line = one_line_error(invoke("data", "info", tmp_path / "wide.csv", "--label-column", "c99999x", expect=2).stderr)
    assert len(line) < 400 and "no column named 'c99999x' (has: c0, c1," in line and "(1,000,000 in all)" in line


@pytest.mark.filterwarnings("error::UserWarning")  # long choices (absolute paths) must not collapse the layout
def test_a_search_choice_with_mathtext_draws_and_reports(tmp_path):
    """A choice value `$\\bad$.csv` (a data file's name) labels the tune figure's axis as typed."""
    from tests.test_data_cli import SPEC as FLOWER_SPEC
    from tests.test_data_cli import flowers

    for name in ("$\\bad$.csv", "plain.csv"):
        flowers(tmp_path / name)
    bad, plain = tmp_path / "$\\bad$.csv", tmp_path / "plain.csv"  # absolute: a search reads paths from where it starts
    spec = FLOWER_SPEC.replace("train: {epochs: 30", "train: {epochs: 2").replace("path: flowers.csv", f"path: '{plain}'") + (
        "search:\n  metric: dev_error\n  trials: 2\n  method: grid\n"
        f"  parameters:\n    data.source.path: {{choice: ['{bad}', '{plain}']}}\n")
    result = invoke("tune", write_spec(tmp_path, spec), "--runs-dir", tmp_path / "runs", "--workers", "1", "--quiet", "--json")
    tune_dir = json.loads(result.stdout)["tune_dir"]
    invoke("plot", "tune", tune_dir, "--out", tmp_path / "tune.svg")
    invoke("report", tune_dir, "--out", tmp_path / "tune.html")
    assert "$\\bad$.csv" in (tmp_path / "tune.html").read_text()


def test_sheet_and_sample_headers_and_labels_run_no_formula(tmp_path):
    """An id column named like a formula or like one of the sheet's own columns ('true'), and labels that are
    formulas in `data sample`'s file: every cell and header stays text, and no column is overwritten."""
    rng = np.random.default_rng(1)
    lines = ['"=HYPERLINK(""http://e"")",true,a,b,label']
    for i in range(120):
        a, b = rng.normal(size=2)
        lines.append(f"R{i},T{i},{a:.3f},{b:.3f},{LABELS[3] if rng.random() < 0.5 else 'plain'}")  # random: errors to list
    (tmp_path / "ids.csv").write_text("\n".join(lines) + "\n")
    spec = SPEC.replace("path: hostile.csv, label_column: 0", "path: ids.csv, label_column: label, id_columns: ['=HYPERLINK(\"http://e\")', 'true']")
    run = train_run(write_spec(tmp_path, spec.replace("units: 5", "units: 2")), tmp_path / "runs")
    sheet = tmp_path / "errors.csv"
    invoke("errors", run, "--split", "train", "--out", sheet)
    header, *rows = list(csv.reader(sheet.open()))
    assert header[6:8] == ["'=HYPERLINK(\"http://e\")", "id_true"] and header[8] == "true"
    assert all(row[7] == f"T{row[5]}" and row[8] in ("plain", "'=1+2") for row in rows)
    invoke("errors", "tally", sheet)  # reads its own header back
    (tmp_path / "plain.csv").write_text("\n".join(line.split(",", 2)[2] for line in lines) + "\n")
    sample = tmp_path / "sample.csv"
    invoke("data", "sample", tmp_path / "plain.csv", "--rows", "30", "--with-labels", "--out", sample)
    assert "'=1+2" in sample.read_text() and not any(line.split(",")[-1].startswith("=") for line in sample.read_text().splitlines())
    assert set(read_table(sample).labels(2).tolist()) == {"=1+2", "plain"}  # nnctl reads the labels back as they were


def test_every_printed_line_shows_terminal_controls_escaped_and_keeps_its_layout(tmp_path, capsys):
    """A message that quotes data by a path no `visible` call covers (an output path echoed back) still cannot act
    on the terminal; the line breaks and tabs the message is laid out with stay."""
    stdout.print("wrote a\x1b[2Jb.csv\x9b31m\u202e\nnext\tline")
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x9b" not in out and "\u202e" not in out
    assert r"a\x1b[2Jb.csv\x9b31m\u202e" in out and "\nnext" in out  # Rich expands the tab itself
    out_file = tmp_path / "sample\x1b[31m.csv"
    said = invoke("data", "sample", "digits", "--rows", "1", "--out", out_file).stderr
    assert chr(27) not in said and r"sample\x1b[31m.csv" in "".join(said.split()) and out_file.is_file()  # a long line wraps


def test_report_and_plot_say_where_they_wrote_on_one_line(hostile_run, tmp_path):
    for command, name in (("report", "a\nb.html"), ("plot", "c\nd.png")):
        said = invoke(command, hostile_run, "--out", tmp_path / name).stdout
        assert said.count("\n") == 1 and name.replace("\n", r"\n") in said and (tmp_path / name).is_file()
