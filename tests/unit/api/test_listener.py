"""api/listener.py: the bounded httptools protocol, driven with a fake transport on a real loop."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from uvicorn.config import Config
from uvicorn.server import ServerState

from lambent.api.listener import ConnectionGuard, connection_budget, error_bytes, protocol_class
from lambent.errors import RequestHeaderFieldsTooLarge
from lambent.settings import HttpSettings


class FakeTransport(asyncio.Transport):
    def __init__(self, peer: str) -> None:
        super().__init__()
        self.peer = peer
        self.out = bytearray()
        self.closed = False
        self.eof = False
        self.protocol: Any = None

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": (self.peer, 5000), "sockname": ("127.0.0.1", 9900)}.get(name, default)

    def write(self, data: Any) -> None:
        self.out += data

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            asyncio.get_running_loop().call_soon(self.protocol.connection_lost, None)

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.eof = True

    def abort(self) -> None:
        self.aborted = True
        self.close()


async def app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    if scope["method"] == "POST":  # reads its body, as the API does
        while (await receive()).get("more_body"):
            pass
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


class Harness:
    def __init__(self, **settings: Any) -> None:
        self.settings = HttpSettings(**settings)
        self.guard = ConnectionGuard(self.settings, settings.pop("total", 1000) if "total" in settings else 1000)
        self.cls = protocol_class(self.guard, max_body_bytes=1_000_000)
        self.config = Config(app=app, http=self.cls, lifespan="off")
        self.config.load()
        self.state = ServerState()

    def connect(self, peer: str = "127.0.0.2") -> tuple[Any, FakeTransport]:
        proto = self.cls(config=self.config, server_state=self.state, app_state={}, _loop=asyncio.get_running_loop())
        transport = FakeTransport(peer)
        transport.protocol = proto
        proto.connection_made(transport)
        return proto, transport


def status_of(out: bytes) -> int:
    return int(out.split(b" ", 2)[1])


def test_connection_budget_keeps_the_reserve() -> None:
    s = HttpSettings()
    assert connection_budget(20_000, s) == 20_000 - 4096
    assert connection_budget(1024, s) == 512  # the reserve is at most half
    assert connection_budget(20_000, HttpSettings(max_connections=100)) == 100
    assert connection_budget(2000, HttpSettings(max_connections=100_000)) == 1000  # never above the budget


def test_error_bytes_is_a_complete_aws_response() -> None:
    raw = error_bytes(RequestHeaderFieldsTooLarge("too large"))
    head, body = raw.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
    assert b"x-amzn-errortype: RequestHeaderFieldsTooLargeException" in head and b"connection: close" in head
    assert json.loads(body) == {"Type": "User", "message": "too large"}


def test_too_many_headers_get_431_and_the_rest_is_not_parsed() -> None:
    async def main() -> None:
        h = Harness(max_headers=3)
        proto, t = h.connect()
        proto.data_received(b"GET / HTTP/1.1\r\nHost: x\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n")
        assert status_of(bytes(t.out)) == 431 and t.eof  # answered, then draining before the close
        proto.data_received(b"GET / HTTP/1.1\r\n\r\n")  # discarded
        assert bytes(t.out).count(b"HTTP/1.1") == 1

    asyncio.run(main())


def test_an_incomplete_head_over_the_size_limit_gets_431() -> None:
    async def main() -> None:
        h = Harness(max_head_bytes=1024, max_header_line_bytes=1024)
        proto, t = h.connect()
        proto.data_received(b"GET / HTTP/1.1\r\nX: " + b"a" * 2000)
        assert status_of(bytes(t.out)) == 431

    asyncio.run(main())


def test_the_head_deadline_closes_a_trickling_connection() -> None:
    async def main() -> None:
        h = Harness(head_timeout_s=0.5)
        proto, t = h.connect()
        proto.data_received(b"GET / HTTP/1.1\r\n")
        for _ in range(4):
            await asyncio.sleep(0.1)
            proto.data_received(b"X")
        assert not t.closed
        await asyncio.sleep(0.6)
        assert t.closed and h.guard.timed_out == 1
        await asyncio.sleep(0)
        assert h.guard.total == 0

    asyncio.run(main())


def test_a_served_request_leaves_the_connection_idle_not_timed() -> None:
    async def main() -> None:
        h = Harness(head_timeout_s=0.2)
        proto, t = h.connect()
        proto.data_received(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        await asyncio.sleep(0.05)
        assert status_of(bytes(t.out)) == 200
        assert proto in h.guard.idle and proto not in h.guard.heads
        await asyncio.sleep(0.4)
        assert not t.closed  # between requests only uvicorn's keep-alive applies

    asyncio.run(main())


def test_per_address_cap_refuses_and_total_cap_evicts_the_oldest_slow_head() -> None:
    async def main() -> None:
        h = Harness(max_connections_per_address=2)
        h.guard.max_connections = 3
        a1, t1 = h.connect("10.0.0.1")
        a2, t2 = h.connect("10.0.0.1")
        _, t3 = h.connect("10.0.0.1")
        assert status_of(bytes(t3.out)) == 429 and t3.closed and h.guard.total == 2
        b1, _ = h.connect("10.0.0.2")
        _, t5 = h.connect("10.0.0.3")  # at the total cap: the oldest head (a1) makes room
        assert t1.closed and not t5.closed and h.guard.evicted == 1
        await asyncio.sleep(0)
        assert h.guard.total == 3 and h.guard.per_address == {"10.0.0.1": 1, "10.0.0.2": 1, "10.0.0.3": 1}

    asyncio.run(main())


def test_a_slow_body_gets_408() -> None:
    async def main() -> None:
        h = Harness(head_timeout_s=1, body_grace_s=0.2, body_min_rate_bytes_per_s=1000)
        proto, t = h.connect()
        proto.data_received(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
        await asyncio.sleep(0.5)  # allowed 0.2 s + 100 / 1000 s
        assert status_of(bytes(t.out)) == 408 and t.closed

    asyncio.run(main())


@pytest.mark.parametrize("bad", [{"head_timeout_s": 31}, {"max_headers": 0}, {"max_header_line_bytes": 10**6}])
def test_settings_refuse_unsafe_values(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        HttpSettings(**bad)


def test_crlfs_between_requests_do_not_hold_a_connection_open() -> None:
    async def main() -> None:
        h = Harness(head_timeout_s=0.5)
        proto, t = h.connect()
        proto.data_received(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        await asyncio.sleep(0.05)
        assert status_of(bytes(t.out)) == 200
        # When the client sends only CRLFs (which begin no request, and cancel the keep-alive timer)
        for _ in range(12):
            if t.closed:
                break
            proto.data_received(b"\r\n")
            await asyncio.sleep(0.1)
        # Then the head deadline still closes it
        assert t.closed

    asyncio.run(main())


def test_leading_crlfs_on_a_new_connection_count_against_the_head() -> None:
    async def main() -> None:
        h = Harness(max_head_bytes=1024, max_header_line_bytes=1024)
        proto, t = h.connect()
        for _ in range(300):
            if t.out:
                break
            proto.data_received(b"\r\n\r\n")
        assert status_of(bytes(t.out)) == 431

    asyncio.run(main())


def test_a_response_the_client_does_not_read_is_aborted() -> None:
    async def main() -> None:
        h = Harness(write_stall_timeout_s=0.3)
        proto, t = h.connect()
        proto.data_received(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        proto.pause_writing()  # the transport's buffer is full: the client reads nothing
        await asyncio.sleep(0.2)
        assert not t.closed
        await asyncio.sleep(0.3)
        assert t.closed and getattr(t, "aborted", False)

    asyncio.run(main())


def test_a_client_that_reads_again_is_not_aborted() -> None:
    async def main() -> None:
        h = Harness(write_stall_timeout_s=0.3)
        proto, t = h.connect()
        proto.data_received(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        proto.pause_writing()
        await asyncio.sleep(0.1)
        proto.resume_writing()
        await asyncio.sleep(0.4)
        assert not t.closed

    asyncio.run(main())
