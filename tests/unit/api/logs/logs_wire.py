"""A real boto3 ``logs`` client (botocore's json 1.1 serialiser and parser, modelled exceptions)
against lambent's CloudWatch Logs handlers in process: botocore's ``before-send`` hook hands each
prepared request to the protocol layer (parse, model checks, refusal of unhandled members), the
handler runs on a LogStore in a temporary data dir, and the layer's answer is the HTTP response."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from starlette.datastructures import Headers

from lambent.api.dispatch import Call
from lambent.api.logs_api import LOGS
from lambent.api.protocols import ProtocolHandler, build_handler
from lambent.errors import LambentError
from lambent.iam.model import Principal, PrincipalKind
from lambent.observability.logs import LogStore
from lambent.settings import Settings

ACCOUNT = "000000000000"
ROOT = Principal(kind=PrincipalKind.ROOT, account_id=ACCOUNT, arn=f"arn:aws:iam::{ACCOUNT}:root",
                 user_id=ACCOUNT, name="", access_key_id="AKIDEXAMPLE", secret_access_key="secret")
_PROTOCOL: list[ProtocolHandler] = []


def _protocol() -> ProtocolHandler:
    if not _PROTOCOL:
        _PROTOCOL.append(build_handler("logs", skip=LOGS.skips()))
    return _PROTOCOL[0]


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


class Server:
    """The platform a handler sees (settings, logs) and who calls."""

    def __init__(self, data: Path) -> None:
        self.settings = Settings(data_dir=data)
        self.logs = LogStore(data / "logs")
        self.principal = ROOT

    async def serve(self, method: str, path: str, query: str, headers: dict[str, str], body: bytes) -> Any:
        protocol = _protocol()
        try:
            name, parsed = protocol.parse(method, path, query, headers, body)
            entry = LOGS.entry(name)
            if not entry.unhandled.empty:
                entry.unhandled.refuse(parsed)
            platform = SimpleNamespace(settings=self.settings, logs=self.logs)
            call = Call(platform, "logs", name, parsed, "req-1", Headers(headers), query, body,  # type: ignore[arg-type]
                        self.principal)
            return protocol.serialise(name, await entry.fn(call), "req-1")
        except LambentError as exc:
            return protocol.serialise_error(exc, request_id="req-1")

    def client(self) -> Any:
        client = boto3.client("logs", region_name="us-east-1", endpoint_url="https://lambent.test",
                              aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret")

        def send(request: AWSPreparedRequest, **_: Any) -> AWSResponse:
            url = urlsplit(request.url)
            body = request.body or b""
            if isinstance(body, str):
                body = body.encode()
            headers = {k: v if isinstance(v, str) else v.decode() for k, v in request.headers.items()}
            status, out_headers, out = asyncio.run(self.serve(request.method, url.path or "/", url.query, headers, body))
            return AWSResponse(request.url, status, out_headers, _Raw(out))

        client.meta.events.register("before-send.logs", send)
        return client

