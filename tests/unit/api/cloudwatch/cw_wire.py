"""CloudWatch handlers through the real wire format: botocore's query serialiser builds the request
(the protocol lambent serves; boto3's default for ``cloudwatch`` is CBOR), the Dispatcher runs it
(route, parse, model checks, unhandled-member refusals, authorisation, handler, serialise) with a
table of this service only, and botocore's query parser reads the answer as a client would."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from types import SimpleNamespace
from typing import Any, cast
from urllib.parse import urlsplit

from botocore.awsrequest import HeadersDict, create_request_object, prepare_request_dict
from botocore.parsers import create_parser
from botocore.serialize import create_serializer
from starlette.datastructures import Headers

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
    envelopes.e.InvalidParameterValue: ErrorShape("InvalidParameterValue", 400),
    cw.InvalidParameterCombination: ErrorShape("InvalidParameterCombination", 400),
    cw.MissingParameter: ErrorShape("MissingParameter", 400),
    cw.InvalidNextToken: ErrorShape("InvalidNextToken", 400),
    envelopes.e.LimitExceeded: ErrorShape("LimitExceeded", 400),
    envelopes.e.ResourceNotFound: ErrorShape("ResourceNotFound", 404),
    envelopes.e.ClientError: ErrorShape("InvalidParameterValue", 400),
    envelopes.e.LambentError: ErrorShape("InternalServiceError", 500),
}


@dataclass
class Client:
    """What a boto3 ``cloudwatch`` client speaking query would see."""

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
        raw_headers = [(k.lower().encode(), v.encode()) for k, v in prepared.headers.items()]
        scope: dict[str, Any] = {"type": "http", "method": prepared.method, "path": url.path,
                                 "query_string": url.query.encode(), "headers": raw_headers, "client": ("127.0.0.1", 1)}
        sent: list[dict[str, Any]] = []

        async def send(message: Any) -> None:
            sent.append(message)

        async def receive() -> Any:
            return {"type": "http.request", "body": body}

        await self.dispatcher.dispatch(scope, receive, send, self.service, Headers(scope=scope), body, principal)
        start, payload = sent
        headers = HeadersDict({k.decode(): v.decode() for k, v in start["headers"]})
        result: dict[str, Any] = create_parser("query").parse(
            {"status_code": start["status"], "headers": headers, "body": payload["body"]}, op.output_shape)
        result["ResponseMetadata"]["HTTPStatusCode"] = start["status"]
        return result


@cache
def _service() -> Service:
    return Service(cw.SIGV4_SERVICE, cw.CLOUDWATCH,
                   build_handler("cloudwatch", skip=cw.CLOUDWATCH.skips(), protocol="query"))


def client(domain: CloudWatch, settings: Settings) -> Client:
    service = _service()
    platform = SimpleNamespace(settings=settings, cloudwatch=domain)
    return Client(Dispatcher(cast(Platform, platform), {cw.SIGV4_SERVICE: service}), service)


def error(result: dict[str, Any]) -> tuple[int, str, str]:
    err = result["Error"]
    return result["ResponseMetadata"]["HTTPStatusCode"], err["Code"], err["Message"]
