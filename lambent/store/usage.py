"""Per-invocation usage records (``<data dir>/usage.db``): written best effort, off the event loop.

The invoke path only calls :meth:`UsageStore.offer`: an append to a bounded in-memory deque (no
lock, no wake-up of another thread per record). One writer thread wakes every
``commit_interval_s`` and commits whatever accumulated in one transaction (group commit, ``synchronous=NORMAL``: a crash may lose the last interval, a
bill is not worth an fsync per invocation). Nothing here can fail an invocation:

- a full queue (the writer cannot keep up, or is stuck on a slow disk) drops the record;
- a full data directory (:class:`~lambent.store.reserve.DiskGuard`: refused growth, or ENOSPC /
  ``SQLITE_FULL`` met by the commit) drops the batch — usage is growth, it never takes the reserve;
- any other database error drops the batch.

Every drop is counted (:attr:`UsageStore.dropped`) and logged, at most once per
10 s per cause (:mod:`lambent.store._writer`), with the running total.

The read side (:func:`read_usage`) opens the file read-only, safe while a server writes.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from dataclasses import dataclass
from collections.abc import Callable
from pathlib import Path
from typing import Literal, NamedTuple

import sqlalchemy as sa

from lambent.errors import LambentError
from lambent.store import errors as store_errors
from lambent.store._writer import GroupWriter, WriterCounters
from lambent.store.reserve import DiskGuard, is_disk_full
from lambent.store.usage_schema import invocations, migrate_usage

log = logging.getLogger(__name__)

#: How usage is grouped when read: per function, per function version, per UTC day and function.
Grouping = Literal["function", "version", "day"]
GROUPINGS: tuple[Grouping, ...] = ("function", "version", "day")

_MAX_BATCH = 4096
#: Records older than the retention are deleted this often, this many per transaction.
_PRUNE_EVERY_S = 3600.0
_PRUNE_BATCH = 10_000


class UsageRecord(NamedTuple):
    """What one invocation is billed for (a named tuple: made on every invocation, it must be
    cheap to build)."""

    request_id: str
    function: str
    version: str
    at: float  # epoch seconds, end of the invocation
    duration_ms: float
    init_ms: float | None
    billed_ms: int
    memory_mb: int
    ephemeral_mb: int
    architecture: str
    requests: int = 1
    #: The account that owns the function ("": a record of a caller that named none; such rows,
    #: like those of releases before accounts, are the server account's).
    account: str = ""


@dataclass(frozen=True, slots=True)
class UsageSum:
    """Sums over the records of one group that share one configuration (memory, ephemeral
    storage, architecture): enough to compute GB-seconds exactly."""

    function: str
    version: str | None  # grouping "version"
    day: str | None  # grouping "day": YYYY-MM-DD, UTC
    memory_mb: int
    ephemeral_mb: int
    architecture: str
    requests: int
    billed_ms: int



class UsageStore(WriterCounters):
    """Scope: one per server. :meth:`offer` is called on the event loop; everything else from
    the thread that opens and closes it."""

    def __init__(self, path: Path, disk: DiskGuard | None = None, *, max_queued: int = 100_000,
                 commit_interval_s: float = 1.0, retention_days: int = 400,
                 clock: Callable[[], float] = time.time) -> None:
        """``retention_days``: records older than that are deleted (0: kept for ever) — a
        workload that invokes all day cannot grow ``usage.db`` without bound."""
        if max_queued < 1:
            raise ValueError("max_queued must be at least 1")
        if not 0 < commit_interval_s <= 30:
            raise ValueError("commit_interval_s must be in (0, 30]: records are visible within 30 s")
        self.path = path
        self.disk = disk
        self.commit_interval_s = commit_interval_s
        if retention_days < 0:
            raise ValueError("retention_days cannot be negative")
        self.retention_days = retention_days
        self._clock = clock
        #: Records deleted by the retention since start.
        self.pruned = 0
        self.engine = sa.create_engine(f"sqlite:///{path}", future=True)
        store_errors.install(self.engine, path.name)
        self.max_queued = max_queued
        self._conn: sqlite3.Connection | None = None
        self._writer: GroupWriter[UsageRecord] = GroupWriter(
            name="usage-writer", what="usage records", log=log, commit=self._commit, prune=self.prune,
            max_queued=max_queued, max_batch=_MAX_BATCH, commit_interval_s=commit_interval_s,
            prune_every_s=_PRUNE_EVERY_S, disk=disk, doing="recording usage", on_exit=self._close_conn)
        self._inbox = self._writer.inbox  # the queue itself (benchmarks look at its length)

    def open(self) -> UsageStore:
        """Migrate and start the writer. Blocking; once. A database that cannot be opened fails
        here (the server does not start), not in the writer thread."""
        try:
            migrate_usage(self.engine)
        except LambentError as exc:
            raise store_errors.unavailable(exc, str(self.path)) from exc
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=5000")
        self._conn = conn
        self._writer.start()
        return self

    # -- the invoke path --------------------------------------------------------------------------
    def offer(self, record: UsageRecord) -> bool:
        """Queue one record for the writer; never blocks. False (and counted) if it was dropped."""
        return self._writer.offer(record, "usage")

    # -- the writer -------------------------------------------------------------------------------
    _INSERT = (
        "INSERT INTO invocations (request_id, function, version, at, duration_ms, init_ms, billed_ms, "
        "memory_mb, ephemeral_mb, architecture, requests, account) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULLIF(?, ''))"
    )

    def _close_conn(self) -> None:
        """The writer thread's last act."""
        if self._conn is not None:
            self._conn.close()

    _PRUNE = ("DELETE FROM invocations WHERE id IN "
              "(SELECT id FROM invocations WHERE at < ? ORDER BY at LIMIT ?)")

    def prune(self) -> int:
        """Delete the records older than the retention (writer thread, or before :meth:`open`
        returns to nobody else); returns how many. Best effort: an error is logged, not raised."""
        if not self.retention_days or self._conn is None:
            return 0
        cutoff = self._clock() - self.retention_days * 86400
        deleted = 0
        try:
            while True:
                cur = self._conn.execute(self._PRUNE, (cutoff, _PRUNE_BATCH))
                deleted += cur.rowcount
                if cur.rowcount < _PRUNE_BATCH:
                    break
        except sqlite3.Error as exc:
            log.warning("usage: could not delete records older than %d days: %s", self.retention_days, exc)
        with self._writer.lock:
            self.pruned += deleted
        return deleted

    def _commit(self, batch: list[UsageRecord]) -> None:
        if not self._writer.room(len(batch)):
            return
        # A record is the row, in _INSERT's column order: no copy per record (this thread shares
        # the GIL with the event loop).
        rows = batch
        conn = self._conn
        assert conn is not None  # noqa: S101 - started by open()
        try:
            conn.execute("BEGIN")
            conn.executemany(self._INSERT, rows)
            conn.execute("COMMIT")
        except (sqlite3.Error, OSError) as exc:
            if conn.in_transaction:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:
                    log.debug("usage: rollback failed", exc_info=True)
            self._writer.failed(len(batch), exc, disk_full=is_disk_full(exc))
            return
        self._writer.committed(len(batch))

    def close(self, timeout_s: float = 10) -> None:
        """Write what is queued, then stop the writer. Idempotent."""
        if self._writer.closed:
            return
        if not self._writer.close(timeout_s):
            log.warning("usage writer did not drain its queue in %.0f s", timeout_s)
        self.engine.dispose()


# -- read-only view (``lambent usage``, ``GET /usage``), safe while a server writes ---------------
_GROUP_SQL: dict[Grouping, tuple[str, str]] = {
    # (select list of the group key, group by list)
    "function": ("function, NULL, NULL", "function"),
    "version": ("function, version, NULL", "function, version"),
    "day": ("function, NULL, date(at, 'unixepoch')", "function, date(at, 'unixepoch')"),
}


@dataclass(frozen=True, slots=True)
class AccountScope:
    """Whose records a read sums: ``account``'s; records without an account (made before
    accounts) are ``unowned``'s, the server account."""

    account: str
    unowned: str


def read_usage(path: Path, by: Grouping, since: float | None = None, until: float | None = None,
               function: str | None = None, scope: AccountScope | None = None) -> list[UsageSum]:
    """Sums of the records with ``since <= at < until`` (epoch seconds; None: unbounded) of
    ``scope``'s account (None: every record, a single-account file), grouped by ``by`` and by
    configuration, ordered by the group key. An absent file has no usage."""
    if by not in _GROUP_SQL:
        raise ValueError(f"unknown grouping {by!r}")
    if not path.exists():
        return []
    try:
        return _read_usage(path, by, since, until, function, scope)
    except sqlite3.Error as exc:
        raise store_errors.translate(exc, database=path.name, operation="SELECT", table=invocations.name) from exc


def _select(key: str, group: str, where: list[str]) -> str:
    return (
        f"SELECT {key}, memory_mb, ephemeral_mb, architecture, sum(requests), sum(billed_ms) FROM invocations"  # noqa: S608 - fixed fragments
        + (f" WHERE {' AND '.join(where)}" if where else "")
        + f" GROUP BY {group}, memory_mb, ephemeral_mb, architecture ORDER BY {group}, memory_mb, ephemeral_mb, architecture"
    )


def _read_usage(path: Path, by: Grouping, since: float | None, until: float | None,
                function: str | None, scope: AccountScope | None) -> list[UsageSum]:
    key, group = _GROUP_SQL[by]
    where: list[str] = []
    params: list[object] = []
    if since is not None:
        where.append("at >= ?")
        params.append(since)
    if until is not None:
        where.append("at < ?")
        params.append(until)
    if function is not None:
        where.append("function = ?")
        params.append(function)
    if scope is not None:
        where.append("coalesce(account, ?) = ?")
        params.extend((scope.unowned, scope.account))
    sql = _select(key, group, where)
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        if scope is not None and "account" not in {r[1] for r in db.execute("PRAGMA table_info(invocations)")}:
            # A file no server of this release has opened yet: every record is the server account's.
            if scope.account != scope.unowned:
                return []
            where.pop()
            del params[-2:]
            sql = _select(key, group, where)
        return [UsageSum(r[0], r[1], r[2], int(r[3]), int(r[4]), str(r[5]), int(r[6]), int(r[7]))
                for r in db.execute(sql, params)]
    finally:
        db.close()
