"""LambdaMetrics: Lambda's dimension combinations, what each feed records (exact counts), the
concurrency sampler, and Prometheus totals."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from lambent.observability.metrics import LambdaMetrics, MetricsService, Series, dimension_sets, dimensions
from lambent.store.metrics import MetricsStore

T0 = 1_800_000_000.0


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


def make() -> tuple[LambdaMetrics, MetricsService]:
    svc = MetricsService(None, retention_s=86400.0, max_series=1000, flush_interval_s=10.0, clock=lambda: T0)
    return LambdaMetrics(svc), svc


async def total(svc: MetricsService, metric: str, dims: Mapping[str, str], stat: str = "Sum") -> float | None:
    minutes = await svc.minutes(Series("AWS/Lambda", metric, dimensions(dims)), T0 - 60, T0 + 60)
    return minutes[0][2].statistic(stat) if minutes else None


def test_dimension_sets_follow_lambdas_combinations() -> None:
    fn = ("FunctionName", "f")
    assert dimension_sets("f", None, "$LATEST") == ((), (fn,))
    assert dimension_sets("f", "7", "7") == ((), (fn,), (fn, ("Resource", "f:7")))
    assert dimension_sets("f", "$LATEST", "$LATEST") == ((), (fn,), (fn, ("Resource", "f:$LATEST")))
    assert dimension_sets("f", "live", "7") == (
        (), (fn,), (fn, ("Resource", "f:live")), (("ExecutedVersion", "7"), fn, ("Resource", "f:live")))


async def test_feeds_record_exact_counts() -> None:
    m, svc = make()
    for failed in (False, False, True):
        m.observe(Cfg("f", "2"), Outcome("Unhandled" if failed else None, 12.0), qualifier="live")
    m.throttled("f", "live")
    m.async_received("f")
    m.async_received("f")
    m.async_attempt("f", None, 1500.0)
    m.async_dropped("f")
    m.dead_letter_error("f")
    m.destination_failure("f")
    fn = {"FunctionName": "f"}
    assert await total(svc, "Invocations", fn) == 3
    assert await total(svc, "Errors", fn) == 1
    assert await total(svc, "Errors", fn, "SampleCount") == 3  # 0 for each success: Average = error rate
    assert await total(svc, "Invocations", {**fn, "Resource": "f:live", "ExecutedVersion": "2"}) == 3
    assert await total(svc, "Throttles", fn) == 1
    assert await total(svc, "Throttles", {**fn, "Resource": "f:live"}) == 1
    assert await total(svc, "AsyncEventsReceived", fn) == 2
    assert await total(svc, "AsyncEventAge", fn, "Maximum") == 1500.0
    assert await total(svc, "AsyncEventsDropped", fn) == 1
    assert await total(svc, "DeadLetterErrors", fn) == 1
    assert await total(svc, "DestinationDeliveryFailures", fn) == 1
    assert await total(svc, "Duration", {}, "Average") == 12.0
    t = m.totals_of("f", "2")
    assert (t.invocations, t.errors, t.throttles) == (3, 1, 0)  # the throttle named no version
    assert m.totals_of("f", "$LATEST").throttles == 1


async def test_concurrency_samples_per_function_and_account() -> None:
    m, svc = make()
    m.sample_concurrency({"a": 2, "b": 1}, unreserved=3, reserved=10)
    m.sample_concurrency({"a": 5}, unreserved=5, reserved=10)
    assert await total(svc, "ConcurrentExecutions", {"FunctionName": "a"}, "Maximum") == 5
    assert await total(svc, "ConcurrentExecutions", {}, "Maximum") == 5
    assert await total(svc, "ConcurrentExecutions", {}, "Minimum") == 3
    assert await total(svc, "UnreservedConcurrentExecutions", {}, "Maximum") == 5
    assert await total(svc, "ClaimedAccountConcurrency", {}, "Maximum") == 15


async def test_sampler_reads_the_limiter_until_stopped() -> None:
    m, svc = make()
    sampled = asyncio.Event()

    def running() -> Mapping[str, int]:
        sampled.set()
        return {"a": 1}

    m.start_sampling(running, lambda: 1, interval_s=3600.0)  # the first sample is taken at once
    await asyncio.wait_for(sampled.wait(), 5)
    await m.stop_sampling()
    assert await total(svc, "ConcurrentExecutions", {"FunctionName": "a"}, "SampleCount") == 1


async def test_nothing_is_lost_when_a_flush_takes_the_current_minute(tmp_path: Path) -> None:
    store = MetricsStore.open_in(tmp_path)
    try:
        svc = MetricsService(store, retention_s=86400.0, max_series=1000, flush_interval_s=10.0, clock=lambda: T0)
        m = LambdaMetrics(svc)
        m.observe(Cfg("f", "$LATEST"), Outcome(None, 1.0))
        await svc.flush(everything=True)  # the cached summaries left memory (as at shutdown)
        m.observe(Cfg("f", "$LATEST"), Outcome(None, 1.0))
        assert await total(svc, "Invocations", {"FunctionName": "f"}) == 2
        await svc.flush(everything=True)
        assert await total(svc, "Invocations", {"FunctionName": "f"}) == 2
        assert len(store.read_minutes("000000000000", "AWS/Lambda", "Invocations", '[["FunctionName","f"]]', 0, 2**40)) == 2
    finally:
        store.close()
