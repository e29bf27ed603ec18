"""Input -> domain mapping of the alias and EventInvokeConfig handlers, on params the protocol layer
parsed from real wire bodies: what "not given", "null" and "empty" each mean in a partial update."""

from __future__ import annotations

import json
from typing import Any

from lambent.api.lambda_async import invoke_config_update
from lambent.api.lambda_versions import alias_update, routing_weights
from lambent.api.protocols import handler
from lambent.control.updates import NOT_GIVEN, AliasUpdate, InvokeConfigUpdate

EIC = "/2019-09-25/functions/fn/event-invoke-config"


def parsed(method: str, path: str, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(operation, params) as the layer hands them to a handler."""
    return handler("lambda").parse(method, path, "", {}, json.dumps(body).encode())


def update_alias(body: dict[str, Any]) -> AliasUpdate:
    op, params = parsed("PUT", "/2015-03-31/functions/fn/aliases/live", body)
    assert op == "UpdateAlias"
    return alias_update(params)


def update_config(body: dict[str, Any]) -> InvokeConfigUpdate:
    op, params = parsed("POST", EIC, body)
    assert op == "UpdateFunctionEventInvokeConfig"
    return invoke_config_update(params)


def test_an_alias_update_with_nothing_given_changes_nothing() -> None:
    assert update_alias({}) == AliasUpdate()
    # JSON nulls of plain members are "not given" too: the alias keeps its version and description
    assert update_alias({"FunctionVersion": None, "Description": None}) == AliasUpdate()


def test_an_alias_update_carries_what_was_given() -> None:
    up = update_alias({"FunctionVersion": "2", "Description": "", "RoutingConfig": {"AdditionalVersionWeights": {"1": 0.25}}})
    assert up == AliasUpdate(function_version="2", description="", routing_config={"1": 0.25})


def test_routing_given_in_any_empty_form_removes_it() -> None:
    forms: tuple[Any, ...] = (None, {}, {"AdditionalVersionWeights": {}}, {"AdditionalVersionWeights": None})
    for routing in forms:
        assert update_alias({"RoutingConfig": routing}).routing_config == {}, routing


def test_create_alias_weights_are_none_without_routing() -> None:
    _, params = parsed("POST", "/2015-03-31/functions/fn/aliases", {"Name": "live", "FunctionVersion": "1"})
    assert routing_weights(params) is None
    _, params = parsed("POST", "/2015-03-31/functions/fn/aliases",
                       {"Name": "live", "FunctionVersion": "1", "RoutingConfig": {"AdditionalVersionWeights": {"2": 1}}})
    assert routing_weights(params) == {"2": 1.0}  # an integer weight arrives as the model's double


def test_an_invoke_config_update_keeps_what_is_not_given() -> None:
    assert update_config({}) == InvokeConfigUpdate()
    assert update_config({"MaximumRetryAttempts": None, "DestinationConfig": {}}) == InvokeConfigUpdate()
    # one destination given keeps the other
    assert update_config({"DestinationConfig": {"OnFailure": {"Destination": "arn:aws:sqs:us-east-1:000000000000:q"}}}) == (
        InvokeConfigUpdate(on_failure="arn:aws:sqs:us-east-1:000000000000:q"))


def test_a_destination_given_without_an_arn_is_removed() -> None:
    for given in ({}, None, {"Destination": ""}, {"Destination": None}):
        assert update_config({"DestinationConfig": {"OnSuccess": given}}) == InvokeConfigUpdate(on_success=None), given


def test_put_carries_numbers_and_destinations() -> None:
    op, params = parsed("PUT", EIC, {"MaximumRetryAttempts": 0, "MaximumEventAgeInSeconds": 60,
                                     "DestinationConfig": {"OnSuccess": {"Destination": "arn:aws:sns:us-east-1:000000000000:t"}}})
    assert op == "PutFunctionEventInvokeConfig"
    assert invoke_config_update(params) == InvokeConfigUpdate(
        maximum_retry_attempts=0, maximum_event_age_s=60, on_success="arn:aws:sns:us-east-1:000000000000:t")
    assert invoke_config_update(params).on_failure is NOT_GIVEN
