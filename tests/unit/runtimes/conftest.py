"""Each test gets a real RuntimeApiEndpoint on a loopback socket and a temporary task root."""

from __future__ import annotations

import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

# pytest runs with --import-mode=importlib, which puts no test folder on sys.path: make this
# folder's helper module (uniquely named runtime_harness) importable from the tests beside it.
sys.path.insert(0, str(Path(__file__).parent))
from runtime_harness import Harness  # noqa: E402

from lambent.runtime_api import RuntimeApiEndpoint  # noqa: E402


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.setblocking(False)
    port = sock.getsockname()[1]
    endpoint = RuntimeApiEndpoint(sock)
    await endpoint.start()
    task_root = tmp_path / "task"
    task_root.mkdir()
    h = Harness(endpoint, f"127.0.0.1:{port}", task_root)
    try:
        yield h
    finally:
        for proc in h.processes:
            await proc.stop()
        await endpoint.close()
