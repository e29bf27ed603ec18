"""An in-process EC2 endpoint for tests: botocore's real ``ec2`` client (its serializer, its
parser, its ClientError) whose requests go, through a ``before-send`` hook, to the protocol
layer's request path (:class:`lambent.api.dispatch.Dispatcher` with a table of our own holding
the ``ec2`` service) over a real VpcService on a temporary vpc.db. No sockets.

Until the integrator adds the VPC error classes to the EC2 table of lambent/api/envelopes.py,
:func:`with_vpc_error_codes` puts exactly those lines in place for the test (the lines the
report asks for), so the codes a client sees are checked end to end."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast
from urllib.parse import urlsplit

import botocore.session
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from starlette.datastructures import Headers

from lambent.api import envelopes
from lambent.api.dispatch import Dispatcher, Service
from lambent.api.ec2_api import EC2
from lambent.api.protocols import build_handler
from lambent.iam.model import Principal, PrincipalKind
from lambent.platform import Platform
from lambent.settings import Settings
from lambent.store.vpc import VpcStore
from lambent.vpc import errors as ve
from lambent.vpc.service import VpcService

REGION = "us-east-1"
ACCOUNT = "111122223333"
OTHER = "444455556666"


def vpc_error_table() -> dict[type[Any], envelopes.ErrorShape]:
    """The EC2 table with the VPC classes' own codes (what envelopes.EC2 should list)."""
    return {**{cls: envelopes.ErrorShape(cls.code, cls.status) for cls in ve.EC2_ERRORS}, **envelopes.EC2}


def root(account: str) -> Principal:
    return Principal(kind=PrincipalKind.ROOT, account_id=account, arn=f"arn:aws:iam::{account}:root",
                     user_id=account, name="", access_key_id="AKIDEXAMPLE", secret_access_key="secret")


@cache
def _session() -> botocore.session.Session:
    """One botocore session for the tests (its loader caches the ec2 model: 3 s a client otherwise)."""
    return botocore.session.get_session()


@cache
def ec2_service() -> Service:
    """The ``ec2`` service of the table: EC2's handlers and its protocol handler (built once: the
    model is large)."""
    return Service("ec2", EC2, build_handler("ec2", skip=EC2.skips()))


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


class Endpoint:
    """One VpcService behind the dispatcher; :meth:`client` gives a boto3-like ec2 client acting
    as the root of ``account`` (each account its own dispatcher, as the server's own account)."""

    def __init__(self, data_dir: Path) -> None:
        self.store = VpcStore.open_in(data_dir)
        self.vpc = VpcService(self.store, region=REGION)
        self.service = ec2_service()
        self.data_dir = data_dir
        self.requests: list[tuple[str, bytes]] = []
        #: more platform members (an ``authorizer`` for a caller that is not the account's root)
        self.platform_extras: dict[str, Any] = {}

    def close(self) -> None:
        self.store.close()

    def _dispatcher(self, account: str) -> Dispatcher:
        platform = SimpleNamespace(settings=Settings(data_dir=self.data_dir, account_id=account, region=REGION),
                                   vpc=self.vpc, **self.platform_extras)
        return Dispatcher(cast(Platform, platform), {"ec2": self.service})

    def send(self, account: str, method: str, url: str, headers: dict[str, str], body: bytes,
             principal: Principal | None = None) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(url)
        scope: dict[str, Any] = {
            "type": "http", "method": method, "path": parts.path or "/", "query_string": parts.query.encode(),
            "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()],
            "client": ("127.0.0.1", 5000),
        }
        sent: list[dict[str, Any]] = []

        async def send(message: Any) -> None:
            sent.append(message)

        async def receive() -> Any:
            return {"type": "http.request", "body": body}

        async def run() -> None:
            await self._dispatcher(account).dispatch(scope, receive, send, self.service, Headers(scope=scope), body,
                                                     principal or root(account))

        asyncio.run(run())
        start, payload = sent
        return start["status"], {k.decode(): v.decode() for k, v in start["headers"]}, payload["body"]

    def client(self, account: str = ACCOUNT, principal: Principal | None = None) -> Any:
        client = _session().create_client("ec2", region_name=REGION, endpoint_url="http://lambent.test",
                                       aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret")

        def before_send(request: AWSPreparedRequest, **_: Any) -> AWSResponse:
            body = request.body if isinstance(request.body, bytes) else (request.body or "").encode()
            self.requests.append((request.url, body))
            status, headers, out = self.send(account, request.method, request.url,
                                             {k: str(v) for k, v in request.headers.items()}, body, principal)
            return AWSResponse(request.url, status, headers, _Raw(out))

        client.meta.events.register("before-send.ec2", before_send)
        return client
