"""Routing of Runtime API request lines and rendering of its responses."""

from __future__ import annotations

import pytest

from lambent.runtime_api import Invocation
from lambent.runtime_api.protocol import ACCEPTED
from lambent.runtime_api.wire import Route, render_invocation_head, render_reply, route


@pytest.mark.parametrize(
    ("method", "url", "expected"),
    [
        (b"GET", b"/2018-06-01/runtime/invocation/next", (Route.NEXT, "")),
        (b"GET", b"/2018-06-01/runtime/invocation/next?x=1", (Route.NEXT, "")),
        (b"POST", b"/2018-06-01/runtime/invocation/abc-1/response", (Route.RESPONSE, "abc-1")),
        (b"POST", b"/2018-06-01/runtime/invocation/abc-1/error", (Route.ERROR, "abc-1")),
        (b"POST", b"/2018-06-01/runtime/invocation/a%2Db/response", (Route.RESPONSE, "a-b")),
        (b"POST", b"/2018-06-01/runtime/init/error", (Route.INIT_ERROR, "")),
        (b"POST", b"/2018-06-01/runtime/invocation/next", (Route.METHOD_NOT_ALLOWED, "")),
        (b"GET", b"/2018-06-01/runtime/invocation/abc/response", (Route.METHOD_NOT_ALLOWED, "")),
        (b"GET", b"/2018-06-01/runtime/init/error", (Route.METHOD_NOT_ALLOWED, "")),
        (b"POST", b"/2018-06-01/runtime/invocation/a/b/response", (Route.NOT_FOUND, "")),
        (b"POST", b"/2018-06-01/runtime/invocation//response", (Route.NOT_FOUND, "")),
        (b"POST", b"/2018-06-01/runtime/invocation/abc/other", (Route.NOT_FOUND, "")),
        (b"GET", b"/2020-01-01/runtime/invocation/next", (Route.NOT_FOUND, "")),
        (b"GET", b"/", (Route.NOT_FOUND, "")),
    ],
)
def test_route(method: bytes, url: bytes, expected: tuple[Route, str]) -> None:
    assert route(method, url) == expected


def test_invocation_head_has_exactly_the_aws_headers_in_order() -> None:
    inv = Invocation(
        "rid", b"{}", 1234, "arn:x", trace_id="Root=1-a", client_context='{"c":1}', cognito_identity='{"i":2}'
    )
    assert render_invocation_head(inv, keep_alive=True) == (
        b"HTTP/1.1 200 OK\r\n"
        b"Content-Type: application/json\r\n"
        b"Lambda-Runtime-Aws-Request-Id: rid\r\n"
        b"Lambda-Runtime-Deadline-Ms: 1234\r\n"
        b"Lambda-Runtime-Invoked-Function-Arn: arn:x\r\n"
        b"Lambda-Runtime-Trace-Id: Root=1-a\r\n"
        b'Lambda-Runtime-Client-Context: {"c":1}\r\n'
        b'Lambda-Runtime-Cognito-Identity: {"i":2}\r\n'
        b"Content-Length: 2\r\n\r\n"
    )


def test_invocation_head_omits_unset_optional_headers_and_can_close() -> None:
    head = render_invocation_head(Invocation("rid", b"", 1, "arn"), keep_alive=False)
    assert b"Trace-Id" not in head and b"Client-Context" not in head and b"Cognito" not in head
    assert head.endswith(b"Content-Length: 0\r\nConnection: close\r\n\r\n")


def test_reply_is_json_with_length() -> None:
    assert render_reply(ACCEPTED, keep_alive=True) == (
        b"HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n"
        b'{"status":"OK"}'
    )
