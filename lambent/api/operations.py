"""Naming a request that no handler serves, from the service's botocore model.

A request whose method and path match an operation of the AWS API that lambent does not
implement (yet) gets ``UnknownOperationException`` naming that operation, instead of a bare 404;
anything else is named by its method and path. The routing is the protocol layer's
(:class:`lambent.api.protocols.routing.RestRouter`), the names and messages its registry's.
"""

from __future__ import annotations

from botocore.exceptions import DataNotFoundError, UnknownServiceError

from lambent.api.protocols import handler
from lambent.api.protocols.registry import no_operation_matches, not_implemented
from lambent.errors import UnknownOperation


def operation_of(service: str, method: str, path: str, query: str = "") -> str | None:
    """The model's operation for this method, path and query string, if any."""
    try:
        protocol = handler(service)
    except (UnknownServiceError, DataNotFoundError):
        return None
    routed = protocol.route(method, path, query, {}, b"")
    return routed[0] if routed is not None else None


def unknown_operation(service: str, method: str, path: str, query: str = "") -> UnknownOperation:
    name = operation_of(service, method, path, query)
    if name is not None:
        return not_implemented(service, name)
    return no_operation_matches(service, method, path)
