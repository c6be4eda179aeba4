"""Learning-rate schedules α(epoch, t) (docs/explanation/algorithms.md#schedules); epoch and t count from 1."""

from __future__ import annotations

import math

import pytest

from nnctl.nn import schedules
from nnctl.spec.schema import SCHEDULE_SPECS


def make_schedule(name, lr0, **params):
    """The core's schedule with the spec's defaults for the parameters not given (the core has none)."""
    defaults = SCHEDULE_SPECS[name]().model_dump(exclude={"name"}) if name in SCHEDULE_SPECS else {}
    return schedules.make_schedule(name, lr0, **{**defaults, **params})


def test_inverse_time_reference_values():
    f = make_schedule("inverse_time", 0.2, decay_rate=1.0)
    got = [f(epoch, 1000) for epoch in (1, 2, 3, 4)]
    assert got == pytest.approx([0.1, 0.2 / 3, 0.05, 0.04], rel=1e-15)
    assert [round(v, 4) for v in got] == [0.1, 0.0667, 0.05, 0.04]


def test_inverse_time_rate_and_default():
    f = make_schedule("inverse_time", 1.0, decay_rate=0.5)
    assert f(2, 7) == pytest.approx(1 / (1 + 0.5 * 2), rel=1e-15)
    assert make_schedule("inverse_time", 0.2)(4, 1) == pytest.approx(0.04, rel=1e-15)
    assert f(3, 1) == f(3, 999)  # per epoch, not per step


def test_exponential():
    f = make_schedule("exponential", 0.2, base=0.95)
    assert f(1, 1) == pytest.approx(0.19, rel=1e-15)
    assert f(3, 1) == pytest.approx(0.2 * 0.857375, rel=1e-14)
    g = make_schedule("exponential", 1.0, base=0.5)
    assert [g(e, 1) for e in (1, 2, 3)] == [0.5, 0.25, 0.125]
    assert make_schedule("exponential", 1.0)(2, 1) == pytest.approx(0.9025, rel=1e-15)  # default 0.95


def test_inv_sqrt_per_epoch():
    f = make_schedule("inv_sqrt", 0.3, k=2.0)
    assert f(1, 50) == pytest.approx(0.6, rel=1e-15)
    assert f(4, 50) == pytest.approx(0.3, rel=1e-15)
    assert f(9, 1) == pytest.approx(0.2, rel=1e-15)
    assert make_schedule("inv_sqrt", 0.3, per="epoch")(4, 100) == pytest.approx(0.15, rel=1e-15)


def test_inv_sqrt_per_step():
    f = make_schedule("inv_sqrt", 0.3, k=2.0, per="step")
    assert f(1, 1) == pytest.approx(0.6, rel=1e-15)
    assert f(1, 16) == pytest.approx(0.15, rel=1e-15)
    assert f(5, 16) == f(1, 16)  # the epoch does not matter
    assert f(2, 2) == pytest.approx(0.6 / math.sqrt(2), rel=1e-15)


def test_step_staircase():
    f = make_schedule("step", 0.8, every=3, factor=0.5)
    assert [f(e, 1) for e in range(1, 10)] == [0.8, 0.8, 0.4, 0.4, 0.4, 0.2, 0.2, 0.2, 0.1]
    g = make_schedule("step", 1.0)  # every 10, factor 0.5
    assert g(9, 1) == 1.0 and g(10, 1) == 0.5 and g(19, 1) == 0.5 and g(20, 1) == 0.25


def test_constant():
    f = make_schedule("constant", 0.05)
    assert {f(e, t) for e, t in [(1, 1), (7, 300), (100, 10**6)]} == {0.05}


def test_unknown_schedule():
    with pytest.raises(ValueError, match="cosine"):
        make_schedule("cosine", 0.1)
