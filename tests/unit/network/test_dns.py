"""The DNS forwarder on real UDP sockets of loopback: it relays a query and its answer, and a
hostile client is bounded (rate, in-flight), outsiders and non-queries are dropped, and an answer
that does not match the query is never relayed."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator, Callable
from typing import Protocol, cast
from ipaddress import IPv4Address, IPv4Network

import pytest

from lambent.network import DnsForwarder
from lambent.network.dns import parse_upstream


def _query(qid: int, name: str = "x.test") -> bytes:
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.split("."))
    return struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + labels + b"\x00\x00\x01\x00\x01"


class _Upstream(asyncio.DatagramProtocol):
    """A resolver that answers through ``reply`` (None: stays silent), counting queries."""

    def __init__(self, reply: Callable[[bytes], bytes | None]) -> None:
        self.reply = reply
        self.seen = 0
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.seen += 1
        out = self.reply(data)
        if out is not None and self.transport is not None:
            self.transport.sendto(out, addr)


def _echo_answer(data: bytes) -> bytes:
    return data[:2] + b"\x81\x80" + data[4:]


async def _start(made: list[Closable], reply: Callable[[bytes], bytes | None],
                 **kwargs: object) -> tuple[DnsForwarder, _Upstream]:
    loop = asyncio.get_running_loop()
    transport, upstream = await loop.create_datagram_endpoint(lambda: _Upstream(reply), local_addr=("127.0.0.1", 0))
    made.append(transport)
    port = transport.get_extra_info("sockname")[1]
    fwd = DnsForwarder(IPv4Address("127.0.0.1"), IPv4Network(str(kwargs.pop("subnet", "127.0.0.0/8"))),
                       ("127.0.0.1", port), port=0, **kwargs)  # type: ignore[arg-type]
    made.append(fwd)
    await fwd.start()
    return fwd, upstream


def _client(source: str = "127.0.0.2") -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setblocking(False)
    s.bind((source, 0))
    return s


def _address(fwd: DnsForwarder) -> tuple[str, int]:
    assert fwd._transport is not None
    addr: tuple[str, int] = fwd._transport.get_extra_info("sockname")
    return addr


async def _recv(sock: socket.socket, timeout: float) -> bytes | None:
    loop = asyncio.get_running_loop()
    try:
        return await asyncio.wait_for(loop.sock_recv(sock, 65535), timeout)
    except TimeoutError:
        return None


class Closable(Protocol):
    def close(self) -> None: ...


@pytest.fixture
async def cleanup() -> AsyncIterator[list[Closable]]:
    made: list[Closable] = []
    yield made
    for f in made:
        f.close()
    await asyncio.sleep(0)  # let the transports finish closing


async def test_a_query_is_relayed_and_its_answer_returned(cleanup: list[Closable]) -> None:
    fwd, upstream = await _start(cleanup, _echo_answer)
    with _client() as c:
        c.sendto(_query(0x1234), _address(fwd))
        answer = await _recv(c, 2)
    assert answer is not None and answer[:2] == b"\x12\x34" and answer[2] & 0x80
    assert upstream.seen == 1


async def test_over_the_rate_queries_are_dropped_before_reaching_upstream(cleanup: list[Closable]) -> None:
    fwd, upstream = await _start(cleanup, _echo_answer, rate_per_s=5, max_in_flight=100)
    with _client() as c:
        for i in range(50):
            c.sendto(_query(i), _address(fwd))
        answers = []
        while (a := await _recv(c, 0.5)) is not None:
            answers.append(a)
    # The burst (5), plus at most a token or two refilled while the 50 arrived.
    assert 5 <= len(answers) <= 7 and upstream.seen == len(answers)
    assert fwd.dropped == 50 - len(answers)


async def test_unanswered_queries_in_flight_are_capped(cleanup: list[Closable]) -> None:
    fwd, upstream = await _start(cleanup, lambda _d: None, rate_per_s=1000, max_in_flight=3, timeout_s=5.0)
    with _client() as c:
        for i in range(20):
            c.sendto(_query(i), _address(fwd))
        assert await _recv(c, 0.5) is None
    assert upstream.seen == 3 and fwd.dropped == 17


async def test_outsiders_and_responses_are_dropped(cleanup: list[Closable]) -> None:
    fwd, upstream = await _start(cleanup, _echo_answer, subnet="198.18.0.0/24")
    with _client() as c:
        c.sendto(_query(1), _address(fwd))  # from 127.0.0.2: not in the subnet
        assert await _recv(c, 0.3) is None
    fwd2, upstream2 = await _start(cleanup, _echo_answer)
    with _client() as c:
        c.sendto(_echo_answer(_query(2)), _address(fwd2))  # a response, not a query
        c.sendto(b"\x00" * 5, _address(fwd2))  # too short for a header
        assert await _recv(c, 0.3) is None
    with _client("127.0.0.1") as c:  # the gateway's own address: a process of the host
        c.sendto(_query(3), _address(fwd2))
        assert await _recv(c, 0.3) is None
    assert upstream.seen == 0 and upstream2.seen == 0


async def test_an_answer_with_another_id_is_not_relayed(cleanup: list[Closable]) -> None:
    fwd, upstream = await _start(cleanup, lambda d: b"\xff\xff" + _echo_answer(d)[2:], timeout_s=0.3)
    with _client() as c:
        c.sendto(_query(7), _address(fwd))
        assert await _recv(c, 0.8) is None
    assert upstream.seen == 1


def test_upstream_from_settings_or_resolv_conf(tmp_path: object) -> None:
    from pathlib import Path

    conf = Path(str(tmp_path)) / "resolv.conf"
    conf.write_text("# comment\nnameserver fe80::1\nnameserver 192.0.2.53\n")
    assert parse_upstream("", str(conf)) == ("192.0.2.53", 53)
    assert parse_upstream("127.0.0.1:5300") == ("127.0.0.1", 5300)
    conf.write_text("search example\n")
    with pytest.raises(ValueError, match="network.dns_upstream"):
        parse_upstream("", str(conf))


async def test_a_tcp_query_is_relayed_over_tcp_and_bounded_like_udp(cleanup: list[Closable]) -> None:
    fwd, upstream = await _start(cleanup, _echo_answer, rate_per_s=2)
    port = upstream.transport.get_extra_info("sockname")[1] if upstream.transport else 0
    asked: list[bytes] = []

    async def resolver(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        size = int.from_bytes(await reader.readexactly(2), "big")
        query = await reader.readexactly(size)
        asked.append(query)
        answer = _echo_answer(query) + b"\x00" * 3000  # larger than a UDP answer may be
        writer.write(len(answer).to_bytes(2, "big") + answer)
        await writer.drain()
        writer.close()

    tcp = await asyncio.start_server(resolver, "127.0.0.1", port)
    cleanup.append(tcp)

    async def ask(qid: int) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", fwd.bound_port, local_addr=("127.0.0.2", 0))
        try:
            query = _query(qid)
            writer.write(len(query).to_bytes(2, "big") + query)
            return await reader.read(65536)
        finally:
            writer.close()

    first = await ask(0x4242)
    assert first[:2] == (3000 + len(_query(0x4242))).to_bytes(2, "big") and first[2:4] == b"\x42\x42"
    answers = [await ask(i) for i in range(5)]
    # A burst of 2: the first query and one more are relayed, the rest closed unanswered.
    assert len(asked) == 2 and sum(1 for a in answers if a) == 1 and fwd.dropped == 4
