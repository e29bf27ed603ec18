"""The one HTTP endpoint: tells AWS services apart and hands each request to its API.

Requests are routed the way AWS routes them: by the SigV4 credential scope's service name (and
later ``X-Amz-Target`` for JSON-protocol services). Every AWS API request is read (with a size cap
per route) and its signature verified here, before any handler runs. ``/health`` and the presigned
code download need no signature.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from starlette.datastructures import Headers, QueryParams
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.types import Receive, Scope, Send

from lambent.api import lambda_api, lambent_api, scheduler_api
from lambent.api.codeurl import PREFIX as CODE_PREFIX
from lambent.api.codeurl import check_code_url
from lambent.api.envelopes import error_response
from lambent.api.operations import unknown_operation
from lambent.api.sigv4 import SigV4Verifier, parse_scope
from lambent.errors import (
    InvalidRequestContent,
    LambentError,
    MissingAuthenticationToken,
    RequestEntityTooLarge,
    RequestTooLarge,
    UnknownOperation,
)
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
        creds = platform.credentials
        self.verifier = SigV4Verifier({creds.access_key_id: creds.secret_access_key})
        self.services: dict[str, Any] = {"lambda": lambda_api.build_router(), "lambent": lambent_api.build_router()}
        self.services["scheduler"] = scheduler_api.build_router()

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
        if path.startswith(CODE_PREFIX):
            await self._code_download(scope, receive, send)
            return
        try:
            headers = Headers(scope=scope)
            cap = lambda_api.max_body_bytes(scope["method"], path)
            body = await _read_body(scope, receive, headers, cap, path)
            raw_path = scope.get("raw_path") or path.encode()
            auth_scope = self.verifier.verify(
                scope["method"], raw_path.decode("latin-1"), scope.get("query_string", b"").decode("latin-1"), headers, body
            )
            router = self.services.get(auth_scope.service)
            if router is None:
                raise UnknownOperation(f"The service '{auth_scope.service}' is not served by this lambent endpoint.")
        except LambentError as exc:
            await error_response(exc)(scope, receive, send)
            return
        scope.setdefault("state", {})["body"] = body
        if auth_scope.service == "lambda" and scope["method"] == "POST":
            m = _INVOKE_PATH.match(path)
            if m is not None:
                # The hot path goes straight to its handler: Starlette's router and its
                # exception wrappers cost more than the rest of the request handling.
                scope["path_params"] = {"name": m.group(1)}
                response = await lambda_api.invoke(Request(scope, receive))
                await response(scope, receive, send)
                return
        scope["router"] = router
        try:
            await router(scope, receive, send)
        except HTTPException as exc:  # Starlette's "no route" (404) or "no such method" (405)
            if exc.status_code not in (404, 405):
                raise
            query = scope.get("query_string", b"").decode("latin-1")
            unknown = unknown_operation(auth_scope.service, scope["method"], path, query)
            await error_response(unknown)(scope, receive, send)

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


async def _read_body(scope: Scope, receive: Receive, headers: Headers, cap: int, path: str) -> bytes:
    """Read the whole body, refusing (without reading it all) anything over ``cap`` bytes."""
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
    if "authorization" not in headers:
        raise MissingAuthenticationToken("Missing Authentication Token")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > cap:
                raise too_big
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks) if len(chunks) != 1 else chunks[0]


def scope_service(authorization: str | None) -> str | None:
    s = parse_scope(authorization)
    return s.service if s else None
