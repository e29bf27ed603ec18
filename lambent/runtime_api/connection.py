"""HTTP/1.1 framing for one runtime connection, on httptools (llhttp) and asyncio.Protocol.

Only what the Runtime API needs: keep-alive, Content-Length and chunked request bodies, a body
limit that keeps counting (so an oversized response is answered 413 instead of cutting the
connection), and one held request per connection for the /next long poll. Requests that arrive
while one is held are queued and reading pauses until the held one is answered, so a pipelining
client is served in order and cannot make us buffer without bound.

What a connection may make the server hold is bounded (README "Limits"): the request head by
``max_head_bytes`` and ``max_headers`` (431), a body by the body limit (kept no further, 413),
and a body over ``small_body_bytes`` only while it holds its environment's
:class:`~lambent.runtime_api.budget.LargeBodySlot`; without it the connection stops reading.
The handler may refuse a connection at accept time (``connection_opened`` returns False): it is
closed at once, before it costs more than the moment's descriptor.

Routing and the Runtime API itself are not here: each complete request goes to a
:class:`RequestHandler` (the endpoint in ``server.py``).
"""

from __future__ import annotations

import asyncio
import socket
from typing import NamedTuple, Protocol, cast

import httptools

from lambent.runtime_api.budget import LargeBodySlot
from lambent.runtime_api.wire import ERROR_TYPE_HEADER
from lambent.settings import RuntimeApiSettings

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
    body: bytes  # empty when oversize or dropped
    oversize: bool  # the body exceeded the connection's body limit
    keep_alive: bool


class RequestHandler(Protocol):
    """Receives the connection's lifecycle and its complete requests."""

    def connection_opened(self, conn: HttpConnection) -> bool:
        """Count the new connection; False refuses it (it is closed at once)."""

    def connection_closed(self, conn: HttpConnection, released_bytes: int) -> None:
        """The connection is gone, with ``released_bytes`` of a partial body it kept."""

    def handle_request(self, conn: HttpConnection, request: Request) -> None:
        """Answer with ``conn.send`` now, or call ``conn.hold`` and ``conn.send`` later."""


class _HeadTooLarge(Exception):
    pass


class HttpConnection(asyncio.Protocol):
    """One HTTP/1.1 connection from the runtime; lives until either side closes it."""

    def __init__(
        self,
        handler: RequestHandler,
        body_limit: int,
        slot: LargeBodySlot,
        limits: RuntimeApiSettings,
    ) -> None:
        self._handler = handler
        self._body_limit = body_limit
        self._slot = slot
        self._small_body = limits.small_body_bytes
        self._max_head_bytes = limits.max_head_bytes
        self._max_headers = limits.max_headers
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._url = b""
        self._head_bytes = 0
        self._headers = 0
        self._error_type: str | None = None
        self._chunks: list[bytes] = []
        self._body_bytes = 0
        self._keep = True  # the current body is being kept (not oversize, not dropped)
        self._slot_held = False
        self._slot_wait = False
        self._holding = False
        self._backlog: list[Request] = []
        self._paused = False
        self._closing = False
        # httptools hands a header over only once it is complete, accumulating it until then:
        # bytes fed while a head is incomplete are counted here, so a header that never ends
        # is refused after max_head_bytes (plus at most one read) instead of growing for ever.
        self._in_body = False
        self._head_fed = 0

    # -- asyncio.Protocol ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport; uvloop's does not subclass asyncio.Transport, hence the cast.
        self._transport = cast(asyncio.Transport, transport)
        if not self._handler.connection_opened(self):
            # Over the environment's connection cap: close now, so a flood holds no descriptor.
            self._closing = True
            self._transport.abort()
            return
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # Without TCP_NODELAY, Nagle plus the client's delayed ACK stall small replies ~40 ms.
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:  # pragma: no cover - not a TCP socket
                pass

    def data_received(self, data: bytes) -> None:
        if self._closing:
            return
        if not self._in_body:
            self._head_fed += len(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserCallbackError:
            self._fail(_HEAD_TOO_LARGE if self._head_over() else _BAD_REQUEST)
            return
        except httptools.HttpParserUpgrade:
            self._fail(_BAD_REQUEST)
            return
        except httptools.HttpParserError:
            self._fail(_BAD_REQUEST)
            return
        if not self._in_body and self._head_fed > self._max_head_bytes and not self._closing:
            self._fail(_HEAD_TOO_LARGE)  # a head still incomplete after max_head_bytes

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = True
        self._backlog.clear()
        released = self.buffered_bytes
        self._chunks = []
        self._leave_slot()
        self._handler.connection_closed(self, released)

    # -- httptools callbacks ---------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._url = b""
        self._head_bytes = 0
        self._headers = 0
        self._error_type = None
        self._chunks = []
        self._body_bytes = 0
        self._keep = True

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._count_head(len(url))

    def on_headers_complete(self) -> None:
        self._in_body = True
        self._head_fed = 0

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_head(len(name) + len(value))
        self._headers += 1
        if self._headers > self._max_headers:
            raise _HeadTooLarge()
        if len(name) == _ERROR_TYPE_HEADER_LEN and name.lower() == ERROR_TYPE_HEADER:
            self._error_type = value.decode("latin-1").strip()

    def on_body(self, body: bytes) -> None:
        total = self._body_bytes + len(body)
        self._body_bytes = total
        if not self._keep:
            return  # oversize or dropped: keep counting, stop keeping
        if total > self._body_limit:
            self._discard_body()
            return
        if total > self._small_body and not self._slot_held:
            if self._slot.claim(self):
                self._slot_held = True
                self._slot_wait = False
            elif not self._slot_wait:
                # Another connection's large body is in flight: keep this read, read no more.
                self._slot_wait = True
                self._update_reading()
        self._chunks.append(body)

    def on_message_complete(self) -> None:
        self._in_body = False
        self._head_fed = 0
        oversize = self._body_bytes > self._body_limit
        chunks = self._chunks
        body = b"" if not chunks else chunks[0] if len(chunks) == 1 else b"".join(chunks)
        self._chunks = []
        if self._slot_held or self._slot_wait:
            self._leave_slot()
            self._update_reading()
        parser = self._parser
        request = Request(
            parser.get_method(), self._url, self._error_type, body, oversize, parser.should_keep_alive()
        )
        if self._holding or self._backlog:
            self._backlog.append(request)
            self._update_reading()
            return
        self._handler.handle_request(self, request)

    # -- used by the handler and the slot --------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closing

    @property
    def buffered_bytes(self) -> int:
        """Body bytes of the request being received that this connection keeps (diagnostics)."""
        return sum(map(len, self._chunks))

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

    def slot_granted(self) -> None:
        """The environment's large-body slot is ours now: read the rest of the body."""
        self._slot_held = True
        self._slot_wait = False
        self._update_reading()

    def drop_body(self) -> int:
        """Stop keeping the body being received (it is still counted and parsed); its request is
        handled with an empty body. Returns the bytes released."""
        if not self._keep:
            return 0
        released = self.buffered_bytes
        self._chunks = []
        self._keep = False
        self._leave_slot()
        self._update_reading()
        return released

    # -- helpers ---------------------------------------------------------------------------------

    def _count_head(self, n: int) -> None:
        self._head_bytes += n
        if self._head_bytes > self._max_head_bytes:
            raise _HeadTooLarge()

    def _head_over(self) -> bool:
        return self._head_bytes > self._max_head_bytes or self._headers > self._max_headers

    def _discard_body(self) -> None:
        """The body went over the limit: the request will be answered 413 when it ends."""
        self._chunks = []
        self._keep = False
        self._leave_slot()
        self._update_reading()

    def _leave_slot(self) -> None:
        if self._slot_held or self._slot_wait:
            self._slot_held = self._slot_wait = False
            self._slot.release(self)

    def _update_reading(self) -> None:
        """Read unless a large body waits for the slot or requests wait behind a held one."""
        transport = self._transport
        if transport is None or self._closing:
            return
        pause = self._slot_wait or bool(self._backlog)
        if pause is not self._paused:
            self._paused = pause
            if pause:
                transport.pause_reading()
            else:
                transport.resume_reading()

    def _drain_backlog(self) -> None:
        while self._backlog and not self._holding and not self._closing:
            self._handler.handle_request(self, self._backlog.pop(0))
        self._update_reading()

    def _fail(self, response: bytes) -> None:
        self._closing = True
        self._chunks = []
        self._leave_slot()
        if self._transport is not None:
            self._transport.write(response)
            self._transport.close()
