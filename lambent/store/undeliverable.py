"""Undeliverable destination records and queued events as operators see them (lambent's API:
ListAsyncEventQueues, ListUndeliverableRecords, RedriveUndeliverableRecords; the console;
``lambent queue``). Reads and the few writes of a redrive, on the queue file's engine
(``AsyncEventStore.engine``), called from worker threads.

Records are paged by id, newest first (a ``Marker`` is the last id of the previous page), at most
``MAX_PAGE`` a page, so no call reads an unbounded table into memory.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import sqlalchemy as sa

from lambent import arns
from lambent.store.async_queue import Redrive
from lambent.store.queue_schema import events, undeliverable

__all__ = ["MAX_PAGE", "QueueSummary", "StoredRecord", "delete", "get", "page", "queue_summary", "still_failing"]

MAX_PAGE = 100


@dataclass(frozen=True)
class StoredRecord:
    record_id: int
    request_id: str
    target: str
    error: str
    failed_at: float
    function: str | None
    body: bytes
    redrive: Redrive


@dataclass(frozen=True)
class QueueSummary:
    function: str
    qualifier: str | None
    events: int
    due: int
    retried: int
    oldest_enqueued_at: float


def _function_of(body: bytes) -> str | None:
    """The source function (its key, ``ACCOUNT:function:NAME``) of a record written before the
    ``function`` column existed, from the function ARN in its body."""
    try:
        return arns.arn_key(str(json.loads(body)["requestContext"]["functionArn"]))
    except (ValueError, KeyError, TypeError):
        return None


def _of_account(column: sa.ColumnElement[str], account: str) -> sa.ColumnElement[bool]:
    """``column`` holds a function key of ``account`` (keys are ``ACCOUNT:function:NAME``)."""
    return column.startswith(f"{account}:function:", autoescape=True)


def _mine(rec: StoredRecord, account: str, function: str | None) -> bool:
    if function is not None:
        return rec.function == function
    return rec.function is not None and rec.function.startswith(f"{account}:function:")


def _row(r: sa.Row[tuple[object, ...]]) -> StoredRecord:
    m = r._mapping
    body = bytes(m["record"])
    attributes = json.loads(m["attributes"]) if m["attributes"] else None
    function = m["function"] or _function_of(body)
    return StoredRecord(
        record_id=int(m["id"]), request_id=m["request_id"], target=m["target"], error=m["error"],
        failed_at=float(m["failed_at"]), function=function, body=body,
        redrive=Redrive(function=function, kind=m["kind"] or "record", success=bool(m["success"]), role=m["role"],
                        attributes=attributes),
    )


def page(engine: sa.Engine, *, account: str, function: str | None, before_id: int | None,
         limit: int) -> tuple[list[StoredRecord], int]:
    """Up to ``limit`` (≤ MAX_PAGE) records of ``account``'s functions (of ``function``, a key,
    when given) older than ``before_id``, newest first, and how many there are in all. Records of
    old files without the column are matched by their body's function ARN."""
    limit = max(1, min(limit, MAX_PAGE))
    col = undeliverable.c.function
    q = sa.select(undeliverable).order_by(undeliverable.c.id.desc())
    if before_id is not None:
        q = q.where(undeliverable.c.id < before_id)
    q = q.where(sa.or_(col == function if function is not None else _of_account(col, account), col.is_(None)))
    found: list[StoredRecord] = []
    total = 0
    with engine.connect() as conn:
        for r in conn.execute(q):
            rec = _row(r)
            if not _mine(rec, account, function):
                continue
            total += 1
            if len(found) < limit:
                found.append(rec)
    return found, total


def get(engine: sa.Engine, record_ids: list[int], account: str) -> list[StoredRecord]:
    """The records with these ids that are ``account``'s (another account's are not found)."""
    with engine.connect() as conn:
        rows = [_row(r) for r in conn.execute(sa.select(undeliverable).where(undeliverable.c.id.in_(record_ids))
                                              .order_by(undeliverable.c.id))]
    return [r for r in rows if _mine(r, account, None)]


def delete(engine: sa.Engine, record_id: int) -> None:
    with engine.begin() as conn:
        conn.execute(undeliverable.delete().where(undeliverable.c.id == record_id))


def still_failing(engine: sa.Engine, record_id: int, error: str) -> None:
    """A redrive that failed again: the record stays, with the new error and time."""
    with engine.begin() as conn:
        conn.execute(undeliverable.update().where(undeliverable.c.id == record_id).values(error=error,
                                                                                          failed_at=time.time()))


def queue_summary(engine: sa.Engine, now: float, account: str, function: str | None = None) -> list[QueueSummary]:
    """Queued events of ``account``'s functions (of ``function``, a key, when given) per function
    and qualifier (one row each; GROUP BY keeps it bounded by the number of functions)."""
    q = (sa.select(events.c.function, events.c.qualifier, sa.func.count(),
                   sa.func.sum(sa.case((events.c.next_attempt_at <= now, 1), else_=0)),
                   sa.func.sum(sa.case(((events.c.attempts > 0) | (events.c.backoff_step > 0), 1), else_=0)),
                   sa.func.min(events.c.enqueued_at))
         .group_by(events.c.function, events.c.qualifier).order_by(events.c.function, events.c.qualifier))
    q = q.where(events.c.function == function if function is not None else _of_account(events.c.function, account))
    with engine.connect() as conn:
        return [QueueSummary(r[0], r[1], int(r[2]), int(r[3] or 0), int(r[4] or 0), float(r[5])) for r in conn.execute(q)]
