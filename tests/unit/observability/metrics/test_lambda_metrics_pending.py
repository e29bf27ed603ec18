"""LambdaMetrics' invoke-path aggregation (issue 12: recording must cost ≤ 5 % of a warm invoke):
observe() only adds to a pending aggregate; what the service and Prometheus show afterwards is
exactly what recording each datum on its own gave — counts, sums, extremes, percentiles, minutes —
and the pending state stays bounded."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from lambent.observability.metrics import LambdaMetrics, MetricsService, Series, dimensions
from lambent.observability.metrics import lambda_metrics
from lambent.observability.metrics.lambda_metrics import DURATION_BUCKETS_S
from lambent.observability.metrics.summary import Summary
from lambent.store.metrics import MetricsStore

T0 = 1_800_000_000.0  # a minute boundary (divisible by 60)


@dataclass(frozen=True)
class Cfg:
    name: str
    version: str
    account: str = "000000000000"

    @property
    def key(self) -> str:
        return f"{self.account}:function:{self.name}"


@dataclass(frozen=True)
class Outcome:
    function_error: str | None
    duration_ms: float


class Clock:
    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def make(clock: Clock, store: MetricsStore | None = None) -> tuple[LambdaMetrics, MetricsService]:
    svc = MetricsService(store, retention_s=86400.0, max_series=10_000, flush_interval_s=10.0, clock=clock)
    return LambdaMetrics(svc), svc


async def minute_of(svc: MetricsService, metric: str, dims: Mapping[str, str], minute_start: float) -> Summary | None:
    got = await svc.minutes(Series("AWS/Lambda", metric, dimensions(dims)), minute_start, minute_start + 60)
    return got[0][2] if got else None


async def test_aggregates_equal_the_datum_by_datum_statistics() -> None:
    clock = Clock(T0 + 1)
    m, svc = make(clock)
    rng = random.Random(12)
    durations = [rng.choice([0.01, 0.5, 1.2, 3.0, 250.0, 7000.0]) * rng.random() + 0.001 for _ in range(997)]
    failed = [rng.random() < 0.2 for _ in durations]
    for d, f in zip(durations, failed, strict=True):
        m.observe(Cfg("f", "3"), Outcome("Unhandled" if f else None, d), qualifier="live")
    expected_duration, expected_errors = Summary(), Summary()
    for d, f in zip(durations, failed, strict=True):
        expected_duration.add(d)
        expected_errors.add(1.0 if f else 0.0)
    for dims in ({}, {"FunctionName": "f"}, {"FunctionName": "f", "Resource": "f:live"},
                 {"FunctionName": "f", "Resource": "f:live", "ExecutedVersion": "3"}):
        inv = await minute_of(svc, "Invocations", dims, T0)
        err = await minute_of(svc, "Errors", dims, T0)
        dur = await minute_of(svc, "Duration", dims, T0)
        assert inv is not None and err is not None and dur is not None
        assert (inv.count, inv.total, inv.minimum, inv.maximum) == (997, 997, 1.0, 1.0)
        assert (err.count, err.total, err.minimum, err.maximum, err.buckets) == (
            expected_errors.count, expected_errors.total, 0.0, 1.0, expected_errors.buckets)
        assert dur.buckets == expected_duration.buckets
        assert (dur.count, dur.minimum, dur.maximum) == (997, min(durations), max(durations))
        assert abs(dur.total - sum(durations)) < 1e-6
        for p in (50.0, 90.0, 99.0):
            assert dur.percentile(p) == expected_duration.percentile(p)


async def test_all_successes_and_all_errors_keep_exact_extremes() -> None:
    clock = Clock(T0 + 1)
    m, svc = make(clock)
    for _ in range(3):
        m.observe(Cfg("ok", "$LATEST"), Outcome(None, 1.0))
        m.observe(Cfg("bad", "$LATEST"), Outcome("Unhandled", 1.0))
    ok = await minute_of(svc, "Errors", {"FunctionName": "ok"}, T0)
    bad = await minute_of(svc, "Errors", {"FunctionName": "bad"}, T0)
    assert ok is not None and (ok.count, ok.total, ok.minimum, ok.maximum) == (3, 0.0, 0.0, 0.0)
    assert bad is not None and (bad.count, bad.total, bad.minimum, bad.maximum) == (3, 3.0, 1.0, 1.0)


async def test_each_invocation_lands_in_its_own_minute() -> None:
    clock = Clock(T0 + 59.5)
    m, svc = make(clock)
    m.observe(Cfg("f", "$LATEST"), Outcome(None, 1.0))
    m.observe(Cfg("f", "$LATEST"), Outcome(None, 1.0))
    clock.t = T0 + 60.2  # the next minute, before any settle
    m.observe(Cfg("f", "$LATEST"), Outcome(None, 5.0))
    first = await minute_of(svc, "Invocations", {"FunctionName": "f"}, T0)
    second = await minute_of(svc, "Invocations", {"FunctionName": "f"}, T0 + 60)
    assert first is not None and second is not None and (first.count, second.count) == (2, 1)
    later = await minute_of(svc, "Duration", {"FunctionName": "f"}, T0 + 60)
    assert later is not None and later.maximum == 5.0


async def test_listing_reads_and_archive_flushes_see_pending_invocations(tmp_path: Path) -> None:
    clock = Clock(T0 + 1)
    store = MetricsStore.open_in(tmp_path)
    try:
        m, svc = make(clock, store)
        m.observe(Cfg("f", "$LATEST"), Outcome(None, 1.0))
        assert Series("AWS/Lambda", "Invocations", dimensions({"FunctionName": "f"}), "000000000000") in set(svc.series())
        m.observe(Cfg("f", "$LATEST"), Outcome(None, 1.0))
        assert await svc.flush(everything=True) > 0  # pending invocations are archived too
        m.observe(Cfg("f", "$LATEST"), Outcome(None, 1.0))
        got = await minute_of(svc, "Invocations", {"FunctionName": "f"}, T0)
        assert got is not None and got.count == 3  # archive + memory, each counted once
    finally:
        store.close()


def test_prometheus_totals_equal_counting_each_invocation() -> None:
    clock = Clock(T0 + 1)
    m, _ = make(clock)
    rng = random.Random(7)
    durations = [rng.random() * 2000 for _ in range(500)] + [bound * 1000 for bound in DURATION_BUCKETS_S]
    for i, d in enumerate(durations):
        m.observe(Cfg("f", "1" if i % 2 else "2"), Outcome("Unhandled" if i % 7 == 0 else None, d))
    for version in ("1", "2"):
        mine = [d for i, d in enumerate(durations) if ("1" if i % 2 else "2") == version]
        errors = sum(1 for i, _ in enumerate(durations) if ("1" if i % 2 else "2") == version and i % 7 == 0)
        t = next(t for t in m.totals() if t.version == version)
        assert (t.invocations, t.errors) == (len(mine), errors)
        assert t.duration_buckets == [sum(1 for d in mine if d / 1000.0 <= b) for b in DURATION_BUCKETS_S]
        assert abs(t.duration_sum_s - sum(mine) / 1000.0) < 1e-6


def test_pending_aggregates_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lambda_metrics, "MAX_PENDING", 8)
    clock = Clock(T0 + 1)
    m, svc = make(clock)
    for i in range(100):  # a new function version per invocation
        m.observe(Cfg(f"f{i}", "$LATEST"), Outcome(None, 1.0))
        assert len(m._pending) <= 8
    assert sum(t.invocations for t in m.totals()) == 100
    assert svc.known(Series("AWS/Lambda", "Invocations", dimensions({"FunctionName": "f0"})))


async def test_the_sampler_tick_settles_without_any_read() -> None:
    import asyncio

    clock = Clock(T0 + 1)
    m, svc = make(clock)
    m.start_sampling(lambda: {}, lambda: 0, interval_s=0.05)
    try:
        await asyncio.sleep(0)  # the first sample
        m.observe(Cfg("f", "$LATEST"), Outcome(None, 1.0))
        assert m._pending
        for _ in range(100):  # bounded: 5 s at most
            if not m._pending:
                break
            await asyncio.sleep(0.05)
        assert not m._pending
        # in the service's memory (no read settled it: a read would)
        assert Series("AWS/Lambda", "Invocations", dimensions({"FunctionName": "f"}), "000000000000") in svc._live
    finally:
        await m.stop_sampling()


async def test_other_feeds_do_not_settle_but_reads_count_everything() -> None:
    clock = Clock(T0 + 1)
    m, svc = make(clock)
    for _ in range(3):
        m.observe(Cfg("f", "$LATEST"), Outcome(None, 1.0))
        m.async_received("f")  # an async accept between invocations: no settle on its path
        m.async_attempt("f", None, 5.0)
    assert m._pending
    t = m.totals_of("f", "$LATEST")
    assert (t.invocations, t.async_received) == (3, 3)
    got = await minute_of(svc, "Invocations", {"FunctionName": "f"}, T0)
    assert got is not None and got.count == 3
