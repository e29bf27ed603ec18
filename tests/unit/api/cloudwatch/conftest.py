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

from cw_wire import CLOUDWATCH_ERRORS, Client, client  # noqa: E402

from lambent.api import envelopes  # noqa: E402
from lambent.observability.metrics import LambdaMetrics, MetricsService  # noqa: E402
from lambent.observability.metrics.cloudwatch import CloudWatch  # noqa: E402
from lambent.settings import Settings  # noqa: E402
from lambent.store.metrics import MetricsStore  # noqa: E402

T0 = 1_800_000_000.0
DAY = 86400.0


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class World:
    def __init__(self, tmp_path: Path, protocol: str) -> None:
        self.protocol = protocol
        self.clock = Clock(T0 + 30)
        self.store = MetricsStore.open_in(tmp_path)
        self.metrics = MetricsService(self.store, retention_s=15 * DAY, max_series=50, flush_interval_s=10.0,
                                      clock=self.clock)
        self.lambda_metrics = LambdaMetrics(self.metrics)
        self.cw: Client = client(CloudWatch(self.metrics), Settings(data_dir=tmp_path), protocol)


@pytest.fixture(params=["json", "query"])
async def world(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[World]:
    """Both protocols the layer can serve CloudWatch in: json (boto3's) and query."""
    monkeypatch.setitem(envelopes.TABLES, "cloudwatch", CLOUDWATCH_ERRORS)
    w = World(tmp_path, str(request.param))
    yield w
    w.store.close()
