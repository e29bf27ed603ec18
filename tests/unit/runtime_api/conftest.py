"""A real RuntimeApiEndpoint on a loopback socket for each test."""

from __future__ import annotations

import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

# pytest runs with --import-mode=importlib, which puts no test folder on sys.path: make this
# folder's helper module (uniquely named rapi_client) importable from the tests beside it.
sys.path.insert(0, str(Path(__file__).parent))
from rapi_client import Server  # noqa: E402

from lambent.runtime_api import RuntimeApiEndpoint


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.setblocking(False)
    endpoint = RuntimeApiEndpoint(sock)
    await endpoint.start()
    srv = Server(endpoint, sock.getsockname()[1], [])
    try:
        yield srv
    finally:
        await endpoint.close()
        for client in srv.clients:
            await client.close()
