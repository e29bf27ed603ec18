"""CloudWatch handlers through the real wire formats, with a table of this service only.

- ``json``: a real boto3 ``cloudwatch`` client (botocore 1.44 sends JSON 1.0 with
  ``X-Amz-Target: GraniteServiceVersion20100801.<Op>`` and ``x-amzn-query-mode: true``; it does not
  send the model's first protocol, CBOR) whose ``before-send`` hands the signed request to the
  Dispatcher on the test's event loop and the answer back to botocore's parser;
- ``query``: botocore's query serialiser and parser (the aws CLI v1 and older SDKs).

The Dispatcher runs route, parse, model checks, unhandled-member refusals, authorisation, handler
and serialise, as the server does."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from types import SimpleNamespace
from typing import Any, cast
from urllib.parse import urlsplit

import boto3
from botocore import xform_name
from botocore.awsrequest import AWSResponse, HeadersDict, create_request_object, prepare_request_dict
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.parsers import create_parser
from botocore.serialize import create_serializer
from starlette.datastructures import Headers

from lambent import errors as e
from lambent.api import envelopes
from lambent.api import cloudwatch_api as cw
from lambent.api.dispatch import Dispatcher, Service
from lambent.api.envelopes import ErrorShape
from lambent.api.protocols import build_handler
from lambent.api.protocols.model import service_model
from lambent.errors import LambentError
from lambent.iam.model import Principal, PrincipalKind
from lambent.observability.metrics.cloudwatch import CloudWatch
from lambent.platform import Platform
from lambent.settings import Settings

ACCOUNT = "000000000000"
ROOT = Principal(kind=PrincipalKind.ROOT, account_id=ACCOUNT, arn=f"arn:aws:iam::{ACCOUNT}:root",
                 user_id=ACCOUNT, name="", access_key_id="AKIDEXAMPLE", secret_access_key="secret")

#: The rows lambent/api/envelopes.py needs for "cloudwatch" (reported to the integrator): CloudWatch's
#: modelled query error codes on top of the query protocol's common ones.
CLOUDWATCH_ERRORS: Mapping[type[LambentError], ErrorShape] = {
    **envelopes._QUERY,
    e.InvalidParameterValue: ErrorShape("InvalidParameterValue", 400),
    cw.InvalidParameterCombination: ErrorShape("InvalidParameterCombination", 400),
    cw.MissingParameter: ErrorShape("MissingParameter", 400),
    cw.InvalidNextToken: ErrorShape("InvalidNextToken", 400),
    e.LimitExceeded: ErrorShape("LimitExceeded", 400),
    e.ResourceNotFound: ErrorShape("ResourceNotFound", 404),
    e.ClientError: ErrorShape("InvalidParameterValue", 400),
    e.LambentError: ErrorShape("InternalServiceError", 500),
}


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


_TARGET: list[Boto3Client] = []


@cache
def _boto3_client() -> Any:
    made = boto3.session.Session().client(
        "cloudwatch", region_name="us-east-1", endpoint_url="http://lambent.test",
        aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}))
    made.meta.events.register("before-send", lambda request, **kw: _TARGET[0]._send(request, **kw))
    return made


class Boto3Client:
    """A real boto3 client whose transport is the Dispatcher (the call runs in a thread; the
    request is served on the event loop)."""

    def __init__(self, dispatcher: Dispatcher, service: Service, loop: asyncio.AbstractEventLoop) -> None:
        self.dispatcher, self.service, self.loop = dispatcher, service, loop
        self.client = _boto3_client()
        _TARGET[:] = [self]  # one client per process (creating one costs ~0.3 s): it sends to the newest
        self.sent: list[dict[str, str]] = []

    def _send(self, request: Any, **_: Any) -> AWSResponse:
        url = urlsplit(request.url)
        body = request.body or b""
        if not isinstance(body, bytes):
            body = body.encode() if isinstance(body, str) else body.read()
        headers = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in request.headers.items()}
        self.sent.append(headers)
        future = asyncio.run_coroutine_threadsafe(
            serve(self.dispatcher, self.service, request.method, url.path, url.query, headers, body, ROOT), self.loop)
        status, out_headers, out = future.result(30)
        return AWSResponse(request.url, status, HeadersDict(out_headers), _Raw(out))

    async def __call__(self, operation: str, params: dict[str, Any] | None = None,
                       principal: Principal = ROOT) -> dict[str, Any]:
        method = getattr(self.client, xform_name(operation))
        try:
            result: dict[str, Any] = await asyncio.to_thread(method, **(params or {}))
        except ClientError as exc:
            result = dict(exc.response)
        return result


async def serve(dispatcher: Dispatcher, service: Service, method: str, path: str, query: str,
                headers: Mapping[str, str], body: bytes, principal: Principal) -> tuple[int, dict[str, str], bytes]:
    raw_headers = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    scope: dict[str, Any] = {"type": "http", "method": method, "path": path, "query_string": query.encode(),
                             "headers": raw_headers, "client": ("127.0.0.1", 1)}
    sent: list[dict[str, Any]] = []

    async def send(message: Any) -> None:
        sent.append(message)

    async def receive() -> Any:
        return {"type": "http.request", "body": body}

    await dispatcher.dispatch(scope, receive, send, service, Headers(scope=scope), body, principal)
    start, payload = sent
    return start["status"], {k.decode(): v.decode() for k, v in start["headers"]}, payload["body"]


@dataclass
class QueryClient:
    """What a client speaking the query protocol (aws CLI v1) would see."""

    dispatcher: Dispatcher
    service: Service

    async def __call__(self, operation: str, params: dict[str, Any] | None = None,
                       principal: Principal = ROOT) -> dict[str, Any]:
        op = service_model("cloudwatch").operation_model(operation)
        serialised = create_serializer("query", include_validation=False).serialize_to_request(params or {}, op)
        prepare_request_dict(serialised, endpoint_url="https://lambent.test")
        prepared = create_request_object(serialised).prepare()
        url = urlsplit(prepared.url)
        body = prepared.body or b""
        if isinstance(body, str):
            body = body.encode()
        status, headers, out = await serve(self.dispatcher, self.service, str(prepared.method), url.path, url.query,
                                           dict(prepared.headers.items()), body, principal)
        result: dict[str, Any] = create_parser("query").parse(
            {"status_code": status, "headers": HeadersDict(headers), "body": out}, op.output_shape)
        result["ResponseMetadata"]["HTTPStatusCode"] = status
        return result


Client = Boto3Client | QueryClient


@cache
def _service(protocol: str) -> Service:
    return Service(cw.SIGV4_SERVICE, cw.CLOUDWATCH,
                   build_handler("cloudwatch", skip=cw.CLOUDWATCH.skips(), protocol=protocol))


def client(domain: CloudWatch, settings: Settings, protocol: str) -> Client:
    """A client of ``protocol`` (``json``: boto3's; ``query``) for a server of that protocol."""
    service = _service(protocol)
    platform = SimpleNamespace(settings=settings, cloudwatch=domain)
    dispatcher = Dispatcher(cast(Platform, platform), {cw.SIGV4_SERVICE: service})
    if protocol == "json":
        return Boto3Client(dispatcher, service, asyncio.get_running_loop())
    return QueryClient(dispatcher, service)


def error(result: dict[str, Any]) -> tuple[int, str, str]:
    err = result["Error"]
    return result["ResponseMetadata"]["HTTPStatusCode"], err["Code"], err["Message"]
