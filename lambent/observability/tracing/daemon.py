"""The X-Ray daemon's UDP protocol, served to one execution environment.

Each sandbox gets a UDP socket at ``127.0.0.1:2000`` created inside its own network namespace
(like the Runtime API's listener, lambent/worker/environment.py), named by
``AWS_XRAY_DAEMON_ADDRESS``. A datagram is the daemon's header line, then one segment document
(https://docs.aws.amazon.com/xray/latest/devguide/xray-api-sendingdata.html#xray-api-daemon)::

    {"format": "json", "version": 1}\\n{"trace_id": "1-...", "id": "...", ...}

Abuse cases (function code is an attacker):

- size: the socket's datagrams are read whole into a 64 KB buffer (a UDP datagram's limit);
  documents are validated by :func:`~.segments.check` (bounded size and nesting);
- flood: a token bucket per environment (``rate_per_s``, ``burst``) drops what exceeds it before
  any parsing; the kernel's receive buffer bounds what waits, and the trace store's queue bounds
  what waits for the disk;
- garbage: malformed datagrams are dropped and counted (:class:`DaemonStats`), never answered;
- attribution: segments are stored under the environment's account, whatever they claim; a
  function can only add to its own account's traces.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

from lambent.observability.tracing.segments import MAX_DOCUMENT_BYTES, SegmentError, check
from lambent.observability.tracing.tracer import SegmentSink

__all__ = ["DAEMON_PORT", "DaemonListener", "DaemonStats", "TokenBucket", "parse_datagram", "serve_daemon"]

log = logging.getLogger(__name__)

DAEMON_PORT = 2000
#: A datagram: the header line plus one document.
MAX_DATAGRAM_BYTES = 65_535


@dataclass(slots=True)
class DaemonStats:
    """Counters of one server's daemons (all environments)."""

    received: int = 0
    accepted: int = 0
    malformed: int = 0
    rate_limited: int = 0
    dropped: int = 0


class TokenBucket:
    __slots__ = ("rate", "burst", "_tokens", "_at", "_clock")

    def __init__(self, rate_per_s: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate_per_s
        self.burst = float(burst)
        self._tokens = float(burst)
        self._clock = clock
        self._at = clock()

    def take(self) -> bool:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False


def parse_datagram(data: bytes) -> bytes:
    """The document of one datagram; raises :class:`SegmentError` if it is not the daemon's format."""
    head, sep, body = data.partition(b"\n")
    if not sep or len(head) > 256:
        raise SegmentError("InvalidHeader", "a datagram starts with the daemon header line")
    try:
        header = json.loads(head)
    except ValueError:
        raise SegmentError("InvalidHeader", "the header line is not JSON") from None
    if not isinstance(header, dict) or header.get("format") != "json" or header.get("version") != 1:
        raise SegmentError("InvalidHeader", 'the header line must be {"format": "json", "version": 1}')
    if len(body) > MAX_DOCUMENT_BYTES:
        raise SegmentError("DocumentTooLarge", "document too large")
    return body


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, sink: SegmentSink, account: str, bucket: TokenBucket, stats: DaemonStats) -> None:
        self.sink = sink
        self.account = account
        self.bucket = bucket
        self.stats = stats

    def datagram_received(self, data: bytes, addr: object) -> None:
        stats = self.stats
        stats.received += 1
        if not self.bucket.take():
            stats.rate_limited += 1
            return
        try:
            stored = check(parse_datagram(data))
        except SegmentError:
            stats.malformed += 1
            return
        except UnicodeDecodeError:
            stats.malformed += 1
            return
        if self.sink(self.account, stored):
            stats.accepted += 1
        else:
            stats.dropped += 1

    def error_received(self, exc: Exception) -> None:
        log.debug("x-ray daemon socket error: %s", exc)


class DaemonListener:
    """One environment's daemon; ``close`` is idempotent."""

    def __init__(self, transport: asyncio.DatagramTransport) -> None:
        self._transport: asyncio.DatagramTransport | None = transport

    def close(self) -> None:
        transport, self._transport = self._transport, None
        if transport is not None:
            transport.close()


async def serve_daemon(sock: socket.socket, sink: SegmentSink, account: str, *, rate_per_s: float, burst: int,
                       stats: DaemonStats) -> DaemonListener:
    """Serve the daemon protocol on ``sock`` (a bound UDP socket; taken over, closed with the listener)."""
    sock.setblocking(False)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 256 * 1024)
    except OSError:
        pass
    loop = asyncio.get_running_loop()
    bucket = TokenBucket(rate_per_s, burst)
    transport, _ = await loop.create_datagram_endpoint(lambda: _Protocol(sink, account, bucket, stats), sock=sock)
    return DaemonListener(transport)


class DaemonServer:
    """Serves every environment's daemon (``lambent.worker.environment.XrayDaemonServer``), each
    with its own token bucket; counters shared in :attr:`stats`. Scope: one per server."""

    def __init__(self, sink: SegmentSink, account: str, *, rate_per_s: float, burst: int) -> None:
        self.sink = sink
        self.account = account
        self.rate_per_s = rate_per_s
        self.burst = burst
        self.stats = DaemonStats()

    async def serve(self, sock: socket.socket, label: str, account: str | None = None) -> DaemonListener:
        """One environment's daemon; its segments are ``account``'s (the function's), the
        server's (:attr:`account`) when not given."""
        return await serve_daemon(sock, self.sink, account or self.account, rate_per_s=self.rate_per_s,
                                  burst=self.burst, stats=self.stats)

