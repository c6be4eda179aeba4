"""One vocabulary: the spec's words and defaults against the NumPy core's registries.

The spec builds its activation, initializer and loss words from the core's
registries and holds every optimizer and schedule default (the core's take
none); these tests fail when the two sides drift apart.
"""

from __future__ import annotations

import inspect
import typing

import pytest

from nnctl.nn import conv, layers, vocabulary
from nnctl.nn.activations import ACTIVATIONS
from nnctl.nn.initializers import STD_RULES
from nnctl.nn.losses import LOSSES
from nnctl.nn.optimizers import OPTIMIZERS
from nnctl.nn.schedules import SCHEDULES
from nnctl.spec.schema import (
    OPTIMIZER_SPECS,
    SCHEDULE_SPECS,
    BatchNormSpec,
    Conv2dLayerSpec,
    DenseLayerSpec,
    OptimizerSpec,
    ScheduleSpec,
    Spec,
)


def _words(model, field: str) -> list[str]:
    return list(typing.get_args(model.model_fields[field].annotation))


def _keyword_parameters(function) -> dict[str, inspect.Parameter]:
    return {name: p for name, p in inspect.signature(function).parameters.items() if p.kind is p.KEYWORD_ONLY}


def test_the_numpy_free_vocabulary_is_the_registries_keys_in_order():
    assert vocabulary.ACTIVATION_NAMES == tuple(ACTIVATIONS)
    assert vocabulary.INITIALIZER_NAMES == tuple(STD_RULES)
    assert vocabulary.LOSS_NAMES == tuple(LOSSES)


def test_activation_initializer_and_loss_words_are_the_registries():
    assert _words(DenseLayerSpec, "activation") == list(ACTIVATIONS)
    assert _words(Conv2dLayerSpec, "activation") == list(ACTIVATIONS)
    assert _words(DenseLayerSpec, "init") == ["auto", *STD_RULES]
    assert _words(Spec, "loss") == ["auto", *LOSSES]


@pytest.mark.parametrize(("union", "specs", "registry"), [
    (OptimizerSpec, OPTIMIZER_SPECS, OPTIMIZERS),
    (ScheduleSpec, SCHEDULE_SPECS, SCHEDULES),
])
def test_optimizer_and_schedule_names_match(union, specs, registry):
    members = typing.get_args(typing.get_args(union)[0])
    assert list(specs.values()) == list(members)
    assert list(specs) == list(registry)


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_each_optimizer_takes_exactly_the_spec_s_hyperparameters_and_no_defaults(name):
    taken = _keyword_parameters(OPTIMIZERS[name].__init__)
    assert set(taken) == set(OPTIMIZER_SPECS[name].model_fields) - {"name"}
    assert all(p.default is inspect.Parameter.empty for p in taken.values())


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_each_schedule_takes_exactly_the_spec_s_parameters_and_no_defaults(name):
    parameters = inspect.signature(SCHEDULES[name]).parameters
    assert list(parameters)[0] == "lr0"
    assert set(parameters) - {"lr0"} == set(SCHEDULE_SPECS[name].model_fields) - {"name"}
    assert all(p.default is inspect.Parameter.empty for p in parameters.values())


@pytest.mark.parametrize(("layer", "spec", "shared"), [
    (layers.Dense, DenseLayerSpec, ("init_scale",)),
    (conv.Conv2D, Conv2dLayerSpec, ("init_scale", "stride", "padding")),
    (layers.BatchNorm, BatchNormSpec, ("momentum", "epsilon")),
])
def test_the_core_layers_convenience_defaults_equal_the_spec_s(layer, spec, shared):
    """Layers keep defaults for library use; the spec passes every value, and both defaults agree."""
    parameters = inspect.signature(layer.__init__).parameters
    for key in shared:
        assert parameters[key].default == spec.model_fields[key].default, key
