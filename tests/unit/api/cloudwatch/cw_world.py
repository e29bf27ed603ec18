"""The CloudWatch test world: a domain over a real metrics.db with a test clock (cw_world, not
conftest, so test modules can import it by a name no other directory uses)."""

from __future__ import annotations

from pathlib import Path

from cw_wire import Client, client

from lambent.observability.metrics import LambdaMetrics, MetricsService
from lambent.observability.metrics.cloudwatch import CloudWatch
from lambent.settings import Settings
from lambent.store.metrics import MetricsStore

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


