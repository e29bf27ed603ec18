"""GET /usage as a framework-free function: JSON rows, 400 for every malformed or hostile query."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from lambent.billing.http import usage_endpoint
from lambent.billing.prices import PriceTable
from lambent.store.usage import UsageRecord, UsageStore

DAY = datetime(2026, 12, 1, 10, tzinfo=timezone.utc).timestamp()


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Path]:
    store = UsageStore(tmp_path / "usage.db", commit_interval_s=0.05).open()
    for function, version, at, billed in (("a", "1", DAY, 100), ("a", "2", DAY + 86400, 50), ("b", "$LATEST", DAY, 1)):
        store.offer(UsageRecord("r", function, version, at, billed - 0.2, None, billed, 1024, 512, "x86_64"))
    assert store.wait_settled(3, 10)
    store.close()
    yield store.path


def get(db: Path, **query: str) -> tuple[int, Any]:
    status, body = usage_endpoint(db, query, now=DAY + 2 * 86400)
    return status, json.loads(body)


def test_rows_by_function_with_a_total(db: Path) -> None:
    status, doc = get(db)
    assert status == 200
    assert doc["by"] == "function"
    rows = doc["rows"]
    assert isinstance(rows, list)
    assert [(r["function"], r["requests"], r["billed_duration_ms"], r["gb_seconds"]) for r in rows] == [
        ("a", 2, 150, 0.15), ("b", 1, 1, 0.001)]
    assert all(set(r) >= {"function", "requests", "gb_seconds", "cost"} for r in rows)
    total = doc["total"]
    assert isinstance(total, dict) and total["requests"] == 3 and total["billed_duration_ms"] == 151


def test_by_version_and_day_and_since(db: Path) -> None:
    _, doc = get(db, by="version")
    assert [(r["function"], r["version"]) for r in doc["rows"]] == [("a", "1"), ("a", "2"), ("b", "$LATEST")]
    _, doc = get(db, by="day", since="2026-12-02")
    assert [(r["function"], r["day"], r["requests"]) for r in doc["rows"]] == [("a", "2026-12-02", 1)]
    _, doc = get(db, since="3d", until="2026-12-02", function="a")
    assert [(r["function"], r["requests"]) for r in doc["rows"]] == [("a", 1)]


def test_the_price_table_is_the_servers(db: Path) -> None:
    status, body = usage_endpoint(db, {"function": "b"}, PriceTable.from_mapping({"currency": "EUR"}))
    doc = json.loads(body)
    assert status == 200 and doc["currency"] == "EUR" and doc["rows"][0]["currency"] == "EUR"


@pytest.mark.parametrize("query", [
    {"by": "region"}, {"by": "function; DROP TABLE invocations"}, {"since": "soon"}, {"until": "x" * 10_000},
    {"since": "2026-12-02", "until": "2026-12-01"}, {"function": ""}, {"function": "f" * 65},
    {"limit": "10"}, {"since": "1e999"},
])
def test_malformed_or_hostile_queries_get_400_with_a_json_message(db: Path, query: dict[str, str]) -> None:
    status, body = usage_endpoint(db, query)
    assert status == 400
    message = json.loads(body)["message"]
    assert isinstance(message, str) and 0 < len(message) <= 300
    _, doc = get(db)  # nothing was changed
    assert doc["total"]["requests"] == 3


def test_no_usage_file_is_an_empty_report(tmp_path: Path) -> None:
    status, body = usage_endpoint(tmp_path / "usage.db", {})
    assert status == 200 and json.loads(body)["rows"] == []
    assert not (tmp_path / "usage.db").exists()
