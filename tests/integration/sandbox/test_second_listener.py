"""lambent's API inside a real sandbox (``SandboxOptions.extra_listen_ports`` + ``lambent.api.inside``):
the sandbox reaches the host-served listener at 127.0.0.1:9002 and nothing else; the server holds
at most the environment's cap of descriptors however many connections the function opens; every
connection goes when the listener is closed."""

from __future__ import annotations

import asyncio
import errno
import json
import os
import socket
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
import uvicorn
from starlette.types import Receive, Scope, Send
from uvicorn.server import ServerState

from lambent.api.inside import InsideApi
from lambent.api.listener import ConnectionGuard, protocol_class
from lambent.sandbox import Sandbox, SandboxOptions
from lambent.settings import HttpSettings

if TYPE_CHECKING:
    from conftest import SandboxKit

PORT = 9002
CAP = 4


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """Says who it served, as the server's real app would see it."""
    body = json.dumps({"path": scope["path"], "client": scope["client"][0], "server": list(scope["server"])}).encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture
def inside() -> Iterator[InsideApi]:
    config = uvicorn.Config(
        app,
        interface="asgi3",
        http=protocol_class(ConnectionGuard(HttpSettings(), 10_000), 1 << 20),
        ws="none",
        lifespan="off",
        loop="asyncio",
        access_log=False,
    )
    config.load()
    yield InsideApi(config, ServerState(), max_connections=CAP, listen_backlog=1024)


async def _start(kit: SandboxKit, code: str) -> Sandbox:
    """A sandbox running ``code`` with the second listener (destroyed with the kit's)."""
    spec = kit.spec(("/usr/bin/python3.11", "-c", code))
    sandbox = await Sandbox.start(spec, kit.cgroups, SandboxOptions(extra_listen_ports=(PORT,)))
    kit.started.append(sandbox)
    return sandbox


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def _gate(sandbox: Sandbox) -> socket.socket:
    """Accept the sandbox's connection to its 9001 listener (it waits there for a go)."""
    assert sandbox.listener is not None
    conn, _ = await asyncio.wait_for(asyncio.get_running_loop().sock_accept(sandbox.listener), 20)
    return conn


async def test_the_sandbox_reaches_the_inside_api_and_nothing_else(kit: SandboxKit, inside: InsideApi) -> None:
    # Given a listener of the host's own (as the public API's), on the host's loopback
    public = socket.socket()
    public.bind(("127.0.0.1", 0))
    public.listen()
    host_port = public.getsockname()[1]
    code = (
        "import http.client, json, socket\n"
        f"c = http.client.HTTPConnection('127.0.0.1', {PORT}, timeout=10)\n"
        "c.request('GET', '/2015-03-31/functions')\n"
        "r = c.getresponse()\n"
        "print(r.status, r.read().decode())\n"
        f"for addr in (('127.0.0.1', {host_port}), ('127.0.0.1', 9003), ('1.1.1.1', 443)):\n"
        "    try:\n"
        "        socket.create_connection(addr, timeout=2)\n"
        "        print('connected')\n"
        "    except OSError as e:\n"
        "        print(e.errno)\n"
        "for host in ('127.0.0.1', '0.0.0.0'):\n"
        "    s = socket.socket()\n"
        "    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
        "    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)\n"
        "    try:\n"
        f"        s.bind((host, {PORT})); s.listen(); print('bound')\n"
        "    except OSError as e:\n"
        "        print(e.errno)\n"
    )
    try:
        # When a sandbox gets the second listener and the host serves it
        sandbox = await _start(kit, code)
        assert len(sandbox.extra_listeners) == 1
        assert sandbox.extra_listeners[0].getsockname() == ("127.0.0.1", PORT)
        served = await inside.serve(sandbox.extra_listeners[0], sandbox.sandbox_id)
        out = await kit.output(sandbox, 30)
        served.close()
    finally:
        public.close()
    lines = out.strip().split("\n")
    # Then the request reached the app over the sandbox's own loopback
    status, body = lines[0].split(" ", 1)
    assert status == "200", out
    assert json.loads(body) == {"path": "/2015-03-31/functions", "client": "127.0.0.1", "server": ["127.0.0.1", PORT]}
    # and nothing else answers: not the host's listener, no other port, no route out
    assert lines[1:4] == [str(errno.ECONNREFUSED), str(errno.ECONNREFUSED), str(errno.ENETUNREACH)]
    # and the function cannot take the port over (the host's socket was there before it ran)
    assert lines[4:] == [str(errno.EADDRINUSE), str(errno.EADDRINUSE)]


async def test_the_inside_listener_is_not_reachable_from_the_host_or_another_sandbox(kit: SandboxKit, inside: InsideApi) -> None:
    # Given one sandbox with the inside listener, served
    a = await _start(kit, "import signal; signal.pause()")
    served = await inside.serve(a.extra_listeners[0], a.sandbox_id)
    try:
        # When another sandbox (without one) and the host try 127.0.0.1:9002
        out, status = await kit.run(
            (
                "/usr/bin/python3.11",
                "-c",
                "import socket\n"
                "try:\n"
                f"    socket.create_connection(('127.0.0.1', {PORT}), timeout=2); print('connected')\n"
                "except OSError as e:\n"
                "    print(e.errno)\n",
            )
        )
        assert out.strip() == str(errno.ECONNREFUSED)
        try:
            with socket.create_connection(("127.0.0.1", PORT), timeout=1):
                pass
        except OSError:
            pass
        await asyncio.sleep(0)
        # Then neither ever reached it
        assert served.guard.peak == 0 and served.connections == 0
    finally:
        served.close()


async def test_a_function_opening_thousands_of_connections_costs_the_server_at_most_its_cap(
    kit: SandboxKit, inside: InsideApi
) -> None:
    code = (
        "import socket\n"
        "gate = socket.create_connection(('127.0.0.1', 9001), timeout=30)\n"
        "assert gate.recv(1) == b'g'\n"
        "held = []\n"
        "for _ in range(1000):\n"
        f"    held.append(socket.create_connection(('127.0.0.1', {PORT}), timeout=30))\n"
        "print('held', len(held), flush=True)\n"
        "assert gate.recv(1) == b'g'\n"
        "for s in held:\n"
        "    s.close()\n"
        "failed = 0\n"
        "for _ in range(10000):\n"
        "    try:\n"
        f"        socket.create_connection(('127.0.0.1', {PORT}), timeout=30).close()\n"
        "    except OSError:\n"
        "        failed += 1\n"
        "print('done', failed, flush=True)\n"
        "gate.recv(1)\n"
    )
    sandbox = await _start(kit, code)
    served = await inside.serve(sandbox.extra_listeners[0], sandbox.sandbox_id)
    gate = await _gate(sandbox)
    loop = asyncio.get_running_loop()
    baseline = _fds()
    sampler = _Sampler(loop, baseline)
    try:
        # When the function holds 1000 connections open
        await loop.sock_sendall(gate, b"g")
        await kit.read_until(sandbox, "held 1000", 60)
        # Then the server holds at most its cap of them (each new one took an older one's place)
        assert served.connections <= CAP - 1  # the last descriptor is for the one being admitted
        assert _fds() - baseline <= CAP
        # And when it then opens and closes 10,000 more
        await loop.sock_sendall(gate, b"g")
        text = await kit.read_until(sandbox, "done", 120)
        assert "done 0" in text, text
        # Then the environment never held more than its cap, at any moment sampled
        assert served.guard.peak <= CAP - 1
        assert served.guard.evicted > 0  # the cap was reached, and older connections made way
        assert sampler.samples > 10 and sampler.worst <= CAP
    finally:
        sampler.stop()
        served.close()
        gate.close()
    # and closing the listener released every connection it held
    assert served.connections == 0 and not served.guard.live
    assert _fds() - baseline <= 0


class _Sampler:
    """Counts the server's descriptors every 10 ms (the loop's timer, not a sleep in the test)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, baseline: int) -> None:
        self.loop, self.baseline = loop, baseline
        self.worst = 0
        self.samples = 0
        self._timer = loop.call_later(0.01, self._sample)

    def _sample(self) -> None:
        self.samples += 1
        self.worst = max(self.worst, _fds() - self.baseline)
        self._timer = self.loop.call_later(0.01, self._sample)

    def stop(self) -> None:
        self._timer.cancel()


async def test_closing_aborts_the_environments_connections(kit: SandboxKit, inside: InsideApi) -> None:
    # The function reads the whole answer (head and chunked body come in separate segments: one
    # recv may get the head alone) before it waits on the kept-alive connection for the close.
    code = (
        "import http.client\n"
        f"c = http.client.HTTPConnection('127.0.0.1', {PORT}, timeout=30)\n"
        "c.request('GET', '/')\n"
        "r = c.getresponse()\n"
        "body = r.read()\n"
        "print('answered', r.status, len(body), flush=True)\n"
        "try:\n"
        "    rest = c.sock.recv(65536)\n"
        "    print('closed', len(rest), flush=True)\n"
        "except OSError as exc:\n"  # an abort resets the connection
        "    print('Error', type(exc).__name__, flush=True)\n"
    )
    sandbox = await _start(kit, code)
    served = await inside.serve(sandbox.extra_listeners[0], sandbox.sandbox_id)
    seen = await kit.read_until(sandbox, "answered 200", 30)
    # The whole answer came, and the connection is still open (kept alive, idle between requests)
    assert seen.strip() == "answered 200 67", seen
    assert served.connections == 1
    # When the environment goes
    served.close()
    # Then its connection is cut (EOF or reset inside), and nothing is left counted
    out = await kit.output(sandbox, 30)
    assert "closed 0" in out or "Error" in out, out
    assert served.connections == 0
