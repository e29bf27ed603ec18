"""Fixtures shared by the integration and security suites (each conftest.py imports them); the
harness itself is in harness.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness import Server, require_prerequisites


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    require_prerequisites()
    srv = Server(tmp_path_factory.mktemp("lambent") / "data").start()
    yield srv
    srv.stop()
    srv.cleanup()


@pytest.fixture(scope="session")
def lam(server: Server) -> Any:
    return server.client()


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[Any]:
    """Factory for a dedicated server (for limits or restarts); stopped after the test."""
    require_prerequisites()
    made: list[Server] = []

    def make(**env: str) -> Server:
        srv = Server(tmp_path / f"data{len(made)}", env_extra=env).start()
        made.append(srv)
        return srv

    yield make
    for srv in made:
        srv.stop()
        srv.cleanup()


