"""Lambda API: Put/Update/Get/Delete/ListFunctionEventInvokeConfig(s) (2019-09-25).

Handlers of the protocol layer: it parses each request and checks the model's constraints
(MaximumRetryAttempts 0..2, MaximumEventAgeInSeconds 60..21600, the destination ARN pattern,
MaxItems 1..50) with AWS's ValidationException text. ``FunctionName`` and ``?Qualifier`` are
checked together by :meth:`FunctionService.ref` (AWS's path pattern, every violation at once);
which destinations are acceptable (supported services, an existing function of this account and
region, not the function itself) is :mod:`lambent.control.event_invoke`'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from lambent import arns
from lambent.api.dispatch import Call
from lambent.api.pagination import paginate
from lambent.api.services import LAMBDA
from lambent.control.event_invoke import EventInvokeConfig
from lambent.control.updates import NOT_GIVEN, InvokeConfigUpdate, NotGiven
from lambent.errors import InvalidParameterValue
from lambent.platform import Platform

#: Member paths the domain validates itself (FunctionService.ref checks name and qualifier in one pass).
TARGET = frozenset({"functionName", "qualifier"})
_CONFIG_MEMBERS = ("FunctionName", "Qualifier", "MaximumRetryAttempts", "MaximumEventAgeInSeconds", "DestinationConfig")


def _handles(*members: str) -> dict[str, frozenset[str] | None]:
    """What a handler acts on, each member whole; every other given member is refused by name."""
    return dict.fromkeys(members)


def event_invoke_config_shape(p: Platform, cfg: EventInvokeConfig) -> dict[str, Any]:
    """FunctionEventInvokeConfig (the output of Put/Update/Get, an entry of the List)."""
    out: dict[str, Any] = {
        "LastModified": datetime.fromtimestamp(cfg.last_modified, timezone.utc),
        "FunctionArn": p.functions.arn(cfg.function, cfg.qualifier),
        "DestinationConfig": {
            "OnSuccess": {"Destination": cfg.on_success} if cfg.on_success else {},
            "OnFailure": {"Destination": cfg.on_failure} if cfg.on_failure else {},
        },
    }
    if cfg.max_retry_attempts is not None:
        out["MaximumRetryAttempts"] = cfg.max_retry_attempts
    if cfg.max_event_age_s is not None:
        out["MaximumEventAgeInSeconds"] = cfg.max_event_age_s
    return out


def _destination(config: Mapping[str, Any], key: str) -> str | None | NotGiven:
    """``DestinationConfig.<key>.Destination``: NOT_GIVEN when ``key`` is left out; given without
    an ARN (``{}``, null, ``""``), None: no destination."""
    if key not in config:
        return NOT_GIVEN
    return (config[key] or {}).get("Destination") or None


def invoke_config_update(params: Mapping[str, Any]) -> InvokeConfigUpdate:
    """What Put/UpdateFunctionEventInvokeConfig was given. A number sent as JSON null counts as
    not given; a destination given empty is None, which Update reads as "remove it"."""

    def number(member: str) -> int | NotGiven:
        value = params.get(member)
        return NOT_GIVEN if value is None else int(value)

    config = params.get("DestinationConfig") or {}
    return InvokeConfigUpdate(
        maximum_retry_attempts=number("MaximumRetryAttempts"),
        maximum_event_age_s=number("MaximumEventAgeInSeconds"),
        on_success=_destination(config, "OnSuccess"),
        on_failure=_destination(config, "OnFailure"),
    )


def _target(call: Call) -> tuple[Platform, arns.FunctionKey, str | None]:
    p = call.platform
    name, qualifier = p.functions.ref(call.params["FunctionName"], call.params.get("Qualifier"),
                                      account_id=call.principal.account_id)
    return p, name, qualifier


@LAMBDA.register("PutFunctionEventInvokeConfig", skip=TARGET, handled=_handles(*_CONFIG_MEMBERS))
async def put_function_event_invoke_config(call: Call) -> dict[str, Any]:
    """Replaces the qualifier's configuration: members left out are unset."""
    p, name, qualifier = _target(call)
    return event_invoke_config_shape(p, await p.event_invoke_configs.put(name, qualifier, invoke_config_update(call.params)))


@LAMBDA.register("UpdateFunctionEventInvokeConfig", skip=TARGET, handled=_handles(*_CONFIG_MEMBERS))
async def update_function_event_invoke_config(call: Call) -> dict[str, Any]:
    """Merges into the qualifier's existing configuration (404 when it has none)."""
    p, name, qualifier = _target(call)
    return event_invoke_config_shape(p, await p.event_invoke_configs.update(name, qualifier, invoke_config_update(call.params)))


@LAMBDA.register("GetFunctionEventInvokeConfig", skip=TARGET, handled=_handles("FunctionName", "Qualifier"))
async def get_function_event_invoke_config(call: Call) -> dict[str, Any]:
    p, name, qualifier = _target(call)
    return event_invoke_config_shape(p, p.event_invoke_configs.get(name, qualifier))


@LAMBDA.register("DeleteFunctionEventInvokeConfig", skip=TARGET, handled=_handles("FunctionName", "Qualifier"))
async def delete_function_event_invoke_config(call: Call) -> None:
    p, name, qualifier = _target(call)
    await p.event_invoke_configs.delete(name, qualifier)


@LAMBDA.register(
    "ListFunctionEventInvokeConfigs", skip=TARGET, handled=_handles("FunctionName", "Marker", "MaxItems")
)
async def list_function_event_invoke_configs(call: Call) -> dict[str, Any]:
    p, params = call.platform, call.params
    name, qualifier = p.functions.ref(params["FunctionName"], account_id=call.principal.account_id)
    if qualifier is not None:
        raise InvalidParameterValue("ListFunctionEventInvokeConfigs takes an unqualified function name.")
    configs = p.event_invoke_configs.list(name)
    page, nxt = paginate(configs, lambda c: c.qualifier, params.get("Marker"), params.get("MaxItems"))
    out: dict[str, Any] = {"FunctionEventInvokeConfigs": [event_invoke_config_shape(p, c) for c in page]}
    if nxt:
        out["NextMarker"] = nxt
    return out

