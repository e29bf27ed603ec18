"""The X-Ray daemon protocol on a real UDP socket (loopback): accepted, malformed, flood."""

from __future__ import annotations

import asyncio
import json
import socket

import pytest

from lambent.observability.tracing.daemon import DaemonServer, TokenBucket, parse_datagram
from lambent.observability.tracing.segments import SegmentError, Stored

ROOT = "1-5759e988-bd862e3fe1be46a994272793"
HEADER = b'{"format": "json", "version": 1}\n'


def doc(i: int) -> bytes:
    return json.dumps({"id": f"{i:016x}", "trace_id": ROOT, "name": "fn", "start_time": 1.0, "end_time": 2.0}).encode()


def test_parse_datagram() -> None:
    assert parse_datagram(HEADER + doc(1)) == doc(1)
    for bad in (doc(1), b'{"format": "xml", "version": 1}\n' + doc(1), b"nope\n" + doc(1), b"x" * 300 + b"\n{}"):
        with pytest.raises(SegmentError):
            parse_datagram(bad)


def test_token_bucket() -> None:
    now = [0.0]
    bucket = TokenBucket(10, 2, clock=lambda: now[0])
    assert [bucket.take() for _ in range(3)] == [True, True, False]
    now[0] = 0.1
    assert bucket.take() and not bucket.take()


async def test_daemon_accepts_drops_malformed_and_bounds_a_flood() -> None:
    got: list[tuple[str, Stored]] = []
    server = DaemonServer(lambda a, s: got.append((a, s)) is None, "123456789012", rate_per_s=0.001, burst=5)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    address = sock.getsockname()
    listener = await server.serve(sock, "env")
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        client.sendto(HEADER + doc(1), address)
        client.sendto(b"garbage", address)
        client.sendto(HEADER + b"{not json", address)
        client.sendto(b"\xff\xfe\n\x00", address)
        for i in range(200):  # a flood: only what the bucket allows goes on
            client.sendto(HEADER + doc(100 + i), address)
        for _ in range(100):
            if server.stats.received >= 204:
                break
            await asyncio.sleep(0.02)
        stats = server.stats
        assert stats.received == 204
        assert stats.malformed == 3 and stats.accepted == 2 and stats.rate_limited == 199
        assert [a for a, _ in got] == ["123456789012"] * 2 and got[0][1].segment_id == f"{1:016x}"
    finally:
        client.close()
        listener.close()
        listener.close()  # idempotent


async def test_an_accounts_daemons_store_in_that_account() -> None:
    """Issue 10: an environment's daemon is served with its function's account; what it receives
    is that account's (the server's when none is given)."""
    got: list[tuple[str, Stored]] = []
    server = DaemonServer(lambda a, s: got.append((a, s)) is None, "123456789012", rate_per_s=100.0, burst=10)
    listeners = []
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for i, account in enumerate(("444455556666", None)):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind(("127.0.0.1", 0))
            listeners.append(await server.serve(sock, f"env-{i}", account))
            client.sendto(HEADER + doc(i + 1), sock.getsockname())
            for _ in range(100):
                if len(got) > i:
                    break
                await asyncio.sleep(0.02)
        assert [(a, s.segment_id) for a, s in got] == [("444455556666", f"{1:016x}"), ("123456789012", f"{2:016x}")]
    finally:
        client.close()
        for listener in listeners:
            listener.close()
