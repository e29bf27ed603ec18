"""lambent's API as each sandbox sees it: a private listener at 127.0.0.1:<port> in the sandbox's
own network namespace, served by the server's own ASGI app.

The worker creates the listening socket inside the namespace (``SandboxSpec.extra_listen_ports``,
like the Runtime API's), so nothing outside that sandbox can connect to it and the sandbox can
reach nothing else of the host. :class:`InsideApi` serves it with the public listener's protocol
class (``uvicorn.Config.http_protocol_class``, a :class:`GuardedHttpToolsProtocol`): the same
head/body deadlines and header limits, the same uvicorn ``ServerState`` (so uvicorn's shutdown
closes these connections too) and the same app; requests are authenticated by SigV4 like any
other (the environment's execution-role credentials, ``lambent.worker.credentials``).

Each environment has its own :class:`InsideGuard`: at most ``max_connections`` connections,
counted against that environment only. At the cap a new connection takes the place of the
environment's oldest idle one (or the oldest still sending its head), else it is answered 429
and closed at once, so a function that opens 10,000 connections holds at most the cap of the
server's descriptors (plus the kernel's listen backlog, which is not the server's). Closing the
:class:`InsideListener` (the environment is destroyed) stops listening and aborts every one of
its connections.
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from typing import Any

import uvicorn
from uvicorn.server import ServerState

from lambent.api.listener import ConnectionGuard, GuardedHttpToolsProtocol
from lambent.errors import LambentError
from lambent.settings import HttpSettings

__all__ = ["InsideApi", "InsideGuard", "InsideListener"]


class InsideGuard(ConnectionGuard):
    """One environment's connections to the inside listener. Scope: one per environment."""

    def __init__(self, settings: HttpSettings, max_connections: int) -> None:
        # Every connection comes from 127.0.0.1 inside the sandbox: the per-address cap is the cap.
        super().__init__(dataclasses.replace(settings, max_connections_per_address=max_connections), max_connections)
        #: Every admitted connection, whatever it is doing (the base class tracks only some states).
        self.live: set[GuardedHttpToolsProtocol] = set()

    def admit(self, conn: GuardedHttpToolsProtocol, address: str) -> LambentError | None:
        refusal = super().admit(conn, address)
        if refusal is None:
            self.live.add(conn)
        return refusal

    def release(self, conn: GuardedHttpToolsProtocol) -> None:
        self.live.discard(conn)
        super().release(conn)


class InsideListener:
    """One environment's served socket. ``close`` is idempotent. Scope: one per environment."""

    def __init__(self, server: asyncio.AbstractServer, guard: InsideGuard, label: str) -> None:
        self._server = server
        self.guard = guard
        self.label = label
        self._closed = False

    @property
    def connections(self) -> int:
        return self.guard.total

    def close(self) -> None:
        """Stop listening and abort every connection of this environment."""
        if self._closed:
            return
        self._closed = True
        self._server.close()
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
        if max_connections <= 0 or listen_backlog <= 0:
            raise ValueError("max_connections and listen_backlog must be positive")
        self.config = config
        self.server_state = server_state
        self.app_state: dict[str, Any] = app_state if app_state is not None else {}
        self.max_connections = max_connections
        self.listen_backlog = listen_backlog

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

    async def serve(self, sock: socket.socket, label: str) -> InsideListener:
        """Serve the listening ``sock`` (created in an environment's network namespace)."""
        cls = self._protocol_class()
        guard = InsideGuard(cls.guard.settings, self.max_connections)
        config, server_state, app_state = self.config, self.server_state, self.app_state

        def connection() -> asyncio.Protocol:
            protocol = cls(config=config, server_state=server_state, app_state=app_state)
            protocol.guard = guard
            return protocol

        loop = asyncio.get_running_loop()
        server = await loop.create_server(connection, sock=sock, backlog=self.listen_backlog)
        return InsideListener(server, guard, label)
