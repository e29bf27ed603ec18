"""The API's HTTP listener: uvicorn's httptools protocol with the bounds a hostile client needs.

Every connection to the API, ``/health`` and the presigned code download included, goes through
:class:`GuardedHttpToolsProtocol` (``uvicorn.Config(http=...)`` takes a protocol class). It adds,
without a timer per request (one sweeper per server looks at all connections every
``min(1 s, a tenth of the shortest deadline)``):

- a **head deadline**: the request line and headers must be complete ``http.head_timeout_s``
  (at most 30 s) after the connection opened, or after the first byte of a keep-alive
  connection's next request, however slowly the bytes come (slowloris); then the connection is
  closed. Between requests uvicorn's keep-alive timeout applies.
- a **body deadline**: ``body_grace_s + length / body_min_rate_bytes_per_s`` after the head
  (chunked bodies: the largest body any route takes); then 408 RequestTimeoutException and close.
- **header limits**: more than ``max_headers`` headers, a header line over
  ``max_header_line_bytes`` or a head over ``max_head_bytes``: 431 before the app runs.
- **connection caps**: ``max_connections_per_address`` per client address and a total derived
  from the file-descriptor budget (:func:`connection_budget`). At the total cap a new connection
  takes the place of the oldest connection that is idle between requests, else of the oldest
  one still sending its head (the likeliest slowloris); only when every connection is busy with a
  request is the new one refused (429, AWS's throttle, which SDKs retry).
- a **write stall deadline**: a response whose client stops reading (the send buffer stays full,
  uvicorn's ``pause_writing``) for ``write_stall_timeout_s`` is aborted.
- a request **answered before its body was read** (every refusal the headers alone decide) does
  not make the server read the rest: the connection stops reading for the app, discards what is
  still in flight for at most :data:`LINGER_S` (so the client, busy sending, can still read the
  answer rather than a reset) and closes.

Costs on the warm invoke path: a few dict operations and two ``loop.time()`` per request, nothing
per header (uvicorn's ``on_header`` is not overridden: an override cost ~2.5 us per header on this
VM). Header limits are checked exactly only for heads that arrived in chunks larger than
``max_header_line_bytes`` (every head smaller than that is within all three limits but the count,
which is one ``len``); the body deadline is computed by the sweeper, for bodies still arriving
after ``body_grace_s``.
"""

from __future__ import annotations

import asyncio
import logging
import resource
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from lambent.api.envelopes import error_response
from lambent.errors import LambentError, RequestHeaderFieldsTooLarge, RequestTimeout, TooManyRequests
from lambent.settings import HttpSettings

log = logging.getLogger("lambent.api.listener")

#: How long a connection answered before its body arrived keeps discarding that body.
LINGER_S = 2.0


class _Refused(Exception):
    """Raised inside a parser callback; httptools turns it into an HttpParserCallbackError, which
    uvicorn answers with ``send_400_response`` — where the refusal set before is sent instead."""


def error_bytes(exc: LambentError) -> bytes:
    """A complete HTTP/1.1 response carrying ``exc``'s AWS envelope, closing the connection."""
    response = error_response(exc)
    parts = [STATUS_LINE[response.status_code]]
    for name, value in response.raw_headers:
        parts += [name, b": ", value, b"\r\n"]
    parts += [b"connection: close\r\n\r\n", bytes(response.body)]
    return b"".join(parts)


class ConnectionGuard:
    """Per-server accounting of the API's connections: counts per address and in total, and who is
    sending a head, sending a body or idle (each dict ordered oldest first). Scope: one per server,
    shared by every protocol instance; it needs no lock (everything runs on the event loop)."""

    def __init__(self, settings: HttpSettings, max_connections: int) -> None:
        self.settings = settings
        self.max_connections = max_connections
        self.total = 0
        self.per_address: dict[str, int] = {}
        #: connection -> loop time its head started
        self.heads: dict[GuardedHttpToolsProtocol, float] = {}
        #: connection -> loop time its head was complete (its body deadline is computed from it)
        self.bodies: dict[GuardedHttpToolsProtocol, float] = {}
        #: connections between requests (or discarding a refused body)
        self.idle: dict[GuardedHttpToolsProtocol, None] = {}
        #: connection -> loop time its writes stalled (the client stopped reading)
        self.stalled: dict[GuardedHttpToolsProtocol, float] = {}
        self.sweep_interval_s = max(0.05, min(1.0, settings.head_timeout_s / 10, settings.body_grace_s / 10,
                                              settings.write_stall_timeout_s / 10))
        self._timer: asyncio.TimerHandle | None = None
        #: What the guard did, for logs and tests.
        self.refused = 0
        self.evicted = 0
        self.timed_out = 0

    def admit(self, conn: GuardedHttpToolsProtocol, address: str) -> LambentError | None:
        """Count a new connection in, or say why it is refused."""
        held = self.per_address.get(address, 0)
        if held >= self.settings.max_connections_per_address:
            self.refused += 1
            return TooManyRequests(
                f"Rate exceeded: at most {self.settings.max_connections_per_address} connections per client address",
                reason="CallerRateLimitExceeded",
            )
        if self.total >= self.max_connections:
            victim = next(iter(self.idle), None) or next(iter(self.heads), None)
            if victim is None:
                self.refused += 1
                return TooManyRequests("Rate exceeded: the server holds its maximum of connections",
                                       reason="CallerRateLimitExceeded")
            self.evicted += 1
            self.release(victim)
            victim.transport.close()
        self.total += 1
        # Not ``held + 1``: the victim released above may have been of this same address.
        self.per_address[address] = self.per_address.get(address, 0) + 1
        conn._admitted = True
        return None

    def release(self, conn: GuardedHttpToolsProtocol) -> None:
        """Count a connection out (idempotent)."""
        if not conn._admitted:
            return
        conn._admitted = False
        self.total -= 1
        address = conn._address
        left = self.per_address.get(address, 1) - 1
        if left > 0:
            self.per_address[address] = left
        else:
            self.per_address.pop(address, None)
        self.heads.pop(conn, None)
        self.bodies.pop(conn, None)
        self.idle.pop(conn, None)
        self.stalled.pop(conn, None)

    def arm(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._timer is None:
            self._timer = loop.call_later(self.sweep_interval_s, self._sweep, loop)

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        now = loop.time()
        cutoff = now - self.settings.head_timeout_s
        late_heads = []
        for conn, started in self.heads.items():
            if started > cutoff:
                break
            late_heads.append(conn)
        grace = self.settings.body_grace_s
        rate = float(self.settings.body_min_rate_bytes_per_s)
        late_bodies = [
            conn for conn, started in self.bodies.items()
            if now - started > grace and now >= started + grace + conn.expected_body_bytes() / rate
        ]
        stall_cutoff = now - self.settings.write_stall_timeout_s
        late_writes = [conn for conn, since in self.stalled.items() if since <= stall_cutoff]
        for conn in late_heads:
            self.timed_out += 1
            conn.head_timed_out()
        for conn in late_bodies:
            self.timed_out += 1
            conn.body_timed_out()
        for conn in late_writes:
            self.timed_out += 1
            self.stalled.pop(conn, None)
            conn.transport.abort()  # close() would wait for the unread buffer to drain
        if self.heads or self.bodies or self.stalled:
            self.arm(loop)


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, bounded (see the module docstring). Build the concrete class
    with :func:`protocol_class`. Scope: one per connection.

    ``guard`` is the class's (one per server) unless an instance is given its own before
    ``connection_made`` (``lambent.api.inside``: one guard per execution environment)."""

    guard: ConnectionGuard
    _max_headers: ClassVar[int]
    _max_header_line: ClassVar[int]
    _max_head: ClassVar[int]
    _max_body: ClassVar[int]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._admitted = False
        self._address = ""
        self._head_pending = False
        #: bytes received since the head began (an upper bound: the chunk it began in counts whole)
        self._head_bytes = 0
        self._chunk_bytes = 0
        self._refusal: LambentError | None = None
        self._draining = False
        self._linger: asyncio.TimerHandle | None = None

    # -- connection ---------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._address = self.client[0] if self.client else ""
        refusal = self.guard.admit(self, self._address)
        if refusal is not None:
            self._refuse(refusal)
            return
        self._begin_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self.guard.release(self)
        if self._linger is not None:
            self._linger.cancel()
            self._linger = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._draining:
            return  # the rest of a body nobody will read
        if self._head_pending:
            self._head_bytes += len(data)
        else:
            self._chunk_bytes = len(data)  # a next request may begin in this chunk
            if self in self.guard.idle:
                # Any byte after a response starts the next head's clock, even bytes that begin
                # no message (llhttp skips CRLFs between requests, and each cancels uvicorn's
                # keep-alive timer: without this a CRLF now and then would hold it for ever).
                self._begin_head()
        super().data_received(data)
        if self._head_pending and not self._draining and not self.transport.is_closing():
            # The head is still incomplete: bounded in bytes however it is split into lines
            # (httptools accumulates a line across chunks), and in headers parsed so far.
            if self._head_bytes > self._max_head or len(self.headers or ()) > self._max_headers:
                self._refuse(self._headers_too_large())

    # -- parser callbacks ---------------------------------------------------------------------
    def on_message_begin(self) -> None:
        super().on_message_begin()
        if not self._head_pending:
            self._begin_head()

    def on_headers_complete(self) -> None:
        if (self._head_bytes > self._max_header_line or len(self.headers) > self._max_headers) and self._head_too_large():
            self._refusal = self._headers_too_large()
            raise _Refused
        self._head_pending = False
        guard = self.guard
        guard.heads.pop(self, None)
        guard.bodies[self] = self.loop.time()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self.guard.bodies.pop(self, None)
        super().on_message_complete()

    def on_response_complete(self) -> None:
        cycle = self.cycle
        pipelined = bool(self.pipeline)
        super().on_response_complete()
        if pipelined or self.transport.is_closing():
            return
        if cycle.more_body and not cycle.disconnected:
            self._drain_and_close()
        elif not self._head_pending:
            self.guard.idle[self] = None

    def pause_writing(self) -> None:
        super().pause_writing()
        guard = self.guard
        guard.stalled[self] = self.loop.time()
        guard.arm(self.loop)

    def resume_writing(self) -> None:
        super().resume_writing()
        self.guard.stalled.pop(self, None)

    def send_400_response(self, msg: str) -> None:
        refusal, self._refusal = self._refusal, None
        if refusal is None:
            super().send_400_response(msg)
        else:
            self._refuse(refusal)

    def expected_body_bytes(self) -> int:
        """The declared Content-Length (capped), or the largest body any route takes."""
        for name, value in self.headers:
            if name == b"content-length":
                try:
                    return min(int(value), self._max_body)
                except ValueError:
                    break  # httptools refuses a malformed Content-Length itself
        return self._max_body

    # -- what the guard does ------------------------------------------------------------------
    def head_timed_out(self) -> None:
        self.guard.heads.pop(self, None)
        self.transport.close()

    def body_timed_out(self) -> None:
        self.guard.bodies.pop(self, None)
        cycle = self.cycle
        if cycle is not None and not cycle.response_started and not self.transport.is_closing():
            limit = self.guard.settings
            self.transport.write(error_bytes(RequestTimeout(
                "Your socket connection to the server was not read from or written to within the timeout "
                f"period: a body must arrive within {limit.body_grace_s:g} s plus 1 s per "
                f"{limit.body_min_rate_bytes_per_s} bytes."
            )))
        self.transport.close()

    # -- helpers ------------------------------------------------------------------------------
    def _begin_head(self) -> None:
        self._head_pending = True
        self._head_bytes = self._chunk_bytes
        guard = self.guard
        guard.idle.pop(self, None)
        guard.heads[self] = self.loop.time()
        if guard._timer is None:
            guard.arm(self.loop)

    def _head_too_large(self) -> bool:
        """The exact check, for heads that may be over a limit."""
        headers = self.headers
        if len(headers) > self._max_headers:
            return True
        total = len(self.url)
        for name, value in headers:
            line = len(name) + len(value)
            if line > self._max_header_line:
                return True
            total += line + 4  # ": " and CRLF
        return total > self._max_head

    def _headers_too_large(self) -> RequestHeaderFieldsTooLarge:
        return RequestHeaderFieldsTooLarge(
            f"Request Header Fields Too Large: at most {self._max_headers} headers, each at most "
            f"{self._max_header_line} bytes, {self._max_head} bytes in all."
        )

    def _refuse(self, exc: LambentError) -> None:
        """Answer ``exc`` and close: at once for a connection refused at admission (it holds no
        slot and must not hold a descriptor either), after the lingering drain otherwise."""
        self.guard.heads.pop(self, None)
        self.headers = []  # what was parsed of a refused head is not kept while draining
        if self.transport.is_closing():
            return
        self.transport.write(error_bytes(exc))
        if self._admitted:
            self._drain_and_close()
        else:
            self.transport.close()

    def _drain_and_close(self) -> None:
        """The answer went out before the body: stop reading it for the app, discard what is in
        flight for a while, then close."""
        self._draining = True
        self._head_pending = False
        guard = self.guard
        guard.heads.pop(self, None)
        guard.bodies.pop(self, None)
        guard.idle[self] = None
        self._unset_keepalive_if_required()
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self._linger = self.loop.call_later(LINGER_S, self.transport.close)


def protocol_class(guard: ConnectionGuard, max_body_bytes: int) -> type[GuardedHttpToolsProtocol]:
    """The protocol class for ``uvicorn.Config(http=...)``, bound to one server's guard."""
    s = guard.settings
    attrs: dict[str, Any] = {
        "guard": guard,
        "_max_headers": s.max_headers,
        "_max_header_line": s.max_header_line_bytes,
        "_max_head": s.max_head_bytes,
        "_max_body": max_body_bytes,
    }
    return type("LambentHttpProtocol", (GuardedHttpToolsProtocol,), attrs)


# -- the file-descriptor budget -----------------------------------------------------------------
def raise_fd_limit() -> int:
    """Raise RLIMIT_NOFILE's soft limit to its hard limit; return the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:  # e.g. above fs.nr_open
            log.warning("could not raise RLIMIT_NOFILE from %d to %d: %s", soft, target, exc)
    return int(soft) if soft != resource.RLIM_INFINITY else 1 << 20


def connection_budget(nofile: int, settings: HttpSettings) -> int:
    """How many API connections the server may hold with ``nofile`` descriptors: everything but
    ``fd_reserve`` (at most half of them), which stays for sandboxes (pipes, pidfds, cgroup
    files), their Runtime API sockets, the database, the async queue and log files. An explicit
    ``max_connections`` may lower it, never raise it past the budget."""
    reserve = min(settings.fd_reserve, nofile // 2)
    budget = max(16, nofile - reserve)
    return min(settings.max_connections, budget) if settings.max_connections else budget
