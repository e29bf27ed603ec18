"""Lambda API: Put/Update/Get/Delete/ListFunctionEventInvokeConfig(s) (2019-09-25)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lambent.api.rest import body_json, endpoint, json_response, paginate, platform_of, unhandled
from lambent.control.event_invoke import EventInvokeConfig
from lambent.control.validation import Checker
from lambent.errors import InvalidParameterValue
from lambent.platform import Platform

# Every member of these operations' inputs is acted on (the member walk in tests checks it).
for _op in ("PutFunctionEventInvokeConfig", "UpdateFunctionEventInvokeConfig"):
    unhandled(_op, dict.fromkeys(["FunctionName", "Qualifier", "MaximumRetryAttempts", "MaximumEventAgeInSeconds",
                                  "DestinationConfig"]))
for _op in ("GetFunctionEventInvokeConfig", "DeleteFunctionEventInvokeConfig"):
    unhandled(_op, dict.fromkeys(["FunctionName", "Qualifier"]))
unhandled("ListFunctionEventInvokeConfigs", dict.fromkeys(["FunctionName", "Marker", "MaxItems"]))


def event_invoke_config_shape(p: Platform, cfg: EventInvokeConfig) -> dict[str, Any]:
    out: dict[str, Any] = {
        "LastModified": cfg.last_modified,
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


def _target(request: Request) -> tuple[Platform, str, str | None]:
    p = platform_of(request)
    name, qualifier = p.functions.ref(request.path_params["name"], request.query_params.get("Qualifier"))
    return p, name, qualifier


def _fields(body: dict[str, Any]) -> dict[str, Any]:
    c = Checker()
    c.int_range("maximumRetryAttempts", body.get("MaximumRetryAttempts"), 0, 2)
    c.int_range("maximumEventAgeInSeconds", body.get("MaximumEventAgeInSeconds"), 60, 21600)
    c.raise_if_any()
    dest = body.get("DestinationConfig") or {}
    if not isinstance(dest, dict):
        raise InvalidParameterValue("DestinationConfig must be an object.")

    def arn(key: str) -> str | None:
        value = (dest.get(key) or {}).get("Destination") if isinstance(dest.get(key), dict) else None
        if value is not None and not isinstance(value, str):
            raise InvalidParameterValue(f"The destination ARN of {key} must be a string.")
        return value or None

    return {
        "max_retry_attempts": body.get("MaximumRetryAttempts"),
        "max_event_age_s": body.get("MaximumEventAgeInSeconds"),
        "on_success": arn("OnSuccess"),
        "on_failure": arn("OnFailure"),
    }


@endpoint
async def put_config(request: Request) -> Response:
    p, name, qualifier = _target(request)
    cfg = await p.event_invoke_configs.put(name, qualifier, merge=False, **_fields(body_json(request)))
    return json_response(event_invoke_config_shape(p, cfg))


@endpoint
async def update_config(request: Request) -> Response:
    p, name, qualifier = _target(request)
    cfg = await p.event_invoke_configs.put(name, qualifier, merge=True, **_fields(body_json(request)))
    return json_response(event_invoke_config_shape(p, cfg))


@endpoint
async def get_config(request: Request) -> Response:
    p, name, qualifier = _target(request)
    return json_response(event_invoke_config_shape(p, p.event_invoke_configs.get(name, qualifier)))


@endpoint
async def delete_config(request: Request) -> Response:
    p, name, qualifier = _target(request)
    await p.event_invoke_configs.delete(name, qualifier)
    return Response(status_code=204)


@endpoint
async def list_configs(request: Request) -> Response:
    p = platform_of(request)
    name, qualifier = p.functions.ref(request.path_params["name"])
    if qualifier is not None:
        raise InvalidParameterValue("ListFunctionEventInvokeConfigs takes an unqualified function name.")
    page, nxt = paginate(p.event_invoke_configs.list(name), request, lambda c_: c_.qualifier, max_limit=50)
    out: dict[str, Any] = {"FunctionEventInvokeConfigs": [event_invoke_config_shape(p, c_) for c_ in page]}
    if nxt:
        out["NextMarker"] = nxt
    return json_response(out)


def routes() -> list[Route]:
    path = "/2019-09-25/functions/{name}/event-invoke-config"
    return [
        Route(path + "/list", list_configs, methods=["GET"]),
        Route(path, put_config, methods=["PUT"]),
        Route(path, update_config, methods=["POST"]),
        Route(path, get_config, methods=["GET"]),
        Route(path, delete_config, methods=["DELETE"]),
    ]
