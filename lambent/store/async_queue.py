"""The durable queue of asynchronous invocations (and undeliverable destination records).

A separate SQLite file (``<data dir>/async-queue.db``, WAL, ``synchronous=FULL``) so that queue
traffic never waits on the control plane's writes. Inserts go through one writer thread that
commits whatever has accumulated in a single transaction (group commit): a burst of Invoke
calls costs one fsync, not one each, and every caller learns of its commit before it answers 202.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event

metadata = sa.MetaData()

events = sa.Table(
    "async_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("request_id", sa.String(64), nullable=False),
    sa.Column("function", sa.String(64), nullable=False),
    sa.Column("qualifier", sa.String(128), nullable=True),
    sa.Column("payload", sa.LargeBinary, nullable=False),
    sa.Column("enqueued_at", sa.Float, nullable=False),
    #: invocations that ran the function (function errors count towards MaximumRetryAttempts)
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_attempt_at", sa.Float, nullable=False),
    #: throttle/system-error backoff step, for the exponential delay
    sa.Column("backoff_step", sa.Integer, nullable=False, default=0),
)

undeliverable = sa.Table(
    "undeliverable",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("request_id", sa.String(64), nullable=False),
    sa.Column("target", sa.String(350), nullable=False),
    sa.Column("record", sa.LargeBinary, nullable=False),
    sa.Column("error", sa.Text, nullable=False),
    sa.Column("failed_at", sa.Float, nullable=False),
)


@dataclass(frozen=True)
class QueuedEvent:
    id: int
    request_id: str
    function: str
    qualifier: str | None
    payload: bytes
    enqueued_at: float
    attempts: int
    next_attempt_at: float
    backoff_step: int


@dataclass(frozen=True)
class NewEvent:
    request_id: str
    function: str
    qualifier: str | None
    payload: bytes
    enqueued_at: float


_STOP = object()


class AsyncEventStore:
    """Scope: one per server. ``add`` is awaited on the event loop; the rest is called from worker
    threads (``asyncio.to_thread``)."""

    def __init__(self, path: Path) -> None:
        self.engine = sa.create_engine(f"sqlite:///{path}", future=True)
        event.listen(self.engine, "connect", _pragmas)
        metadata.create_all(self.engine)
        self._inbox: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._writer = threading.Thread(target=self._write_loop, name="async-queue-writer", daemon=True)
        self._writer.start()

    # -- group-committed inserts -------------------------------------------------------------
    async def add(self, new: NewEvent) -> int:
        """Store one event durably (committed and fsynced); returns its id."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[int] = loop.create_future()
        self._inbox.put((new, loop, fut))
        return await fut

    def _write_loop(self) -> None:
        while True:
            first = self._inbox.get()
            if first is _STOP:
                return
            batch = [first]
            while len(batch) < 512:
                try:
                    item = self._inbox.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    self._inbox.put(_STOP)
                    break
                batch.append(item)
            try:
                with self.engine.begin() as conn:
                    ids = [
                        conn.execute(
                            events.insert().values(
                                request_id=new.request_id, function=new.function, qualifier=new.qualifier,
                                payload=new.payload, enqueued_at=new.enqueued_at, attempts=0,
                                next_attempt_at=new.enqueued_at, backoff_step=0,
                            )
                        ).inserted_primary_key[0]
                        for new, _, _ in batch  # type: ignore[misc]
                    ]
            except Exception as exc:  # noqa: BLE001 - every waiter learns of the failure
                for _, loop, fut in batch:  # type: ignore[misc]
                    loop.call_soon_threadsafe(_fail, fut, exc)
                continue
            for (_, loop, fut), new_id in zip(batch, ids):  # type: ignore[misc]
                loop.call_soon_threadsafe(_resolve, fut, new_id)

    # -- dispatcher side ------------------------------------------------------------------------
    def schedule(self) -> list[tuple[float, int]]:
        """(next_attempt_at, id) of every queued event, for the dispatcher's in-memory heap."""
        with self.engine.connect() as conn:
            return [(r.next_attempt_at, r.id) for r in conn.execute(sa.select(events.c.next_attempt_at, events.c.id))]

    def get(self, event_id: int) -> QueuedEvent | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(events).where(events.c.id == event_id)).first()
        if row is None:
            return None
        return QueuedEvent(row.id, row.request_id, row.function, row.qualifier, row.payload, row.enqueued_at,
                           row.attempts, row.next_attempt_at, row.backoff_step)

    def reschedule(self, event_id: int, next_attempt_at: float, attempts: int, backoff_step: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                events.update().where(events.c.id == event_id)
                .values(next_attempt_at=next_attempt_at, attempts=attempts, backoff_step=backoff_step)
            )

    def delete(self, event_id: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(events.delete().where(events.c.id == event_id))

    def count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(events)).scalar() or 0)

    def record_undeliverable(self, request_id: str, target: str, record: bytes, error: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(undeliverable.insert().values(request_id=request_id, target=target, record=record,
                                                       error=error, failed_at=time.time()))

    def undeliverable_count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(undeliverable)).scalar() or 0)

    def close(self) -> None:
        self._inbox.put(_STOP)
        self._writer.join(timeout=10)
        self.engine.dispose()


def _resolve(fut: asyncio.Future[int], value: int) -> None:
    if not fut.done():
        fut.set_result(value)


def _fail(fut: asyncio.Future[int], exc: BaseException) -> None:
    if not fut.done():
        fut.set_exception(exc)


def _pragmas(dbapi_conn: object, _record: object) -> None:
    cur = dbapi_conn.cursor()  # type: ignore[attr-defined]
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.close()
