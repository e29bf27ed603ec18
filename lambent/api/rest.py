"""Shared plumbing of the REST-JSON handlers: the platform, JSON in and out, error mapping."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import botocore.session

from starlette.requests import Request
from starlette.responses import Response

from lambent.api.envelopes import error_response
from lambent.control.validation import Checker
from lambent.errors import InvalidParameterValue, InvalidRequestContent, LambentError, ServiceError
from lambent.platform import Platform

Handler = Callable[[Request], Awaitable[Response]]
#: What a handler acts on (honours or refuses by itself): input member -> None for the whole
#: member, or the sub-members of a structure it handles.
Handled = Mapping[str, "frozenset[str] | None"]


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


# -- members lambent does not act on ---------------------------------------------------------------
# Every input member of a served operation is either honoured or refused: a member accepted and
# silently dropped (Layers, VpcConfig, ...) makes a caller believe it took effect.


@dataclass(frozen=True)
class Unhandled:
    """The input members of one operation no handler acts on, precomputed from botocore's model."""

    operation: str
    body: tuple[tuple[str, tuple[str, ...] | None], ...]  # member, None (whole) or its unhandled sub-members
    query: tuple[tuple[str, str], ...]  # (wire name, member)
    headers: Mapping[bytes, str]  # lower-case header name as ASGI gives it -> member


#: Every served operation with its unhandled members (filled at import by :func:`unhandled`);
#: tests walk it against botocore's model.
REGISTRY: dict[str, Unhandled] = {}


@cache
def _lambda_model() -> Any:
    return botocore.session.get_session().get_service_model("lambda")


def unhandled(operation: str, handled: Handled) -> Unhandled:
    """Compute once per operation (at import) which members of the model are not in ``handled``."""
    shape = _lambda_model().operation_model(operation).input_shape
    body: list[tuple[str, tuple[str, ...] | None]] = []
    query: list[tuple[str, str]] = []
    headers: dict[bytes, str] = {}
    for name, member in (shape.members.items() if shape is not None else ()):
        location = member.serialization.get("location")
        wire = member.serialization.get("name", name)
        if name not in handled:
            if location == "querystring":
                query.append((wire, name))
            elif location == "header":
                headers[wire.lower().encode("latin-1")] = name
            elif location is None:
                body.append((name, None))
            continue
        subs = handled[name]
        if subs is not None and member.type_name == "structure":
            missing = tuple(m for m in member.members if m not in subs)
            if missing:
                body.append((name, missing))
    REGISTRY[operation] = found = Unhandled(operation, tuple(body), tuple(query), headers)
    return found


def _given(value: Any) -> bool:
    """Whether a member asks for something: tools send empty lists and maps (``"VpcConfig":
    {"SubnetIds": [], "SecurityGroupIds": []}``) to mean none, which is what lambent does."""
    if value is None or value == "" or value == [] or value == {}:
        return False
    if isinstance(value, dict):
        return any(_given(v) for v in value.values())
    return True


def _refuse(member: str, operation: str) -> InvalidParameterValue:
    return InvalidParameterValue(
        f"{member} is not supported by this lambent server yet ({operation}); remove it from the request."
    )


def refuse_unhandled(u: Unhandled, request: Request, body: Mapping[str, Any] | None = None) -> None:
    """InvalidParameterValueException naming the first member of the request lambent does not act on."""
    if body:
        for name, subs in u.body:
            value = body.get(name)
            if subs is None:
                if _given(value):
                    raise _refuse(name, u.operation)
            elif isinstance(value, dict):
                for sub in subs:
                    if _given(value.get(sub)):
                        raise _refuse(f"{name}.{sub}", u.operation)
    if u.query and request.query_params:
        for wire, name in u.query:
            if request.query_params.get(wire):
                raise _refuse(name, u.operation)
    if u.headers:
        # one pass over the raw headers (ASGI names are lower-case bytes): Invoke is the hot path
        for key, value in request.scope["headers"]:
            if value and key in u.headers:
                raise _refuse(u.headers[key], u.operation)
