"""Undeliverable records as operators page and redrive them: newest first, bounded pages, a
function filter that also finds records written before the ``function`` column existed (by their
body's function ARN), each account seeing its own records only, and what a redrive needs kept with
each record."""

from __future__ import annotations

import json
import time
from pathlib import Path

import sqlalchemy as sa

from lambent.store import undeliverable
from lambent.store.async_queue import AsyncEventStore, Redrive
from lambent.store.queue_schema import undeliverable as table


ROOT = "000000000000"
OTHER = "111122223333"


def _key(fn: str, account: str = ROOT) -> str:
    return f"{account}:function:{fn}"


def _record(fn: str, account: str = ROOT) -> bytes:
    return json.dumps({"requestContext": {"functionArn": f"arn:aws:lambda:us-east-1:{account}:function:{fn}:$LATEST"}}).encode()


def test_pages_newest_first_with_the_function_filter_and_old_rows(tmp_path: Path) -> None:
    store = AsyncEventStore(tmp_path / "q.db")
    try:
        for i in range(5):
            store.record_undeliverable(f"r{i}", "arn:aws:sqs:us-east-1:1:q", _record("a" if i % 2 else "b"), "gone",
                                       Redrive(function=_key("a" if i % 2 else "b"), role="arn:aws:iam::1:role/x"))
        with store.engine.begin() as conn:  # as a release before the column wrote it
            conn.execute(table.insert().values(request_id="old", target="t", record=_record("a"), error="e",
                                               failed_at=time.time()))
        # Another account's records, one of them old, under the same function name.
        store.record_undeliverable("o1", "t", _record("a", OTHER), "gone", Redrive(function=_key("a", OTHER)))
        with store.engine.begin() as conn:
            conn.execute(table.insert().values(request_id="o2", target="t", record=_record("a", OTHER), error="e",
                                               failed_at=time.time()))
        rows, total = undeliverable.page(store.engine, account=ROOT, function=None, before_id=None, limit=2)
        assert total == 6 and [r.request_id for r in rows] == ["old", "r4"]
        rows, _ = undeliverable.page(store.engine, account=ROOT, function=None, before_id=rows[-1].record_id, limit=2)
        assert [r.request_id for r in rows] == ["r3", "r2"]
        rows, total = undeliverable.page(store.engine, account=ROOT, function=_key("a"), before_id=None, limit=100)
        assert total == 3 and [r.request_id for r in rows] == ["old", "r3", "r1"]
        assert rows[0].function == _key("a") and rows[0].redrive.kind == "record" and rows[0].redrive.role is None
        assert rows[1].redrive.role == "arn:aws:iam::1:role/x"
        assert len(undeliverable.page(store.engine, account=ROOT, function=None, before_id=None, limit=10_000)[0]) == 6
        rows, total = undeliverable.page(store.engine, account=OTHER, function=None, before_id=None, limit=100)
        assert total == 2 and [r.request_id for r in rows] == ["o2", "o1"]
        assert {r.record_id for r in undeliverable.get(store.engine, list(range(1, 9)), OTHER)} == {7, 8}
    finally:
        store.close()


def test_a_dead_letter_keeps_its_attributes_and_a_failed_redrive_its_new_error(tmp_path: Path) -> None:
    store = AsyncEventStore(tmp_path / "q.db")
    try:
        store.record_undeliverable("r", "arn:aws:sqs:us-east-1:1:dlq", b'{"x": 1}', "first",
                                   Redrive(function=_key("f"), kind="dlq", attributes={"RequestID": "r", "ErrorCode": "200"}))
        assert undeliverable.get(store.engine, [1], OTHER) == []  # not another account's to see or redrive
        (rec,) = undeliverable.get(store.engine, [1], ROOT)
        assert rec.redrive == Redrive(function=_key("f"), kind="dlq", success=False, role=None,
                                      attributes={"RequestID": "r", "ErrorCode": "200"})
        undeliverable.still_failing(store.engine, 1, "second")
        assert undeliverable.get(store.engine, [1], ROOT)[0].error == "second"
        undeliverable.delete(store.engine, 1)
        assert undeliverable.get(store.engine, [1], ROOT) == []
        with store.engine.connect() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar() == 0
    finally:
        store.close()
