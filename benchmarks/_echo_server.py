"""The baseline server: a raw loopback HTTP/1.1 echo on uvloop + httptools, nothing else.

It answers every request with 200 and the request body, keeps connections alive and sets
TCP_NODELAY, exactly like a server that does no work of its own; lambent's front end runs on the
same loop (uvloop) and parser (httptools), so a ratio against this isolates lambent's own work.
It does not check signatures, route, or look at headers.

Run as a process: ``python _echo_server.py`` prints ``PORT <n>`` once listening and serves until
SIGTERM.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import sys

import httptools
import uvloop

_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"


class _Echo(asyncio.Protocol):
    """One client connection; lives as long as the connection."""

    def __init__(self) -> None:
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._body: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            if self._transport is not None:
                self._transport.close()

    # httptools callbacks
    def on_message_begin(self) -> None:
        self._body = []

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        body = b"".join(self._body)
        if self._transport is not None:
            self._transport.write(_HEAD % len(body) + body)


async def _serve() -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Echo, "127.0.0.1", 0, backlog=128)
    port = server.sockets[0].getsockname()[1]
    print(f"PORT {port}", flush=True)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    async with server:
        await stop.wait()


def main() -> None:
    uvloop.run(_serve())
    sys.exit(0)


if __name__ == "__main__":
    main()
