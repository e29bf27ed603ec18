"""Trace segments (``<data dir>/traces.db``): written best effort, off the event loop, bounded.

Like :mod:`lambent.store.usage`: the invoke path and the daemon only call :meth:`TraceStore.offer`
(an append to a bounded deque); one writer thread commits what accumulated every
``commit_interval_s`` in one transaction. Nothing here can fail an invocation: a full queue, a
full data directory or a database error drops the segments, counted in :attr:`TraceStore.dropped`
and logged at most once per 10 s per cause.

Bounds: segments older than ``retention_days`` (X-Ray keeps traces 30 days) are deleted, and so
are the oldest beyond ``max_segments`` in total and beyond ``max_segments_per_account`` of one
account, so neither a busy server nor a function flooding its daemon grows ``traces.db`` without
end, and no tenant's flood pushes the other accounts' traces out. Every row carries its account; reads are
per account.

Reads (:meth:`summaries`, :meth:`segments`) are blocking: the API runs them in a thread.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from lambent.errors import LambentError
from lambent.store import errors as store_errors
from lambent.store._writer import GroupWriter, WriterCounters
from lambent.store.reserve import DiskGuard, is_disk_full
from lambent.store.traces_schema import migrate_traces, segments

__all__ = ["SegmentRow", "TraceStore", "TraceSummaryRow"]

log = logging.getLogger(__name__)

_MAX_BATCH = 2048
_PRUNE_EVERY_S = 60.0


@dataclass(frozen=True, slots=True)
class SegmentRow:
    """What the writer stores for one document (``lambent.observability.tracing.segments.Stored``
    plus its account)."""

    account: str
    trace_id: str
    segment_id: str
    parent_id: str | None
    is_subsegment: bool
    start: float
    end: float | None
    fault: bool
    error: bool
    throttle: bool
    document: str


@dataclass(frozen=True, slots=True)
class TraceSummaryRow:
    trace_id: str
    start: float
    end: float | None
    fault: bool
    error: bool
    throttle: bool
    segments: int
    in_progress: bool


class TraceStore(WriterCounters):
    """Scope: one per server. :meth:`offer` on the event loop; reads from any thread."""

    def __init__(self, path: Path, disk: DiskGuard | None = None, *, max_queued: int = 50_000,
                 commit_interval_s: float = 0.5, retention_days: int = 30, max_segments: int = 1_000_000,
                 max_segments_per_account: int | None = None, clock: Callable[[], float] = time.time) -> None:
        """``max_segments_per_account``: default ``max_segments`` (no share of its own)."""
        per_account = max_segments if max_segments_per_account is None else max_segments_per_account
        if max_queued < 1 or max_segments < 1 or per_account < 1 or retention_days < 1 or not 0 < commit_interval_s <= 30:
            raise ValueError("invalid trace store bounds")
        self.max_segments_per_account = per_account
        self.path = path
        self.disk = disk
        self.max_queued = max_queued
        self.commit_interval_s = commit_interval_s
        self.retention_days = retention_days
        self.max_segments = max_segments
        self._clock = clock
        self.engine = sa.create_engine(f"sqlite:///{path}", future=True)
        store_errors.install(self.engine, path.name)
        self._writer: GroupWriter[tuple[SegmentRow, float]] = GroupWriter(
            name="trace-writer", what="trace segments", log=log, commit=self._commit, prune=self.prune,
            max_queued=max_queued, max_batch=_MAX_BATCH, commit_interval_s=commit_interval_s,
            prune_every_s=_PRUNE_EVERY_S, disk=disk, doing="recording traces")
        #: segments deleted by the retention or the size cap since start
        self.pruned = 0

    def open(self) -> TraceStore:
        try:
            migrate_traces(self.engine)
            with self.engine.begin() as conn:
                conn.exec_driver_sql("PRAGMA journal_mode=WAL")
        except LambentError as exc:
            raise store_errors.unavailable(exc, str(self.path)) from exc
        self._writer.start()
        return self

    # -- the write side (event loop) -----------------------------------------------------------
    def offer(self, row: SegmentRow) -> bool:
        """Queue one segment; never blocks. False (and counted) if dropped."""
        return self._writer.offer((row, self._clock()), "trace")

    def _commit(self, batch: list[tuple[SegmentRow, float]]) -> None:
        if not self._writer.room(len(batch)):
            return
        rows = [{"account": r.account, "trace_id": r.trace_id, "segment_id": r.segment_id, "parent_id": r.parent_id,
                 "is_subsegment": r.is_subsegment, "start": r.start, "end": r.end, "received": at, "fault": r.fault,
                 "error": r.error, "throttle": r.throttle, "document": r.document} for r, at in batch]
        try:
            with self.engine.begin() as conn:
                conn.execute(segments.insert(), rows)
        except (LambentError, sa.exc.SQLAlchemyError, OSError) as exc:
            self._writer.failed(len(batch), exc, disk_full=is_disk_full(exc) or is_disk_full(exc.__cause__))
            return
        self._writer.committed(len(batch))

    def prune(self) -> int:
        """Delete what is past the retention, then the oldest beyond ``max_segments`` and, of each
        account, beyond ``max_segments_per_account``. Best effort."""
        cutoff = self._clock() - self.retention_days * 86400
        deleted = 0
        try:
            with self.engine.begin() as conn:
                deleted += conn.execute(segments.delete().where(segments.c.received < cutoff)).rowcount
                count = conn.execute(sa.select(sa.func.count()).select_from(segments)).scalar_one()
                excess = count - self.max_segments
                if excess > 0:
                    oldest = sa.select(segments.c.id).order_by(segments.c.id).limit(excess).scalar_subquery()
                    deleted += conn.execute(segments.delete().where(segments.c.id.in_(oldest))).rowcount
                cap = self.max_segments_per_account
                if cap < self.max_segments:
                    over = conn.execute(sa.select(segments.c.account, sa.func.count()).group_by(segments.c.account)
                                        .having(sa.func.count() > cap)).all()
                    for account, n in over:
                        oldest = (sa.select(segments.c.id).where(segments.c.account == account)
                                  .order_by(segments.c.id).limit(n - cap).scalar_subquery())
                        deleted += conn.execute(segments.delete().where(segments.c.id.in_(oldest))).rowcount
        except (LambentError, sa.exc.SQLAlchemyError) as exc:
            log.warning("traces: could not prune: %s", exc)
        with self._writer.lock:
            self.pruned += deleted
        return deleted

    def close(self, timeout_s: float = 10) -> None:
        """Write what is queued, then stop the writer. Idempotent."""
        if self._writer.closed:
            return
        self._writer.close(timeout_s)
        self.engine.dispose()

    # -- reads ---------------------------------------------------------------------------------
    def summaries(self, account: str, start: float, end: float, *, offset: int = 0,
                  limit: int = 100) -> list[TraceSummaryRow]:
        """Traces of ``account`` whose first segment starts in [start, end], newest first."""
        c = segments.c
        first = sa.func.min(c.start)
        query = (
            sa.select(c.trace_id, first, sa.func.max(c.end), sa.func.max(c.fault), sa.func.max(c.error),
                      sa.func.max(c.throttle), sa.func.count(), sa.func.sum(sa.case((c.end.is_(None), 1), else_=0)))
            .where(c.account == account, c.start >= start - 86400, c.start <= end)
            .group_by(c.trace_id)
            .having(first >= start, first <= end)
            .order_by(first.desc(), c.trace_id)
            .offset(offset).limit(limit)
        )
        with self.engine.connect() as conn:
            return [TraceSummaryRow(r[0], r[1], r[2], bool(r[3]), bool(r[4]), bool(r[5]), r[6], bool(r[7]))
                    for r in conn.execute(query)]

    def segments(self, account: str, trace_ids: Iterable[str], *, max_per_trace: int = 1000) -> dict[str, list[SegmentRow]]:
        """The stored documents of each trace of ``account`` (oldest first; at most ``max_per_trace``)."""
        ids = list(dict.fromkeys(trace_ids))
        out: dict[str, list[SegmentRow]] = {}
        if not ids:
            return out
        c = segments.c
        query = sa.select(segments).where(c.account == account, c.trace_id.in_(ids)).order_by(c.id)
        with self.engine.connect() as conn:
            for r in conn.execute(query):
                rows = out.setdefault(r.trace_id, [])
                if len(rows) < max_per_trace:
                    rows.append(SegmentRow(r.account, r.trace_id, r.segment_id, r.parent_id, bool(r.is_subsegment),
                                           r.start, r.end, bool(r.fault), bool(r.error), bool(r.throttle), r.document))
        return out
