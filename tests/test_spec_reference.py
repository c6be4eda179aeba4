"""The manual's spec reference is the one the schema generates, and it covers every key."""

from __future__ import annotations

import typing

from conftest import REPO
from pydantic import BaseModel

from nnctl.spec import reference, schema


def test_the_manual_s_spec_reference_is_up_to_date():
    page = (REPO / "docs" / "reference" / "spec.md").read_text(encoding="utf-8")
    assert reference.with_table(page) == page, "run: python -m nnctl.spec.reference docs/reference/spec.md"


def test_every_layer_type_and_every_field_is_documented():
    table = reference.table()
    layer_types = [word for m in typing.get_args(typing.get_args(schema.LayerSpec)[0])
                   for word in typing.get_args(m.model_fields["type"].annotation)]
    assert {"dense", "conv2d", "maxpool", "avgpool", "flatten", "global_avgpool", "residual"} <= set(layer_types)
    for word in layer_types:
        assert f"type={word}" in table or f"/{word}]" in table or f"={word}/" in table, word
    models = [m for m in vars(schema).values() if isinstance(m, type) and issubclass(m, BaseModel) and m is not BaseModel]
    named_by_name = {*schema.OPTIMIZER_SPECS.values(), *schema.SCHEDULE_SPECS.values()}
    for model in models:
        tag = "name" if model in named_by_name else "type"
        for name, field in model.model_fields.items():
            if name != tag:
                assert field.description, f"{model.__name__}.{name} has no description (a string under the field)"
                written = field.alias or name  # the key a spec writes (`from` for from_)
                assert f".{written}`" in table or f"`{written}`" in table, f"{model.__name__}.{name}"


def test_keys_types_and_defaults_come_from_the_schema():
    rows = reference.table().splitlines()
    assert "| `train.optimizer[name=adam].beta2` | a number >= 0 and < 1 | `0.999` | β2 of the squared-gradient average |" in rows
    assert "| `model.layers[type=residual].layers[type=dense]` | a mapping |  | as `model.layers[type=dense]` |" in rows
    assert any(r.startswith("| `regularization.l1` |") and "Σ\\|W\\|" in r for r in rows)  # pipes escaped
