"""Fixtures of the default-network tests: a public host (203.0.113.1, TEST-NET-3) and a private
one (10.213.7.1) in namespaces routed by this host, a resolver on loopback, a server with the
network on. Everything is removed at teardown, even after a failure."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sys

sys.path.insert(0, str(Path(__file__).parent))  # hosts.py, probe.py (the suite runs --import-mode=importlib)

import pytest  # noqa: E402
from harness import Server, require_prerequisites  # noqa: E402
from hosts import (  # noqa: E402
    PRIVATE,
    PUBLIC,
    NsHost,
    dns_responder,
    namespace_host,
    network_env,
    sweep_server_network,
)



@pytest.fixture(scope="module")
def dns() -> Iterator[tuple[str, int, list[str]]]:
    with dns_responder({"public.test": PUBLIC}) as d:
        yield d


@pytest.fixture(scope="module")
def public() -> Iterator[NsHost]:
    with namespace_host(PUBLIC, "203.0.113.254") as host:
        yield host


@pytest.fixture(scope="module")
def private() -> Iterator[NsHost]:
    with namespace_host(PRIVATE, "10.213.7.254") as host:
        yield host


@pytest.fixture(scope="module")
def host_service() -> Iterator[int]:
    """A TCP service of the host on every address (loopback included); yields its port."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("0.0.0.0", 0))
    sock.listen(16)
    sock.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            conn.sendall(b"HTTP/1.0 200 OK\r\n\r\nhost")
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield sock.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        sock.close()


@pytest.fixture(scope="module")
def net_server(tmp_path_factory: pytest.TempPathFactory, dns: tuple[str, int, list[str]],
               public: NsHost, private: NsHost) -> Iterator[Server]:
    require_prerequisites()
    srv = Server(tmp_path_factory.mktemp("net") / "data", env_extra=network_env(dns[:2])).start()
    try:
        yield srv
    finally:
        srv.stop()
        srv.cleanup()
        sweep_server_network(srv.data_dir)


@pytest.fixture(scope="module")
def net_lam(net_server: Server) -> Any:
    return net_server.client()


@pytest.fixture
def net_fresh(tmp_path: Path, dns: tuple[str, int, list[str]]) -> Iterator[Any]:
    """Factory for a dedicated server with the network on; stopped after the test."""
    require_prerequisites()
    made: list[Server] = []

    def make(**env: str) -> Server:
        srv = Server(tmp_path / f"data{len(made)}", env_extra=network_env(dns[:2], **env)).start()
        made.append(srv)
        return srv

    try:
        yield make
    finally:
        for srv in made:
            if srv.proc is not None and srv.proc.poll() is None:
                srv.stop()
            srv.cleanup()
            sweep_server_network(srv.data_dir)
