"""One AWS protocol layer driven by botocore's service models.

``handler(service)`` gives the (cached) :class:`ProtocolHandler` of a service lambent serves:
``parse(method, path, query_string, headers, body) -> (operation, params)`` with params typed
per the model (datetime, bytes, int ...) and validated against its constraints;
``serialise(operation, output) -> (status, headers, body)``; ``serialise_error(exc | code/message/status)``.
Framework-neutral: no Starlette here. Protocols: rest-json, json, query, ec2.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache

from lambent.api.protocols._base import Params, ProtocolHandler
from lambent.api.protocols.ec2 import Ec2Handler
from lambent.api.protocols.errors import Wire, WireError
from lambent.api.protocols.json_proto import JsonHandler
from lambent.api.protocols.model import service_model
from lambent.api.protocols.query import QueryHandler
from lambent.api.protocols.rest_json import RestJsonHandler

__all__ = ["Params", "ProtocolHandler", "Wire", "WireError", "build_handler", "handler", "protocols_of"]

_BY_PROTOCOL: dict[str, type[ProtocolHandler]] = {
    "rest-json": RestJsonHandler,
    "json": JsonHandler,
    "query": QueryHandler,
    "ec2": Ec2Handler,
}


def protocols_of(service: str) -> tuple[str, ...]:
    """The protocols ``service`` speaks (newer models list several: CloudWatch speaks
    smithy-rpc-v2-cbor, json and query) that this layer supports, in the model's order."""
    meta = service_model(service).metadata
    listed = meta.get("protocols") or [meta["protocol"]]
    return tuple(p for p in listed if p in _BY_PROTOCOL)


def build_handler(
    service: str, skip: Mapping[str, frozenset[str]] | None = None, protocol: str | None = None
) -> ProtocolHandler:
    """A new handler for ``service``; ``skip`` = {operation: member paths its domain validates};
    ``protocol`` picks one of several the model lists (default: the first supported one)."""
    supported = protocols_of(service)
    chosen = protocol or (supported[0] if supported else service_model(service).metadata["protocol"])
    if chosen not in supported:
        raise ValueError(f"protocol {chosen!r} of {service} is not supported")
    return _BY_PROTOCOL[chosen](service_model(service), skip)


@cache
def handler(service: str, protocol: str | None = None) -> ProtocolHandler:
    """The shared handler of ``service`` with the generic checks only."""
    return build_handler(service, protocol=protocol)
