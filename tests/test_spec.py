"""The spec package: defaults, shorthands, one-line errors with lines, overrides, round-trips."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnctl.spec import Spec, SpecError, json_schema, load_spec, parse_spec, spec_to_yaml
from nnctl.spec.errors import Problem
from nnctl.spec.overrides import apply_overrides
from nnctl.spec.schema import AdamSpec, DenseLayerSpec, GeneratedSource, Strict

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
MINIMAL = "model:\n  layers:\n    - units: 3\n"


def _schema_models() -> list[type]:
    """Every section model of the spec: the subclasses of the shared strict base, at any depth."""
    found, todo = [], [Strict]
    while todo:
        subclasses = todo.pop().__subclasses__()
        found.extend(subclasses)
        todo.extend(subclasses)
    return list(dict.fromkeys(found))


def spec_of(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def error_of(text: str, overrides: list[str] = ()) -> SpecError:
    with pytest.raises(SpecError) as info:
        parse_spec(spec_of(text), "x.yaml", overrides)
    return info.value


def message(text: str, overrides: list[str] = ()) -> str:
    return str(error_of(text, overrides))


# ---------------------------------------------------------------- valid specs


def test_minimal_spec_gets_every_default():
    spec = parse_spec(MINIMAL)
    assert spec.name == "experiment"
    assert spec.seed == 0
    assert spec.data.source.type == "digits"
    assert spec.data.split.train == 0.8
    assert spec.model.layers == [DenseLayerSpec(units=3)]
    assert spec.model.layers[0].activation == "relu"
    assert spec.train.batch_size == 64
    assert spec.train.optimizer.name == "gd"
    assert spec.train.schedule.name == "constant"
    assert spec.train.early_stopping is None


@pytest.mark.parametrize(
    ("word", "kind", "name"),
    [("digits", "digits", None), ("moons", "generated", "moons"), ("mnist", "registry", "mnist")],
)
def test_source_shorthand(word, kind, name):
    spec = parse_spec(f"data:\n  source: {word}\n{MINIMAL}")
    assert spec.data.source.type == kind
    if name:
        assert spec.data.source.name == name


def test_generated_shorthand_gets_generator_defaults():
    assert parse_spec(f"data: {{source: moons}}\n{MINIMAL}").data.source == GeneratedSource(name="moons")


def test_layers_without_type_are_dense():
    spec = parse_spec("model:\n  layers: [{units: 4, activation: tanh}, {units: 1, activation: sigmoid}]\n")
    assert [layer.type for layer in spec.model.layers] == ["dense", "dense"]
    assert [layer.units for layer in spec.model.layers] == [4, 1]


def test_batch_size_full_and_tagged_optimizer():
    spec = parse_spec(MINIMAL + "train:\n  batch_size: full\n  optimizer: {name: adam, beta1: 0.8}\n")
    assert spec.train.batch_size == "full"
    assert spec.train.optimizer == AdamSpec(beta1=0.8)


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_configs_load(path):
    assert isinstance(load_spec(path), Spec)


# ---------------------------------------------------------------- error messages


def test_activation_typo_suggests_the_nearest_word():
    text = """
        name: typo
        model:
          layers:
            - units: 8
            - units: 4
            - units: 1
              activation: rellu
        """
    assert message(text) == (
        "x.yaml:7: model.layers[2].activation: 'rellu' is not a known activation; did you mean 'relu'?"
    )


def test_unknown_literal_without_a_near_word_lists_the_choices():
    assert message(MINIMAL + "precision: half\n") == (
        "x.yaml:4: precision: 'half' is not a known precision; expected one of float32, float64"
    )


def test_unknown_key_suggests_the_field_and_hides_the_missing_one():
    error = error_of("name: x\nmodel:\n  layrs:\n    - units: 3\n")
    assert str(error) == "x.yaml:3: model.layrs: unknown key; did you mean 'layers'?"
    assert [str(p) for p in error.errors] == [str(error)]


def test_unknown_key_without_a_near_word_lists_the_fields():
    assert message(MINIMAL + "regularization:\n  dropout: 0.5\n") == (
        "x.yaml:5: regularization.dropout: unknown key; expected one of l2, l1"
    )


def test_wrong_type_says_what_was_expected():
    assert message("model:\n  layers:\n    - units: abc\n") == (
        "x.yaml:3: model.layers[0].units: expected an integer >= 1, got 'abc'"
    )


def test_union_of_int_and_word_is_described_once():
    error = error_of(MINIMAL + "train:\n  batch_size: lots\n")
    assert [str(p) for p in error.errors] == [
        "x.yaml:5: train.batch_size: expected an integer >= 1 or one of full, auto, got 'lots'"
    ]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("    - {units: 0}", "x.yaml:3: model.layers[0].units: expected an integer >= 1, got 0"),
        ("    - {units: 2, keep_prob: 1.5}", "x.yaml:3: model.layers[0].keep_prob: expected a number > 0 and <= 1, got 1.5"),
    ],
)
def test_out_of_range_numbers(line, expected):
    assert message(f"model:\n  layers:\n{line}\n") == expected


def test_bool_and_optional_section_types():
    error = error_of(MINIMAL + "train:\n  shuffle: maybe\n  early_stopping: 3\n")
    assert [str(p) for p in error.errors] == [
        "x.yaml:5: train.shuffle: expected true or false, got 'maybe'",
        "x.yaml:6: train.early_stopping: expected a mapping or null, got 3",
    ]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("train: {epochs: true}", "x.yaml:4: train.epochs: expected an integer >= 1, got true"),
        ("train: {epochs: '20'}", "x.yaml:4: train.epochs: expected an integer >= 1, got '20'"),
        ("train: {learning_rate: true}", "x.yaml:4: train.learning_rate: expected a number > 0, got true"),
        ("seed: false", "x.yaml:4: seed: expected an integer >= 0, got false"),
        ("data: {split: {stratify: 'off'}}", "x.yaml:4: data.split.stratify: expected true or false, got 'off'"),
        ("search: {parameters: {seed: {int_uniform: [true, 3]}}}",
         "x.yaml:4: search.parameters.seed.int_uniform[0]: expected an integer, got true"),
    ],
)
def test_values_are_taken_as_written_not_converted(line, expected):
    assert message(f"{MINIMAL}{line}\n") == expected
    assert message("model: {layers: [{units: true}]}\n") == "x.yaml:1: model.layers[0].units: expected an integer >= 1, got true"
    assert message("model: {layers: [{units: 2, keep_prob: '0.8'}]}\n") == (
        "x.yaml:1: model.layers[0].keep_prob: expected a number > 0 and <= 1, got '0.8'")


def test_integers_and_exponents_are_numbers_where_a_number_is_expected():
    spec = parse_spec(MINIMAL + "train: {learning_rate: 1, optimizer: {name: adam, epsilon: 1e-7}}\n", overrides=["regularization.l2=2E-3"])
    assert (spec.train.learning_rate, spec.train.optimizer.epsilon, spec.regularization.l2) == (1.0, 1e-7, 2e-3)
    assert isinstance(spec.train.learning_rate, float)
    search = parse_spec(MINIMAL + "search: {parameters: {train.learning_rate: {log_uniform: [1e-4, 1]}}}\n").search
    assert search.parameters["train.learning_rate"].log_uniform == (1e-4, 1.0)


@pytest.mark.parametrize("value", [".inf", "-.inf", ".nan"])
def test_infinite_numbers_are_refused_with_the_line(value):
    assert message(f"{MINIMAL}data:\n  normalize: {{method: scale, scale: {value}}}\n") == (
        "x.yaml:5: data.normalize.scale: expected a finite number")
    assert message(MINIMAL, [f"train.learning_rate={value}"]) == (
        f"--set train.learning_rate={value}: train.learning_rate: expected a finite number")


def _float_fields(model) -> list[str]:
    return [name for name, field in model.model_fields.items() if re.search(r"\bfloat\b", str(field.annotation))]


@pytest.mark.parametrize(("model", "name"), [(model, name) for model in _schema_models() for name in _float_fields(model)],
                         ids=lambda item: getattr(item, "__name__", item))
def test_every_number_of_the_spec_refuses_infinity(model, name):
    from pydantic import ValidationError

    for infinite in (float("inf"), [float("inf"), 1.0], {"a": float("inf")}):  # a number, a [lo, hi], a mapping's
        with pytest.raises(ValidationError) as caught:
            model.model_validate({name: infinite})
        if any(error["type"] == "finite_number" and error["loc"][0] == name for error in caught.value.errors()):
            break
    else:
        pytest.fail(f"{model.__name__}.{name} took .inf")


def test_missing_required_key_points_at_the_enclosing_mapping():
    text = """
        model:
          layers:
            - units: 3
            - activation: relu
        """
    assert message(text) == "x.yaml:4: model.layers[1].units: missing required key 'units'"


def test_missing_model_section_points_at_the_top_mapping():
    assert message("# a comment\nname: nothing\n") == "x.yaml:2: model: missing required key 'model'"


def test_bad_optimizer_name_lists_the_optimizers():
    text = MINIMAL + "train:\n  optimizer:\n    name: lbfgs\n"
    assert message(text) == (
        "x.yaml:6: train.optimizer.name: 'lbfgs' is not a known optimizer; expected one of gd, momentum, rmsprop, adam"
    )


def test_optimizer_typo_suggests_the_name():
    assert message(MINIMAL + "train: {optimizer: {name: adamw}}\n") == (
        "x.yaml:4: train.optimizer.name: 'adamw' is not a known optimizer; did you mean 'adam'?"
    )


def test_optimizer_without_name():
    assert message(MINIMAL + "train:\n  optimizer: {beta: 0.9}\n") == (
        "x.yaml:5: train.optimizer.name: missing required key 'name'; expected one of gd, momentum, rmsprop, adam"
    )


def test_unknown_layer_type():
    assert message("model:\n  layers:\n    - type: conv\n") == (
        "x.yaml:3: model.layers[0].type: 'conv' is not a known layer type; did you mean 'conv2d'?"
    )


def test_unknown_source_shorthand():
    assert message(f"data:\n  source: moonz\n{MINIMAL}") == (
        "x.yaml:2: data.source: 'moonz' is not a known data set; did you mean 'moons'? (or a mapping with a 'type')"
    )


def test_error_inside_a_tagged_source_strips_the_tag():
    assert message(f"data:\n  source:\n    type: generated\n    samples: 2\n{MINIMAL}") == (
        "x.yaml:4: data.source.samples: expected an integer >= 4, got 2"
    )


def test_model_validator_message_is_kept():
    assert message(MINIMAL + "train:\n  clip: {}\n") == "x.yaml:5: train.clip: give exactly one of 'norm' or 'value'"


def test_empty_layer_list():
    assert message("model:\n  layers: []\n") == "x.yaml:2: model.layers: expected at least 1 item, got 0"


def test_first_error_by_line_is_the_message_and_all_are_kept():
    error = error_of(MINIMAL + "seed: -1\nname: has space\n")
    assert str(error) == "x.yaml:4: seed: expected an integer >= 0, got -1"
    assert [p.line for p in error.errors] == [4, 5]
    assert all(isinstance(p, Problem) for p in error.errors)
    assert str(error.errors[1]) == "x.yaml:5: name: expected a string matching ^[A-Za-z0-9_.-]+$, got 'has space'"


def test_duplicate_key():
    text = MINIMAL + "train:\n  epochs: 3\n  epochs: 4\n"
    assert message(text) == "x.yaml:6: train.epochs: duplicate key 'epochs' (first defined at line 5)"


def test_yaml_syntax_error_has_the_line():
    assert message("model:\n  layers: [{units: 1}\ntrain: 3\n") == (
        "x.yaml:3: invalid YAML: expected ',' or ']', but got '<scalar>'"
    )


@pytest.mark.parametrize("text", ["", "# only a comment\n", "---\n"])
def test_empty_file(text):
    assert message(text) == "x.yaml: the spec is empty; expected a mapping with at least a 'model' section"


def test_top_level_must_be_a_mapping():
    assert message("- units: 3\n") == "x.yaml:1: expected a mapping at the top level, got a list"


def test_missing_file(tmp_path):
    missing = tmp_path / "nope.yaml"
    with pytest.raises(SpecError) as info:
        load_spec(missing)
    assert str(info.value) == f"{missing}: no such file"


def test_load_spec_reports_the_file_name(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(MINIMAL + "seed: x\n")
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert str(info.value) == f"{path}:4: seed: expected an integer >= 0, got 'x'"


def test_error_message_is_one_line():
    assert "\n" not in message("model:\n  layers:\n    - {units: 1, activation: rellu, init: hee}\n")


# ---------------------------------------------------------------- overrides


def test_overrides_are_typed_by_the_schema():
    spec = parse_spec(
        MINIMAL,
        overrides=["model.layers.0.units=32", "train.batch_size=full", "train.optimizer={name: adam}", "seed=7"],
    )
    assert spec.model.layers[0].units == 32
    assert spec.train.batch_size == "full"
    assert spec.train.optimizer == AdamSpec()
    assert spec.seed == 7


def test_override_bracket_index_and_later_wins():
    spec = parse_spec(MINIMAL, overrides=["model.layers[0].units=5", "model.layers[0].units=6"])
    assert spec.model.layers[0].units == 6


def test_override_creates_intermediate_mappings():
    spec = parse_spec(MINIMAL, overrides=["train.early_stopping.patience=3"])
    assert spec.train.early_stopping.patience == 3


def test_apply_overrides_does_not_mutate_its_input():
    data = {"model": {"layers": [{"units": 3}]}}
    out = apply_overrides(data, ["model.layers.0.units=9", "data.source=moons"])
    assert data == {"model": {"layers": [{"units": 3}]}}
    assert out == {"model": {"layers": [{"units": 9}]}, "data": {"source": "moons"}}


def test_override_index_out_of_range():
    text = "model:\n  layers: [{units: 4}, {units: 1}]\n"
    assert message(text, ["model.layers.9.units=3"]) == "--set model.layers.9.units=3: index 9 is out of range (2 layers)"


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("train.epochs", "--set train.epochs: expected KEY.PATH=VALUE, found no '='"),
        ("train..epochs=3", "--set train..epochs=3: malformed key path 'train..epochs'"),
        ("model.layers.x=3", "--set model.layers.x=3: model.layers is a list; expected an index, got 'x'"),
        ("seed.x=1", "--set seed.x=1: cannot set 'x' inside seed, which is 0, not a mapping"),
        ("train.layers.0=1", "--set train.layers.0=1: train.layers is not a list; cannot use index 0"),
        ("seed=[1", "--set seed=[1: invalid YAML: expected ',' or ']', but got '<stream end>'"),
    ],
)
def test_malformed_overrides(override, expected):
    assert message(MINIMAL + "seed: 0\n", [override]) == expected


def test_validation_errors_from_overrides_point_at_the_override():
    assert message(MINIMAL, ["train.epochs=abc"]) == "--set train.epochs=abc: train.epochs: expected an integer >= 1, got 'abc'"
    assert message(MINIMAL, ["train.optimizer={name: adamw}"]) == (
        "--set train.optimizer={name: adamw}: train.optimizer.name: 'adamw' is not a known optimizer; did you mean 'adam'?"
    )
    assert message(MINIMAL, ["model.layrs=3"]) == "--set model.layrs=3: model.layrs: unknown key; did you mean 'layers'?"


def test_file_errors_come_before_override_errors():
    error = error_of(MINIMAL + "seed: -1\n", ["train.epochs=0"])
    assert [str(p) for p in error.errors] == [
        "x.yaml:4: seed: expected an integer >= 0, got -1",
        "--set train.epochs=0: train.epochs: expected an integer >= 1, got 0",
    ]


@settings(max_examples=30, deadline=None)
@given(st.integers(min_value=1, max_value=10**6), st.floats(min_value=1e-9, max_value=10, allow_nan=False))
def test_numeric_overrides_round_trip(epochs, rate):
    spec = parse_spec(MINIMAL, overrides=[f"train.epochs={epochs}", f"train.learning_rate={rate!r}"])
    assert (spec.train.epochs, spec.train.learning_rate) == (epochs, rate)


# ---------------------------------------------------------------- output


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.name)
def test_spec_to_yaml_round_trips(path):
    spec = load_spec(path)
    assert parse_spec(spec_to_yaml(spec)) == spec


def test_spec_to_yaml_fills_defaults_in_model_order():
    text = spec_to_yaml(parse_spec(MINIMAL + "train: {optimizer: {name: adam}, batch_size: full}\n"))
    keys = [line.split(":")[0] for line in text.splitlines() if line and not line.startswith(" ")]
    assert keys == ["name", "seed", "precision", "task", "data", "model", "loss", "regularization", "train", "checkpoint", "watch", "strategy"]
    assert "    beta2: 0.999\n" in text
    assert "  batch_size: full\n" in text
    assert "    activation: relu\n" in text
    assert parse_spec(text) == parse_spec(MINIMAL + "train: {optimizer: {name: adam}, batch_size: full}\n")


def test_json_schema_has_the_layer_and_optimizer_definitions():
    schema = json_schema()
    assert list(schema)[:2] == ["$schema", "title"]
    assert schema["title"] == "nnctl experiment spec"
    assert {"DenseLayerSpec", "GdSpec", "MomentumSpec", "RmspropSpec", "AdamSpec", "ModelSpec"} <= set(schema["$defs"])
    assert schema["required"] == ["model"]
    assert schema["$defs"]["DenseLayerSpec"]["properties"]["activation"]["enum"][0] == "relu"
