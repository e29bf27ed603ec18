"""Lambda API: PublishVersion, ListVersionsByFunction and the alias operations (2015-03-31).

Handlers of the protocol layer: it parses each request, checks the model's constraints (alias
names, versions, weights, lengths) with AWS's ValidationException text and serialises the output
shape returned here. ``FunctionName`` is the exception: :meth:`FunctionService.ref` checks it with
AWS's path pattern, and an over-long name is not found rather than invalid, as on AWS.
What AWS answers otherwise than the model says (routing rules, 409, 412) is the control plane's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lambent import arns
from lambent.api import shapes
from lambent.api.dispatch import Call
from lambent.api.pagination import paginate
from lambent.api.services import LAMBDA
from lambent.control.model import Alias
from lambent.control.updates import NOT_GIVEN, AliasUpdate
from lambent.control.versions import published
from lambent.errors import InvalidParameterValue

#: Member paths the domain validates itself (FunctionService.ref: AWS's path pattern and answers).
FUNCTION_NAME = frozenset({"functionName"})


def _handles(*members: str) -> dict[str, frozenset[str] | None]:
    """What a handler acts on, each member whole; every other given member is refused by name."""
    return dict.fromkeys(members)


def alias_configuration(alias: Alias, arn: str) -> dict[str, Any]:
    """AliasConfiguration (the output of Create/Get/UpdateAlias, an entry of ListAliases)."""
    out: dict[str, Any] = {
        "AliasArn": arn,
        "Name": alias.name,
        "FunctionVersion": alias.function_version,
        "Description": alias.description,
        "RevisionId": alias.revision_id,
    }
    if alias.additional_version is not None:
        out["RoutingConfig"] = {"AdditionalVersionWeights": {alias.additional_version: alias.additional_weight}}
    return out


def unqualified(call: Call, raw: str) -> arns.FunctionKey:
    """The key of an existing function addressed without a qualifier (404 if it does not exist):
    by a bare name the caller's own, by an ARN that account's."""
    p = call.platform
    name, qualifier = p.functions.ref(raw, account_id=call.principal.account_id)
    if qualifier is not None:
        raise InvalidParameterValue("This operation does not accept a qualified function name.")
    p.functions.entry(name)
    return name


def routing_weights(params: Mapping[str, Any]) -> dict[str, float] | None:
    """``RoutingConfig.AdditionalVersionWeights`` of Create/UpdateAlias: None when RoutingConfig
    is not given; ``{}`` (no routing) when it is given as null, ``{}`` or without weights."""
    if "RoutingConfig" not in params:
        return None
    routing = params["RoutingConfig"] or {}
    return dict(routing.get("AdditionalVersionWeights") or {})


def alias_update(params: Mapping[str, Any]) -> AliasUpdate:
    """What UpdateAlias asked to change. A member sent as JSON null counts as not given (the alias
    keeps its value), except RoutingConfig: given in any form it replaces the routing, so null or
    ``{}`` removes it; not given, the alias keeps its routing."""
    version, description, weights = params.get("FunctionVersion"), params.get("Description"), routing_weights(params)
    return AliasUpdate(
        function_version=NOT_GIVEN if version is None else version,
        description=NOT_GIVEN if description is None else description,
        routing_config=NOT_GIVEN if weights is None else weights,
    )


@LAMBDA.register(
    "PublishVersion", skip=FUNCTION_NAME, handled=_handles("FunctionName", "CodeSha256", "Description", "RevisionId")
)
async def publish_version(call: Call) -> dict[str, Any]:
    p, params = call.platform, call.params
    name = unqualified(call, params["FunctionName"])
    cfg = await p.versions.publish(
        name, code_sha256=params.get("CodeSha256"), description=params.get("Description"),
        revision_id=params.get("RevisionId"),
    )
    return shapes.function_configuration(cfg, p.functions.arn(name, cfg.version))


@LAMBDA.register("ListVersionsByFunction", skip=FUNCTION_NAME, handled=_handles("FunctionName", "Marker", "MaxItems"))
async def list_versions_by_function(call: Call) -> dict[str, Any]:
    p, params = call.platform, call.params
    name = unqualified(call, params["FunctionName"])
    fn = p.functions.entry(name)
    page, nxt = paginate([fn.latest, *published(fn)], lambda c: c.version, params.get("Marker"), params.get("MaxItems"))
    out: dict[str, Any] = {"Versions": [shapes.list_entry(c, p.functions.arn(name, c.version)) for c in page]}
    if nxt:
        out["NextMarker"] = nxt
    return out


@LAMBDA.register(
    "CreateAlias", skip=FUNCTION_NAME, handled=_handles("FunctionName", "Name", "FunctionVersion", "Description", "RoutingConfig")
)
async def create_alias(call: Call) -> dict[str, Any]:
    p, params = call.platform, call.params
    name = unqualified(call, params["FunctionName"])
    alias = await p.aliases.create(
        name, params["Name"], params["FunctionVersion"], params.get("Description") or "", routing_weights(params)
    )
    return alias_configuration(alias, p.aliases.arn(name, alias))


@LAMBDA.register("GetAlias", skip=FUNCTION_NAME, handled=_handles("FunctionName", "Name"))
async def get_alias(call: Call) -> dict[str, Any]:
    p = call.platform
    name = unqualified(call, call.params["FunctionName"])
    alias = p.aliases.get(name, call.params["Name"])
    return alias_configuration(alias, p.aliases.arn(name, alias))


@LAMBDA.register(
    "UpdateAlias",
    skip=FUNCTION_NAME,
    handled=_handles("FunctionName", "Name", "FunctionVersion", "Description", "RoutingConfig", "RevisionId"),
)
async def update_alias(call: Call) -> dict[str, Any]:
    p, params = call.platform, call.params
    name = unqualified(call, params["FunctionName"])
    alias = await p.aliases.update(name, params["Name"], alias_update(params), params.get("RevisionId"))
    return alias_configuration(alias, p.aliases.arn(name, alias))


@LAMBDA.register("DeleteAlias", skip=FUNCTION_NAME, handled=_handles("FunctionName", "Name"))
async def delete_alias(call: Call) -> None:
    p = call.platform
    name = unqualified(call, call.params["FunctionName"])
    await p.aliases.delete(name, call.params["Name"])


@LAMBDA.register(
    "ListAliases", skip=FUNCTION_NAME, handled=_handles("FunctionName", "FunctionVersion", "Marker", "MaxItems")
)
async def list_aliases(call: Call) -> dict[str, Any]:
    p, params = call.platform, call.params
    name = unqualified(call, params["FunctionName"])
    aliases = p.aliases.list(name, params.get("FunctionVersion"))
    page, nxt = paginate(aliases, lambda a: a.name, params.get("Marker"), params.get("MaxItems"))
    out: dict[str, Any] = {"Aliases": [alias_configuration(a, p.aliases.arn(name, a)) for a in page]}
    if nxt:
        out["NextMarker"] = nxt
    return out

