"""GET /metrics' body: LambdaMetrics' counters and duration histogram in the Prometheus text format
(every sample line well-formed, cumulative buckets ending at +Inf = count, escaped label values)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from lambent.api.prometheus import escape, render
from lambent.observability.metrics import LambdaMetrics, MetricsService
from lambent.observability.metrics.lambda_metrics import DURATION_BUCKETS_S

_SAMPLE = re.compile(r'^([a-z_]+)(\{(?:[a-z_]+="(?:[^"\\]|\\.)*",?)*\})? (-?[0-9.e+-]+|\+Inf)$')


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


def samples(body: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for line in body.splitlines():
        if line.startswith("#"):
            assert line.startswith(("# HELP ", "# TYPE ")), line
            continue
        match = _SAMPLE.match(line)
        assert match, line
        out[line.rsplit(" ", 1)[0]] = float(match.group(3))
    return out


def metrics() -> LambdaMetrics:
    return LambdaMetrics(MetricsService(None, retention_s=86400.0, max_series=1000, flush_interval_s=10.0))


def test_counters_and_histogram_after_a_mix() -> None:
    m = metrics()
    for ms, failed in ((3.0, False), (40.0, True), (700.0, False)):
        m.observe(Cfg("orders", "2"), Outcome("Unhandled" if failed else None, ms), qualifier="live")
    m.throttled("orders", "live", "2")
    m.async_received("orders")
    body = render(m.totals(), DURATION_BUCKETS_S, concurrency={"orders": 1}, unreserved=1)
    got = samples(body)
    labels = 'account="000000000000",function="orders",version="2"'
    assert got[f"lambent_invocations_total{{{labels}}}"] == 3
    assert got[f"lambent_errors_total{{{labels}}}"] == 1
    assert got[f"lambent_throttles_total{{{labels}}}"] == 1
    assert got['lambent_async_events_received_total{account="000000000000",function="orders",version="$LATEST"}'] == 1
    assert got[f'lambent_duration_seconds_bucket{{{labels},le="0.005"}}'] == 1
    assert got[f'lambent_duration_seconds_bucket{{{labels},le="0.05"}}'] == 2
    assert got[f'lambent_duration_seconds_bucket{{{labels},le="1.0"}}'] == 3
    assert got[f'lambent_duration_seconds_bucket{{{labels},le="+Inf"}}'] == got[f"lambent_duration_seconds_count{{{labels}}}"] == 3
    assert abs(got[f"lambent_duration_seconds_sum{{{labels}}}"] - 0.743) < 1e-9
    assert got['lambent_concurrent_executions{function="orders"}'] == 1
    assert got["lambent_unreserved_concurrent_executions"] == 1
    bounds = [got[f'lambent_duration_seconds_bucket{{{labels},le="{b!r}"}}'] for b in DURATION_BUCKETS_S]
    assert bounds == sorted(bounds)  # cumulative


def test_label_values_cannot_break_the_format() -> None:
    m = metrics()
    m.observe(Cfg('evil"} 1\nlambent_fake_total 9', "$LATEST"), Outcome(None, 1.0))
    body = render(m.totals(), DURATION_BUCKETS_S)
    assert "\nlambent_fake_total 9" not in body
    samples(body)  # every line still parses
    assert escape('a\\b"c\nd') == 'a\\\\b\\"c\\nd'


def test_forgotten_function_leaves_the_exposition() -> None:
    m = metrics()
    m.observe(Cfg("gone", "$LATEST"), Outcome(None, 1.0))
    m.forget("gone")
    assert "gone" not in render(m.totals(), DURATION_BUCKETS_S)


def test_two_accounts_functions_of_one_name_are_two_series() -> None:
    """Issue 10: counters are per account (labelled ``account``, the function's bare name as
    ``function``); concurrency keyed by function key is labelled the same way."""
    m = metrics()
    m.observe(Cfg("f", "$LATEST"), Outcome(None, 1.0))
    for _ in range(3):
        m.observe(Cfg("f", "$LATEST", "111122223333"), Outcome(None, 1.0))
    m.async_dropped("111122223333:function:f")
    body = render(m.totals(), DURATION_BUCKETS_S, concurrency={"111122223333:function:f": 2, "g": 1})
    got = samples(body)
    assert got['lambent_invocations_total{account="000000000000",function="f",version="$LATEST"}'] == 1
    assert got['lambent_invocations_total{account="111122223333",function="f",version="$LATEST"}'] == 3
    assert got['lambent_async_events_dropped_total{account="111122223333",function="f",version="$LATEST"}'] == 1
    assert got['lambent_async_events_dropped_total{account="000000000000",function="f",version="$LATEST"}'] == 0
    assert got['lambent_concurrent_executions{account="111122223333",function="f"}'] == 2
    assert got['lambent_concurrent_executions{function="g"}'] == 1
    m.forget("111122223333:function:f")  # a key forgets that account's function only
    assert [(t.account, t.function) for t in m.totals()] == [("000000000000", "f")]
