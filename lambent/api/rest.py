"""Shared plumbing of the REST-JSON handlers: the platform, JSON in and out, error mapping."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from lambent.api.envelopes import error_response
from lambent.errors import InvalidRequestContent, LambentError, ServiceError
from lambent.platform import Platform

Handler = Callable[[Request], Awaitable[Response]]


def platform_of(request: Request) -> Platform:
    return request.app.state.platform  # type: ignore[no-any-return]


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(data), status_code=status, media_type="application/json", headers=headers)


def body_json(request: Request) -> dict[str, Any]:
    body: bytes = request.state.body
    if not body:
        return {}
    try:
        obj = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequestContent(f"Could not parse request body into json: {exc}") from None
    if not isinstance(obj, dict):
        raise InvalidRequestContent("Could not parse request body into json: expected a JSON object")
    return obj


def endpoint(fn: Handler) -> Handler:
    """Map lambent errors to AWS envelopes; anything unexpected becomes a ServiceException."""

    async def wrapped(request: Request) -> Response:
        try:
            return await fn(request)
        except LambentError as exc:
            return error_response(exc)
        except Exception as exc:  # noqa: BLE001 - never crash on a request
            request.app.state.log.exception("unhandled error in %s", fn.__name__)
            return error_response(ServiceError(f"Internal error: {type(exc).__name__}"))

    return wrapped
