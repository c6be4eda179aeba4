"""Hostile and absurd specs: every one is a located one-line error, found before any object is built."""

from __future__ import annotations

import time

import pytest
from conftest import invoke, one_line_error, write_spec

from nnctl.spec import SpecError, parse_spec
from nnctl.spec.yaml_reader import MAX_CHARACTERS, MAX_DEPTH, MAX_NODES

MODEL = "model: {layers: [{units: 2, activation: softmax}]}\n"


def bomb(levels: int) -> str:
    """The 'billion laughs': each level an anchored list of nine aliases of the one before."""
    lines = ['l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"l{k}: &l{k} [{','.join([f'*l{k - 1}'] * 9)}]" for k in range(1, levels)]
    return "\n".join(lines) + "\n" + MODEL


def error(text: str, overrides=()) -> str:
    with pytest.raises(SpecError) as caught:
        parse_spec(text, "x.yaml", overrides)
    return str(caught.value)


def test_an_alias_bomb_is_refused_in_milliseconds_at_the_line_it_explodes():
    start = time.perf_counter()
    message = error(bomb(9))  # 9**9 = 387 million strings once expanded
    assert time.perf_counter() - start < 2.0
    sizes = [10]  # values under l0 (the list and its 9 strings), then 9 copies of the level below plus the list
    for _ in range(8):
        sizes.append(9 * sizes[-1] + 1)
    first_over = next(k for k, size in enumerate(sizes) if size > MAX_NODES)
    assert message == f"x.yaml:{first_over + 1}: aliases expand to more than {MAX_NODES:,} values"


def test_aliases_within_the_limits_still_work():
    spec = parse_spec("seed: &units 7\nmodel: {layers: [{units: *units}, {units: 2, activation: softmax}]}\n", "x.yaml")
    assert spec.model.layers[0].units == spec.seed == 7


def test_deep_nesting_is_refused_before_the_recursive_composer_runs():
    text = "a: " + "[" * 1000 + "]" * 1000 + "\n" + MODEL
    assert error(text) == f"x.yaml:1: nested more than {MAX_DEPTH} levels deep"


def test_nesting_through_aliases_counts_too():
    lines = ["d0: &d0 [1]"] + [f"d{k}: &d{k} [*d{k - 1}]" for k in range(1, MAX_DEPTH + 2)]
    assert "aliases nest more than" in error("\n".join(lines) + "\n" + MODEL)


def test_a_recursive_alias_is_refused():
    assert error("a: &a [*a]\n" + MODEL) == "x.yaml:1: an alias refers to the mapping or list that contains it"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("seed: " + "9" * 5000 + "\n" + MODEL, "x.yaml:1: an integer of more than 4,000 digits"),
        ("seed: !!int x\n" + MODEL, "x.yaml:1: 'x' is not a valid !!int value"),
        ("seed: 1\nname: !!bool maybe\n" + MODEL, "x.yaml:2: 'maybe' is not a valid !!bool value"),
        ("seed: !!float abc\n" + MODEL, "x.yaml:1: 'abc' is not a valid !!float value"),
        ("seed: !!null 3\n" + MODEL, "x.yaml:1: '3' is not a valid !!null value"),
        ("seed: 1\x00\n" + MODEL, "x.yaml:1: invalid YAML: control character U+0000 is not allowed in a spec"),
        ("seed: 0\nname: \x07bell\n" + MODEL, "x.yaml:2: invalid YAML: control character U+0007 is not allowed in a spec"),
        ("name: " + "a" * 20_000 + "\n" + MODEL, "x.yaml:1: a value of 20,000 characters; at most 10,000 are allowed"),
    ],
)
def test_malformed_scalars_are_located(text, expected):
    assert error(text) == expected


def test_explicit_tags_that_fit_their_value_are_fine():
    assert parse_spec("seed: !!int 3\n" + MODEL, "x.yaml").seed == 3


def test_an_oversized_document_is_refused_unread():
    assert error("#" * (MAX_CHARACTERS + 1)) == (
        f"x.yaml: the file is {MAX_CHARACTERS + 1:,} characters long; a spec may have at most {MAX_CHARACTERS:,}")


def test_overrides_are_bounded_the_same_way_and_quoted_briefly():
    message = error(MODEL, ["seed=" + "9" * 5000])
    assert message.endswith(": an integer of more than 4,000 digits")
    assert len(message) < 120 and "…" in message
    assert error(MODEL, ["seed=!!int x"]) == "--set seed=!!int x: 'x' is not a valid !!int value"


@pytest.mark.parametrize(("override", "expected"), [
    ("seed=18446744073709551616", "seed: expected an integer from -9223372036854775808 to 9223372036854775807 (64 bits), "
                                  "got 18446744073709551616"),
    ("model.layers[0].kernel=[3, 36893488147419103232]", "model.layers[0].kernel: expected an integer from"),
    ("seed=-1", "seed: expected an integer >= 0, got -1"),
])
def test_integers_beyond_64_bits_are_refused_before_numpy_or_hdf5_sees_them(override, expected):
    assert error("model: {layers: [{type: conv2d, filters: 2}, {units: 2}]}\n", [override]).startswith(f"--set {override}: {expected}")
    assert parse_spec(MODEL, overrides=["seed=9223372036854775807"]).seed == 2**63 - 1


def test_a_long_name_is_refused_by_the_schema(tmp_path):
    spec = write_spec(tmp_path, "name: " + "n" * 300 + "\n" + MODEL)
    line = one_line_error(invoke("spec", "check", spec, expect=2).stderr)
    assert ":1: name:" in line


def test_an_absurd_size_fails_at_once_with_the_memory_it_would_need(tmp_path):
    spec = write_spec(tmp_path, "model:\n  layers:\n    - {units: 1000000000000}\n    - {units: 10, activation: softmax}\n")
    start = time.perf_counter()
    result = invoke("train", spec, "--runs-dir", tmp_path / "runs", expect=2)
    assert time.perf_counter() - start < 10
    line = one_line_error(result.stderr)
    assert f"{spec}:3: model.layers[0]: training (" in line and "would need at least" in line
    # the digits (64 inputs after flattening) into 10^12 units: 64·10^12 weights and 10^12 biases
    assert "65,000,000,000,000 parameters" in line and "memory is" in line
    assert not (tmp_path / "runs").exists()


def test_spec_show_gives_the_preflight_memory_estimate(tiny_spec):
    out = invoke("spec", "show", tiny_spec).stderr  # beside the layer table, off the YAML on stdout
    # tiny: 64*16 + 16*2 (batch norm) + 16*10 + 10 = 1226 parameters; Adam: θ, dθ, 2 moments → 4 vectors;
    # activations per example: 64 (flatten1) + 16 (dense1) + 16 (bn) + 16 (act) + 16 (drop) + 10 = 138,
    # value and gradient, batch 32; float32.
    expected = 4 * (1226 * 4 + 2 * 32 * 138)
    assert f"training memory: about {expected / 1024:,.1f} KiB at batch 32" in out


@pytest.mark.parametrize(
    ("split", "limit", "expected"),
    [
        ("{train: 100, dev: 0.5, test: 0.2}", "", ":3: data.split: mixes row counts and fractions"),
        ("{train: 0.8, dev: 0.1, test: 0.1}", "  limit: 4\n", ":4: data.split.test: the test split is empty (4 examples to share)"),
    ],
)
def test_split_mistakes_found_with_the_data_name_the_spec_line(tmp_path, split, limit, expected):
    spec = write_spec(tmp_path, f"data:\n  source: digits\n{limit}  split: {split}\n" + MODEL.replace("2, activation", "10, activation"))
    line = one_line_error(invoke("train", spec, "--runs-dir", tmp_path / "runs", expect=2).stderr)
    assert line.startswith(f"nnctl: error: {spec}{expected}"), line


@pytest.mark.parametrize(("split", "overrides", "expected"), [
    ("{train: 0.9, dev: 0.15, test: 0.15}", [], "x.yaml:3: data.split: fractions sum to 1.2, not 1 (train: 0.9, dev: 0.15"),
    ("{train: 1.5}", [], "x.yaml:3: data.split: mixes row counts and fractions (train: 1.5, dev: 0.1, test: 0.1"),
    ("{train: 0.8}", ["data.split.dev=0.5"], "--set data.split.dev=0.5: data.split: fractions sum to 1.4, not 1"),
])
def test_split_arithmetic_is_checked_without_the_data(split, overrides, expected):
    assert error(f"data:\n  source: moons\n  split: {split}\n" + MODEL, overrides).startswith(expected)


@pytest.mark.parametrize("data", [
    "source: mnist\n  split: {train: 50000, dev: 1000}",  # the test share (0.1) goes to MNIST's own test set
    "source: moons\n  split: {train: 0.5, dev: 0.2, test: held-out.csv}",  # the file takes the test share
    "source: {type: csv, path: a.csv, test: b.csv}\n  split: {train: 0.5, dev: 0.2}",
])
def test_shares_that_a_file_or_an_own_test_set_completes_are_checked_with_the_data(data):
    assert parse_spec(f"data:\n  {data}\n" + MODEL).data.split.train in (50000, 0.5)


@pytest.mark.parametrize(("column", "expected"), [
    ("lab", "no column named 'lab' (has: a, b, label)"),
    ("7", "7 is out of range (the file has 3 columns)"),
])
def test_a_column_the_spec_names_is_located_at_its_line_and_in_the_file(tmp_path, column, expected):
    (tmp_path / "h.csv").write_text("a,b,label\n" + "1,2,x\n3,4,y\n" * 5, encoding="utf-8")
    spec = write_spec(tmp_path, f"data:\n  source:\n    type: csv\n    path: h.csv\n    label_column: {column}\n"
                                "model: {layers: [{units: 2, activation: softmax}]}\n")
    line = one_line_error(invoke("spec", "check", spec, "--data", expect=2).stderr)
    assert line == f"nnctl: error: {spec}:5: data.source.label_column: {tmp_path / 'h.csv'}: {expected}"

