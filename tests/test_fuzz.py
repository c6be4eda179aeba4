"""A standing fuzz test of the user-facing contract: mutated specs and damaged run files.

Whatever the input, nnctl exits 0 or 2 (3 for divergence, where training runs),
a rejection is one `nnctl: error:` line naming the file or override, no
traceback, no run directory for a rejected spec, and no file changed by a
refused command. Examples are derandomized, so the suite stays deterministic;
NNCTL_FUZZ_EXAMPLES=5000 runs many more.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest
from conftest import CONFIGS, TINY_SPEC, invoke, train_run, write_spec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

EXAMPLES = int(os.environ.get("NNCTL_FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

SPEC_TEXTS = [p.read_text() for p in sorted(CONFIGS.glob("*.yaml"))] + [TINY_SPEC]
YAML_PIECES = [":", " ", "\n", "- ", "{", "}", "[", "]", ",", "&a ", "*a", "!!int ", "!!bool ", "!!python/object ", "#",
               "'", '"', "|", ">", "~", "null", "true", "-1", "0", "1e309", ".nan", "9" * 60, "units", "layers", "\t",
               "\x00", "\x1b", "é", "\u2028", "<<: *a", "? ", "%YAML 1.1\n", "---\n", "..."]


@st.composite
def mutated_specs(draw) -> str:
    """A shipped spec with a few random edits: pieces of YAML syntax, lines deleted or repeated, numbers swapped."""
    lines = draw(st.sampled_from(SPEC_TEXTS)).splitlines(keepends=True)
    for _ in range(draw(st.integers(1, 4))):
        if not lines:
            break
        k = draw(st.integers(0, len(lines) - 1))
        action = draw(st.sampled_from(["insert", "delete", "repeat", "replace"]))
        if action == "delete":
            del lines[k]
        elif action == "repeat":
            lines.insert(k, lines[k])
        else:
            line = lines[k]
            at = draw(st.integers(0, len(line)))
            piece = "".join(draw(st.lists(st.sampled_from(YAML_PIECES), min_size=1, max_size=3)))
            cut = draw(st.integers(0, 6)) if action == "replace" else 0
            lines[k] = line[:at] + piece + line[at + cut:]
    return "".join(lines)


def assert_contract(result, allowed=(0, 2)) -> None:
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code in allowed, (result.exit_code, result.stderr)
    assert "Traceback" not in result.stderr
    if result.exit_code == 2:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("nnctl: error: "), result.stderr


@FUZZ
@given(text=mutated_specs())
def test_mutated_specs_are_accepted_or_refused_in_one_line(tmp_path_factory, text):
    folder = tmp_path_factory.mktemp("spec")
    spec = folder / "spec.yaml"
    spec.write_text(text, encoding="utf-8")
    result = invoke("spec", "check", spec, expect=None)
    assert_contract(result)
    if result.exit_code == 2:
        assert str(spec) in result.stderr


@FUZZ
@given(override=st.text(alphabet=st.sampled_from(list("abcdefghijklmnopqrstuvwxyz._[]0123456789=:{}, -!*&'\"")), max_size=40))
def test_random_overrides_are_accepted_or_refused_in_one_line(tmp_path_factory, override):
    spec = write_spec(tmp_path_factory.mktemp("spec"), TINY_SPEC)
    result = invoke("spec", "check", spec, "--set", override, expect=None)
    assert_contract(result)


@settings(FUZZ, max_examples=max(EXAMPLES // 5, 10))
@given(text=mutated_specs())
def test_rejected_specs_leave_no_run_directory(tmp_path_factory, text):
    folder = tmp_path_factory.mktemp("train")
    spec = folder / "spec.yaml"
    spec.write_text(text.replace("source: mnist", "source: digits"), encoding="utf-8")
    result = invoke("train", spec, "--runs-dir", folder / "runs", "--quiet", "--set", "train.epochs=1",
                    "--set", "data.limit=200", expect=None)
    assert_contract(result, allowed=(0, 2, 3))
    if result.exit_code == 2:
        assert not (folder / "runs").exists() or not any((folder / "runs").iterdir())


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("finished")
    spec = write_spec(base, TINY_SPEC.replace("epochs: 4", "epochs: 2"), "tiny.yaml")
    return train_run(spec, base / "runs")


def digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.mark.slow
@settings(FUZZ, max_examples=max(EXAMPLES // 3, 10))
@given(
    target=st.sampled_from(["checkpoint.h5", "best.h5", "metrics.h5"]),
    damage=st.sampled_from(["truncate", "flip", "overwrite", "append"]),
    where=st.floats(0, 1),
    payload=st.binary(min_size=1, max_size=64),
)
def test_damaged_run_files_are_refused_cleanly(finished_run, tmp_path_factory, target, damage, where, payload):
    run = Path(shutil.copytree(finished_run, tmp_path_factory.mktemp("damaged") / finished_run.name))
    path = run / target
    data = bytearray(path.read_bytes())
    at = int(where * (len(data) - 1))
    if damage == "truncate":
        data = data[:at]
    elif damage == "flip":
        data[at] ^= 1 << (payload[0] % 8)
    elif damage == "overwrite":
        data[at:at + len(payload)] = payload
    else:
        data += payload
    path.write_bytes(bytes(data))
    evaluated = invoke("eval", run, "--split", "dev", "--checkpoint", "best" if target == "best.h5" else "latest", expect=None)
    assert_contract(evaluated)
    before = digests(run)  # after eval, which records what it measured in eval.json
    resumed = invoke("train", "--resume", run, "--quiet", "--set", "train.epochs=3", expect=None)
    assert_contract(resumed)
    if resumed.exit_code == 2:
        assert digests(run) == before


# ---------------------------------------------------------------- tune directories (issue 21)

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-10**20, 10**20) | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=6)


@pytest.fixture(scope="module")
def finished_tune(tmp_path_factory) -> Path:
    from tests.test_search import TUNE_SPEC

    base = tmp_path_factory.mktemp("tune")
    spec = write_spec(base, TUNE_SPEC.replace("trials: 4", "trials: 2"))
    result = invoke("tune", spec, "--runs-dir", base / "runs", "--workers", "1", "--quiet", "--json")
    return Path(json.loads(result.stdout)["tune_dir"])


def _loads_or_refuses(tune_dir: Path) -> None:
    """Reading the directory back gives a record or one TuneDirError line; nothing else escapes."""
    from nnctl.errors import TuneDirError
    from nnctl.search.record import load_search

    try:
        load_search(tune_dir)
    except TuneDirError as err:
        assert "\n" not in str(err) and str(tune_dir) in str(err)


@pytest.mark.slow
@settings(FUZZ, max_examples=max(EXAMPLES // 3, 10))
@given(data=st.data(), file=st.sampled_from(["trials.jsonl", "tune.json"]),
       damage=st.sampled_from(["field", "drop", "repeat", "truncate"]))
def test_damaged_tune_directories_are_read_or_refused_in_one_line(finished_tune, tmp_path_factory, data, file, damage):
    tune_dir = Path(shutil.copytree(finished_tune, tmp_path_factory.mktemp("damaged") / "tune"))
    path = tune_dir / file
    records = [json.loads(line) for line in path.read_text().splitlines()] if file == "trials.jsonl" else [json.loads(path.read_text())]
    k = data.draw(st.integers(0, len(records) - 1))
    if damage == "field":
        key = data.draw(st.sampled_from(sorted(records[k]) + ["extra"]))
        records[k][key] = data.draw(JSON_VALUES)
    elif damage == "drop":
        del records[k]
    elif damage == "repeat":
        records.insert(k, dict(records[k]))
    text = "".join(json.dumps(r) + "\n" for r in records) if file == "trials.jsonl" else json.dumps(records[0] if records else {})
    if damage == "truncate":
        text = text[:data.draw(st.integers(0, len(text)))]
    path.write_text(text)
    _loads_or_refuses(tune_dir)


# ---------------------------------------------------------------- data shown as data (issue 21)

HOSTILE_PIECES = list("[]/=$\\{}+-@:|<>&'\"`#*_^~ \tab1é\r") + ["[link=https://x]", "[/link]", "[bold]", "[/]", ":cat:",
                                                                 "\\undefined", "$\\frac{", "=cmd|'", "-1", "1e5"]
HOSTILE_TEXT = st.lists(st.sampled_from(HOSTILE_PIECES), max_size=8).map("".join)


@given(text=HOSTILE_TEXT)
@FUZZ
def test_spreadsheet_cells_never_start_a_formula_and_read_back(text):
    import csv
    import io

    from nnctl.literal import FORMULA_LEADS, from_spreadsheet_cell, spreadsheet_cell

    cell = spreadsheet_cell(text)
    assert not cell.startswith(FORMULA_LEADS) or cell == text and float(text) == float(text)
    buffer = io.StringIO()
    csv.writer(buffer).writerow([cell])
    assert from_spreadsheet_cell(next(csv.reader(io.StringIO(buffer.getvalue())))[0]) == text


@given(text=HOSTILE_TEXT.filter(lambda t: t.strip() and "\r" not in t and "\t" not in t))
@FUZZ
def test_table_cells_and_messages_print_as_typed(text):
    import io

    from rich.console import Console
    from rich.table import Table

    from nnctl.cli.common import stdout

    console = Console(file=io.StringIO(), width=400, markup=stdout._markup, emoji=stdout._emoji, highlight=False)
    table = Table(title=text)
    table.add_column(text)
    table.add_row(text)
    console.print(table)
    console.print(text)
    out = console.file.getvalue()
    assert out.count(text.strip()) >= 3, out


@given(text=HOSTILE_TEXT.map(lambda t: t.replace("\t", " ").replace("\r", " ")))  # control characters have no glyph
@settings(FUZZ, max_examples=max(EXAMPLES // 5, 10))
def test_figure_text_is_never_parsed_as_mathtext(text):
    pytest.importorskip("matplotlib")
    from nnctl.report.figures import new_figure, svg_text

    fig = new_figure(4, 3)
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], label=f"x{text}")
    ax.set_xticks([0, 1], [text, text + "$"])
    ax.set_title(text)
    ax.legend()
    assert svg_text(fig, "f").startswith("<svg")


@given(text=HOSTILE_TEXT)
@FUZZ
def test_markdown_cells_hold_no_markup(text):
    from nnctl.literal import markdown_cell

    cell = markdown_cell(text)
    assert "<" not in cell and ">" not in cell and "\n" not in cell and "\r" not in cell
    assert "|" not in cell.replace("\\|", "")
