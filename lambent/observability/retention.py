"""Log retention (CloudWatch Logs' PutRetentionPolicy), enforced by a background sweep.

``retentionInDays`` takes the values CloudWatch Logs allows (API reference, PutRetentionPolicy:
https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutRetentionPolicy.html).
The policy is kept with the group (:meth:`LogStore.set_retention`); :class:`RetentionSweeper`
deletes, every ``interval_s``, the segments of each group whose newest event is older than its
retention (a segment is the unit of deletion, so an event lives at most one segment longer than
its retention; a writer's open segment is closed first when it is entirely expired).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from lambent.observability.logs import LogStore

log = logging.getLogger(__name__)

#: The values of retentionInDays that CloudWatch Logs accepts.
ALLOWED_DAYS: tuple[int, ...] = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827,
                                 2192, 2557, 2922, 3288, 3653)

_DAY_MS = 86_400_000


def check_days(days: int) -> None:
    if days not in ALLOWED_DAYS:
        raise ValueError(
            f"1 validation error detected: Value '{days}' at 'retentionInDays' failed to satisfy constraint: "
            f"Member must satisfy enum value set: [{', '.join(map(str, ALLOWED_DAYS))}]"
        )


def sweep(store: LogStore, now_ms: int | None = None) -> int:
    """Delete every group's expired segments once; returns the bytes deleted."""
    now = now_ms if now_ms is not None else int(time.time() * 1000)
    deleted = 0
    for group in store.groups():
        try:
            info = store.group_info(group)
        except ValueError:
            continue
        if info is None or info.retention_days is None:
            continue
        deleted += store.expire_before(group, now - info.retention_days * _DAY_MS)
    return deleted


class RetentionSweeper:
    """Runs :func:`sweep` every ``interval_s`` on the event loop until :meth:`stop`."""

    def __init__(self, store: LogStore, interval_s: float = 600.0) -> None:
        self._store = store
        self._interval_s = interval_s
        self._stopped = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="log-retention")

    async def _run(self) -> None:
        while not self._stopped.is_set():
            try:
                sweep(self._store)
            except Exception:  # a failing sweep must not stop later ones
                log.exception("log retention sweep failed")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), self._interval_s)

    async def stop(self) -> None:
        self._stopped.set()
        if self._task is not None:
            await self._task
            self._task = None
