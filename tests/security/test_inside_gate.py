"""lambent's API inside a VPC function's sandbox answers only while its VPC can reach it (an
endpoint or a NAT gateway): a shut gate closes each connection as it is accepted, unread, and
aborts the ones already open within GATE_CHECK_S; an open gate serves as before
(lambent/api/inside.py). The attacker is the function: it cannot talk its way past a shut gate
nor keep a connection it opened while the gate was open."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator

import pytest
import uvicorn
from starlette.types import Receive, Scope, Send
from uvicorn.server import ServerState

from lambent.api.inside import InsideApi, InsideListener
from lambent.api.listener import ConnectionGuard, protocol_class
from lambent.settings import HttpSettings

SETTINGS = HttpSettings(head_timeout_s=0.5, body_grace_s=0.5, max_headers=10)


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


@pytest.fixture
def inside() -> Iterator[InsideApi]:
    config = uvicorn.Config(app, interface="asgi3", http=protocol_class(ConnectionGuard(SETTINGS, 10_000), 1 << 20),
                            ws="none", lifespan="off", loop="asyncio", access_log=False, timeout_keep_alive=120)
    config.load()
    yield InsideApi(config, ServerState(), max_connections=4, listen_backlog=64)


class Gate:
    def __init__(self) -> None:
        self.open = False
        self.asked = 0

    def __call__(self) -> bool:
        self.asked += 1
        return self.open


@pytest.fixture
async def gated(inside: InsideApi, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[InsideListener, int, Gate]]:
    monkeypatch.setattr(InsideListener, "GATE_CHECK_S", 0.05)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    gate = Gate()
    listener = await inside.serve(sock, "vpc-env", gate=gate)
    yield listener, sock.getsockname()[1], gate
    listener.close()


async def _request(port: int, keep_alive: bool = False) -> tuple[bytes, asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET / HTTP/1.1\r\nhost: x\r\n" + (b"" if keep_alive else b"connection: close\r\n") + b"\r\n")
    data = await asyncio.wait_for(reader.readuntil(b"ok") if keep_alive else reader.read(), 5)
    return data, reader, writer


async def test_a_shut_gate_closes_every_connection_unanswered(gated: tuple[InsideListener, int, Gate]) -> None:
    listener, port, gate = gated
    for _ in range(20):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        try:
            data = await asyncio.wait_for(reader.read(), 5)
        except ConnectionResetError:
            data = b""
        writer.close()
        assert data == b""  # not a byte of lambent's API
    assert listener.refused == 20
    assert listener.connections == 0


async def test_an_open_gate_serves_and_a_shut_one_aborts_what_is_open(gated: tuple[InsideListener, int, Gate]) -> None:
    listener, port, gate = gated
    gate.open = True
    data, reader, writer = await _request(port, keep_alive=True)
    assert data.startswith(b"HTTP/1.1 200")
    assert listener.connections == 1
    # the VPC loses its endpoint: the kept-alive connection goes within a check or two
    gate.open = False
    try:
        rest = await asyncio.wait_for(reader.read(), 5)
    except ConnectionResetError:
        rest = b""
    assert rest == b""
    writer.close()
    assert listener.connections == 0
    # and a new endpoint lets new connections through again
    gate.open = True
    again, _, w = await _request(port)
    assert again.startswith(b"HTTP/1.1 200")
    w.close()


async def test_a_gate_that_raises_is_shut(inside: InsideApi) -> None:
    def broken() -> bool:
        raise RuntimeError("vpc model gone")

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    listener = await inside.serve(sock, "broken", gate=broken)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", sock.getsockname()[1])
        writer.write(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        try:
            data = await asyncio.wait_for(reader.read(), 5)
        except ConnectionResetError:
            data = b""
        writer.close()
        assert data == b""
        assert listener.refused == 1
    finally:
        listener.close()


async def test_closing_stops_the_gate_checks(gated: tuple[InsideListener, int, Gate]) -> None:
    listener, _, gate = gated
    await asyncio.sleep(0.2)
    listener.close()
    asked = gate.asked
    await asyncio.sleep(0.2)
    assert gate.asked == asked
