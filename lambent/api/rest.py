"""Shared plumbing of the API handlers: pagination, and (transitional, for the handlers not on
the protocol layer yet) the platform of a Starlette request, JSON in and out, error mapping."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import Response

from lambent.api.envelopes import error_response
from lambent.api.protocols.model import service_model
from lambent.api.protocols.unhandled import Handled, Unhandled, given, refusal, unhandled_of
from lambent.control.validation import Checker
from lambent.errors import InvalidParameterValue, InvalidRequestContent, LambentError, ServiceError
from lambent.platform import Platform

Handler = Callable[[Request], Awaitable[Response]]
T = TypeVar("T")
__all__ = ["REGISTRY", "Handled", "Unhandled", "body_json", "endpoint", "json_response", "page", "paginate",
           "platform_of", "refuse_unhandled", "unhandled"]


def platform_of(request: Request) -> Platform:
    return request.app.state.platform  # type: ignore[no-any-return]


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    # AWS answers every request with its id (x-amzn-RequestId); SDKs surface it as ResponseMetadata.RequestId.
    headers = {"x-amzn-RequestId": str(uuid.uuid4()), **(headers or {})}
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


def page(items: Sequence[T], key: Callable[[T], Any], marker: str | None, max_items: int | None) -> tuple[list[T], str | None]:
    """Marker/MaxItems pagination on parsed params (the layer has typed and range-checked MaxItems):
    the page after ``marker`` (the last item's key, base64-encoded) and the next page's marker."""
    size = 50 if max_items is None else max_items
    start = 0
    if marker:
        try:
            after = base64.urlsafe_b64decode(marker.encode()).decode()
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise InvalidParameterValue("Invalid Marker: the token is not one this API returned.") from None
        keys = [str(key(i)) for i in items]
        # The marker's item may have been deleted since: go on after where it would be.
        start = keys.index(after) + 1 if after in keys else next((i for i, k in enumerate(keys) if k > after), len(items))
    out = list(items[start : start + size])
    nxt = base64.urlsafe_b64encode(str(key(out[-1])).encode()).decode() if out and start + size < len(items) else None
    return out, nxt


def paginate(items: list[Any], request: Request, key: Any, max_limit: int = 10000) -> tuple[list[Any], str | None]:
    """:func:`page` for the handlers not on the protocol layer yet (transitional)."""
    q = request.query_params
    max_items = None
    if "MaxItems" in q:
        try:
            max_items = int(q["MaxItems"])
        except ValueError:
            raise InvalidParameterValue(f"Invalid MaxItems: {q['MaxItems']}") from None
        c = Checker()
        c.int_range("maxItems", max_items, 1, max_limit)
        c.raise_if_any()
    return page(items, key, q.get("Marker"), max_items)


# -- members lambent does not act on ---------------------------------------------------------------
# Every input member of a served operation is either honoured or refused: a member accepted and
# silently dropped (Layers, VpcConfig, ...) makes a caller believe it took effect.


#: The operations of the handlers not on the protocol layer yet (filled at import by :func:`unhandled`).
_LEGACY: dict[str, Unhandled] = {}


class _Registry(Mapping[str, Unhandled]):
    """Every served Lambda operation with its unhandled members: the protocol layer's
    registrations and the transitional :func:`unhandled` ones. Tests walk it against botocore's model."""

    def _all(self) -> dict[str, Unhandled]:
        from lambent.api.services import LAMBDA, table

        table()  # every API module imported: every registration made
        return {**_LEGACY, **LAMBDA.unhandled()}

    def __getitem__(self, operation: str) -> Unhandled:
        return self._all()[operation]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


REGISTRY: Mapping[str, Unhandled] = _Registry()


def unhandled(operation: str, handled: Handled) -> Unhandled:
    """Compute once per operation (at import) which members of the model are not in ``handled``
    (transitional: the protocol layer takes ``handled=`` at registration)."""
    _LEGACY[operation] = found = unhandled_of(service_model("lambda").operation_model(operation), handled)
    return found


def refuse_unhandled(u: Unhandled, request: Request, body: Mapping[str, Any] | None = None) -> None:
    """InvalidParameterValueException naming the first member of the request lambent does not act on."""
    if body:
        for name, subs in u.body:
            value = body.get(name)
            if subs is None:
                if given(value):
                    raise refusal(name, u.operation)
            elif isinstance(value, dict):
                for sub in subs:
                    if given(value.get(sub)):
                        raise refusal(f"{name}.{sub}", u.operation)
    if u.query and request.query_params:
        for wire, name in u.query:
            if request.query_params.get(wire):
                raise refusal(name, u.operation)
    if u.headers:
        # one pass over the raw headers (ASGI names are lower-case bytes)
        for key, value in request.scope["headers"]:
            if value and key in u.headers:
                raise refusal(u.headers[key], u.operation)
