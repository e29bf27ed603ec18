"""Usage rows from store sums: GB-seconds exact, cost from the price table, grouping, time bounds."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest

from lambent.billing.aggregate import aggregate, parse_time, totals, usage_report
from lambent.billing.prices import DEFAULT_PRICES, PriceTable
from lambent.errors import InvalidParameterValue
from lambent.store.usage import UsageRecord, UsageStore, UsageSum

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=timezone.utc).timestamp()


def s(function: str = "f", memory: int = 128, requests: int = 1, billed: int = 100, arch: str = "x86_64",
      ephemeral: int = 512, version: str | None = None, day: str | None = None) -> UsageSum:
    return UsageSum(function, version, day, memory, ephemeral, arch, requests, billed)


def test_one_row_per_group_merging_configurations() -> None:
    rows = aggregate([s("f", 128, 2, 300), s("f", 1024, 1, 1000), s("g", 512, 4, 40)])
    assert [(r.function, r.requests, r.billed_duration_ms) for r in rows] == [("f", 3, 1300), ("g", 4, 40)]
    assert rows[0].gb_seconds == Fraction(300 * 128, 1_024_000) + 1
    assert rows[1].gb_seconds == Fraction(40 * 512, 1_024_000)


def test_cost_is_requests_per_million_plus_gb_seconds_by_architecture_plus_ephemeral() -> None:
    [x86] = aggregate([s(memory=1024, requests=1_000_000, billed=1_000_000)])
    # 1M requests ($0.20) + 1,000 GB-s at $0.0000166667
    assert x86.cost == Fraction(Decimal("0.20")) + 1000 * Fraction(Decimal("0.0000166667"))
    [arm] = aggregate([s(memory=1024, requests=0, billed=1000, arch="arm64")])
    assert arm.cost == Fraction(Decimal("0.0000133334"))
    [eph] = aggregate([s(memory=1024, requests=0, billed=1000, ephemeral=1536)])
    assert eph.ephemeral_gb_seconds == 1
    assert eph.cost == Fraction(Decimal("0.0000166667")) + Fraction(Decimal("0.0000000309"))


def test_a_custom_price_table_is_applied() -> None:
    table = PriceTable.from_mapping({"request_per_million": 1, "gb_second": {"x86_64": "0.5"}})
    [row] = aggregate([s(memory=1024, requests=2_000_000, billed=2000)], table)
    assert row.cost == 2 + 1


def test_groups_by_version_and_day_stay_apart() -> None:
    rows = aggregate([s(version="1"), s(version="2"), s(version="1", memory=256)])
    assert [(r.version, r.requests) for r in rows] == [("1", 2), ("2", 1)]
    rows = aggregate([s(day="2026-12-01"), s(day="2026-12-02")])
    assert [(r.day, r.requests) for r in rows] == [("2026-12-01", 1), ("2026-12-02", 1)]


def test_json_rows_name_the_function_and_carry_requests_gb_seconds_and_cost() -> None:
    [row] = aggregate([s(version="3", requests=3, billed=3, memory=128)])
    doc = row.as_json()
    assert doc["function"] == "f" and doc["version"] == "3" and "day" not in doc
    assert doc["requests"] == 3
    assert doc["billed_duration_ms"] == 3
    assert doc["gb_seconds"] == float(Fraction(3 * 128, 1_024_000))
    assert doc["cost"] == round(float(row.cost), 8)
    assert doc["currency"] == "USD"


def test_totals_sum_every_row() -> None:
    rows = aggregate([s("f", billed=10), s("g", billed=20, requests=2)])
    total = totals(rows)
    assert (total.function, total.requests, total.billed_duration_ms) == ("*", 3, 30)
    assert total.gb_seconds == rows[0].gb_seconds + rows[1].gb_seconds
    assert total.cost == rows[0].cost + rows[1].cost
    assert totals([]).requests == 0


def test_usage_report_reads_a_real_store(tmp_path: Path) -> None:
    store = UsageStore(tmp_path / "usage.db", commit_interval_s=0.05).open()
    day1 = datetime(2026, 12, 1, 10, tzinfo=timezone.utc).timestamp()
    day2 = day1 + 86400
    for at, version, billed in ((day1, "1", 5), (day1, "2", 7), (day2, "2", 11)):
        store.offer(UsageRecord("r", "f", version, at, billed - 0.1, None, billed, 128, 512, "x86_64"))
    assert store.wait_settled(3, 10)
    store.close()
    assert [(r.version, r.billed_duration_ms) for r in usage_report(store.path, "version")] == [("1", 5), ("2", 18)]
    assert [(r.day, r.billed_duration_ms) for r in usage_report(store.path, "day")] == [
        ("2026-12-01", 12), ("2026-12-02", 11)]
    assert [r.billed_duration_ms for r in usage_report(store.path, "function", since=day2)] == [11]
    assert [r.billed_duration_ms for r in usage_report(store.path, "function", until=day2)] == [12]
    with pytest.raises(InvalidParameterValue, match="before"):
        usage_report(store.path, "function", since=day2, until=day1)
    with pytest.raises(InvalidParameterValue, match="by must be"):
        usage_report(store.path, "region", prices=DEFAULT_PRICES)  # type: ignore[arg-type]


@pytest.mark.parametrize(("text", "expected"), [
    ("30m", NOW - 1800), ("2h", NOW - 7200), ("7d", NOW - 7 * 86400), ("45s", NOW - 45), ("1w", NOW - 604800),
    ("1764633600", 1764633600.0), ("1764633600.5", 1764633600.5),
    ("2026-12-01", datetime(2026, 12, 1, tzinfo=timezone.utc).timestamp()),
    ("2026-12-01T10:00:00Z", datetime(2026, 12, 1, 10, tzinfo=timezone.utc).timestamp()),
    ("2026-12-01T10:00:00", datetime(2026, 12, 1, 10, tzinfo=timezone.utc).timestamp()),
    ("2026-12-01T12:00:00+02:00", datetime(2026, 12, 1, 10, tzinfo=timezone.utc).timestamp()),
])
def test_time_bounds(text: str, expected: float) -> None:
    assert parse_time(text, NOW) == expected


@pytest.mark.parametrize("text", ["", "   ", "yesterday", "0m", "-5m", "5y", "1" * 41, "2026-13-01",
                                  "2026-12-01T25:00", "12345678901234", "1e9", "nan"])
def test_bad_time_bounds_are_refused(text: str) -> None:
    with pytest.raises(InvalidParameterValue):
        parse_time(text, NOW)
