"""HTTP/1.1 framing for one runtime connection, on httptools (llhttp) and asyncio.Protocol.

Only what the Runtime API needs: keep-alive, Content-Length and chunked request bodies, a body
limit that keeps counting (so an oversized response is answered 413 instead of cutting the
connection), and one held request per connection for the /next long poll. Requests that arrive
while one is held are queued and reading pauses until the held one is answered, so a pipelining
client is served in order and cannot make us buffer without bound.

Routing and the Runtime API itself are not here: each complete request goes to a
:class:`RequestHandler` (the endpoint in ``server.py``).
"""

from __future__ import annotations

import asyncio
import socket
from typing import NamedTuple, Protocol, cast

import httptools

from lambent.runtime_api.wire import ERROR_TYPE_HEADER

# Request line plus headers; the Runtime API's requests carry a handful of short headers.
MAX_HEAD_BYTES = 64 * 1024

_BAD_REQUEST = (
    b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n"
    b"Connection: close\r\n\r\nBad Request"
)
_HEAD_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\n"
    b"Connection: close\r\n\r\n"
)
_ERROR_TYPE_HEADER_LEN = len(ERROR_TYPE_HEADER)


class Request(NamedTuple):
    """One complete request from the runtime, reduced to what the Runtime API reads."""

    method: bytes
    url: bytes
    error_type: str | None  # Lambda-Runtime-Function-Error-Type, if sent
    body: bytes  # empty when oversize
    oversize: bool  # the body exceeded the connection's body limit
    keep_alive: bool


class RequestHandler(Protocol):
    """Receives the connection's lifecycle and its complete requests."""

    def connection_opened(self, conn: HttpConnection) -> None: ...

    def connection_closed(self, conn: HttpConnection) -> None: ...

    def handle_request(self, conn: HttpConnection, request: Request) -> None:
        """Answer with ``conn.send`` now, or call ``conn.hold`` and ``conn.send`` later."""


class _HeadTooLarge(Exception):
    pass


class HttpConnection(asyncio.Protocol):
    """One HTTP/1.1 connection from the runtime; lives until either side closes it."""

    def __init__(self, handler: RequestHandler, body_limit: int) -> None:
        self._handler = handler
        self._body_limit = body_limit
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._url = b""
        self._head_bytes = 0
        self._error_type: str | None = None
        self._chunks: list[bytes] = []
        self._body_bytes = 0
        self._holding = False
        self._backlog: list[Request] = []
        self._closing = False

    # -- asyncio.Protocol ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport; uvloop's does not subclass asyncio.Transport, hence the cast.
        self._transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # Without TCP_NODELAY, Nagle plus the client's delayed ACK stall small replies ~40 ms.
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:  # pragma: no cover - not a TCP socket
                pass
        self._handler.connection_opened(self)

    def data_received(self, data: bytes) -> None:
        if self._closing:
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserCallbackError:
            self._fail(_HEAD_TOO_LARGE if self._head_bytes > MAX_HEAD_BYTES else _BAD_REQUEST)
        except httptools.HttpParserUpgrade:
            self._fail(_BAD_REQUEST)
        except httptools.HttpParserError:
            self._fail(_BAD_REQUEST)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = True
        self._backlog.clear()
        self._handler.connection_closed(self)

    # -- httptools callbacks ---------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._url = b""
        self._head_bytes = 0
        self._error_type = None
        self._chunks = []
        self._body_bytes = 0

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._count_head(len(url))

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_head(len(name) + len(value))
        if len(name) == _ERROR_TYPE_HEADER_LEN and name.lower() == ERROR_TYPE_HEADER:
            self._error_type = value.decode("latin-1").strip()

    def on_body(self, body: bytes) -> None:
        total = self._body_bytes + len(body)
        self._body_bytes = total
        if total <= self._body_limit:
            self._chunks.append(body)
        elif self._chunks:
            self._chunks = []  # over the limit: keep counting, stop keeping

    def on_message_complete(self) -> None:
        oversize = self._body_bytes > self._body_limit
        chunks = self._chunks
        body = b"" if oversize or not chunks else chunks[0] if len(chunks) == 1 else b"".join(chunks)
        self._chunks = []
        parser = self._parser
        request = Request(
            parser.get_method(), self._url, self._error_type, body, oversize, parser.should_keep_alive()
        )
        if self._holding or self._backlog:
            self._backlog.append(request)
            if self._transport is not None:
                self._transport.pause_reading()
            return
        self._handler.handle_request(self, request)

    # -- used by the handler ---------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closing

    def hold(self) -> None:
        """The request being handled is a long poll: it will be answered later with ``send``."""
        self._holding = True

    def send(self, data: bytes, keep_alive: bool) -> None:
        """Answer the current (or held) request; closes the connection unless ``keep_alive``."""
        transport = self._transport
        if transport is None or self._closing:
            return
        transport.write(data)
        if not keep_alive:
            self._closing = True
            transport.close()
            return
        if self._holding:
            self._holding = False
            if self._backlog:
                self._drain_backlog()

    def send_with_body(self, head: bytes, body: bytes, keep_alive: bool) -> None:
        """``send`` for a head plus a possibly large body, without copying a large body."""
        if len(body) < 65536:
            self.send(head + body, keep_alive)
            return
        transport = self._transport
        if transport is not None and not self._closing:
            transport.write(head)
        self.send(body, keep_alive)

    def abort(self) -> None:
        """Drop the connection without answering."""
        self._closing = True
        if self._transport is not None:
            self._transport.abort()

    # -- helpers ---------------------------------------------------------------------------------

    def _count_head(self, n: int) -> None:
        self._head_bytes += n
        if self._head_bytes > MAX_HEAD_BYTES:
            raise _HeadTooLarge()

    def _drain_backlog(self) -> None:
        while self._backlog and not self._holding and not self._closing:
            self._handler.handle_request(self, self._backlog.pop(0))
        if not self._backlog and not self._closing and self._transport is not None:
            self._transport.resume_reading()

    def _fail(self, response: bytes) -> None:
        self._closing = True
        if self._transport is not None:
            self._transport.write(response)
            self._transport.close()
