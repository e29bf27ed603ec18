"""Calls IAM/STS handlers through the real wire format: botocore's client serialiser builds the
request, the protocol layer parses it (and refuses unhandled members), the handler runs on an
IamService, the layer serialises the answer or the error and botocore's client parser reads it."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

from botocore.awsrequest import HeadersDict, create_request_object, prepare_request_dict
from botocore.parsers import create_parser
from botocore.serialize import create_serializer
from starlette.datastructures import Headers

from lambent.api.dispatch import Call
from lambent.api.iam_api import IAM
from lambent.api.protocols import ProtocolHandler, Wire, build_handler
from lambent.api.protocols.model import service_model
from lambent.api.protocols.registry import Operations
from lambent.api.sts_api import STS
from lambent.errors import LambentError
from lambent.iam.authorize import Authorizer
from lambent.iam.model import Principal
from lambent.iam.service import IamService

_REGISTRIES: dict[str, Operations] = {"iam": IAM, "sts": STS}
_HANDLERS: dict[str, ProtocolHandler] = {}


class _Call(Call):
    """A Call that can carry ``principal`` (what the integrator adds to Call)."""


def _protocol(service: str) -> ProtocolHandler:
    if service not in _HANDLERS:
        _HANDLERS[service] = build_handler(service, skip=_REGISTRIES[service].skips())
    return _HANDLERS[service]


def wire_request(service: str, operation: str, params: dict[str, Any]) -> tuple[str, str, str, dict[str, str], bytes]:
    op = service_model(service).operation_model(operation)
    serialised = create_serializer("query", include_validation=False).serialize_to_request(params, op)
    prepare_request_dict(serialised, endpoint_url="https://lambent.test")
    prepared = create_request_object(serialised).prepare()
    url = urlsplit(prepared.url)
    body = prepared.body or b""
    if isinstance(body, str):
        body = body.encode()
    return prepared.method, url.path, url.query, dict(prepared.headers.items()), body


async def serve(
    iam: IamService, service: str, method: str, path: str, query: str, headers: dict[str, str], body: bytes,
    principal: Principal | None = None,
) -> Wire:
    """One request as the server's dispatcher runs it: parse, refuse unhandled members, handle,
    serialise (errors in the service's envelope)."""
    protocol = _protocol(service)
    try:
        name, parsed = protocol.parse(method, path, query, headers, body)
        entry = _REGISTRIES[service].entry(name)
        if not entry.unhandled.empty:
            entry.unhandled.refuse(parsed)
        platform = SimpleNamespace(iam=iam, authorizer=Authorizer(iam))
        caller = principal if principal is not None else iam.root_principal()
        c = _Call(platform, service, name, parsed, "req-1", Headers(headers), query, body, caller)  # type: ignore[arg-type]
        return protocol.serialise(name, await entry.fn(c), "req-1")
    except LambentError as exc:
        return protocol.serialise_error(exc, request_id="req-1")


async def call(
    iam: IamService, service: str, operation: str, params: dict[str, Any] | None = None, principal: Principal | None = None,
) -> dict[str, Any]:
    """What a boto3 client would get back (errors as botocore's parsed ``Error`` dict)."""
    method, path, query, headers, body = wire_request(service, operation, params or {})
    status, out_headers, out_body = await serve(iam, service, method, path, query, headers, body, principal)
    parser = create_parser("query")
    result: dict[str, Any] = parser.parse(
        {"status_code": status, "headers": HeadersDict(out_headers), "body": out_body},
        service_model(service).operation_model(operation).output_shape,
    )
    result["ResponseMetadata"]["HTTPStatusCode"] = status
    return result


def error(result: dict[str, Any]) -> tuple[int, str, str]:
    err = result["Error"]
    return result["ResponseMetadata"]["HTTPStatusCode"], err["Code"], err["Message"]
