"""The one HTTP endpoint: tells AWS services apart and hands each request to its API.

Requests are routed the way AWS routes them: by the SigV4 credential scope's service name (and
later ``X-Amz-Target`` for JSON-protocol services). Every AWS API request is checked here before
any handler runs, in the order that reads the least for a hostile client: the declared size against
the route's cap, then everything the headers tell about the signature (``SigV4Verifier.check_head``:
a garbage Authorization header, an unknown key, a stale date or another region's scope are refused
before a byte of the body is read), then the body is read (hashed as it arrives, large ones spooled
to disk: ``api/body.py``) and the signature checked against its hash; only then is it loaded for the
handler. Connection-level bounds (deadlines, header limits, connection caps) are the listener's
(``api/listener.py``). ``/health`` and the presigned code download need no signature.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from urllib.parse import unquote

from starlette.datastructures import Headers, QueryParams
from starlette.responses import FileResponse, Response
from starlette.types import Receive, Scope, Send

from lambent.api import lambda_api, services
from lambent.api.body import Body, ClientDisconnected, LargeBodyGate, read_body
from lambent.api.codeurl import PREFIX as CODE_PREFIX
from lambent.api.codeurl import check_code_url
from lambent.api.dispatch import Dispatcher, Service, raw_path, send_error
from lambent.api import prometheus
from lambent.api.sigv4 import SigV4Verifier, parse_scope
from lambent.console import PREFIX as CONSOLE_PREFIX
from lambent.console import Console
from lambent.errors import (
    InvalidRequestContent,
    InvalidSignature,
    LambentError,
    MissingAuthenticationToken,
    RequestEntityTooLarge,
    RequestTooLarge,
)
from lambent.iam.model import Principal
from lambent.observability.metrics.lambda_metrics import DURATION_BUCKETS_S
from lambent.platform import Platform

log = logging.getLogger("lambent.api")
_SHA_RE = re.compile(r"^[0-9a-f]{64}$")
_INVOKE_PATH = re.compile(r"^/2015-03-31/functions/([^/]+)/invocations$")


class _State:
    """What handlers reach through ``request.app.state``."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.log = log


class LambentApp:
    """The ASGI application. Scope: one per server."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.state = _State(platform)
        settings = platform.settings
        self.services: dict[str, Service] = services.table()
        # Every caller (root, IAM users, role sessions) is found through IAM (lambent/iam/service.py).
        self.verifier = SigV4Verifier(platform.iam.lookup, region=settings.region,
                                      services=frozenset(self.services), account_id=settings.account_id)
        self.dispatcher = Dispatcher(platform, self.services)
        http = settings.http
        self._spool_bytes = http.body_spool_bytes
        self._spool_dir = Path(settings.data_dir) / "http-spool"
        self._large_bodies = LargeBodyGate(http.max_large_bodies, http.large_body_wait_s)
        self.console = Console(region=settings.region, account_id=settings.account_id) if http.console_enabled else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        scope["app"] = self
        path: str = scope["path"]
        if path == "/health":
            ready = self.platform.ready.is_set()
            await Response(b'{"status":"ok"}' if ready else b'{"status":"starting"}', 200 if ready else 503, media_type="application/json")(scope, receive, send)
            return
        if path == "/metrics" and scope["method"] == "GET" and self.platform.settings.metrics.prometheus_enabled:
            # Prometheus text format, unsigned as scrapers expect (it names functions and versions:
            # turn it off with LAMBENT_METRICS_PROMETHEUS_ENABLED=false where that matters).
            p = self.platform
            exposition = prometheus.render(p.lambda_metrics.totals(), DURATION_BUCKETS_S,
                                           concurrency=p.limiter.snapshot(), unreserved=p.limiter.unreserved_running)
            await Response(exposition, 200, media_type=prometheus.CONTENT_TYPE)(scope, receive, send)
            return
        if self.console is not None and (path == CONSOLE_PREFIX or path.startswith(CONSOLE_PREFIX + "/")):
            await self.console(scope, receive, send)
            return
        if path.startswith(CODE_PREFIX):
            await self._code_download(scope, receive, send)
            return
        body: Body | None = None
        headers = Headers(scope=scope)
        query = scope.get("query_string", b"").decode("latin-1")
        try:
            try:
                cap = lambda_api.max_body_bytes(scope["method"], path)
                too_big = _check_declared_length(headers, cap, path, query)
                raw_path = scope.get("raw_path") or path.encode()
                pending = self.verifier.check_head(scope["method"], raw_path.decode("latin-1"), query, headers)
                service = self.services.get(pending.scope.service)
                if service is None:
                    # AWS's words for a scope naming another service than the endpoint's.
                    raise InvalidSignature("Credential should be scoped to correct service: 'lambda'. ")
                body = await read_body(receive, cap, too_big, self._spool_bytes, self._spool_dir, self._large_bodies)
                principal = pending.finish(body.sha256).principal
                data = await body.load()
            except LambentError as exc:
                # before routing: the envelope of the service the request was for (Lambda's, the
                # endpoint's default, when its credential scope names none lambent serves)
                target = self.services.get(scope_service(headers.get("authorization"), query) or "") or self.services.get("lambda")
                await send_error(send, target, exc, close=body is None)
                return
            except ClientDisconnected:
                return
            await self._dispatch(scope, receive, send, service, headers, data, principal)
        finally:
            if body is not None:
                body.close()

    async def _dispatch(
        self, scope: Scope, receive: Receive, send: Send, service: Service, headers: Headers, data: bytes,
        principal: Principal,
    ) -> None:
        if service.name == "lambda" and scope["method"] == "POST":
            m = _INVOKE_PATH.match(raw_path(scope))
            # The hot path skips the router: one regex names the operation and its label.
            if m is not None and await self.dispatcher.dispatch_known(
                scope, send, service, "Invoke", {"FunctionName": unquote(m.group(1))}, headers,
                scope.get("query_string", b"").decode("latin-1"), data, principal,
            ):
                return
        await self.dispatcher.dispatch(scope, receive, send, service, headers, data, principal)

    async def _code_download(self, scope: Scope, receive: Receive, send: Send) -> None:
        name = scope["path"][len(CODE_PREFIX):]
        sha = name.removesuffix(".zip")
        q = QueryParams(scope.get("query_string", b""))
        secret = self.platform.credentials.secret_access_key
        if not _SHA_RE.match(sha) or not check_code_url(sha, q.get("Expires", ""), q.get("Signature", ""), secret):
            await Response(b"<Error><Code>AccessDenied</Code><Message>Request has expired or the signature is invalid</Message></Error>", 403, media_type="application/xml")(scope, receive, send)
            return
        path = self.platform.code.zip_path(sha)
        if not path.exists():
            await Response(b"<Error><Code>NoSuchKey</Code></Error>", 404, media_type="application/xml")(scope, receive, send)
            return
        await FileResponse(path, media_type="application/zip")(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.platform.start()
                except Exception as exc:  # noqa: BLE001
                    log.exception("start-up failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                try:
                    await self.platform.stop()
                finally:
                    await send({"type": "lifespan.shutdown.complete"})
                return


def _check_declared_length(headers: Headers, cap: int, path: str, query: str = "") -> LambentError:
    """Refuse a declared Content-Length over ``cap`` before anything else is read; return the error
    a body that turns out larger than ``cap`` gets."""
    too_big: LambentError = (
        RequestTooLarge(f"Request must be smaller than {cap - 1} bytes for the InvokeFunction operation")
        if path.endswith("/invocations")
        else RequestEntityTooLarge(f"Request must be smaller than {cap} bytes for the operation")
    )
    declared = headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > cap:
                raise too_big
        except ValueError:
            raise InvalidRequestContent("Invalid Content-Length header") from None
    if "authorization" not in headers and "X-Amz-Signature=" not in query:  # header or presigned
        raise MissingAuthenticationToken("Missing Authentication Token")
    return too_big


def scope_service(authorization: str | None, query: str = "") -> str | None:
    s = parse_scope(authorization, query)
    return s.service if s else None
