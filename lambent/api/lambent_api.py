"""lambent's own API (SigV4 service name ``lambent``): safe deployments. REST-JSON like Lambda's,
same endpoint, same signature check, same error envelopes.

    POST /lambent/2026-11-27/deployments                  CreateDeployment  201 {"Deployment": {...}}
    GET  /lambent/2026-11-27/deployments[?FunctionName=]  ListDeployments   200 {"Deployments": [...]}
    GET  /lambent/2026-11-27/deployments/{id}             GetDeployment     200 {"Deployment": {..., "Events": [...]}}
    POST /lambent/2026-11-27/deployments/{id}/stop        StopDeployment    200 {"Deployment": {...}}

The API has a botocore-format model (``lambent/api/models/lambent/2026-11-27/service-2.json``):
the protocol layer serves it like an AWS service (members parsed and checked from it), and a stock
botocore client talks to it once the models directory is on its loader's search path
(:func:`lambent.api.models.client`). Field names copy CodeDeploy where it has one
(``DeploymentId``, ``DeploymentConfigName``, ``TrafficRoutingConfig``, ``ErrorInformation``,
lifecycle event names); see docs/deployments.md.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from lambent import arns
from lambent.api.dispatch import Call
from lambent.api.services import LAMBENT
from lambent.deployments import CreateDeployment, Deployment, Event, strategies
from lambent.errors import AccessDenied, InvalidParameterValue
from lambent.platform import Platform

PREFIX = "/lambent/2026-11-27"
_HOOK_EVENTS = ("BeforeAllowTraffic", "AfterAllowTraffic")
Output = dict[str, Any]


def _when(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, timezone.utc)


def deployment_info(p: Platform, d: Deployment, events: list[Event] | None = None) -> Output:
    """The model's ``DeploymentInfo`` (members that are None are left out on the wire)."""
    out: Output = {
        "DeploymentId": d.id,
        "FunctionName": arns.key_name(d.function_name),
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
                "DueTime": _when(d.due_at(i)),
                "AppliedTime": _when(d.applied[i]) if i < len(d.applied) else None,
            }
            for i, s in enumerate(d.steps)
        ],
        "TimeScale": d.time_scale,
        "CreateTime": _when(d.created_at),
        "TrafficShiftStartTime": _when(d.shift_started_at),
        "UpdateTime": _when(d.updated_at),
        "CompleteTime": _when(d.completed_at),
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
        out["Events"] = [{"Time": _when(e.at), "Type": e.type, "Message": e.message, "Details": e.details} for e in events]
    return out


def _routing(params: dict[str, Any]) -> strategies.TrafficRouting:
    name, config = params.get("DeploymentConfigName"), params.get("TrafficRoutingConfig")
    if name is not None and config is not None:
        raise InvalidParameterValue("Give DeploymentConfigName or TrafficRoutingConfig, not both.")
    if config is not None:
        return strategies.TrafficRouting.from_wire(config)
    return strategies.parse(name or "LambdaAllAtOnce")


@LAMBENT.register("CreateDeployment")
async def create_deployment(call: Call) -> Output:
    p, params = call.platform, call.params
    hooks: dict[str, str] = params.get("Hooks") or {}
    alarm: dict[str, Any] = params.get("AlarmConfiguration") or {}
    name, qualifier = p.functions.ref(params["FunctionName"], account_id=call.principal.account_id)
    if qualifier is not None:
        raise InvalidParameterValue("FunctionName must not be qualified: give the alias in Alias.")
    rate = alarm.get("ErrorRateThreshold")
    deployment = await p.deployments.create(
        CreateDeployment(
            function_name=name, alias=params["Alias"], to_version=params["TargetVersion"], routing=_routing(params),
            pre_hook=hooks.get("BeforeAllowTraffic"), post_hook=hooks.get("AfterAllowTraffic"),
            error_rate_threshold=rate, alarm_min_invocations=alarm.get("MinimumInvocations"),
        )
    )
    return {"Deployment": deployment_info(p, deployment)}


@LAMBENT.register("ListDeployments")
async def list_deployments(call: Call) -> Output:
    p = call.platform
    raw = call.params.get("FunctionName")
    account = call.principal.account_id  # the caller's own deployments only
    name = p.functions.ref(raw, account_id=account)[0] if raw else None
    status = call.params.get("Status")
    found = await p.deployments.find(name, account_id=account)
    if status:
        found = [d for d in found if d.status.value == status]
    return {"Deployments": [deployment_info(p, d) for d in found]}


@LAMBENT.register("GetDeployment")
async def get_deployment(call: Call) -> Output:
    p = call.platform
    deployment_id: str = call.params["DeploymentId"]
    d = await p.deployments.get(deployment_id, account_id=call.principal.account_id)
    events = await p.deployments.events(deployment_id, account_id=call.principal.account_id)
    return {"Deployment": deployment_info(p, d, events)}


@LAMBENT.register("StopDeployment")
async def stop_deployment(call: Call) -> Output:
    p = call.platform
    d = await p.deployments.stop(call.params["DeploymentId"], account_id=call.principal.account_id)
    return {"Deployment": deployment_info(p, d)}


# -- VPC attachments (``lambent vpc attach``; lambent/network/vpc/) ------------------------------------
def _vpc_network(call: Call) -> Any:
    """The server's VPC network, for its operator's account only: an attachment puts a host
    namespace (or the host itself) inside a VPC, which no tenant may do to the host."""
    p = call.platform
    if call.principal.account_id != p.settings.account_id:
        raise AccessDenied("Only the server operator's account can attach subnets to the host.")
    if p.vpc_network is None:
        raise InvalidParameterValue("The VPC network is off on this server (LAMBENT_VPC_NETWORK_ENABLED).")
    return p.vpc_network


def _target(params: dict[str, Any]) -> str | None:
    """The namespace named, None for ``Host``; exactly one of them."""
    netns, host = params.get("NetworkNamespace"), bool(params.get("Host"))
    if bool(netns) == host:
        raise InvalidParameterValue("Give NetworkNamespace or Host (exactly one).")
    return str(netns) if netns else None


@LAMBENT.register("AttachSubnet")
async def attach_subnet(call: Call) -> Output:
    net = _vpc_network(call)
    params = call.params
    account, subnet_id = call.principal.account_id, str(params["SubnetId"])
    netns = _target(params)
    groups = [str(g) for g in params.get("SecurityGroupIds") or ()]
    if netns is None:
        address, gateway = await net.attach_host(account, subnet_id, group_ids=groups)
    else:
        address, gateway = await net.attach_namespace(account, subnet_id, netns, group_ids=groups)
    interface = next((i for i in net.live_interfaces if i.address == address and i.subnet_id == subnet_id), None)
    return {"Address": str(address), "Gateway": str(gateway), "SubnetId": subnet_id,
            "NetworkInterfaceId": interface.interface_id if interface is not None else ""}


@LAMBENT.register("DetachSubnet")
async def detach_subnet(call: Call) -> Output:
    net = _vpc_network(call)
    params = call.params
    account, subnet_id = call.principal.account_id, str(params["SubnetId"])
    netns = _target(params)
    if netns is None:
        await net.detach_host(account, subnet_id)
    else:
        await net.detach_namespace(account, subnet_id, netns)
    return {}
