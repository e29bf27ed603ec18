"""What one environment's runtime can make the server hold through its Runtime API: connections,
the listen backlog, request heads and request bodies (issue 8, breaks 4 and 5)."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import time
from collections.abc import AsyncIterator

import pytest
from rapi_client import RawClient, Server, eventually, request_bytes, within

from lambent.runtime_api import Invocation, InvocationResult, RuntimeApiEndpoint
from lambent.runtime_api.budget import LargeBodySlot
from lambent.settings import RuntimeApiSettings

ARN = "arn:aws:lambda:us-east-1:123456789012:function:f"
MB = 1024 * 1024
LIMIT = 6291556


def make_inv(request_id: str = "req-1") -> Invocation:
    return Invocation(request_id, b"{}", int(time.time() * 1000) + 3000, ARN)


@pytest.fixture
async def capped() -> AsyncIterator[Server]:
    """An endpoint whose environment may hold 4 connections."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.setblocking(False)
    endpoint = RuntimeApiEndpoint(sock, RuntimeApiSettings(max_connections=4))
    await endpoint.start()
    srv = Server(endpoint, sock.getsockname()[1], [])
    try:
        yield srv
    finally:
        await endpoint.close()
        for client in srv.clients:
            await client.close()


async def closed_at_once(client: RawClient) -> bool:
    try:
        return await asyncio.wait_for(client.reader.read(), 2.0) == b""
    except ConnectionResetError:
        return True


async def parked(server: Server) -> tuple[RawClient, asyncio.Task[object]]:
    client = await server.connect()
    await client.send(request_bytes("GET", "/invocation/next"))
    await within(server.endpoint.wait_ready())
    await eventually(lambda: server.endpoint.idle, "runtime parked in /next")
    return client, asyncio.create_task(client.response())


def post_head(request_id: str, length: int) -> bytes:
    return (
        f"POST /2018-06-01/runtime/invocation/{request_id}/response HTTP/1.1\r\n"
        f"Host: 127.0.0.1:9001\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


async def test_connections_over_the_cap_are_closed_at_accept(capped: Server) -> None:
    # Given a runtime parked in /next on one of its 4 allowed connections, and 3 more open
    runtime, next_answer = await parked(capped)
    others = [await capped.connect() for _ in range(3)]
    await eventually(lambda: capped.endpoint.connections == 4, "4 connections counted")
    # When it opens 20 more
    flood = [await capped.connect() for _ in range(20)]
    # Then each is closed by the server at once, counted as refused, and holds nothing
    assert all([await closed_at_once(c) for c in flood])
    assert capped.endpoint.refused_connections == 20
    assert capped.endpoint.connections == 4
    # and the connections it already had keep working
    invoke = asyncio.create_task(capped.endpoint.invoke(make_inv()))
    await within(next_answer)
    assert (await runtime.request("POST", "/invocation/req-1/response", b"1")).status == 202
    assert await within(invoke) == InvocationResult("req-1", True, b"1", None)
    # and a connection closed makes room for a new one
    await others[0].close()
    await eventually(lambda: capped.endpoint.connections == 3, "closed connection uncounted")
    again = await capped.connect()
    invoke2 = asyncio.create_task(capped.endpoint.invoke(make_inv("req-2")))
    got = await again.request("GET", "/invocation/next")
    assert got.headers["lambda-runtime-aws-request-id"] == "req-2"
    assert (await again.request("POST", "/invocation/req-2/response", b"2")).status == 202
    assert (await within(invoke2)).ok  # type: ignore[attr-defined]


async def test_listen_backlog_is_small() -> None:
    # Given an endpoint on a socket created with a large backlog
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.setblocking(False)
    port = sock.getsockname()[1]
    endpoint = RuntimeApiEndpoint(sock)
    try:
        # When it starts serving
        await endpoint.start()
        # Then the socket listens with the configured backlog (ss: Send-Q of a listener)
        out = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True, check=True).stdout
        assert out.split()[2] == str(RuntimeApiSettings().listen_backlog), out
    finally:
        await endpoint.close()


async def test_too_many_headers_are_refused_with_431(server: Server) -> None:
    client = await server.connect()
    headers = {f"X-H{i}": "v" for i in range(70)}
    await client.send(request_bytes("GET", "/invocation/next", headers=headers))
    reply = await client.response()
    assert reply.status == 431 and reply.body == b""
    assert await client.closed_by_server()


async def test_a_second_large_body_waits_unread_while_one_is_in_flight(server: Server) -> None:
    # Given an invocation in flight and a connection half-way through a 6 MB post
    runtime, next_answer = await parked(server)
    invoke = asyncio.create_task(server.endpoint.invoke(make_inv()))
    await within(next_answer)
    first = await server.connect()
    first.writer.write(post_head("req-1", LIMIT) + b"a" * (3 * MB))
    await eventually(lambda: server.endpoint.buffered_bytes >= 3 * MB, "first body buffered")
    # When 5 more connections each start a 6 MB post and push 2 MB of it
    more = [await server.connect() for _ in range(5)]
    for client in more:
        client.writer.write(post_head("req-1", LIMIT) + b"b" * (2 * MB))
    await asyncio.sleep(0.5)
    # Then the server holds the first body and at most a read's worth of each other one
    held = server.endpoint.buffered_bytes
    assert held <= 3 * MB + 5 * 320 * 1024, held
    # and the runtime's own small response still completes the invocation
    assert (await runtime.request("POST", "/invocation/req-1/response", b'{"ok":1}')).status == 202
    assert (await within(invoke)).body == b'{"ok":1}'  # type: ignore[attr-defined]
    # and the partial bodies, which can answer nothing now, are let go
    await eventually(lambda: server.endpoint.buffered_bytes == 0, "partial bodies dropped")
    # and when the first one is finished, it is refused on its request line, as before
    first.writer.write(b"a" * (LIMIT - 3 * MB))
    reply = await first.response()
    assert reply.status == 403
    assert reply.json() == {
        "errorMessage": "State transition from RuntimeResponseSentState to InvocationResponse failed "
        "for runtime. Error: State transition is not allowed",
        "errorType": "InvalidStateTransition",
    }
    assert server.endpoint.buffered_bytes == 0


async def test_the_waiting_body_is_read_once_the_slot_is_free(server: Server) -> None:
    # Given a connection holding the large-body slot with a partial post, and another waiting
    _, next_answer = await parked(server)
    invoke = asyncio.create_task(server.endpoint.invoke(make_inv()))
    await within(next_answer)
    hog = await server.connect()
    hog.writer.write(post_head("req-1", LIMIT) + b"a" * (2 * MB))
    await eventually(lambda: server.endpoint.buffered_bytes >= 2 * MB, "hog buffered")
    runtime = await server.connect()
    body = bytes(range(256)) * (4 * MB // 256)
    runtime.writer.write(post_head("req-1", len(body)) + body)
    await asyncio.sleep(0.3)
    assert not invoke.done()
    # When the hog's connection closes
    await hog.close()
    # Then its bytes are released and the waiting body is read whole and accepted
    reply = await runtime.response()
    assert reply.status == 202
    assert (await within(invoke)).body == body  # type: ignore[attr-defined]
    assert server.endpoint.buffered_bytes == 0


async def test_a_6_mb_response_alone_is_accepted_intact(server: Server) -> None:
    client, next_answer = await parked(server)
    invoke = asyncio.create_task(server.endpoint.invoke(make_inv()))
    await within(next_answer)
    body = bytes(range(256)) * (LIMIT // 256)
    assert (await client.request("POST", "/invocation/req-1/response", body)).status == 202
    assert (await within(invoke)).body == body  # type: ignore[attr-defined]


async def test_closing_the_endpoint_drops_partial_bodies(server: Server) -> None:
    _, next_answer = await parked(server)
    invoke = asyncio.create_task(server.endpoint.invoke(make_inv()))
    await within(next_answer)
    hog = await server.connect()
    hog.writer.write(post_head("req-1", LIMIT) + b"a" * (2 * MB))
    await eventually(lambda: server.endpoint.buffered_bytes >= 2 * MB, "hog buffered")
    await server.endpoint.close()
    assert server.endpoint.buffered_bytes == 0
    invoke.cancel()


class Reader:
    def __init__(self, name: str) -> None:
        self.name = name
        self.closed = False
        self.granted = 0
        self.slot: LargeBodySlot | None = None

    def slot_granted(self) -> None:
        self.granted += 1

    def drop_body(self) -> int:
        assert self.slot is not None
        self.slot.release(self)
        return 10


def test_slot_is_granted_in_order_skipping_closed_waiters() -> None:
    slot = LargeBodySlot()
    a, b, c = Reader("a"), Reader("b"), Reader("c")
    for r in (a, b, c):
        r.slot = slot
    assert slot.claim(a) and slot.claim(a)
    assert not slot.claim(b) and not slot.claim(c) and not slot.claim(b)
    b.closed = True
    slot.release(a)
    assert slot.holder is c and c.granted == 1 and b.granted == 0
    slot.release(c)
    assert slot.holder is None and not slot.active


def test_drop_all_empties_the_slot() -> None:
    slot = LargeBodySlot()
    readers = [Reader(n) for n in "abc"]
    for r in readers:
        r.slot = slot
        slot.claim(r)
    assert slot.drop_all() == 30
    assert not slot.active


async def test_a_header_that_never_ends_is_refused_after_the_head_limit(server: Server) -> None:
    # Given a request whose one header value goes on and on (httptools keeps an unfinished
    # header until it ends, so counting complete headers alone would never stop it)
    client = await server.connect()
    await client.send(b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nX-Big: ")
    # When 70 KB of it arrive, in two reads, without its end
    await client.send(b"a" * 40_000)
    await asyncio.sleep(0.1)
    await client.send(b"a" * 30_000)
    # Then the server answers 431 and closes, rather than keep accumulating it
    reply = await client.response()
    assert reply.status == 431 and reply.body == b""
    assert await client.closed_by_server()


async def test_a_request_line_that_never_ends_is_refused_after_the_head_limit(server: Server) -> None:
    client = await server.connect()
    await client.send(b"GET /2018-06-01/runtime/" + b"a" * 100_000)
    assert (await client.response()).status == 431
    assert await client.closed_by_server()


async def test_heads_just_under_the_limit_over_many_requests_are_served(server: Server) -> None:
    # Keep-alive requests with 60 KB heads each: the count starts again with every request
    client, next_answer = await parked(server)
    invoke = asyncio.create_task(server.endpoint.invoke(make_inv()))
    await within(next_answer)
    head = {"X-Pad": "p" * 60_000}
    for _ in range(3):
        reply = await client.request("POST", "/invocation/other/response", b"{}", head)
        assert reply.status == 400
    assert (await client.request("POST", "/invocation/req-1/response", b"1", head)).status == 202
    assert (await within(invoke)).body == b"1"  # type: ignore[attr-defined]
