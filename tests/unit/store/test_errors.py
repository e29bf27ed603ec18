"""Database failures leave lambent/store/ as LambentErrors naming the table and the operation, logged
once: real SQLite databases, failures provoked for real (a capped page count is SQLite's own
SQLITE_FULL; a second connection's exclusive lock; a file that is not a database)."""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from lambent.errors import ServiceError, StorageFull
from lambent.store import Store
from lambent.store.async_queue import AsyncEventStore, NewEvent, read_queue
from lambent.store.errors import ConstraintViolation, StoreUnavailable, statement_context

STORE_LOG = "lambent.store.errors"


def _busy_timeout_ms(engine: sa.Engine, ms: int) -> None:
    """Shorten the busy timeout (5 s in production) for connections made from now on."""

    def short(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.execute(f"PRAGMA busy_timeout={ms}")

    event.listen(engine, "connect", short)
    engine.dispose()


def _hold_write_lock(path: Path) -> sqlite3.Connection:
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    return other


def test_a_full_database_is_storage_full_with_table_and_operation(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # Given a store (no disk guard) whose database file cannot grow
    store = Store.open_in(tmp_path)

    def cap(dbapi_conn: Any, _record: Any) -> None:
        pages = dbapi_conn.execute("PRAGMA page_count").fetchone()[0]
        dbapi_conn.execute(f"PRAGMA max_page_count={pages}")

    event.listen(store.engine, "connect", cap)
    store.engine.dispose()
    # When a write needs new pages
    with caplog.at_level(logging.DEBUG, logger=STORE_LOG), pytest.raises(StorageFull) as info:
        store.create_function("big", {"code_hash_hex": "b", "pad": "x" * 200_000}, {})
    # Then it is StorageFull (not an SQLAlchemy error), with where it happened
    assert isinstance(info.value.__cause__, sqlite3.Error)
    assert info.value.context["table"] in ("functions", "function_versions")
    assert info.value.context["operation"] in ("INSERT", "COMMIT")
    assert info.value.context["sqlite_error"] == "SQLITE_FULL"
    assert "out of space" in info.value.message
    assert len([r for r in caplog.records if r.name == STORE_LOG]) == 1
    assert store.get_function("big") is None
    store.close()


def test_a_locked_database_after_the_busy_timeout_is_a_service_error(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # Given another connection holding the write lock longer than the busy timeout
    store = Store.open_in(tmp_path)
    _busy_timeout_ms(store.engine, 50)
    other = _hold_write_lock(tmp_path / "lambent.db")
    try:
        # When the store writes
        with caplog.at_level(logging.DEBUG, logger=STORE_LOG), pytest.raises(ServiceError) as info:
            store.create_function("fn", {"code_hash_hex": "a"}, {})
    finally:
        other.rollback()
        other.close()
    # Then a ServiceError, not StorageFull, naming the table and the operation; logged once
    assert type(info.value) is ServiceError
    assert info.value.message == (
        "lambent's state database could not carry out the request (database is locked); try again later."
    )
    assert info.value.context["table"] == "functions" and info.value.context["operation"] == "INSERT"
    assert str(info.value.context["database"]).endswith("lambent.db")
    records = [r for r in caplog.records if r.name == STORE_LOG]
    assert len(records) == 1 and "database is locked" in records[0].getMessage()
    # And once the lock is gone the same write succeeds
    assert store.create_function("fn", {"code_hash_hex": "a"}, {})
    store.close()


def test_a_file_that_is_not_a_database_fails_at_open_as_a_service_error(tmp_path: Path) -> None:
    (tmp_path / "lambent.db").write_bytes(b"this is not an SQLite database, not even close" * 100)
    store = Store.in_dir(tmp_path)
    with pytest.raises(StoreUnavailable) as info:
        store.open()
    assert info.value.message == f"cannot open {tmp_path / 'lambent.db'}: file is not a database"
    assert isinstance(info.value, ServiceError) and isinstance(info.value.__cause__, ServiceError)
    store.close()


def test_a_database_that_cannot_be_opened_is_a_service_error(tmp_path: Path) -> None:
    store = Store.in_dir(tmp_path / "missing" / "dir")
    with pytest.raises(StoreUnavailable) as info:
        store.open()
    assert info.value.message.endswith("missing/dir/lambent.db: unable to open database file")
    store.close()


def test_the_store_constructor_touches_nothing(tmp_path: Path) -> None:
    Store.in_dir(tmp_path).close()
    AsyncEventStore(tmp_path / "q.db", open_now=False).close()
    assert list(tmp_path.iterdir()) == []


async def test_the_queue_writer_reports_a_locked_database_to_the_waiter(tmp_path: Path) -> None:
    # Given a queue whose writer meets a write lock held past its busy timeout
    path = tmp_path / "q.db"
    queue = AsyncEventStore(path, open_now=False)
    _busy_timeout_ms(queue.engine, 50)
    queue.open()
    other = _hold_write_lock(path)
    try:
        # When an event is accepted
        with pytest.raises(ServiceError) as info:
            await queue.add(NewEvent("r1", "fn", None, b"{}", time.time()))
    finally:
        other.rollback()
        other.close()
    # Then the accept fails with a ServiceError naming the queue's table
    assert info.value.context["table"] == "async_events"
    assert info.value.context["database"] == "q.db"
    assert "database is locked" in info.value.message
    # And the writer goes on: the next accept commits
    assert await queue.add(NewEvent("r2", "fn", None, b"{}", time.time())) >= 1
    assert queue.count() == 1
    queue.close()


def test_the_operator_view_of_a_corrupt_queue_is_a_service_error(tmp_path: Path) -> None:
    path = tmp_path / "q.db"
    path.write_bytes(b"garbage" * 1000)
    with pytest.raises(ServiceError) as info:
        read_queue(path, time.time())
    assert info.value.context["table"] == "async_events"


def test_a_broken_constraint_is_a_constraint_violation(tmp_path: Path) -> None:
    store = Store.open_in(tmp_path)
    with store.engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO code_blobs (sha256_hex, size, unzipped_size, created_at) VALUES ('a', 1, 1, 0)"))
    with pytest.raises(ConstraintViolation) as info, store.engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO code_blobs (sha256_hex, size, unzipped_size, created_at) VALUES ('a', 1, 1, 0)"))
    assert info.value.context["table"] == "code_blobs" and info.value.context["operation"] == "INSERT"
    store.close()


def test_statement_context_names_verb_and_table() -> None:
    assert statement_context('INSERT INTO "functions" (name) VALUES (?)') == ("INSERT", "functions")
    assert statement_context("UPDATE async_events SET attempts = ?") == ("UPDATE", "async_events")
    assert statement_context("SELECT max(id) FROM async_events") == ("SELECT", "async_events")
    assert statement_context(None) == ("COMMIT", "")
