"""The durable queue of asynchronous invocations (and undeliverable destination records).

A separate SQLite file (``<data dir>/async-queue.db``, WAL, ``synchronous=FULL``) so that queue
traffic never waits on the control plane's writes. Inserts go through one writer thread that
commits whatever has accumulated in a single transaction (group commit): a burst of Invoke
calls costs one fsync, not one each, and every caller learns of its commit before it answers 202.

On a full data directory (a :class:`~lambent.store.reserve.DiskGuard`) an accept is refused with
``StorageFull`` before or when its commit fails — then nothing was accepted — while the state
changes of accepted events (reschedules, deletes, undeliverable records) use the disk reserve.
"""

from __future__ import annotations

import asyncio
import json
import queue
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from lambent.errors import LambentError
from lambent.store import errors as store_errors
from lambent.store.queue_schema import events, migrate_queue, undeliverable
from lambent.store.reserve import DiskGuard, is_disk_full

@dataclass(frozen=True)
class Redrive:
    """How an undeliverable record was sent: enough to send it again (lambent/store/undeliverable.py)."""

    function: str | None = None
    kind: str = "record"
    success: bool = False
    role: str | None = None
    attributes: dict[str, str] | None = None


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
    #: the X-Ray trace header it was accepted with (None: derived from the request id)
    trace_header: str | None = None


@dataclass(frozen=True)
class NewEvent:
    request_id: str
    function: str
    qualifier: str | None
    payload: bytes
    enqueued_at: float
    trace_header: str | None = None


_STOP = object()


class AsyncEventStore:
    """Scope: one per server. ``add`` is awaited on the event loop; the rest is called from worker
    threads (``asyncio.to_thread``)."""

    def __init__(self, path: Path, disk: DiskGuard | None = None, *, open_now: bool = True) -> None:
        """With ``open_now`` False (the server's) nothing is touched until :meth:`open`.
        Transitional: tools and tests that construct and use it get it opened."""
        self.path = path
        self.engine = sa.create_engine(f"sqlite:///{path}", future=True)
        self.disk = disk
        event.listen(self.engine, "connect", _pragmas)
        if disk is not None:
            disk.install(self.engine)
        store_errors.install(self.engine, path.name)
        self._next_id = 1
        self._inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._writer_conn: Any = None
        self._writer = threading.Thread(target=self._write_loop, name="async-queue-writer", daemon=True)
        if open_now:
            self.open()

    def open(self) -> AsyncEventStore:
        """Migrate, read the next event id, connect the writer and start its thread. Blocking; once.
        A database that cannot be opened fails here, not in the writer thread."""
        try:
            migrate_queue(self.engine)
            with self.engine.connect() as conn:
                self._next_id = int(conn.execute(sa.select(sa.func.max(events.c.id))).scalar() or 0) + 1
            # The writer's own connection for its whole life (no pool checkout per batch).
            self._writer_conn = self.engine.raw_connection()
        except LambentError as exc:
            raise store_errors.unavailable(exc, str(self.path)) from exc
        self._writer.start()
        return self

    # -- group-committed writes ------------------------------------------------------------
    # Every write goes through one thread and one connection, so writers never wait on SQLite's
    # lock (whose busy handler sleeps in milliseconds) and a burst shares one fsync.
    async def add(self, new: NewEvent) -> int:
        """Store one event durably (committed and fsynced); returns its id. StorageFull on a full
        data directory: the event was not accepted."""
        if self.disk is not None:
            self.disk.check_room("the asynchronous invocation")
        # Ids are assigned here (one event loop calls this), so a batch inserts with one
        # executemany instead of one statement per row.
        event_id = self._next_id
        self._next_id += 1
        await self._submit(("add", event_id, new))
        return event_id

    async def reschedule(self, event_id: int, next_attempt_at: float, attempts: int, backoff_step: int) -> None:
        await self._submit(("reschedule", event_id, next_attempt_at, attempts, backoff_step))

    async def delete(self, event_id: int) -> None:
        await self._submit(("delete", event_id))

    def delete_soon(self, event_id: int) -> None:
        """Delete without waiting for the commit. Losing it in a crash only means the event is
        delivered once more (at least once), so the dispatcher need not wait for the fsync."""
        self._inbox.put((("delete", event_id), None, None))

    async def _submit(self, op: tuple[object, ...]) -> object:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[object] = loop.create_future()
        self._inbox.put((op, loop, fut))
        return await fut

    _INSERT = (
        "INSERT INTO async_events (id, request_id, function, qualifier, payload, enqueued_at, attempts, "
        "next_attempt_at, backoff_step, trace_header) VALUES (?, ?, ?, ?, ?, ?, 0, ?, 0, ?)"
    )
    _RESCHEDULE = "UPDATE async_events SET next_attempt_at = ?, attempts = ?, backoff_step = ? WHERE id = ?"
    _DELETE = "DELETE FROM async_events WHERE id = ?"

    def _commit(self, ops: list[tuple[object, ...]]) -> None:
        """One transaction for a whole batch, one executemany per kind of operation."""
        adds = [(op[1], op[2].request_id, op[2].function, op[2].qualifier, op[2].payload,  # type: ignore[attr-defined]
                 op[2].enqueued_at, op[2].enqueued_at, op[2].trace_header)  # type: ignore[attr-defined]
                for op in ops if op[0] == "add"]
        moves = [(op[2], op[3], op[4], op[1]) for op in ops if op[0] == "reschedule"]
        deletes = [(op[1],) for op in ops if op[0] == "delete"]
        # A batch of nothing but deletes need not reach the disk before it returns: losing it in
        # a crash only redelivers those events (at least once). Anything else is fsynced.
        durable = bool(adds or moves)
        raw = self._writer_conn
        try:
            cur = raw.cursor()
            cur.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
            cur.execute("BEGIN")
            if adds:
                cur.executemany(self._INSERT, adds)
            if moves:
                cur.executemany(self._RESCHEDULE, moves)
            if deletes:
                cur.executemany(self._DELETE, deletes)
            cur.execute("COMMIT")
            cur.close()
        except BaseException:
            raw.rollback()
            raise

    def _write_loop(self) -> None:
        try:
            self._write_batches()
        finally:
            self._writer_conn.close()

    def _write_batches(self) -> None:
        while True:
            first = self._inbox.get()
            if first is _STOP:
                return
            batch: list[tuple[tuple[Any, ...], asyncio.AbstractEventLoop | None, asyncio.Future[object] | None]] = [first]
            while len(batch) < 4096:
                try:
                    item = self._inbox.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    self._inbox.put(_STOP)
                    break
                batch.append(item)
            ops = [op for op, _, _ in batch]
            try:
                self._commit(ops)
                error: BaseException | None = None
                add_error: BaseException | None = None
            except Exception as exc:  # noqa: BLE001 - every waiter learns of the failure
                if self.disk is not None and is_disk_full(exc):
                    error, add_error = self._commit_on_full_disk(ops, exc)
                else:
                    error = add_error = self._translate(exc)
            for op, loop, fut in batch:
                if loop is not None and fut is not None:
                    if op[0] == "add" and add_error is not None:
                        loop.call_soon_threadsafe(_fail, fut, add_error)
                    elif error is None:
                        loop.call_soon_threadsafe(_resolve, fut, None)
                    else:
                        loop.call_soon_threadsafe(_fail, fut, error)

    def _commit_on_full_disk(self, ops: list[tuple[Any, ...]], exc: Exception) -> tuple[BaseException | None, BaseException]:
        """A batch met a full disk: its accepts are refused (not one was committed), and the
        accepted events' state changes are committed again alone with the disk reserve.
        Returns (error for the state changes, error for the accepts)."""
        assert self.disk is not None  # noqa: S101 - only called with a guard
        self.disk.note_full()
        refused = self.disk.error("the asynchronous invocation")
        refused.__cause__ = exc
        changes = [op for op in ops if op[0] != "add"]
        if not changes:
            return None, refused
        try:
            self.disk.essential("the asynchronous queue's update", self._commit, changes)
        except Exception as again:  # noqa: BLE001 - reported to each waiter
            return self._translate(again), refused
        return None, refused

    def _translate(self, exc: BaseException) -> BaseException:
        """The writer's batches run on the raw driver connection: translated here, as the
        engine's listener does for everything else."""
        return store_errors.translate(exc, database=self.path.name, operation="COMMIT", table=events.name)

    def own_unkeyed(self, account_id: str) -> int:
        """Give the events queued before accounts (``function`` a bare name) to ``account_id``:
        ``function`` becomes the key ``ACCOUNT:function:NAME``. At start-up, before dispatching."""
        c = events.c
        with self.engine.begin() as conn:
            moved = conn.execute(events.update().where(sa.func.instr(c.function, ":") == 0)
                                 .values(function=f"{account_id}:function:" + c.function))
        return int(moved.rowcount or 0)

    # -- dispatcher side ------------------------------------------------------------------------
    def schedule(self) -> list[tuple[float, int, str]]:
        """(next_attempt_at, id, function) of every queued event, for the dispatcher."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(events.c.next_attempt_at, events.c.id, events.c.function))
            return [(r.next_attempt_at, r.id, r.function) for r in rows]

    def queued_bytes(self) -> list[tuple[str, int]]:
        """(function, payload bytes) of the queued events, per function (the accept-side bound's
        start-up figure; GROUP BY keeps it one row per function)."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(events.c.function, sa.func.sum(sa.func.length(events.c.payload)))
                                .group_by(events.c.function))
            return [(str(r[0]), int(r[1] or 0)) for r in rows]

    def get(self, event_id: int) -> QueuedEvent | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(events).where(events.c.id == event_id)).first()
        if row is None:
            return None
        return QueuedEvent(row.id, row.request_id, row.function, row.qualifier, row.payload, row.enqueued_at,
                           row.attempts, row.next_attempt_at, row.backoff_step, row.trace_header)

    def count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(events)).scalar() or 0)

    def record_undeliverable(self, request_id: str, target: str, record: bytes, error: str,
                             redrive: Redrive | None = None) -> None:
        """Keep a record no attempt could deliver; ``redrive``: what delivering it again needs."""
        if self.disk is not None:
            self.disk.essential("recording an undeliverable event", self._record_undeliverable, request_id, target,
                                record, error, redrive)
        else:
            self._record_undeliverable(request_id, target, record, error, redrive)

    def _record_undeliverable(self, request_id: str, target: str, record: bytes, error: str,
                              redrive: Redrive | None) -> None:
        r = redrive or Redrive()
        with self.engine.begin() as conn:
            conn.execute(undeliverable.insert().values(
                request_id=request_id, target=target, record=record, error=error, failed_at=time.time(),
                function=r.function, kind=r.kind, success=r.success, role=r.role,
                attributes=json.dumps(r.attributes) if r.attributes else None))

    def undeliverable_count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(undeliverable)).scalar() or 0)

    def close(self) -> None:
        if self._writer.ident is not None:  # opened
            self._inbox.put(_STOP)
            self._writer.join(timeout=10)
        self.engine.dispose()


# -- read-only views for operators (``lambent queue``), safe while a server writes ----------------
@dataclass(frozen=True)
class QueueRow:
    function: str
    qualifier: str | None
    events: int
    due: int  # due now (waiting for a slot) as opposed to waiting for a retry time
    retried: int  # ran at least once, or backed off after a throttle
    oldest_enqueued_at: float


@dataclass(frozen=True)
class UndeliverableRow:
    request_id: str
    target: str
    error: str
    failed_at: float


def read_queue(path: Path, now: float) -> tuple[list[QueueRow], list[UndeliverableRow], int]:
    """Queued events per function and qualifier, the latest undeliverable records (50) and their
    total, read from a queue file without writing to it."""
    if not path.exists():
        return [], [], 0
    try:
        return _read_queue(path, now)
    except sqlite3.Error as exc:
        raise store_errors.translate(exc, database=path.name, operation="SELECT", table=events.name) from exc


def _read_queue(path: Path, now: float) -> tuple[list[QueueRow], list[UndeliverableRow], int]:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        rows = [
            QueueRow(r[0], r[1], r[2], r[3], r[4], r[5])
            for r in db.execute(
                "SELECT function, qualifier, count(*), sum(next_attempt_at <= ?), "
                "sum(attempts > 0 OR backoff_step > 0), min(enqueued_at) "
                "FROM async_events GROUP BY function, qualifier ORDER BY function, qualifier",
                (now,),
            )
        ]
        dead = [UndeliverableRow(r[0], r[1], r[2], r[3]) for r in db.execute(
            "SELECT request_id, target, error, failed_at FROM undeliverable ORDER BY id DESC LIMIT 50")]
        total = int(db.execute("SELECT count(*) FROM undeliverable").fetchone()[0])
        return rows, dead, total
    finally:
        db.close()


def _resolve(fut: asyncio.Future[object], _error: object) -> None:
    if not fut.done():
        fut.set_result(None)


def _fail(fut: asyncio.Future[object], exc: BaseException) -> None:
    if not fut.done():
        fut.set_exception(exc)


def _pragmas(dbapi_conn: object, _record: object) -> None:
    cur = dbapi_conn.cursor()  # type: ignore[attr-defined]
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA busy_timeout=5000")
    cur.close()
