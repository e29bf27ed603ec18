"""A bounded DNS forwarder on the bridge gateway (UDP and TCP port 53, the server's event loop).

Functions' /etc/resolv.conf names the gateway; each query is relayed to the upstream resolver
from a fresh socket of the host (so a resolver listening on the host's loopback, such as
systemd-resolved's 127.0.0.53, serves them too) and its answer sent back. Hostile clients are
bounded per source address (one per environment): a token bucket of ``rate_per_s`` queries a
second and at most ``max_in_flight`` unanswered; over either, or from outside the subnet (or from
the gateway itself: a host process), or not
shaped like a DNS message, a query is dropped (resolvers retry). Nothing but the answer whose id
matches the query is relayed, and only to the address that asked.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network
from typing import Any

__all__ = ["DnsForwarder", "parse_upstream"]

log = logging.getLogger(__name__)

_HEADER = 12
_MAX_QUERY = 4096
_MAX_ANSWER = 65535


def parse_upstream(text: str, resolv_conf: str = "/etc/resolv.conf") -> tuple[str, int]:
    """``"ip"`` / ``"ip:port"``, or "" for the first IPv4 nameserver of ``resolv_conf``."""
    if not text:
        try:
            with open(resolv_conf) as f:
                for line in f:
                    parts = line.split()
                    if len(parts) >= 2 and parts[0] == "nameserver" and ":" not in parts[1]:
                        return str(IPv4Address(parts[1])), 53
        except (OSError, ValueError):
            pass
        raise ValueError(f"no IPv4 nameserver in {resolv_conf}: set LAMBENT_NETWORK_DNS_UPSTREAM (network.dns_upstream)")
    host, _, port = text.partition(":")
    return str(IPv4Address(host)), int(port) if port else 53


@dataclass
class _Source:
    tokens: float
    stamp: float
    in_flight: int = 0


class _Upstream(asyncio.DatagramProtocol):
    def __init__(self, query_id: bytes) -> None:
        self.query_id = query_id
        self.answer: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        if len(data) >= _HEADER and data[:2] == self.query_id and not self.answer.done():
            self.answer.set_result(data)

    def error_received(self, exc: Exception) -> None:
        if not self.answer.done():
            self.answer.set_exception(exc)


@dataclass
class DnsForwarder(asyncio.DatagramProtocol):
    """Serves ``bind``:53 for clients in ``subnet``; ``start``/``close`` own the socket."""

    bind: IPv4Address
    subnet: IPv4Network
    upstream: tuple[str, int]
    rate_per_s: int = 50
    max_in_flight: int = 16
    timeout_s: float = 2.0
    port: int = 53
    dropped: int = 0
    _sources: dict[str, _Source] = field(default_factory=dict)
    _transport: asyncio.DatagramTransport | None = None
    _tcp: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        # port 0 (tests): a free UDP port whose TCP twin may be taken; a few tries.
        for attempt in range(8 if self.port == 0 else 1):
            transport, _ = await loop.create_datagram_endpoint(lambda: self, local_addr=(str(self.bind), self.port))
            self._transport = transport
            port = transport.get_extra_info("sockname")[1]
            try:
                # The same port over TCP (answers too large for UDP), one query per connection.
                self._tcp = await asyncio.start_server(self._serve_tcp, str(self.bind), port, backlog=64)
                return
            except OSError:
                self.close()
                if attempt == (7 if self.port == 0 else 0):
                    raise
            except BaseException:
                self.close()
                raise

    @property
    def bound_port(self) -> int:
        assert self._transport is not None  # noqa: S101 - only after start
        port: int = self._transport.get_extra_info("sockname")[1]
        return port

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        if self._tcp is not None:
            self._tcp.close()
            self._tcp = None
        for task in list(self._tasks):
            task.cancel()

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        host = str(writer.get_extra_info("peername")[0])
        admitted: _Source | None = None
        try:
            async with asyncio.timeout(self.timeout_s):
                size = int.from_bytes(await reader.readexactly(2), "big")
                query = await reader.readexactly(size) if size <= _MAX_QUERY else b""
                if not self._admit(host, query):
                    self.dropped += 1
                    return
                admitted = self._sources[host]
                up_reader, up_writer = await asyncio.open_connection(*self.upstream)
                try:
                    up_writer.write(size.to_bytes(2, "big") + query)
                    length = int.from_bytes(await up_reader.readexactly(2), "big")
                    answer = await up_reader.readexactly(length)
                finally:
                    up_writer.close()
                if len(answer) >= _HEADER and answer[:2] == query[:2]:
                    writer.write(length.to_bytes(2, "big") + answer)
                    await writer.drain()
        except (OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
            log.debug("dns tcp query from %s not answered: %s", host, exc)
        finally:
            if admitted is not None:
                admitted.in_flight -= 1
            writer.close()

    def forget(self, address: IPv4Address) -> None:
        """An environment's address is given back: its counters go with it."""
        self._sources.pop(str(address), None)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        host = str(addr[0])
        if not self._admit(host, data):
            self.dropped += 1
            return
        task = asyncio.get_running_loop().create_task(self._relay(data, addr, self._sources[host]))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _admit(self, host: str, data: bytes) -> bool:
        if not _HEADER <= len(data) <= _MAX_QUERY or data[2] & 0x80:  # a response, not a query
            return False
        try:
            source = IPv4Address(host)
            # The gateway is in the subnet but is the host's: a local process could bind it.
            if source not in self.subnet or source == self.bind:
                return False
        except ValueError:
            return False
        now = time.monotonic()
        src = self._sources.get(host)
        if src is None:
            src = self._sources[host] = _Source(tokens=float(self.rate_per_s), stamp=now)
        src.tokens = min(float(self.rate_per_s), src.tokens + (now - src.stamp) * self.rate_per_s)
        src.stamp = now
        if src.tokens < 1 or src.in_flight >= self.max_in_flight:
            return False
        src.tokens -= 1
        src.in_flight += 1
        return True

    async def _relay(self, data: bytes, addr: tuple[str | Any, int], src: _Source) -> None:
        loop = asyncio.get_running_loop()
        transport: asyncio.DatagramTransport | None = None
        try:
            transport, proto = await loop.create_datagram_endpoint(lambda: _Upstream(data[:2]),
                                                                   remote_addr=self.upstream)
            transport.sendto(data)
            answer = await asyncio.wait_for(proto.answer, self.timeout_s)
            if self._transport is not None and len(answer) <= _MAX_ANSWER:
                self._transport.sendto(answer, addr)
        except (OSError, TimeoutError) as exc:
            log.debug("dns query from %s not answered: %s", addr[0], exc)
        finally:
            src.in_flight -= 1
            if transport is not None:
                transport.close()
