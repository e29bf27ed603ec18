"""A LambentError (or an explicit code/message/status) in each protocol's error envelope.

- rest-json: ``x-amzn-ErrorType: <Code>`` and ``{"Type": "User", "message": ...}``; the message key
  is the one the service's error shape names (Lambda's ``ResourceNotFoundException`` says ``Message``).
- json 1.0/1.1: ``{"__type": "<Code>", "message": ...}``.
- query: ``<ErrorResponse><Error><Type>Sender</Type><Code/><Message/></Error><RequestId/></ErrorResponse>``.
- ec2: ``<Response><Errors><Error><Code/><Message/></Error></Errors><RequestID/></Response>``.

The code and status of a LambentError come from its service's table in :mod:`lambent.api.envelopes`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

from lambent import errors as e
from lambent.api.envelopes import shape_for

Wire = tuple[int, dict[str, str], bytes]


@dataclass(frozen=True)
class WireError:
    code: str
    message: str
    status: int
    #: Extra members of a JSON error body (``Reason`` of a throttle).
    extra: dict[str, str] = field(default_factory=dict)
    message_key: str | None = None
    #: rest-json: the body carries ``Type`` (see :attr:`lambent.api.envelopes.ErrorShape.typed`).
    typed: bool = True


def from_exception(exc: e.LambentError, service: str = "lambda") -> WireError:
    """``exc`` as ``service`` answers it (code, status, message key, modelled extra members)."""
    shape = shape_for(exc, service)
    extra = {"Reason": exc.reason} if shape.reason and isinstance(exc, e.TooManyRequests) else {}
    return WireError(shape.code, exc.message, shape.status, extra, shape.message_key, shape.typed)


def rest_json(err: WireError, request_id: str, message_key: str) -> Wire:
    body: dict[str, str] = {"Type": "Service" if err.status >= 500 else "User"} if err.typed else {}
    body[message_key] = err.message
    body.update(err.extra)
    headers = {
        "x-amzn-ErrorType": err.code,
        "x-amzn-RequestId": request_id,
        "Content-Type": "application/json",
    }
    return err.status, headers, json.dumps(body).encode()


def json_protocol(err: WireError, request_id: str, json_version: str) -> Wire:
    body = {"__type": err.code, "message": err.message, **err.extra}
    headers = {"x-amzn-RequestId": request_id, "Content-Type": f"application/x-amz-json-{json_version}"}
    return err.status, headers, json.dumps(body).encode()


def query(err: WireError, request_id: str, namespace: str | None) -> Wire:
    fault = "Receiver" if err.status >= 500 else "Sender"
    xmlns = f' xmlns="{escape(namespace)}"' if namespace else ""
    body = (
        f"<ErrorResponse{xmlns}><Error><Type>{fault}</Type><Code>{escape(err.code)}</Code>"
        f"<Message>{escape(err.message)}</Message></Error><RequestId>{escape(request_id)}</RequestId></ErrorResponse>"
    )
    return err.status, {"x-amzn-RequestId": request_id, "Content-Type": "text/xml"}, body.encode()


def ec2(err: WireError, request_id: str) -> Wire:
    body = (
        f"<Response><Errors><Error><Code>{escape(err.code)}</Code><Message>{escape(err.message)}</Message>"
        f"</Error></Errors><RequestID>{escape(request_id)}</RequestID></Response>"
    )
    return err.status, {"Content-Type": "text/xml;charset=UTF-8"}, body.encode()
