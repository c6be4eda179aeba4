"""One condition type for the five places a user writes "metric op number": the same parsing, checks and message."""

from __future__ import annotations

import pytest

from nnctl.conditions import Condition, ConditionError
from nnctl.runs.listing import parse_filter
from nnctl.spec.schema.search import satisfy_conditions
from nnctl.strategy.diagnosis import parse_gates
from nnctl.strategy.evaluation import missed_bars, parse_bars
from nnctl.strategy.selection import parse_bar


def test_each_place_reads_its_own_form_as_one_condition_type():
    assert parse_bars(["accuracy=0.97"], ["cost=0.3"]) == [Condition("accuracy", ">=", 0.97), Condition("cost", "<=", 0.3)]
    assert parse_gates(["variance=0.02"]) == [Condition("variance", "<=", 0.02)]
    assert parse_bar("predict_ms<=100") == Condition("predict_ms", "<=", 100.0)
    assert parse_filter("train.optimizer=adam") == Condition("train.optimizer", "==", "adam")
    assert parse_filter("dev_error != 0.5") == Condition("dev_error", "!=", 0.5)
    assert parse_filter("train.learning_rate=1e-2") == Condition("train.learning_rate", "==", 0.01)  # as a spec reads it
    assert satisfy_conditions({"epoch_time": "< 2"}) == [Condition("epoch_time", "<", 2.0)]


@pytest.mark.parametrize("parse, text, message", [
    (lambda t: parse_bars([t], []), "accuracy=high", "--fail-under accuracy=high: expected METRIC=NUMBER, e.g. --fail-under accuracy=0.97"),
    (lambda t: parse_bars([], [t]), "cost", "--fail-over cost: expected METRIC=NUMBER, e.g. --fail-over cost=0.3"),
    (lambda t: parse_gates([t]), "variance", "--fail-over variance: expected NAME=NUMBER, e.g. --fail-over variance=0.02"),
    (parse_bar, "predict_ms=3", "--satisfy predict_ms=3: expected METRIC<=NUMBER (or >=, <, >), e.g. --satisfy 'predict_ms<=100'"),
    (parse_filter, "dev_error", "--filter dev_error: expected KEY<VALUE (or <=, >, >=, ==, !=, =), e.g. --filter 'dev_error<0.05'"),
    (lambda t: satisfy_conditions({"epoch_time": t}), "fast",
     "satisfy.epoch_time fast: expected <=NUMBER (or >=, <, >, ==), e.g. satisfy: {dev_error: '<= 0.05'}"),
    (parse_bar, "predict_ms<=nan", "--satisfy predict_ms<=nan: expected METRIC<=NUMBER"),
])
def test_one_message_for_a_condition_written_wrongly(parse, text, message):
    with pytest.raises(ConditionError) as caught:
        parse(text)
    assert str(caught.value).startswith(message)


def test_checking_and_describing():
    bar = parse_bar("dev_error<=0.05")
    assert bar.holds(0.05) and not bar.holds(0.06) and not bar.holds(None)
    assert str(bar) == "dev_error<=0.05" and bar.miss(0.06) == "dev_error 0.06 misses dev_error<=0.05"
    assert missed_bars(parse_bars(["accuracy=0.9"], []), {"accuracy": 0.8}) == ["accuracy 0.8 misses accuracy>=0.9"]
    assert parse_filter("status=completed").holds("completed") and not parse_filter("status!=completed").holds("completed")
    with pytest.raises(ConditionError, match=r"^--filter status<3: status is not a number \('completed'\)$"):
        parse_filter("status<3").holds("completed")
