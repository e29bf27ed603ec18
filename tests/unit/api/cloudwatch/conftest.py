"""Puts ``cw_wire`` on the import path; a CloudWatch domain over a real metrics.db with a test clock,
and the ``cloudwatch`` error table the integrator adds to lambent/api/envelopes.py."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from cw_wire import CLOUDWATCH_ERRORS  # noqa: E402

from lambent.api import envelopes  # noqa: E402

from cw_world import World  # noqa: E402


@pytest.fixture(params=["json", "query"])
async def world(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[World]:
    """Both protocols the layer can serve CloudWatch in: json (boto3's) and query."""
    monkeypatch.setitem(envelopes.TABLES, "cloudwatch", CLOUDWATCH_ERRORS)
    w = World(tmp_path, str(request.param))
    yield w
    w.store.close()
