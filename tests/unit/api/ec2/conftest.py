"""Puts ``ec2_wire`` on the import path; an in-process EC2 endpoint with the VPC error codes."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from ec2_wire import Endpoint, vpc_error_table  # noqa: E402

from lambent.api import envelopes  # noqa: E402


@pytest.fixture
def endpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Endpoint]:
    monkeypatch.setitem(envelopes.TABLES, "ec2", vpc_error_table())  # type: ignore[index]
    ep = Endpoint(tmp_path)
    yield ep
    ep.close()
