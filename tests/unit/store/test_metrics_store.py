"""metrics.db per account (issue 10): every series belongs to an account, two accounts' series of
one (namespace, name, dimensions) are kept apart, and a file of the release before accounts
(schema version 1) opens with its data, which the server's account adopts."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlalchemy as sa

from lambent.observability.metrics.series import Series, dimensions
from lambent.observability.metrics.service import MetricsService
from lambent.observability.metrics.summary import Summary
from lambent.store import metrics_schema
from lambent.store.metrics import MetricsStore
from lambent.store.schema import run_migrations

A = "111111111111"
B = "222222222222"
DIMS = '[["FunctionName","f"]]'
T0 = 1_800_000_000.0
MINUTE = int(T0 // 60)


def _one(value: float) -> str:
    s = Summary()
    s.add(value)
    return s.to_json()


def _v1_file(path: Path) -> None:
    """metrics.db as the release before accounts left it: schema version 1, one series, two minutes."""
    engine = sa.create_engine(f"sqlite:///{path}")
    try:
        run_migrations(engine, metrics_schema.schema_version, metrics_schema.MIGRATIONS[:1])
    finally:
        engine.dispose()
    db = sqlite3.connect(path)
    try:
        db.execute("INSERT INTO series (id, namespace, name, dims, newest_minute) VALUES (7, 'AWS/Lambda', "
                   f"'Invocations', '{DIMS}', {MINUTE + 1})")
        db.executemany("INSERT INTO minutes (series_id, minute, unit, summary) VALUES (7, ?, 'Count', ?)",
                       [(MINUTE, _one(1.0)), (MINUTE + 1, _one(1.0))])
        db.commit()
    finally:
        db.close()


def test_two_accounts_series_of_one_key_are_apart(tmp_path: Path) -> None:
    store = MetricsStore(tmp_path / "metrics.db").open()
    try:
        store.write_minutes([(A, "AWS/Lambda", "Invocations", DIMS, MINUTE, "Count", _one(1.0)),
                             (B, "AWS/Lambda", "Invocations", DIMS, MINUTE, "Count", _one(5.0)),
                             (B, "AWS/Lambda", "Invocations", DIMS, MINUTE + 1, "Count", _one(5.0))])
        a = store.read_minutes(A, "AWS/Lambda", "Invocations", DIMS, 0, 2**40)
        b = store.read_minutes(B, "AWS/Lambda", "Invocations", DIMS, 0, 2**40)
        assert [(m, Summary.from_json(s).total) for m, _, s in a] == [(MINUTE, 1.0)]
        assert [(m, Summary.from_json(s).total) for m, _, s in b] == [(MINUTE, 5.0), (MINUTE + 1, 5.0)]
        assert store.read_minutes("333333333333", "AWS/Lambda", "Invocations", DIMS, 0, 2**40) == []
        assert sorted(store.list_series(0)) == [(A, "AWS/Lambda", "Invocations", DIMS, MINUTE),
                                                (B, "AWS/Lambda", "Invocations", DIMS, MINUTE + 1)]
        assert store.prune(MINUTE + 1) == 2  # A's series goes; B keeps its newest minute
        assert store.list_series(0) == [(B, "AWS/Lambda", "Invocations", DIMS, MINUTE + 1)]
        store.write_minutes([(A, "AWS/Lambda", "Invocations", DIMS, MINUTE + 2, "Count", _one(2.0))])  # made again
        assert len(store.read_minutes(A, "AWS/Lambda", "Invocations", DIMS, 0, 2**40)) == 1
    finally:
        store.close()


def test_a_file_of_the_release_before_accounts_opens_and_is_adopted(tmp_path: Path) -> None:
    path = tmp_path / "metrics.db"
    _v1_file(path)
    store = MetricsStore(path).open()
    try:
        assert store.list_series(0) == [(None, "AWS/Lambda", "Invocations", DIMS, MINUTE + 1)]
        assert store.adopt(A) == 1
        assert store.adopt(A) == 0  # nothing left without an account
        rows = store.read_minutes(A, "AWS/Lambda", "Invocations", DIMS, 0, 2**40)
        assert [m for m, _, _ in rows] == [MINUTE, MINUTE + 1]
        assert store.list_series(0) == [(A, "AWS/Lambda", "Invocations", DIMS, MINUTE + 1)]
        store.write_minutes([(A, "AWS/Lambda", "Invocations", DIMS, MINUTE + 2, "Count", _one(1.0))])
        assert len(store.read_minutes(A, "AWS/Lambda", "Invocations", DIMS, 0, 2**40)) == 3  # same series
    finally:
        store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT max(version) FROM schema_version").fetchone() == (len(metrics_schema.MIGRATIONS),)
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []


def test_adopting_merges_into_a_series_the_account_has_already(tmp_path: Path) -> None:
    """An unowned series next to an owned one of the same key (an adoption interrupted after
    writes): its minutes move to the owned series, nothing is lost."""
    path = tmp_path / "metrics.db"
    _v1_file(path)
    store = MetricsStore(path).open()
    try:
        store.write_minutes([(A, "AWS/Lambda", "Invocations", DIMS, MINUTE + 5, "Count", _one(1.0))])
        assert store.adopt(A) == 1
        rows = store.read_minutes(A, "AWS/Lambda", "Invocations", DIMS, 0, 2**40)
        assert [m for m, _, _ in rows] == [MINUTE, MINUTE + 1, MINUTE + 5]
        assert store.list_series(0) == [(A, "AWS/Lambda", "Invocations", DIMS, MINUTE + 5)]
    finally:
        store.close()


async def test_the_service_adopts_for_the_server_account_and_reads_per_account(tmp_path: Path) -> None:
    path = tmp_path / "metrics.db"
    _v1_file(path)
    store = MetricsStore(path).open()
    svc = MetricsService(store, retention_s=14 * 86400.0, max_series=100, flush_interval_s=3600.0,
                         clock=lambda: T0 + 120, account=A)
    await svc.start()
    try:
        series = Series("AWS/Lambda", "Invocations", dimensions({"FunctionName": "f"}))
        mine = await svc.minutes(series.in_account(A), T0 - 60, T0 + 180)
        assert sum(s.total for _, _, s in mine) == 2.0
        assert await svc.minutes(series, T0 - 60, T0 + 180) == mine  # no account: the server's
        assert await svc.minutes(series.in_account(B), T0 - 60, T0 + 180) == []
        assert svc.record(series.in_account(B), 1.0)
        assert [s.account for s in svc.series(account=B)] == [B]
        assert [s.account for s in svc.series(account=A)] == [A]
        await svc.flush(everything=True)
        assert [m for m, _, _ in store.read_minutes(B, "AWS/Lambda", "Invocations", DIMS, 0, 2**40)] == [MINUTE + 2]
    finally:
        await svc.stop()
        store.close()
