"""Lambda API: PublishVersion, ListVersionsByFunction and the alias operations."""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


from lambent.api import shapes
from lambent.api.rest import body_json, endpoint, json_response, paginate, platform_of, refuse_unhandled, unhandled
from lambent.control.model import Alias
from lambent.control.validation import Checker
from lambent.control.versions import published
from lambent.errors import InvalidParameterValue

ALIAS_PATTERN = r"(?!^[0-9]+$)([a-zA-Z0-9-_]+)"
VERSION_PATTERN = r"(\$LATEST|[0-9]+)"

# What each handler acts on; every other member of the operation's input is refused naming it.
_PUBLISH = unhandled("PublishVersion", dict.fromkeys(["FunctionName", "CodeSha256", "Description", "RevisionId"]))
unhandled("ListVersionsByFunction", dict.fromkeys(["FunctionName", "Marker", "MaxItems"]))
unhandled("CreateAlias", dict.fromkeys(["FunctionName", "Name", "FunctionVersion", "Description", "RoutingConfig"]))
unhandled("UpdateAlias", dict.fromkeys(["FunctionName", "Name", "FunctionVersion", "Description", "RoutingConfig",
                                        "RevisionId"]))
unhandled("ListAliases", dict.fromkeys(["FunctionName", "FunctionVersion", "Marker", "MaxItems"]))
for _op in ("GetAlias", "DeleteAlias"):
    unhandled(_op, dict.fromkeys(["FunctionName", "Name"]))


def alias_configuration(alias: Alias, arn: str) -> dict[str, Any]:
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


def _unqualified(request: Request) -> str:
    p = platform_of(request)
    name, qualifier = p.functions.ref(request.path_params["name"])
    if qualifier is not None:
        raise InvalidParameterValue("This operation does not accept a qualified function name.")
    p.functions.entry(name)
    return name


@endpoint
async def publish_version(request: Request) -> Response:
    p = platform_of(request)
    name = _unqualified(request)
    body = body_json(request)
    refuse_unhandled(_PUBLISH, request, body)
    c = Checker()
    c.string("description", body.get("Description"), max_len=256)
    c.raise_if_any()
    cfg = await p.versions.publish(
        name, code_sha256=body.get("CodeSha256"), description=body.get("Description"), revision_id=body.get("RevisionId")
    )
    return json_response(shapes.function_configuration(cfg, p.functions.arn(name, cfg.version)), status=201)


@endpoint
async def list_versions(request: Request) -> Response:
    p = platform_of(request)
    name = _unqualified(request)
    fn = p.functions.entry(name)
    configs = [fn.latest, *published(fn)]
    page, nxt = paginate(configs, request, lambda c: c.version)
    out: dict[str, Any] = {
        "Versions": [shapes.list_entry(c, p.functions.arn(name, c.version)) for c in page]
    }
    if nxt:
        out["NextMarker"] = nxt
    return json_response(out)


def _check_alias_fields(body: dict[str, Any], *, creating: bool) -> None:
    c = Checker()
    if creating:
        c.required("name", body.get("Name"))
        c.required("functionVersion", body.get("FunctionVersion"))
    c.string("name", body.get("Name"), min_len=1, max_len=128, pattern=ALIAS_PATTERN)
    c.string("functionVersion", body.get("FunctionVersion"), min_len=1, max_len=1024, pattern=VERSION_PATTERN)
    c.string("description", body.get("Description"), max_len=256)
    routing = body.get("RoutingConfig")
    if routing is not None:
        weights = routing.get("AdditionalVersionWeights") if isinstance(routing, dict) else None
        for version, weight in (weights or {}).items():
            c.string("routingConfig.additionalVersionWeights.key", version, min_len=1, max_len=1024, pattern=r"[0-9]+")
            if not isinstance(weight, (int, float)) or isinstance(weight, bool):
                c.fail("routingConfig.additionalVersionWeights.value", weight, "Member must be a number")
            elif not 0.0 <= weight <= 1.0:
                c.fail(
                    "routingConfig.additionalVersionWeights.value", weight,
                    "Member must have value " + ("greater than or equal to 0.0" if weight < 0 else "less than or equal to 1.0"),
                )
    c.raise_if_any()


def _weights(body: dict[str, Any]) -> dict[str, Any] | None:
    routing = body.get("RoutingConfig")
    if not isinstance(routing, dict):
        return None
    return dict(routing.get("AdditionalVersionWeights") or {})


@endpoint
async def create_alias(request: Request) -> Response:
    p = platform_of(request)
    name = _unqualified(request)
    body = body_json(request)
    _check_alias_fields(body, creating=True)
    alias = await p.aliases.create(
        name, body["Name"], body["FunctionVersion"], body.get("Description") or "", _weights(body)
    )
    return json_response(alias_configuration(alias, p.aliases.arn(alias)), status=201)


@endpoint
async def get_alias(request: Request) -> Response:
    p = platform_of(request)
    name = _unqualified(request)
    alias = p.aliases.get(name, request.path_params["alias"])
    return json_response(alias_configuration(alias, p.aliases.arn(alias)))


@endpoint
async def update_alias(request: Request) -> Response:
    p = platform_of(request)
    name = _unqualified(request)
    body = body_json(request)
    _check_alias_fields(body, creating=False)
    routing_given = "RoutingConfig" in body
    alias = await p.aliases.update(
        name, request.path_params["alias"],
        function_version=body.get("FunctionVersion"), description=body.get("Description"),
        weights=_weights(body) if routing_given else None, clear_routing=routing_given,
        revision_id=body.get("RevisionId"),
    )
    return json_response(alias_configuration(alias, p.aliases.arn(alias)))


@endpoint
async def delete_alias(request: Request) -> Response:
    p = platform_of(request)
    name = _unqualified(request)
    await p.aliases.delete(name, request.path_params["alias"])
    return Response(status_code=204)


@endpoint
async def list_aliases(request: Request) -> Response:
    p = platform_of(request)
    name = _unqualified(request)
    version = request.query_params.get("FunctionVersion")
    if version is not None and not re.fullmatch(VERSION_PATTERN, version):
        c = Checker()
        c.string("functionVersion", version, max_len=1024, pattern=VERSION_PATTERN)
        c.raise_if_any()
    aliases = p.aliases.list(name, version)
    page, nxt = paginate(aliases, request, lambda a: a.name)
    out: dict[str, Any] = {"Aliases": [alias_configuration(a, p.aliases.arn(a)) for a in page]}
    if nxt:
        out["NextMarker"] = nxt
    return json_response(out)


def routes() -> list[Route]:
    fn = "/2015-03-31/functions/{name}"
    return [
        Route(fn + "/versions", publish_version, methods=["POST"]),
        Route(fn + "/versions", list_versions, methods=["GET"]),
        Route(fn + "/aliases", create_alias, methods=["POST"]),
        Route(fn + "/aliases", list_aliases, methods=["GET"]),
        Route(fn + "/aliases/{alias}", get_alias, methods=["GET"]),
        Route(fn + "/aliases/{alias}", update_alias, methods=["PUT"]),
        Route(fn + "/aliases/{alias}", delete_alias, methods=["DELETE"]),
    ]



