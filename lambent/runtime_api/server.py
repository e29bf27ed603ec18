"""The Runtime API endpoint of one execution environment: asyncio I/O around ``protocol.py``.

The sandbox layer creates a listening TCP socket inside the environment's network namespace (the
runtime reaches it as ``AWS_LAMBDA_RUNTIME_API=127.0.0.1:9001``) and hands it over; identity is
the socket, so nothing here authenticates. The worker layer drives the environment through
:class:`RuntimeApiEndpoint`: ``start``, ``wait_ready``, ``invoke`` (repeatedly), ``abort`` when
the environment dies or times out, ``close`` when it is destroyed.

The endpoint runs in the server process, outside the function's cgroup, so it bounds what one
environment can make it hold (``RuntimeApiSettings``; README "Limits"): connections (over the cap
they are closed at accept), the listen backlog, request heads, and request bodies (one large body
at a time, dropped when its invocation ends). Freed large buffers are handed back to the OS.
"""

from __future__ import annotations

import asyncio
import logging
import socket

from lambent.runtime_api._heap import HeapTrimmer
from lambent.runtime_api.budget import LargeBodySlot
from lambent.runtime_api.connection import HttpConnection, Request
from lambent.runtime_api.errors import EndpointBusy, EndpointClosed, RuntimeInitError
from lambent.runtime_api.models import InitError, Invocation, InvocationResult
from lambent.runtime_api.protocol import (
    MAX_RESPONSE_PAYLOAD_BYTES,
    Deliver,
    Park,
    PostOutcome,
    RuntimeSession,
)
from lambent.runtime_api.wire import (
    Route,
    render_invocation_head,
    render_plain,
    render_reply,
    route,
)
from lambent.settings import RuntimeApiSettings

_NOT_FOUND_TEXT = b"404 page not found\n"  # what the real API's Go router answers
_log = logging.getLogger(__name__)


class RuntimeApiEndpoint:
    """One per execution environment; lives as long as the environment.

    Serves the runtime's HTTP requests on the given socket and pairs them with the platform's
    invocations, one at a time. Not thread-safe: use it from the event loop that ran ``start``.
    After ``abort`` or ``close`` every call fails fast with the recorded error; ``close`` is
    idempotent and safe to call at any point, including before ``start``.
    """

    def __init__(
        self, sock: socket.socket, limits: RuntimeApiSettings | None = None, *, label: str = ""
    ) -> None:
        self._sock = sock
        self._limits = limits or RuntimeApiSettings()
        self._label = label or "?"
        self._session = RuntimeSession()
        self._server: asyncio.Server | None = None
        self._connections: set[HttpConnection] = set()
        self._slot = LargeBodySlot()
        self._trimmer = HeapTrimmer()
        #: Connections closed at accept because the environment already had its maximum.
        self.refused_connections = 0
        self._parked: HttpConnection | None = None
        self._parked_keep_alive = True
        self._ready_waiters: list[asyncio.Future[None]] = []
        self._result: asyncio.Future[InvocationResult] | None = None
        self._result_id = ""
        self._failure: BaseException | None = None
        self._closed = False

    # -- platform side ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Start accepting connections on the socket."""
        if self._closed:
            raise EndpointClosed("endpoint is closed")
        if self._server is not None:
            return
        loop = asyncio.get_running_loop()
        limits, slot = self._limits, self._slot
        self._server = await loop.create_server(
            lambda: HttpConnection(self, MAX_RESPONSE_PAYLOAD_BYTES, slot, limits),
            sock=self._sock,
            # A runtime connects once or twice: a long queue of pending connections would only
            # hold kernel memory for a flood (create_server's default is 100).
            backlog=limits.listen_backlog,
        )

    async def wait_ready(self) -> None:
        """Return once the runtime has called /next for the first time (its init is done).

        Raises ``RuntimeInitError`` if /runtime/init/error arrived first, and the error given to
        ``abort`` (``EndpointClosed`` after ``close``) if the environment went away. Has no
        timeout of its own: the caller wraps it in ``asyncio.wait_for``.
        """
        self._raise_if_unusable()
        if self._session.ready:
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._ready_waiters.append(fut)
        try:
            await fut
        finally:
            if fut in self._ready_waiters:
                self._ready_waiters.remove(fut)

    async def invoke(self, inv: Invocation) -> InvocationResult:
        """Hand ``inv`` to the parked /next (or the next one) and return the runtime's answer.

        Raises ``RuntimeInitError`` if the runtime reports an init error instead,
        ``EndpointBusy`` if an invocation is already in flight, and the ``abort`` error if the
        environment dies. No timeout of its own: on ``asyncio.wait_for`` timeout the caller
        destroys the environment and calls ``abort``. A cancelled invocation that no /next took
        yet is withdrawn, so the runtime never sees it.
        """
        self._raise_if_unusable()
        if self._result is not None:
            raise EndpointBusy(f"cannot invoke {inv.request_id}: an invocation is already in flight")
        decision = self._session.submit(inv)
        fut: asyncio.Future[InvocationResult] = asyncio.get_running_loop().create_future()
        self._result = fut
        self._result_id = inv.request_id
        if decision is not None:
            self._deliver_to_parked(decision.invocation)
        try:
            return await fut
        finally:
            if self._result is fut:
                self._result = None
                self._result_id = ""
            if not fut.done() or fut.cancelled():
                self._session.withdraw(inv.request_id)
            if self._slot.active:
                # Partial large bodies can answer nothing now (the session refuses a post for
                # an ended invocation on its request line): let go of them.
                self._trimmer.released(self._slot.drop_all())

    def abort(self, exc: BaseException) -> None:
        """Fail every waiter, now and later, with ``exc`` (the environment died or timed out)."""
        if self._failure is None:
            self._failure = exc
        self._fail_waiters(exc)

    async def close(self) -> None:
        """Stop serving, close every connection and the socket. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._failure is None:
            self._failure = EndpointClosed("endpoint is closed")
        self._fail_waiters(self._failure)
        server, self._server = self._server, None
        if self._slot.active:
            self._trimmer.released(self._slot.drop_all())
        for conn in list(self._connections):
            conn.abort()
        if server is None:
            self._sock.close()
            return
        server.close()
        await server.wait_closed()

    @property
    def connections(self) -> int:
        """Connections the runtime holds open to this endpoint."""
        return len(self._connections)

    @property
    def buffered_bytes(self) -> int:
        """Request body bytes this endpoint holds for its runtime right now (diagnostics, tests)."""
        return sum(conn.buffered_bytes for conn in self._connections)

    @property
    def idle(self) -> bool:
        """The runtime is parked in /next with nothing in flight."""
        return self._parked is not None and self._failure is None

    # -- runtime side (called by HttpConnection) -------------------------------------------------

    def connection_opened(self, conn: HttpConnection) -> bool:
        if len(self._connections) >= self._limits.max_connections or self._closed:
            self.refused_connections += 1
            if self.refused_connections == 1:
                _log.warning(
                    "environment %s: Runtime API connection refused, the environment already "
                    "holds %d (runtime_api.max_connections); further refusals are not logged",
                    self._label, len(self._connections),
                )
            return False
        self._connections.add(conn)
        return True

    def connection_closed(self, conn: HttpConnection, released_bytes: int) -> None:
        self._connections.discard(conn)
        if released_bytes:
            self._trimmer.released(released_bytes)
        if conn is self._parked:
            self._parked = None
            self._session.abandon_next()

    def handle_request(self, conn: HttpConnection, request: Request) -> None:
        kind, request_id = route(request.method, request.url)
        keep_alive = request.keep_alive
        session = self._session
        if kind is Route.NEXT:
            decision = session.on_next()
            if self._ready_waiters:
                self._wake_ready()
            if isinstance(decision, Deliver):
                inv = decision.invocation
                conn.send_with_body(render_invocation_head(inv, keep_alive), inv.payload, keep_alive)
            elif isinstance(decision, Park):
                previous = self._parked
                if previous is not None and previous is not conn:
                    previous.abort()  # superseded by a newer /next
                self._parked = conn
                self._parked_keep_alive = keep_alive
                conn.hold()
            else:
                conn.send(render_reply(decision.reply, keep_alive), keep_alive)
            return
        if kind is Route.RESPONSE:
            outcome = session.on_response(request_id, request.body, request.oversize)
        elif kind is Route.ERROR:
            outcome = session.on_error(
                request_id, request.body, request.error_type, request.oversize
            )
        elif kind is Route.INIT_ERROR:
            outcome = session.on_init_error(request.body, request.error_type, request.oversize)
        elif kind is Route.METHOD_NOT_ALLOWED:
            conn.send(render_plain(405, b"", keep_alive), keep_alive)
            return
        else:
            conn.send(render_plain(404, _NOT_FOUND_TEXT, keep_alive), keep_alive)
            return
        # Answer the runtime first, then wake the platform side.
        conn.send(render_reply(outcome.reply, keep_alive), keep_alive)
        self._apply(outcome)

    # -- helpers ---------------------------------------------------------------------------------

    def _apply(self, outcome: PostOutcome) -> None:
        result = outcome.result
        if result is not None:
            fut = self._result
            if fut is not None and not fut.done() and self._result_id == result.request_id:
                fut.set_result(result)
        if outcome.init_error is not None:
            self._fail_on_init_error(outcome.init_error)

    def _deliver_to_parked(self, inv: Invocation) -> None:
        conn, self._parked = self._parked, None
        if conn is None or conn.closed:
            # The parked connection broke and its connection_lost is still pending. The session
            # now counts the invocation as delivered; the runtime's next /next gets it again.
            return
        keep_alive = self._parked_keep_alive
        conn.send_with_body(render_invocation_head(inv, keep_alive), inv.payload, keep_alive)

    def _wake_ready(self) -> None:
        waiters, self._ready_waiters = self._ready_waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)

    def _fail_on_init_error(self, init_error: InitError) -> None:
        waiters, self._ready_waiters = self._ready_waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_exception(RuntimeInitError(init_error))
        result = self._result
        if result is not None and not result.done():
            result.set_exception(RuntimeInitError(init_error))

    def _fail_waiters(self, exc: BaseException) -> None:
        waiters, self._ready_waiters = self._ready_waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_exception(exc)
        result = self._result
        if result is not None and not result.done():
            result.set_exception(exc)

    def _raise_if_unusable(self) -> None:
        if self._failure is not None:
            raise self._failure
        init_error = self._session.init_error
        if init_error is not None:
            raise RuntimeInitError(init_error)
