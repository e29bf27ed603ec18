"""lambent's API inside a sandbox (lambent/api/inside.py) attacked by the function code it serves.

Each test plays a hostile function on one environment's inside listener (a loopback socket here;
tests/integration/sandbox/test_second_listener.py has the real sandbox) and asserts the bound:
a flood costs the server at most the environment's cap and never another environment's
connections; slow or oversized heads meet the public listener's deadlines and limits (the same
protocol class); a listener without lambent's guarded protocol is never served; a destroyed
environment's listener accepts nothing more.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator, Iterator

import pytest
import uvicorn
from starlette.types import Receive, Scope, Send
from uvicorn.server import ServerState

from lambent.api.inside import InsideApi, InsideGuard, InsideListener
from lambent.api.listener import ConnectionGuard, protocol_class
from lambent.settings import HttpSettings

CAP = 4
SETTINGS = HttpSettings(head_timeout_s=0.5, body_grace_s=0.5, max_headers=10)


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


def _config(http: object) -> uvicorn.Config:
    config = uvicorn.Config(app, interface="asgi3", http=http, ws="none", lifespan="off",  # type: ignore[arg-type]
                            loop="asyncio", access_log=False, timeout_keep_alive=120)
    config.load()
    return config


@pytest.fixture
def inside() -> Iterator[InsideApi]:
    yield InsideApi(_config(protocol_class(ConnectionGuard(SETTINGS, 10_000), 1 << 20)), ServerState(),
                    max_connections=CAP, listen_backlog=1024)


def _listening() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


@pytest.fixture
async def envs(inside: InsideApi) -> AsyncIterator[list[tuple[InsideListener, int]]]:
    made: list[tuple[InsideListener, int]] = []
    for i in range(2):
        sock = _listening()
        port = sock.getsockname()[1]
        made.append((await inside.serve(sock, f"env-{i}"), port))
    yield made
    for listener, _ in made:
        listener.close()


async def _get(port: int) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
    data = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    return data


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def test_a_flood_costs_its_cap_and_never_another_environments_connections(
    envs: list[tuple[InsideListener, int]],
) -> None:
    (a, a_port), (b, b_port) = envs
    # Given environment B holding a keep-alive connection it has used
    b_reader, b_writer = await asyncio.open_connection("127.0.0.1", b_port)
    b_writer.write(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
    assert (await asyncio.wait_for(b_reader.readuntil(b"ok"), 10)).startswith(b"HTTP/1.1 200")
    baseline = _fds()
    # When environment A's function opens 10,000 connections, 500 of them held open
    held: list[socket.socket] = []
    worst = 0
    loop = asyncio.get_running_loop()
    for i in range(10_000):
        s = socket.socket()
        s.setblocking(False)
        await loop.sock_connect(s, ("127.0.0.1", a_port))
        if i < 500:
            held.append(s)
        else:
            s.close()
        if i % 50 == 0:
            await asyncio.sleep(0)  # let the server run as it would under a real flood
            # (our own client sockets are counted out: only the server's side matters)
            worst = max(worst, _fds() - baseline - len(held))
    # Then the server never held more than A's cap of A's connections
    assert worst <= CAP
    assert a.guard.peak <= CAP - 1 and a.connections <= CAP - 1
    assert a.guard.evicted > 0
    # and B's connection was never touched: it still answers
    b_writer.write(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
    assert (await asyncio.wait_for(b_reader.readuntil(b"ok"), 10)).startswith(b"HTTP/1.1 200")
    assert b.connections == 1 and b.guard.evicted == 0
    b_writer.close()
    # and A's own next request is served: the flood evicted A's oldest, it left no phantom count
    assert (await _get(a_port)).startswith(b"HTTP/1.1 200")
    assert a.guard.per_address.get("127.0.0.1", 0) == a.guard.total <= CAP - 1
    for s in held:
        s.close()


async def test_evictions_of_one_address_never_inflate_its_count(envs: list[tuple[InsideListener, int]]) -> None:
    # Regression: ConnectionGuard.admit once counted the newcomer on top of the count it read
    # before evicting a victim of the same address, so each eviction left a phantom connection
    # until the address was refused for ever (the public listener's per-address cap as well).
    listener, port = envs[0]
    writers = []
    for _ in range(20):
        _, w = await asyncio.open_connection("127.0.0.1", port)
        writers.append(w)
    assert (await _get(port)).startswith(b"HTTP/1.1 200")
    assert listener.guard.evicted > 0 and listener.guard.refused == 0
    for w in writers:
        w.close()


async def test_a_slow_head_is_closed_at_the_head_deadline(envs: list[tuple[InsideListener, int]]) -> None:
    listener, port = envs[0]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    # When the function sends half a head and stops
    writer.write(b"GET / HTTP/1.1\r\nhost: x\r\n")
    # Then the server closes the connection (EOF) at the deadline, without an answer
    assert await asyncio.wait_for(reader.read(), 10) == b""
    assert listener.guard.timed_out == 1
    writer.close()


async def test_too_many_headers_get_431_before_the_app(envs: list[tuple[InsideListener, int]]) -> None:
    _, port = envs[0]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET / HTTP/1.1\r\n" + b"".join(b"x-%d: y\r\n" % i for i in range(20)) + b"\r\n")
    answer = await asyncio.wait_for(reader.read(), 10)
    assert answer.startswith(b"HTTP/1.1 431"), answer
    writer.close()


async def test_a_destroyed_environments_listener_accepts_nothing(envs: list[tuple[InsideListener, int]]) -> None:
    listener, port = envs[0]
    assert (await _get(port)).startswith(b"HTTP/1.1 200")
    listener.close()
    listener.close()  # idempotent
    with pytest.raises(ConnectionRefusedError):
        await _get(port)
    assert listener.connections == 0


async def test_close_all_closes_every_environments_listener(
    inside: InsideApi, envs: list[tuple[InsideListener, int]]
) -> None:
    assert inside.listeners == 2
    inside.close_all()
    assert inside.listeners == 0
    for _, port in envs:
        with pytest.raises(ConnectionRefusedError):
            await _get(port)


async def test_an_unguarded_protocol_is_never_served() -> None:
    # uvicorn's own httptools protocol has none of the bounds: refusing it beats serving it
    api = InsideApi(_config("httptools"), ServerState(), max_connections=CAP, listen_backlog=8)
    sock = _listening()
    with pytest.raises(TypeError, match="GuardedHttpToolsProtocol"):
        await api.serve(sock, "env")
    sock.close()


def test_the_cap_counts_the_connection_being_admitted() -> None:
    guard = InsideGuard(SETTINGS, CAP)
    assert guard.max_connections == CAP - 1
    assert guard.settings.max_connections_per_address == CAP
    with pytest.raises(ValueError):
        InsideGuard(SETTINGS, 1)
