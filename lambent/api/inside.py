"""lambent's API as each sandbox sees it: a private listener at 127.0.0.1:<port> in the sandbox's
own network namespace, served by the server's own ASGI app.

The worker creates the listening socket inside the namespace (``SandboxOptions.extra_listen_ports``,
like the Runtime API's), so nothing outside that sandbox can connect to it and the sandbox can
reach nothing else of the host. :class:`InsideApi` serves it with the public listener's protocol
class (``uvicorn.Config.http_protocol_class``, a :class:`GuardedHttpToolsProtocol`): the same
head/body deadlines and header limits, the same uvicorn ``ServerState`` (so uvicorn's shutdown
closes these connections too) and the same app; requests are authenticated by SigV4 like any
other (the environment's execution-role credentials, ``lambent.worker.credentials``).

Each environment has its own :class:`InsideGuard`: at most ``max_connections`` connections,
counted against that environment only. At the cap a new connection takes the place of the
environment's oldest idle one (or the oldest still sending its head), else it is answered 429
and closed at once; connections are accepted one at a time (:class:`InsideListener`), so a
function that opens 10,000 connections holds at most the cap of the server's descriptors (the
one being admitted included); the rest wait in the kernel's listen backlog, which is not the
server's. Closing the
:class:`InsideListener` (the environment is destroyed) stops listening and aborts every one of
its connections.

A VPC function's listener has a gate (``VpcNetwork.api_reachable`` of its VPC): while the VPC has
neither an endpoint for lambent's API nor a NAT gateway, each connection is closed as soon as it is
accepted, unread, and the open ones are aborted at the next check (every ``GATE_CHECK_S``) — the
function's SDK sees its connection reset (AWS: it times out; docs/parity.md).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import socket
from collections.abc import Callable
from typing import Any

import uvicorn
from uvicorn.server import ServerState

from lambent.api.listener import ConnectionGuard, GuardedHttpToolsProtocol
from lambent.errors import LambentError
from lambent.settings import HttpSettings

__all__ = ["InsideApi", "InsideGuard", "InsideListener"]

log = logging.getLogger("lambent.api.inside")


class InsideGuard(ConnectionGuard):
    """One environment's connections to the inside listener: ``max_connections`` is what the
    server may hold of this environment's descriptors, the connection being admitted included,
    so at most ``max_connections - 1`` are kept. Scope: one per environment."""

    def __init__(self, settings: HttpSettings, max_connections: int) -> None:
        if max_connections < 2:
            raise ValueError("the inside listener needs max_connections >= 2")
        kept = max_connections - 1
        # Every connection comes from 127.0.0.1 inside the sandbox: the total decides (one over it
        # per address, so that a new connection evicts the oldest idle one instead of a refusal).
        super().__init__(dataclasses.replace(settings, max_connections_per_address=kept + 1), kept)
        #: Every admitted connection, whatever it is doing (the base class tracks only some states).
        self.live: set[GuardedHttpToolsProtocol] = set()
        #: The most connections it ever held at once (for logs and tests).
        self.peak = 0

    def admit(self, conn: GuardedHttpToolsProtocol, address: str) -> LambentError | None:
        refusal = super().admit(conn, address)
        if refusal is None:
            self.live.add(conn)
            self.peak = max(self.peak, self.total)
        return refusal

    def release(self, conn: GuardedHttpToolsProtocol) -> None:
        self.live.discard(conn)
        super().release(conn)


class InsideListener:
    """One environment's served socket: accepts one connection at a time (the next only once the
    last was handed to its protocol, which admitted or refused it), so the server never holds
    more than the guard keeps plus that one, even for an instant (a plain
    ``loop.create_server`` accepts up to its backlog at once before any protocol runs).
    ``close`` is idempotent. Scope: one per environment."""

    #: After a failed accept (EMFILE: the server is out of descriptors), wait this long.
    RETRY_S = 0.1
    #: How often a gated listener checks its gate for the connections it has open.
    GATE_CHECK_S = 1.0

    def __init__(self, sock: socket.socket, factory: Callable[[], asyncio.Protocol], guard: InsideGuard,
                 label: str, on_close: Callable[[InsideListener], None] | None = None,
                 gate: Callable[[], bool] | None = None) -> None:
        self._sock = sock
        self._gate = gate
        #: Connections closed at once because the gate was shut (for logs and tests).
        self.refused = 0
        self._on_close = on_close
        self._factory = factory
        self.guard = guard
        self.label = label
        self._loop = asyncio.get_running_loop()
        self._closed = False
        self._reading = False
        self._handing: asyncio.Task[None] | None = None
        self._pending: socket.socket | None = None
        self._retry: asyncio.TimerHandle | None = None
        self._gate_timer: asyncio.TimerHandle | None = None
        self._resume()
        if gate is not None:
            self._gate_timer = self._loop.call_later(self.GATE_CHECK_S, self._check_gate)

    @property
    def connections(self) -> int:
        return self.guard.total

    def _resume(self) -> None:
        self._retry = None
        if not self._closed and not self._reading:
            self._loop.add_reader(self._sock.fileno(), self._ready)
            self._reading = True

    def _pause(self) -> None:
        if self._reading:
            self._loop.remove_reader(self._sock.fileno())
            self._reading = False

    def _ready(self) -> None:
        try:
            conn, _ = self._sock.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            log.warning("inside listener of %s: accept failed: %s", self.label, exc)
            self._pause()
            self._retry = self._loop.call_later(self.RETRY_S, self._resume)
            return
        if self._gate is not None and not self._open_gate():
            self.refused += 1
            conn.close()
            return
        self._pause()
        conn.setblocking(False)
        # Ours until the task has started (a task cancelled before its first step never runs its
        # own cleanup: close() closes it then).
        self._pending = conn
        self._handing = self._loop.create_task(self._hand_over(conn))

    def _open_gate(self) -> bool:
        assert self._gate is not None  # noqa: S101 - called only when gated
        try:
            return bool(self._gate())
        except Exception:  # noqa: BLE001 - a gate that cannot answer is shut
            log.exception("inside listener of %s: its gate failed", self.label)
            return False

    def _check_gate(self) -> None:
        """Abort the open connections while the gate is shut; check again later."""
        self._gate_timer = None
        if self._closed:
            return
        if not self._open_gate():
            for conn in list(self.guard.live):
                self.guard.release(conn)
                conn.transport.abort()
        self._gate_timer = self._loop.call_later(self.GATE_CHECK_S, self._check_gate)

    async def _hand_over(self, conn: socket.socket) -> None:
        self._pending = None  # the task owns it now
        try:
            await self._loop.connect_accepted_socket(self._factory, conn)
        except asyncio.CancelledError:
            conn.close()
            raise
        except Exception as exc:  # noqa: BLE001 - one connection's failure must not stop the listener
            conn.close()
            log.warning("inside listener of %s: connection not served: %s", self.label, exc)
        finally:
            self._handing = None
            self._resume()

    def close(self) -> None:
        """Stop listening and abort every connection of this environment."""
        if self._closed:
            return
        self._closed = True
        if self._on_close is not None:
            self._on_close(self)
        self._pause()
        if self._retry is not None:
            self._retry.cancel()
        if self._gate_timer is not None:
            self._gate_timer.cancel()
            self._gate_timer = None
        if self._handing is not None:
            self._handing.cancel()
        if self._pending is not None:  # accepted, its hand-over task cancelled before it ran
            self._pending.close()
            self._pending = None
        self._sock.close()
        for conn in list(self.guard.live):
            self.guard.release(conn)
            conn.transport.abort()
        if self.guard._timer is not None:
            self.guard._timer.cancel()
            self.guard._timer = None


class InsideApi:
    """Serves the inside listeners of every environment with the server's app and protocol.
    Scope: one per server (build it with :meth:`of` from the running ``uvicorn.Server``)."""

    def __init__(
        self,
        config: uvicorn.Config,
        server_state: ServerState,
        *,
        max_connections: int,
        listen_backlog: int,
        app_state: dict[str, Any] | None = None,
    ) -> None:
        if max_connections < 2 or listen_backlog <= 0:
            raise ValueError("max_connections must be at least 2 and listen_backlog positive")
        self.config = config
        self.server_state = server_state
        self.app_state: dict[str, Any] = app_state if app_state is not None else {}
        self.max_connections = max_connections
        self.listen_backlog = listen_backlog
        self._open: set[InsideListener] = set()

    @classmethod
    def of(cls, server: uvicorn.Server, *, max_connections: int, listen_backlog: int) -> InsideApi:
        """The one for ``server``: its config (app and protocol class) and its connection state."""
        lifespan = getattr(server, "lifespan", None)  # set once the server runs
        state: dict[str, Any] = lifespan.state if lifespan is not None else {}
        return cls(server.config, server.server_state, max_connections=max_connections,
                   listen_backlog=listen_backlog, app_state=state)

    def _protocol_class(self) -> type[GuardedHttpToolsProtocol]:
        if not self.config.loaded:
            self.config.load()
        cls = self.config.http_protocol_class
        if not (isinstance(cls, type) and issubclass(cls, GuardedHttpToolsProtocol)):
            raise TypeError("the server's http protocol must be lambent's GuardedHttpToolsProtocol")
        return cls

    async def serve(self, sock: socket.socket, label: str, gate: Callable[[], bool] | None = None) -> InsideListener:
        """Serve the listening ``sock`` (created in an environment's network namespace); with a
        ``gate``, only while it answers True (see the module docstring)."""
        cls = self._protocol_class()
        guard = InsideGuard(cls.guard.settings, self.max_connections)
        config, server_state, app_state = self.config, self.server_state, self.app_state

        def connection() -> asyncio.Protocol:
            protocol = cls(config=config, server_state=server_state, app_state=app_state)
            protocol.guard = guard
            return protocol

        sock.setblocking(False)
        sock.listen(self.listen_backlog)
        listener = InsideListener(sock, connection, guard, label, on_close=self._open.discard, gate=gate)
        self._open.add(listener)
        return listener

    @property
    def listeners(self) -> int:
        return len(self._open)

    def close_all(self) -> None:
        """Close every environment's listener (server shutdown: uvicorn stops accepting on its
        own sockets, not on these; call this when its shutdown begins)."""
        for listener in list(self._open):
            listener.close()
