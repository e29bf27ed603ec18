"""Puts ``logs_wire`` on the import path; a Server (LogStore in a temporary data dir) and its
boto3 ``logs`` client."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from logs_wire import Server  # noqa: E402


@pytest.fixture
def server(tmp_path: Path) -> Server:
    return Server(tmp_path)


@pytest.fixture
def logs(server: Server) -> Any:
    return server.client()
