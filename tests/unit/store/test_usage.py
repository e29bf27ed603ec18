"""The usage store on a real SQLite file: group commit off the caller's thread, read-only sums,
best effort on a full queue or a full disk (counted, logged, never raised)."""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from lambent.settings import StorageSettings
from lambent.store.reserve import DiskGuard
from lambent.store.usage import AccountScope, UsageRecord, UsageStore, read_usage
from lambent.store.usage_schema import MIGRATIONS, _u1, migrate_usage

DAY1 = datetime(2026, 11, 30, 23, 59, 59, tzinfo=timezone.utc).timestamp()
DAY2 = datetime(2026, 12, 1, 0, 0, 0, tzinfo=timezone.utc).timestamp()


def rec(function: str = "f", version: str = "$LATEST", at: float = DAY1, billed: int = 10, memory: int = 128,
        ephemeral: int = 512, arch: str = "x86_64", request_id: str = "r", account: str = "") -> UsageRecord:
    return UsageRecord(request_id, function, version, at, billed - 0.5, None, billed, memory, ephemeral, arch,
                       account=account)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[UsageStore]:
    s = UsageStore(tmp_path / "usage.db", commit_interval_s=0.05).open()
    yield s
    s.close()


def test_records_are_committed_by_the_writer_and_summed_per_configuration(store: UsageStore) -> None:
    records = [rec(billed=10), rec(billed=3), rec(memory=256, billed=7), rec("g", "2", billed=1),
               rec("f", "1", DAY2, billed=5)]
    for r in records:
        assert store.offer(r)
    assert store.wait_settled(len(records), 10)
    assert (store.written, store.dropped) == (5, 0)
    by_function = read_usage(store.path, "function")
    assert [(s.function, s.memory_mb, s.requests, s.billed_ms) for s in by_function] == [
        ("f", 128, 3, 18), ("f", 256, 1, 7), ("g", 128, 1, 1)]
    by_version = read_usage(store.path, "version")
    assert [(s.function, s.version, s.memory_mb, s.billed_ms) for s in by_version] == [
        ("f", "$LATEST", 128, 13), ("f", "$LATEST", 256, 7), ("f", "1", 128, 5), ("g", "2", 128, 1)]
    by_day = read_usage(store.path, "day")
    assert [(s.function, s.day, s.memory_mb, s.billed_ms) for s in by_day] == [
        ("f", "2026-11-30", 128, 13), ("f", "2026-11-30", 256, 7), ("f", "2026-12-01", 128, 5),
        ("g", "2026-11-30", 128, 1)]


def test_time_range_is_since_inclusive_until_exclusive(store: UsageStore) -> None:
    for at in (DAY1 - 1, DAY1, DAY2, DAY2 + 1):
        store.offer(rec(at=at))
    assert store.wait_settled(4, 10)
    assert read_usage(store.path, "function", since=DAY1)[0].requests == 3
    assert read_usage(store.path, "function", until=DAY2)[0].requests == 2
    assert read_usage(store.path, "function", since=DAY1, until=DAY2)[0].requests == 1
    assert read_usage(store.path, "function", since=DAY2 + 2) == []
    assert read_usage(store.path, "function", function="nope") == []


def test_close_writes_what_is_queued(tmp_path: Path) -> None:
    s = UsageStore(tmp_path / "usage.db", commit_interval_s=30).open()
    for i in range(100):
        s.offer(rec(request_id=str(i)))
    s.close()
    assert s.written == 100
    assert read_usage(s.path, "function")[0].requests == 100
    # Closed: nothing more is accepted, and nothing raises.
    assert s.offer(rec()) is False
    s.close()


def test_a_full_queue_drops_counts_and_logs_but_never_blocks(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    s = UsageStore(tmp_path / "usage.db", max_queued=2)  # not opened: nothing drains the queue
    with caplog.at_level(logging.WARNING, "lambent.store.usage"):
        results = [s.offer(rec()) for _ in range(50)]
    assert results == [True, True] + [False] * 48
    assert s.dropped == 48
    # One line per cause and interval, not one per record.
    lines = [r.getMessage() for r in caplog.records if "usage records dropped" in r.getMessage()]
    assert lines == ["usage records dropped: 1 (the in-memory queue is full); 1 dropped since start"]
    s.close()


class _FullDisk(DiskGuard):
    """A guard whose disk is always full (free space 0)."""

    def free_bytes(self) -> int:
        return 0


def test_a_full_data_directory_drops_the_batch(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    disk = _FullDisk(tmp_path, StorageSettings(reserve_bytes=0))
    disk.open()
    assert disk.full
    s = UsageStore(tmp_path / "usage.db", disk, commit_interval_s=0.05).open()
    with caplog.at_level(logging.WARNING, "lambent.store.usage"):
        for _ in range(5):
            assert s.offer(rec())  # accepted into memory: the invoke path never learns of the disk
        assert s.wait_settled(5, 10)
    assert (s.written, s.dropped) == (0, 5)
    assert any("the data directory is full" in r.getMessage() for r in caplog.records)
    assert read_usage(s.path, "function") == []
    s.close()


def test_sqlite_full_on_commit_drops_the_batch_and_marks_the_disk_full(tmp_path: Path) -> None:
    disk = DiskGuard(tmp_path, StorageSettings(reserve_bytes=0))
    disk.open()
    s = UsageStore(tmp_path / "usage.db", disk, commit_interval_s=0.05).open()
    assert s._conn is not None
    # A real SQLITE_FULL from the driver: the database may not grow past its current pages.
    pages = s._conn.execute("PRAGMA page_count").fetchone()[0]
    s._conn.execute(f"PRAGMA max_page_count={pages}")
    for i in range(2000):
        s.offer(rec(request_id="x" * 60 + str(i)))
    assert s.wait_settled(2000, 10)
    assert s.dropped > 0 and s.written + s.dropped == 2000
    assert disk.full
    s.close()


def test_another_database_error_drops_the_batch(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    s = UsageStore(tmp_path / "usage.db", commit_interval_s=0.05).open()
    assert s._conn is not None
    s._conn.execute("DROP TABLE invocations")
    with caplog.at_level(logging.WARNING, "lambent.store.usage"):
        s.offer(rec())
        assert s.wait_settled(1, 10)
    assert s.dropped == 1
    assert any("database error" in r.getMessage() for r in caplog.records)
    s.close()


def test_settings_are_bounded(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="max_queued"):
        UsageStore(tmp_path / "u.db", max_queued=0)
    with pytest.raises(ValueError, match="30 s"):
        UsageStore(tmp_path / "u.db", commit_interval_s=31)


def test_migrations_are_numbered_and_idempotent(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'usage.db'}")
    assert migrate_usage(engine) == len(MIGRATIONS) == 2
    assert migrate_usage(engine) == 2
    with engine.connect() as conn:
        versions = [r[0] for r in conn.execute(sa.text("SELECT version FROM schema_version"))]
    assert versions == [1, 2]
    engine.dispose()
    db = sqlite3.connect(tmp_path / "usage.db")
    cols = [r[1] for r in db.execute("PRAGMA table_info(invocations)")]
    db.close()
    assert cols == ["id", "request_id", "function", "version", "at", "duration_ms", "init_ms", "billed_ms",
                    "memory_mb", "ephemeral_mb", "architecture", "requests", "account"]


def test_each_account_reads_its_own_records_and_old_ones_are_the_server_accounts(tmp_path: Path) -> None:
    # Given a file of the release before accounts, with one record
    path = tmp_path / "usage.db"
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        _u1(conn)
        conn.execute(sa.text("INSERT INTO invocations (request_id, function, version, at, duration_ms, billed_ms, "
                             "memory_mb, ephemeral_mb, architecture, requests) "
                             "VALUES ('old', 'f', '$LATEST', :at, 1, 1, 128, 512, 'x86_64', 1)"), {"at": time.time()})
    engine.dispose()
    server, tenant = AccountScope("000000000000", "000000000000"), AccountScope("111122223333", "000000000000")
    # (read before any server of this release opened it: the record is the server account's)
    assert [s.requests for s in read_usage(path, "function", scope=server)] == [1]
    assert read_usage(path, "function", scope=tenant) == []
    # When this release records one invocation of each account's function f
    store = UsageStore(path, commit_interval_s=0.05).open()
    try:
        store.offer(rec(account="000000000000", billed=5))
        store.offer(rec(account="111122223333", billed=7))
        store.offer(rec("g", account="111122223333", billed=2))
        assert store.wait_settled(3, 10)
    finally:
        store.close()
    # Then each account sums its own, the old record being the server's
    assert [(s.function, s.requests, s.billed_ms) for s in read_usage(path, "function", scope=server)] == [("f", 2, 6)]
    assert [(s.function, s.requests, s.billed_ms) for s in read_usage(path, "function", scope=tenant)] == [
        ("f", 1, 7), ("g", 1, 2)]
    assert [s.billed_ms for s in read_usage(path, "function", function="f", scope=tenant)] == [7]


def test_reading_an_absent_file_finds_no_usage_and_creates_nothing(tmp_path: Path) -> None:
    assert read_usage(tmp_path / "usage.db", "day") == []
    assert not (tmp_path / "usage.db").exists()


def test_reading_does_not_write(store: UsageStore) -> None:
    store.offer(rec())
    assert store.wait_settled(1, 10)
    before = store.path.stat().st_mtime_ns
    read_usage(store.path, "function")
    assert store.path.stat().st_mtime_ns == before


def test_records_older_than_the_retention_are_deleted(tmp_path: Path) -> None:
    now = DAY2 + 400 * 86400
    s = UsageStore(tmp_path / "usage.db", commit_interval_s=0.05, retention_days=400, clock=lambda: now)
    old, kept = rec(at=DAY2 - 1, request_id="old"), rec(at=DAY2 + 1, request_id="kept")
    assert s.offer(old) and s.offer(kept)  # queued before the writer starts
    s.open()
    s.close()  # the writer's first round commits, then prunes
    assert (s.written, s.pruned) == (2, 1)
    [row] = read_usage(s.path, "function")
    assert row.requests == 1
    with pytest.raises(ValueError, match="negative"):
        UsageStore(tmp_path / "u.db", retention_days=-1)


def test_retention_zero_keeps_everything(tmp_path: Path) -> None:
    s = UsageStore(tmp_path / "usage.db", commit_interval_s=0.05, retention_days=0, clock=lambda: DAY2 + 1e9)
    s.offer(rec(at=0.0))
    s.open()
    s.close()
    assert (s.written, s.pruned) == (1, 0)
    assert read_usage(s.path, "function")[0].requests == 1


def test_a_record_is_its_row_in_the_insert_column_order() -> None:
    # The writer hands the records to executemany as they are (no copy per record).
    columns = UsageStore._INSERT.split("(")[1].split(")")[0].replace(" ", "").split(",")
    assert tuple(columns) == UsageRecord._fields
