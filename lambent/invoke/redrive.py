"""What operators do with the asynchronous queue (lambent's API: ListAsyncEventQueues,
ListUndeliverableRecords, RedriveUndeliverableRecords; the console; ``lambent queue redrive``):
read what waits and what could not be delivered, and deliver the latter again through
:class:`~lambent.invoke.destinations.Destinations`, as it was first sent. A record that fails again
stays with its new error (none is lost, none doubled); one delivered is removed.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from lambent.invoke.destinations import Destinations
from lambent.store import undeliverable
from lambent.store.async_queue import AsyncEventStore
from lambent.store.undeliverable import QueueSummary, StoredRecord

__all__ = ["QueueOperations", "RedriveResult"]


@dataclass(frozen=True)
class RedriveResult:
    redriven: list[int]
    #: (record id, why it was not delivered)
    failed: list[tuple[int, str]]


class QueueOperations:
    """Scope: one per server (``platform.queue_ops``)."""

    max_page = undeliverable.MAX_PAGE

    def __init__(self, store: AsyncEventStore, destinations: Destinations) -> None:
        self.store = store
        self.destinations = destinations

    async def queues(self, account: str, function: str | None = None) -> list[QueueSummary]:
        """``account``'s queued events (of ``function``, a key, when given)."""
        return await asyncio.to_thread(undeliverable.queue_summary, self.store.engine, time.time(), account, function)

    async def records(self, account: str, function: str | None, before_id: int | None,
                      limit: int) -> tuple[list[StoredRecord], int]:
        return await asyncio.to_thread(undeliverable.page, self.store.engine, account=account, function=function,
                                       before_id=before_id, limit=limit)

    async def redrive(self, account: str, record_ids: list[int]) -> RedriveResult:
        """Send ``account``'s records with these ids again (another account's are "No such record.")."""
        ids = list(dict.fromkeys(record_ids))
        engine = self.store.engine
        found = await asyncio.to_thread(undeliverable.get, engine, ids, account)
        known = {r.record_id for r in found}
        result = RedriveResult([], [(i, "No such record.") for i in ids if i not in known])
        for rec in found:
            error = await self.destinations.redrive(rec.target, rec.body, rec.request_id, rec.redrive)
            if error is None:
                await asyncio.to_thread(undeliverable.delete, engine, rec.record_id)
                result.redriven.append(rec.record_id)
            else:
                await asyncio.to_thread(undeliverable.still_failing, engine, rec.record_id, error)
                result.failed.append((rec.record_id, error))
        return result
