"""Helpers: botocore's CLIENT serialiser and parser on the other side of the layer."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from botocore.awsrequest import create_request_object, prepare_request_dict
from botocore.parsers import create_parser
from botocore.serialize import create_serializer
from botocore.awsrequest import HeadersDict

from lambent.api.protocols import ProtocolHandler, Wire, handler
from lambent.api.protocols.model import service_model


def client_request(
    service: str, operation: str, params: dict[str, Any], protocol: str | None = None, *, check: bool = True
) -> tuple[str, str, str, dict[str, str], bytes]:
    """The (method, path, query, headers, body) botocore's client sends for ``params``."""
    model = service_model(service)
    op = model.operation_model(operation)
    serialised = create_serializer(handler(service, protocol).protocol, include_validation=check).serialize_to_request(params, op)
    prepare_request_dict(serialised, endpoint_url="https://lambent.test")
    prepared = create_request_object(serialised).prepare()
    url = urlsplit(prepared.url)
    body = prepared.body or b""
    if isinstance(body, str):
        body = body.encode()
    if not isinstance(body, bytes):
        body = body.read()
    return prepared.method, url.path, url.query, dict(prepared.headers.items()), body


def round_trip_request(
    service: str, operation: str, params: dict[str, Any], protocol: str | None = None, *, validate: bool = True
) -> tuple[str, dict[str, Any]]:
    method, path, query, headers, body = client_request(service, operation, params, protocol, check=validate)
    return handler(service, protocol).parse(method, path, query, headers, body, validate=validate)


def client_parse(service: str, operation: str, wire: Wire, protocol: str | None = None) -> dict[str, Any]:
    """What botocore's client makes of our answer."""
    model = service_model(service)
    status, headers, body = wire
    parser = create_parser(handler(service, protocol).protocol)
    parsed: dict[str, Any] = parser.parse(
        {"status_code": status, "headers": HeadersDict(headers), "body": body},
        model.operation_model(operation).output_shape,
    )
    return parsed


def proto(service: str, protocol: str | None = None) -> ProtocolHandler:
    return handler(service, protocol)
