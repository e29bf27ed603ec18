"""Shared plumbing of the REST-JSON handlers: the platform, JSON in and out, error mapping."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from lambent.api.envelopes import error_response
from lambent.control.validation import Checker
from lambent.errors import InvalidParameterValue, InvalidRequestContent, LambentError, ServiceError
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
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # RecursionError: nested too deep
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


def paginate(items: list[Any], request: Request, key: Any, max_limit: int = 10000) -> tuple[list[Any], str | None]:
    """Marker/MaxItems pagination; the marker is the last item's key, base64-encoded."""
    q = request.query_params
    max_items = 50
    if "MaxItems" in q:
        try:
            max_items = int(q["MaxItems"])
        except ValueError:
            raise InvalidParameterValue(f"Invalid MaxItems: {q['MaxItems']}") from None
        c = Checker()
        c.int_range("maxItems", max_items, 1, max_limit)
        c.raise_if_any()
    start = 0
    if q.get("Marker"):
        try:
            after = base64.urlsafe_b64decode(q["Marker"].encode()).decode()
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise InvalidParameterValue("Invalid Marker: the token is not one this API returned.") from None
        keys = [str(key(i)) for i in items]
        # The marker's item may have been deleted since: go on after where it would be.
        start = keys.index(after) + 1 if after in keys else next((i for i, k in enumerate(keys) if k > after), len(items))
    page = items[start : start + max_items]
    nxt = base64.urlsafe_b64encode(str(key(page[-1])).encode()).decode() if page and start + max_items < len(items) else None
    return page, nxt
