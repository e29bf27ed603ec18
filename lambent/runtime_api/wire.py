"""Runtime API wire format: routing request lines and rendering responses. Pure functions.

Paths and headers are those of the Runtime API 2018-06-01
(https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html). Responses are rendered straight
to bytes because this is the hot path of every invocation.
"""

from __future__ import annotations

from enum import Enum
from urllib.parse import unquote_to_bytes

from lambent.runtime_api.models import Invocation
from lambent.runtime_api.protocol import Reply

API_PREFIX = b"/2018-06-01/runtime/"
ERROR_TYPE_HEADER = b"lambda-runtime-function-error-type"


class Route(Enum):
    NEXT = "GET /runtime/invocation/next"
    RESPONSE = "POST /runtime/invocation/{id}/response"
    ERROR = "POST /runtime/invocation/{id}/error"
    INIT_ERROR = "POST /runtime/init/error"
    NOT_FOUND = "unknown path"
    METHOD_NOT_ALLOWED = "known path, wrong method"


_INVOCATION = b"invocation/"
_EXACT = {
    (b"GET", API_PREFIX + b"invocation/next"): (Route.NEXT, ""),
    (b"POST", API_PREFIX + b"init/error"): (Route.INIT_ERROR, ""),
}


def route(method: bytes, url: bytes) -> tuple[Route, str]:
    """Map a request line to a route and, for /response and /error, the request id."""
    exact = _EXACT.get((method, url))  # the hot path: /next, as every runtime sends it
    if exact is not None:
        return exact
    path = url.split(b"?", 1)[0]
    if not path.startswith(API_PREFIX):
        return Route.NOT_FOUND, ""
    rest = path[len(API_PREFIX) :]
    if rest == b"invocation/next":
        return (Route.NEXT if method == b"GET" else Route.METHOD_NOT_ALLOWED), ""
    if rest == b"init/error":
        return (Route.INIT_ERROR if method == b"POST" else Route.METHOD_NOT_ALLOWED), ""
    if rest.startswith(_INVOCATION):
        raw_id, _, action = rest[len(_INVOCATION) :].rpartition(b"/")
        if raw_id and b"/" not in raw_id and action in (b"response", b"error"):
            if method != b"POST":
                return Route.METHOD_NOT_ALLOWED, ""
            if b"%" in raw_id:  # the Node.js client encodeURIComponent()s the id
                raw_id = unquote_to_bytes(raw_id)
            request_id = raw_id.decode("utf-8", "replace")
            return (Route.RESPONSE if action == b"response" else Route.ERROR), request_id
    return Route.NOT_FOUND, ""


_STATUS_LINES = {
    200: b"HTTP/1.1 200 OK\r\n",
    202: b"HTTP/1.1 202 Accepted\r\n",
    400: b"HTTP/1.1 400 Bad Request\r\n",
    403: b"HTTP/1.1 403 Forbidden\r\n",
    404: b"HTTP/1.1 404 Not Found\r\n",
    405: b"HTTP/1.1 405 Method Not Allowed\r\n",
    413: b"HTTP/1.1 413 Request Entity Too Large\r\n",
    431: b"HTTP/1.1 431 Request Header Fields Too Large\r\n",
    500: b"HTTP/1.1 500 Internal Server Error\r\n",
}
_CLOSE = b"Connection: close\r\n"


def render_reply(reply: Reply, keep_alive: bool) -> bytes:
    """A complete JSON response for the runtime."""
    return b"%sContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n%s" % (
        _STATUS_LINES[reply.status],
        len(reply.body),
        b"" if keep_alive else _CLOSE,
        reply.body,
    )


def render_plain(status: int, text: bytes, keep_alive: bool) -> bytes:
    """A text/plain response, for paths outside the Runtime API (as Go's router answers them)."""
    return b"%sContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\n%s\r\n%s" % (
        _STATUS_LINES[status],
        len(text),
        b"" if keep_alive else _CLOSE,
        text,
    )


def render_invocation_head(inv: Invocation, keep_alive: bool) -> bytes:
    """Status line and headers answering /next; the payload follows as the body.

    Header set and names as https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html#runtimes-api-next
    lists them; optional ones are omitted when unset, as RIE's renderInvokeHeaders does.
    """
    parts = [
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nLambda-Runtime-Aws-Request-Id: ",
        inv.request_id.encode(),
        b"\r\nLambda-Runtime-Deadline-Ms: %d\r\nLambda-Runtime-Invoked-Function-Arn: "
        % inv.deadline_ms,
        inv.invoked_function_arn.encode(),
    ]
    if inv.trace_id:
        parts += (b"\r\nLambda-Runtime-Trace-Id: ", inv.trace_id.encode())
    if inv.client_context:
        parts += (b"\r\nLambda-Runtime-Client-Context: ", inv.client_context.encode())
    if inv.cognito_identity:
        parts += (b"\r\nLambda-Runtime-Cognito-Identity: ", inv.cognito_identity.encode())
    parts.append(b"\r\nContent-Length: %d\r\n%s\r\n" % (len(inv.payload), b"" if keep_alive else _CLOSE))
    return b"".join(parts)
