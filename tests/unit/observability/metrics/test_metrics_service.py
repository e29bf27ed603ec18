"""MetricsService over a real metrics.db: data queryable at once, counted once across a flush,
merged late minutes, retention (refused when too old, pruned from memory and the archive), the
series cap, and a restart that still knows the archived series."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lambent.observability.metrics import MetricsService, Series, datapoints, dimensions
from lambent.store.metrics import MetricsStore

T0 = 1_800_000_000.0  # a minute boundary (divisible by 60)
DAY = 86400.0


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(tmp_path: Path) -> Iterator[MetricsStore]:
    s = MetricsStore.open_in(tmp_path)
    yield s
    s.close()


def service(store: MetricsStore | None, clock: Clock, *, max_series: int = 100) -> MetricsService:
    return MetricsService(store, retention_s=15 * DAY, max_series=max_series, flush_interval_s=10.0, clock=clock)


S = Series("Custom", "Latency", dimensions({"Api": "orders"}), "000000000000")


async def sums(svc: MetricsService, series: Series, start: float, end: float, period: int = 60) -> list[float]:
    return [d.summary.statistic("Sum") for d in await datapoints(svc, series, start, end, period)]


async def test_queryable_before_and_after_flush_counted_once(store: MetricsStore) -> None:
    clock = Clock(T0 + 5)
    svc = service(store, clock)
    for v in (1.0, 2.0, 3.0):
        assert svc.record(S, v, unit="Milliseconds")
    assert await sums(svc, S, T0, T0 + 60) == [6.0]
    clock.now = T0 + 65  # the minute ended: the flush archives it
    assert await svc.flush() == 1
    assert await sums(svc, S, T0, T0 + 60) == [6.0]
    assert store.read_minutes(S.account, S.namespace, S.name, S.dims_key, 0, 2**40)[0][0] == int(T0 // 60)


async def test_late_data_for_an_archived_minute_merges(store: MetricsStore) -> None:
    clock = Clock(T0 + 5)
    svc = service(store, clock)
    svc.record(S, 10.0)
    clock.now = T0 + 70
    await svc.flush()
    svc.record(S, 5.0, ts=T0 + 30)  # PutMetricData with an earlier timestamp
    assert await sums(svc, S, T0, T0 + 60) == [15.0]
    clock.now = T0 + 200
    await svc.flush()
    assert len(store.read_minutes(S.account, S.namespace, S.name, S.dims_key, 0, 2**40)) == 2
    points = await datapoints(svc, S, T0, T0 + 60, 60)
    assert [(p.summary.count, p.summary.minimum, p.summary.maximum) for p in points] == [(2, 5.0, 10.0)]


async def test_periods_group_minutes_and_skip_empty_ones(store: MetricsStore) -> None:
    clock = Clock(T0 + 3600)
    svc = service(store, clock)
    for minute, value in ((0, 1.0), (1, 2.0), (4, 4.0), (10, 8.0)):
        svc.record(S, value, ts=T0 + minute * 60 + 1)
    await svc.flush()
    assert await sums(svc, S, T0, T0 + 900, period=300) == [7.0, 8.0]
    points = await datapoints(svc, S, T0 + 20, T0 + 900, 300)  # start rounded down to the minute
    assert [p.start for p in points] == [T0, T0 + 600]


async def test_unit_filter(store: MetricsStore) -> None:
    clock = Clock(T0)
    svc = service(store, clock)
    svc.record(S, 1.0, unit="Seconds")
    assert await datapoints(svc, S, T0, T0 + 60, 60, unit="Milliseconds") == []
    assert len(await datapoints(svc, S, T0, T0 + 60, 60, unit="Seconds")) == 1


async def test_retention_refuses_old_and_far_future_data_and_prunes(store: MetricsStore) -> None:
    clock = Clock(T0)
    svc = service(store, clock)
    assert not svc.record(S, 1.0, ts=T0 - 16 * DAY)
    assert not svc.record(S, 1.0, ts=T0 + 3 * 3600)
    assert not svc.record(S, 1.0, ts=float("nan"))
    assert svc.record(S, 1.0, ts=T0 - 14 * DAY)
    assert svc.record(S, 2.0, ts=T0)
    clock.now = T0 + 120
    await svc.flush()  # first flush also prunes (hourly)
    clock.now = T0 + 2 * DAY  # the 14-day-old minute is now 16 days old
    svc._last_prune = 0.0
    await svc.flush()
    assert await sums(svc, S, T0 - 15 * DAY, T0 + 60) == [2.0]
    assert [m for m, _, _ in store.read_minutes(S.account, S.namespace, S.name, S.dims_key, 0, 2**40)] == [int(T0 // 60)]


async def test_series_cap_bounds_new_series_only(store: MetricsStore) -> None:
    clock = Clock(T0)
    svc = service(store, clock, max_series=3)
    for i in range(3):
        assert svc.record(Series("C", "M", dimensions({"id": str(i)})), 1.0)
    assert not svc.record(Series("C", "M", dimensions({"id": "hostile"})), 1.0)
    assert svc.record(Series("C", "M", dimensions({"id": "0"})), 1.0)  # a known series still records
    assert not svc.can_add(1)
    assert svc.refused == 1
    assert len(list(svc.series())) == 3


async def test_restart_knows_archived_series(tmp_path: Path) -> None:
    clock = Clock(T0)
    first = MetricsStore.open_in(tmp_path)
    svc = service(first, clock)
    await svc.start()
    svc.record(S, 4.0)
    await svc.stop()  # writes the current minute too
    first.close()
    second = MetricsStore.open_in(tmp_path)
    try:
        again = service(second, clock)
        await again.start()
        assert list(again.series()) == [S]
        assert await sums(again, S, T0, T0 + 60) == [4.0]
        await again.stop()
    finally:
        second.close()


async def test_without_archive_memory_answers_and_prunes() -> None:
    clock = Clock(T0)
    svc = service(None, clock)
    svc.record(S, 3.0)
    clock.now = T0 + 600
    assert await svc.flush() == 0
    assert await sums(svc, S, T0, T0 + 60) == [3.0]
    clock.now = T0 + 16 * DAY
    await svc.flush()
    assert list(svc.series()) == []
