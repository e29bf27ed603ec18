"""Numbered migrations of the database files (``lambent.db``: store/schema.py; ``async-queue.db``:
store/queue_schema.py; ``iam.db``: store/iam_schema.py; ``vpc.db``: store/vpc_schema.py;
``metrics.db``: store/metrics_schema.py; ``traces.db``: store/traces_schema.py). An
applied migration is never edited: the schema each one produces is pinned (``migrations_ddl.json``;
iam.db's and vpc.db's beside their own tests, ``iam_ddl.json`` and ``vpc_ddl.json``), so a change to
a released step (or to a table it creates) fails here, and a new step must be appended and pinned
in the same change. Databases made by the
previous release (tables, but no version table in the queue file) still open, data intact."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

from lambent.store import iam_schema, metrics_schema, queue_schema, schema, traces_schema, vpc_schema
from lambent.store.async_queue import AsyncEventStore, NewEvent
from lambent.store.db import Store
from lambent.store.invoke_configs import InvokeConfigStore

PINNED = Path(__file__).with_name("migrations_ddl.json")
_UNIT = Path(__file__).parent.parent
#: database file -> (its version table, its migrations, the file its steps' schemas are pinned in)
CHAINS: dict[str, tuple[sa.Table, list[Callable[[sa.Connection], None]], Path]] = {
    "lambent.db": (schema.schema_version, schema.MIGRATIONS, PINNED),
    "async-queue.db": (queue_schema.schema_version, queue_schema.MIGRATIONS, PINNED),
    "iam.db": (iam_schema.schema_version, iam_schema.MIGRATIONS, _UNIT / "iam" / "iam_ddl.json"),
    "vpc.db": (vpc_schema.schema_version, vpc_schema.MIGRATIONS, _UNIT / "vpc" / "vpc_ddl.json"),
    "metrics.db": (metrics_schema.schema_version, metrics_schema.MIGRATIONS, PINNED),
    "traces.db": (traces_schema.schema_version, traces_schema.MIGRATIONS, PINNED),
}


def _pinned(chain: str) -> list[list[str]]:
    """The pinned schemas of ``chain``: its entry in a file pinning several, or a file of its own."""
    pins = json.loads(CHAINS[chain][2].read_text())
    return pins[chain] if isinstance(pins, dict) else pins  # type: ignore[no-any-return]


def _ddl(path: Path) -> list[str]:
    db = sqlite3.connect(path)
    try:
        return sorted(r[0] for r in db.execute("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL"))
    finally:
        db.close()


def _schemas_after_each_step(tmp_path: Path, chain: str) -> list[list[str]]:
    version_table, migrations, _ = CHAINS[chain]
    path = tmp_path / chain
    engine = sa.create_engine(f"sqlite:///{path}")
    try:
        out = []
        for n in range(1, len(migrations) + 1):
            assert schema.run_migrations(engine, version_table, migrations[:n]) == n
            out.append(_ddl(path))
        return out
    finally:
        engine.dispose()


def test_applied_migrations_are_never_edited(tmp_path: Path) -> None:
    for chain, (_, _, pin_file) in CHAINS.items():
        pinned = _pinned(chain)
        got = _schemas_after_each_step(tmp_path, chain)
        assert got[: len(pinned)] == pinned, f"{chain}: an applied migration changed"
        assert len(got) == len(pinned), f"{chain}: pin the new migration's schema in {pin_file.name}"


def test_migrating_again_is_a_no_op(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'q.db'}")
    try:
        assert queue_schema.migrate_queue(engine) == len(queue_schema.MIGRATIONS)
        assert queue_schema.migrate_queue(engine) == len(queue_schema.MIGRATIONS)
        with engine.connect() as conn:
            versions = conn.execute(sa.select(queue_schema.schema_version.c.version)).scalars().all()
        assert sorted(versions) == list(range(1, len(queue_schema.MIGRATIONS) + 1))
    finally:
        engine.dispose()


#: async-queue.db as the previous release created it (metadata.create_all, no version table).
PREVIOUS_QUEUE_DDL = [
    "CREATE TABLE async_events (id INTEGER NOT NULL, request_id VARCHAR(64) NOT NULL, function VARCHAR(64) NOT NULL, "
    "qualifier VARCHAR(128), payload BLOB NOT NULL, enqueued_at FLOAT NOT NULL, attempts INTEGER NOT NULL, "
    "next_attempt_at FLOAT NOT NULL, backoff_step INTEGER NOT NULL, PRIMARY KEY (id))",
    "CREATE TABLE undeliverable (id INTEGER NOT NULL, request_id VARCHAR(64) NOT NULL, target VARCHAR(350) NOT NULL, "
    "record BLOB NOT NULL, error TEXT NOT NULL, failed_at FLOAT NOT NULL, PRIMARY KEY (id))",
    "CREATE TABLE event_invoke_configs (function VARCHAR(64) NOT NULL, qualifier VARCHAR(128) NOT NULL, "
    "config TEXT NOT NULL, PRIMARY KEY (function, qualifier))",
]


def test_a_queue_file_of_the_previous_release_opens_with_its_data(tmp_path: Path) -> None:
    path = tmp_path / "async-queue.db"
    db = sqlite3.connect(path)
    for ddl in PREVIOUS_QUEUE_DDL:
        db.execute(ddl)
    db.execute("INSERT INTO async_events VALUES (7, 'r-7', 'f', NULL, x'7b7d', 1.0, 0, 2.0, 0)")
    db.execute("INSERT INTO event_invoke_configs VALUES ('f', '$LATEST', '{\"MaximumRetryAttempts\": 1}')")
    db.commit()
    db.close()

    async def use() -> None:
        store = AsyncEventStore(path)
        try:
            assert store.get(7) is not None
            assert store.count() == 1
            assert InvokeConfigStore(store.engine).all() == [("f", "$LATEST", {"MaximumRetryAttempts": 1})]
            new_id = await store.add(NewEvent("r-8", "f", None, b"{}", 3.0))
            assert new_id == 8  # ids continue after the old rows
        finally:
            store.close()

    asyncio.run(use())
    db = sqlite3.connect(path)
    try:
        assert [r[0] for r in db.execute("SELECT version FROM schema_version ORDER BY version")] == [1, 2, 3, 4]
    finally:
        db.close()


def test_lambent_db_of_the_previous_release_opens(tmp_path: Path) -> None:
    # The previous release's lambent.db is the current chain's schema: reopening migrates nothing.
    store = Store.open_in(tmp_path)
    store.close()
    before = _ddl(tmp_path / "lambent.db")
    store = Store.open_in(tmp_path)
    store.close()
    assert _ddl(tmp_path / "lambent.db") == before
