"""lambent's own API (SigV4 service name ``lambent``): safe deployments. REST-JSON like Lambda's,
same endpoint, same signature check, same error envelopes.

    POST /lambent/2026-11-27/deployments                  create      201 {"Deployment": {...}}
    GET  /lambent/2026-11-27/deployments[?FunctionName=]  list        200 {"Deployments": [...]}
    GET  /lambent/2026-11-27/deployments/{id}             describe    200 {"Deployment": {..., "Events": [...]}}
    POST /lambent/2026-11-27/deployments/{id}/stop        stop        200 {"Deployment": {...}}

Field names copy CodeDeploy where it has one (``DeploymentId``, ``DeploymentConfigName``,
``TrafficRoutingConfig``, ``ErrorInformation``, lifecycle event names); see docs/deployments.md.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, Router

from lambent.api.lambda_versions import ALIAS_PATTERN
from lambent.api.rest import body_json, endpoint, json_response, platform_of
from lambent.control.validation import Checker
from lambent.deployments import CreateDeployment, Deployment, Event, strategies
from lambent.errors import InvalidParameterValue
from lambent.platform import Platform

PREFIX = "/lambent/2026-11-27"
_HOOK_EVENTS = ("BeforeAllowTraffic", "AfterAllowTraffic")


def deployment_info(p: Platform, d: Deployment, events: list[Event] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "DeploymentId": d.id,
        "FunctionName": d.function_name,
        "Alias": d.alias,
        "AliasArn": p.functions.arn(d.function_name, d.alias),
        "CurrentVersion": d.from_version,
        "TargetVersion": d.to_version,
        "DeploymentConfigName": d.routing.name,
        "TrafficRoutingConfig": d.routing.to_wire(),
        "Status": d.status.value,
        "LifecycleEvent": d.phase.value,
        "StopRequested": d.stop_requested,
        "CurrentWeight": d.current_weight,
        "Steps": [
            {
                "Weight": s.weight,
                "OffsetSeconds": s.offset_s,
                "DueTime": d.due_at(i),
                "AppliedTime": d.applied[i] if i < len(d.applied) else None,
            }
            for i, s in enumerate(d.steps)
        ],
        "TimeScale": d.time_scale,
        "CreateTime": d.created_at,
        "TrafficShiftStartTime": d.shift_started_at,
        "UpdateTime": d.updated_at,
        "CompleteTime": d.completed_at,
    }
    hooks = {k: v for k, v in zip(_HOOK_EVENTS, (d.pre_hook, d.post_hook), strict=True) if v}
    if hooks:
        out["Hooks"] = hooks
    if d.alarm is not None:
        out["AlarmConfiguration"] = {
            "ErrorRateThreshold": d.alarm.error_rate,
            "MinimumInvocations": d.alarm.min_invocations,
            "WindowSeconds": p.metrics.window_s,
        }
    if d.error_code is not None:
        out["ErrorInformation"] = {"Code": d.error_code.value, "Message": d.error_message or ""}
    if events is not None:
        out["Events"] = [{"Time": e.at, "Type": e.type, "Message": e.message, "Details": e.details} for e in events]
    return out


def _routing(body: dict[str, Any]) -> strategies.TrafficRouting:
    name, config = body.get("DeploymentConfigName"), body.get("TrafficRoutingConfig")
    if name is not None and config is not None:
        raise InvalidParameterValue("Give DeploymentConfigName or TrafficRoutingConfig, not both.")
    if config is not None:
        return strategies.TrafficRouting.from_wire(config)
    return strategies.parse(name or "LambdaAllAtOnce")


@endpoint
async def create_deployment(request: Request) -> Response:
    p = platform_of(request)
    body = body_json(request)
    target = body.get("TargetVersion")
    if isinstance(target, int) and not isinstance(target, bool):
        target = str(target)
    hooks = body.get("Hooks") or {}
    alarm = body.get("AlarmConfiguration") or {}
    c = Checker()
    c.required("functionName", body.get("FunctionName"))
    c.required("alias", body.get("Alias"))
    c.required("targetVersion", target)
    c.string("functionName", body.get("FunctionName"), min_len=1, max_len=140)
    c.string("alias", body.get("Alias"), min_len=1, max_len=128, pattern=ALIAS_PATTERN)
    c.string("targetVersion", target, min_len=1, max_len=1024, pattern=r"(\$LATEST|[0-9]+)")
    c.string("deploymentConfigName", body.get("DeploymentConfigName"), min_len=1, max_len=100)
    if not isinstance(hooks, dict):
        c.fail("hooks", hooks, "Member must be a structure")
        hooks = {}
    for key in hooks:
        c.enum("hooks.key", key, _HOOK_EVENTS)
    for key in _HOOK_EVENTS:
        c.string(f"hooks.{key}", hooks.get(key), min_len=1, max_len=140)
    if not isinstance(alarm, dict):
        c.fail("alarmConfiguration", alarm, "Member must be a structure")
        alarm = {}
    c.int_range("alarmConfiguration.minimumInvocations", alarm.get("MinimumInvocations"), 1, 1_000_000)
    rate = alarm.get("ErrorRateThreshold")
    if rate is not None and (isinstance(rate, bool) or not isinstance(rate, (int, float))):
        c.fail("alarmConfiguration.errorRateThreshold", rate, "Member must be a number")
    c.raise_if_any()
    name, qualifier = p.functions.ref(body["FunctionName"])
    if qualifier is not None:
        raise InvalidParameterValue("FunctionName must not be qualified: give the alias in Alias.")
    deployment = await p.deployments.create(
        CreateDeployment(
            function_name=name, alias=body["Alias"], to_version=str(target), routing=_routing(body),
            pre_hook=hooks.get("BeforeAllowTraffic"), post_hook=hooks.get("AfterAllowTraffic"),
            error_rate_threshold=None if rate is None else float(rate),
            alarm_min_invocations=alarm.get("MinimumInvocations"),
        )
    )
    return json_response({"Deployment": deployment_info(p, deployment)}, status=201)


@endpoint
async def list_deployments(request: Request) -> Response:
    p = platform_of(request)
    raw = request.query_params.get("FunctionName")
    name = None
    if raw:
        name, _ = p.functions.ref(raw)
    status = request.query_params.get("Status")
    found = await p.deployments.find(name)
    if status:
        found = [d for d in found if d.status.value == status]
    return json_response({"Deployments": [deployment_info(p, d) for d in found]})


@endpoint
async def get_deployment(request: Request) -> Response:
    p = platform_of(request)
    deployment_id = request.path_params["id"]
    d = await p.deployments.get(deployment_id)
    events = await p.deployments.events(deployment_id)
    return json_response({"Deployment": deployment_info(p, d, events)})


@endpoint
async def stop_deployment(request: Request) -> Response:
    p = platform_of(request)
    d = await p.deployments.stop(request.path_params["id"])
    return json_response({"Deployment": deployment_info(p, d)})


def build_router() -> Router:
    return Router(
        routes=[
            Route(PREFIX + "/deployments", create_deployment, methods=["POST"]),
            Route(PREFIX + "/deployments", list_deployments, methods=["GET"]),
            Route(PREFIX + "/deployments/{id}", get_deployment, methods=["GET"]),
            Route(PREFIX + "/deployments/{id}/stop", stop_deployment, methods=["POST"]),
        ]
    )
