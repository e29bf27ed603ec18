"""The one request path of every AWS API lambent serves, driven by botocore's models.

A request whose signature and body :mod:`lambent.api.app` has checked goes:

    protocol handler of the service (by the SigV4 credential scope's service name)
    -> route (operation from method + path / target / Action) -> parse its members, typed per the
       model, generic model constraints checked (minus the operation's ``skip``)
    -> refuse the members the handler does not act on (``handled``)
    -> the handler registered for the operation (``Operations.register``): ``await fn(call)``
    -> ``serialise`` of its output -> the ASGI response.

A :class:`~lambent.errors.LambentError` becomes the service's error envelope
(``ProtocolHandler.serialise_error``); anything else is logged once and answers ServiceException
(500) in the same envelope: never a crash, never a traceback to the client. A modelled operation
nobody registered answers UnknownOperationException naming it; a request no operation of the model
matches, one naming its method and path.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import Headers
from starlette.types import Receive, Scope, Send

from lambent.api.authz import authorize_call
from lambent.api.envelopes import error_response
from lambent.api.protocols import ProtocolHandler, Wire
from lambent.api.protocols.registry import Operations, Registered, no_operation_matches
from lambent.errors import LambentError, ServiceError
from lambent.iam.model import Principal
from lambent.platform import Platform

log = logging.getLogger("lambent.api")


@dataclass(slots=True)
class Call:
    """What a handler gets: the platform and the request, its members parsed per the model."""

    platform: Platform
    service: str
    operation: str
    params: dict[str, Any]
    request_id: str
    headers: Headers
    #: the raw query string
    query: str
    #: the raw body
    body: bytes
    #: who signed the request (lambent/iam/model.py), authorised for this call already
    principal: Principal


Handler = Callable[[Call], Awaitable["Mapping[str, Any] | None"]]


@dataclass(frozen=True)
class Service:
    """One served service: its handlers and its protocol (None while its model is missing)."""

    name: str
    operations: Operations
    protocol: ProtocolHandler | None


def send_wire(wire: Wire) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """(status, ASGI headers, body) of a serialised answer; JSON unless the layer said otherwise."""
    status, headers, body = wire
    raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    if body and not any(k == b"content-type" for k, _ in raw):
        raw.append((b"content-type", b"application/json"))
    raw.append((b"content-length", str(len(body)).encode("latin-1")))
    return status, raw, body


def raw_path(scope: Scope) -> str:
    """The path as sent, still percent-encoded: a label may hold an encoded ``/`` (Scheduler's
    ``/tags/{ResourceArn}``); the router decodes each label once."""
    raw: bytes | None = scope.get("raw_path")
    return raw.decode("latin-1") if raw else str(scope["path"])


def _client(scope: Scope) -> str | None:
    """The peer's address as the server saw it (aws:SourceIp; never a header)."""
    client = scope.get("client")
    return str(client[0]) if client else None


async def _send(send: Send, wire: Wire) -> None:
    status, raw, body = send_wire(wire)
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def error_wire(service: Service | None, exc: LambentError, request_id: str | None = None) -> Wire:
    """``exc`` in the envelope of ``service`` (Lambda's rest-json one when it has no model)."""
    rid = request_id or str(uuid.uuid4())
    if service is not None and service.protocol is not None:
        return service.protocol.serialise_error(exc, request_id=rid)
    response = error_response(exc, rid)
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in response.raw_headers if k != b"content-length"}
    return response.status_code, headers, bytes(response.body)


async def send_error(send: Send, service: Service | None, exc: LambentError, request_id: str | None = None,
                     *, close: bool = False) -> None:
    """``exc`` in ``service``'s envelope; ``close``: the request's body was not read (refused from
    its headers), so the connection ends after the answer and says so — a client that pooled it
    would send its next request into a connection the server is closing."""
    status, headers, body = error_wire(service, exc, request_id)
    if close:
        headers = {**headers, "Connection": "close"}
    await _send(send, (status, headers, body))


class Dispatcher:
    """The request path of one server (one platform)."""

    def __init__(self, platform: Platform, services: Mapping[str, Service]) -> None:
        self.platform = platform
        self.services = services

    async def dispatch(
        self, scope: Scope, receive: Receive, send: Send, service: Service, headers: Headers, body: bytes,
        principal: Principal,
    ) -> None:
        """Route, parse, check, handle and answer one request of ``service``."""
        method: str = scope["method"]
        path = raw_path(scope)
        query = scope.get("query_string", b"").decode("latin-1")
        protocol = service.protocol
        try:
            routed = protocol.route(method, path, query, headers, body) if protocol is not None else None
            if protocol is None or routed is None:
                raise no_operation_matches(service.name, method, path)
            entry = service.operations.entry(routed[0])  # UnknownOperation naming a modelled one
        except LambentError as exc:
            await send_error(send, service, exc)
            return
        except Exception as exc:  # noqa: BLE001 - never crash on a request, never show a traceback
            log.exception("unhandled error routing a %s request", service.name)
            await send_error(send, service, ServiceError(f"Internal error: {type(exc).__name__}"))
            return
        await self.run(send, service, protocol, entry, routed[1], headers, query, body, principal, _client(scope))

    async def dispatch_known(
        self, scope: Scope, send: Send, service: Service, operation: str, routed: Any, headers: Headers, query: str,
        body: bytes, principal: Principal,
    ) -> bool:
        """The hot path: a request the caller already routed to ``operation`` (Invoke's path is
        matched by one regex). False when the operation is not registered (the caller then routes
        the request as any other)."""
        entry = service.operations.get(operation)
        protocol = service.protocol
        if entry is None or protocol is None:
            return False
        await self.run(send, service, protocol, entry, routed, headers, query, body, principal, _client(scope))
        return True

    async def run(
        self, send: Send, service: Service, protocol: ProtocolHandler, entry: Registered, routed: Any,
        headers: Headers, query: str, body: bytes, principal: Principal, source_ip: str | None,
    ) -> None:
        """Parse, refuse, handle, serialise: every failure answered in ``service``'s envelope."""
        request_id = str(uuid.uuid4())
        try:
            params = protocol.parse_known(entry.operation, routed, query, headers, body)
            if not entry.unhandled.empty:
                entry.unhandled.refuse(params)
            authorize_call(self.platform, principal, service.name, entry.operation, params,
                           source_ip=source_ip, secure_transport=False)
            call = Call(self.platform, service.name, entry.operation, params, request_id, headers, query, body, principal)
            output = await entry.fn(call)
            wire = send_wire(protocol.serialise(entry.operation, output, request_id))
        except LambentError as exc:
            wire = send_wire(protocol.serialise_error(exc, request_id=request_id))
        except Exception as exc:  # noqa: BLE001 - never crash on a request, never show a traceback
            log.exception("unhandled error in %s %s", service.name, entry.operation)
            wire = send_wire(
                protocol.serialise_error(ServiceError(f"Internal error: {type(exc).__name__}"), request_id=request_id)
            )
        status, raw, out = wire
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": out})
