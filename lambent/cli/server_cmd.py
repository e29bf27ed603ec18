"""``lambent server``: run the whole platform in this process tree."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import signal
import sys
from pathlib import Path
from collections.abc import Awaitable, Callable
from typing import Any

import uvicorn
import uvloop
from rich.console import Console
from starlette.types import Receive, Scope, Send

from lambent.api.app import LambentApp
from lambent.api.inside import InsideApi
from lambent.api.lambda_api import CODE_REQUEST_MAX_BYTES
from lambent.api.listener import ConnectionGuard, connection_budget, protocol_class, raise_fd_limit
from lambent.platform import Platform, StartupError
from lambent.settings import Settings


def register(sub: Any) -> None:
    p = sub.add_parser("server", help="run the lambent server")
    p.add_argument("--host", default=None, help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="port (default 9900)")
    p.add_argument("--data-dir", type=Path, default=None, help="state directory (default ./.lambent)")
    p.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"])
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # Helper threads (the async queue's group-commit writer, to_thread work) must get the GIL
    # quickly while the event loop is busy: CPython's default 5 ms switch interval would add up
    # to 5 ms to every 202 of an asynchronous invoke.
    sys.setswitchinterval(0.0005)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings.from_env(host=args.host, port=args.port, data_dir=args.data_dir)
    console = Console(stderr=True)
    # Every connection, sandbox pipe and Runtime API socket is a descriptor: take all the kernel
    # allows, then cap API connections so that a reserve stays for the rest (api/listener.py).
    nofile = raise_fd_limit()
    max_connections = connection_budget(nofile, settings.http)
    logging.getLogger("lambent.api").info("RLIMIT_NOFILE %d: at most %d API connections", nofile, max_connections)
    platform = Platform(settings)  # no I/O yet: Platform.start() does it, on the server's loop

    def uvicorn_config(app: _Served) -> uvicorn.Config:
        return uvicorn.Config(
            app,
            interface="asgi3",
            host=settings.host,
            port=settings.port,
            lifespan="on",  # its shutdown stops the platform (_Served)
            log_level=args.log_level,
            access_log=False,
            # uvicorn's httptools protocol, bounded: head/body deadlines, header limits, connection caps.
            http=protocol_class(ConnectionGuard(settings.http, max_connections), CODE_REQUEST_MAX_BYTES + 1),
            ws="none",
            loop="uvloop",
            timeout_graceful_shutdown=int(settings.worker.shutdown_grace_s),
            timeout_keep_alive=60,
            proxy_headers=False,
            server_header=False,
        )

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(_serve(platform, uvicorn_config, console))


async def _serve(platform: Platform, config: Callable[[_Served], uvicorn.Config], console: Console) -> int:
    """Start the platform, announce it, serve until SIGTERM/SIGINT, stop the platform."""
    settings = platform.settings
    # A signal while the platform starts (or serves: uvicorn re-raises what it caught once it has
    # shut down) is recorded, never fatal: the platform is then stopped in order.
    signalled: list[int] = []
    previous = {sig: signal.signal(sig, lambda s, _f: signalled.append(s)) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            await platform.start()
        except StartupError as exc:
            # Plain, unwrapped: the message names paths that scripts (and tests) look for.
            print(f"lambent server cannot start: {exc}", file=sys.stderr)
            return 1
        creds = platform.credentials
        if creds.generated:
            console.print(
                "[bold]Root credentials generated[/bold] (stored in "
                f"{settings.data_dir / 'root-credentials'}, shown only this once):\n"
                f"  AWS_ACCESS_KEY_ID={creds.access_key_id}\n  AWS_SECRET_ACCESS_KEY={creds.secret_access_key}"
            )
        console.print(
            f"lambent listening on [bold]http://{settings.host}:{settings.port}[/bold] "
            f"(account {settings.account_id}, region {settings.region}, data {settings.data_dir})"
        )
        server = uvicorn.Server(config(_Served(LambentApp(platform), platform)))
        # lambent's API inside every sandbox, served by this server's app and protocol.
        http = settings.http
        platform.pool.serve_inside_with(InsideApi.of(server, max_connections=http.inside_max_connections,
                                                     listen_backlog=http.inside_listen_backlog))
        # Everything built so far, the started platform included, lives as long as the server:
        # keep it out of the cyclic collector, and collect young objects less often (the invoke
        # path allocates many short-lived ones).
        gc.collect()
        gc.freeze()
        gc.set_threshold(20_000, 20, 20)
        if signalled:
            await platform.stop()
        else:
            await server.serve()  # stops the platform once connections are closed (_Served)
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class _Served:
    """What uvicorn runs: requests go to the app; the lifespan's startup has nothing left to do
    (the platform started before the socket was bound) and its shutdown stops the platform, after
    uvicorn closed the connections and before it returns. Not a coroutine function, so a request
    costs no extra frame (hence ``interface="asgi3"``)."""

    def __init__(self, app: LambentApp, platform: Platform) -> None:
        self.app = app
        self.platform = platform

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        if scope["type"] == "lifespan":
            return self._lifespan(receive, send)
        return self.app(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                try:
                    await self.platform.stop()
                finally:
                    await send({"type": "lifespan.shutdown.complete"})
                return
