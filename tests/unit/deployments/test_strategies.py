"""Deployment configurations: names, validation and the steps each one produces (no I/O)."""

from __future__ import annotations

import itertools

import pytest

from lambent.deployments.strategies import (
    PREDEFINED,
    RoutingType,
    Step,
    TrafficRouting,
    parse,
)
from lambent.errors import InvalidParameterValue


def weights_and_minutes(routing: TrafficRouting) -> list[tuple[int, float]]:
    return [(round(s.weight * 100), s.offset_s / 60) for s in routing.steps()]


@pytest.mark.parametrize(
    "name,expected",
    [
        ("LambdaAllAtOnce", [(100, 0)]),
        ("LambdaCanary10Percent5Minutes", [(10, 0), (100, 5)]),
        ("LambdaCanary10Percent10Minutes", [(10, 0), (100, 10)]),
        ("LambdaCanary10Percent15Minutes", [(10, 0), (100, 15)]),
        ("LambdaCanary10Percent30Minutes", [(10, 0), (100, 30)]),
        ("LambdaLinear10PercentEvery1Minute", [(10 * k, k - 1) for k in range(1, 11)]),
        ("LambdaLinear10PercentEvery2Minutes", [(10 * k, 2 * (k - 1)) for k in range(1, 11)]),
        ("LambdaLinear10PercentEvery3Minutes", [(10 * k, 3 * (k - 1)) for k in range(1, 11)]),
        ("LambdaLinear10PercentEvery10Minutes", [(10 * k, 10 * (k - 1)) for k in range(1, 11)]),
    ],
)
def test_predefined_configuration_steps(name: str, expected: list[tuple[int, float]]) -> None:
    # Given a predefined name, when it is parsed, then it has CodeDeploy's steps and its own name
    routing = parse(name)
    assert weights_and_minutes(routing) == expected
    assert routing.name == name
    assert parse("CodeDeployDefault." + name) == routing


def test_the_predefined_table_is_exactly_codedeploys() -> None:
    assert sorted(PREDEFINED) == sorted([
        "LambdaAllAtOnce",
        "LambdaCanary10Percent5Minutes", "LambdaCanary10Percent10Minutes",
        "LambdaCanary10Percent15Minutes", "LambdaCanary10Percent30Minutes",
        "LambdaLinear10PercentEvery1Minute", "LambdaLinear10PercentEvery2Minutes",
        "LambdaLinear10PercentEvery3Minutes", "LambdaLinear10PercentEvery10Minutes",
    ])


def test_custom_canary_and_linear() -> None:
    assert weights_and_minutes(parse("Canary25Percent3Minutes")) == [(25, 0), (100, 3)]
    assert weights_and_minutes(parse("Linear20PercentEvery2Minutes")) == [(20, 0), (40, 2), (60, 4), (80, 6), (100, 8)]
    # a percentage that does not divide 100 ends with a smaller increment
    assert weights_and_minutes(parse("Linear30PercentEvery1Minute")) == [(30, 0), (60, 1), (90, 2), (100, 3)]
    assert parse("Linear30PercentEvery1Minutes").name == "Linear30PercentEvery1Minute"
    # a custom spelling of a predefined configuration is that configuration
    assert parse("Canary10Percent5Minutes").name == "LambdaCanary10Percent5Minutes"


def test_steps_always_end_with_the_promotion_and_are_ordered() -> None:
    for p in range(1, 100):
        steps = TrafficRouting(RoutingType.LINEAR, p, 1).steps()
        assert steps[-1].weight == 1.0
        assert all(a.weight < b.weight and a.offset_s < b.offset_s for a, b in itertools.pairwise(steps))


@pytest.mark.parametrize(
    "name",
    ["Bogus", "LambdaCanary25Percent3Minutes", "Canary0Percent5Minutes", "Canary100Percent5Minutes",
     "Linear10PercentEvery0Minutes", "Canary10Percent2881Minutes", "LambdaAllAtOnceX", ""],
)
def test_invalid_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidParameterValue):
        parse(name)


def test_wire_shape_round_trips() -> None:
    for routing in [*PREDEFINED.values(), parse("Canary25Percent3Minutes")]:
        assert TrafficRouting.from_wire(routing.to_wire()) == routing
    assert parse("Canary25Percent3Minutes").to_wire() == {
        "Type": "TimeBasedCanary", "TimeBasedCanary": {"CanaryPercentage": 25, "CanaryInterval": 3}
    }


@pytest.mark.parametrize(
    "raw",
    [
        None, {"Type": "Blue"}, {"Type": "TimeBasedCanary"},
        {"Type": "TimeBasedLinear", "TimeBasedLinear": {"LinearPercentage": 10}},
        {"Type": "TimeBasedCanary", "TimeBasedCanary": {"CanaryPercentage": "10", "CanaryInterval": 5}},
        {"Type": "TimeBasedCanary", "TimeBasedCanary": {"CanaryPercentage": True, "CanaryInterval": 5}},
    ],
)
def test_invalid_wire_shapes_are_refused(raw: object) -> None:
    with pytest.raises(InvalidParameterValue):
        TrafficRouting.from_wire(raw)


def test_steps_validate_themselves() -> None:
    with pytest.raises(ValueError):
        Step(0.0, 0)
    with pytest.raises(ValueError):
        Step(0.5, -1)


def test_duration() -> None:
    assert parse("LambdaLinear10PercentEvery10Minutes").duration_s == 90 * 60
    assert parse("LambdaAllAtOnce").duration_s == 0
