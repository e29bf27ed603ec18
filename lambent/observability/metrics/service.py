"""lambent's CloudWatch metrics: 1-minute aggregation in memory, an archive for retention.

Every datum lands in the :class:`~lambent.observability.metrics.summary.Summary` of its series and
minute, in memory, on the event loop (a dict update: the invoke path never waits for a disk).
Every ``flush_interval_s`` the minutes that have ended are written to the archive
(:class:`Archive`, lambent/store/metrics.py: ``metrics.db``) in one transaction in a worker
thread, and only then leave memory. A query merges the archive's rows with what memory still
holds, under the same lock as the flush, so a datum is counted exactly once and is queryable the
moment it is recorded (CloudWatch promises "within 60 s").

Minutes older than ``retention_s`` are pruned (hourly); data older than that, or more than two
hours in the future, is refused as CloudWatch refuses it. The number of series is capped
(``max_series``): a client putting a new dimension value per datum cannot grow memory or the
archive without bound; :meth:`MetricsService.record` answers False for a refused datum.

Every series belongs to one account (:attr:`Series.account`), as a CloudWatch metric does: what
a function of account A records is A's, and every read names the account it reads. A series made
without an account is the server's (:attr:`MetricsService.account`), and so are the series a
release before accounts archived (adopted by :meth:`MetricsService.start`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

from lambent.observability.metrics.series import UNSET_ACCOUNT, Series, dims_from_text
from lambent.observability.metrics.summary import Summary
from lambent.settings import Settings

log = logging.getLogger(__name__)

#: (account, namespace, metric name, dims text, minute, unit, summary JSON): one archived series-minute
MinuteRow = tuple[str, str, str, str, int, str, str]
#: the server's account when none is given (the settings' default)
DEFAULT_ACCOUNT: str = Settings.account_id
#: CloudWatch accepts data up to two hours ahead of its clock
FUTURE_S = 2 * 3600.0
_PRUNE_EVERY_S = 3600.0


class Archive(Protocol):
    """Where ended minutes go (lambent.store.metrics.MetricsStore). Blocking calls: run off the loop."""

    def write_minutes(self, rows: Sequence[MinuteRow]) -> None: ...

    def read_minutes(self, account: str, namespace: str, name: str, dims: str, start_minute: int,
                     end_minute: int) -> list[tuple[int, str, str]]:
        """(minute, unit, summary JSON) of one series of ``account`` in [start_minute, end_minute)."""
        ...

    def list_series(self, since_minute: int) -> list[tuple[str | None, str, str, str, int]]:
        """(account, namespace, name, dims text, newest minute) of every series with data since
        then; account None: archived before accounts and not adopted yet."""
        ...

    def adopt(self, account: str) -> int:
        """Give the series archived without an account to ``account``; returns how many."""
        ...

    def prune(self, before_minute: int) -> int: ...


class MetricsService:
    """Scope: one per server. Methods are called on the event loop."""

    def __init__(self, archive: Archive | None, *, retention_s: float, max_series: int,
                 flush_interval_s: float, max_live_minutes: int = 200_000,
                 clock: Callable[[], float] = time.time, account: str = DEFAULT_ACCOUNT,
                 max_series_per_account: int | None = None) -> None:
        """``max_series``: the series kept in all; ``max_series_per_account`` (default: the same)
        of them one account's at most."""
        self.archive = archive
        #: the server's account: series made without one, and those archived before accounts
        self.account = account
        #: series-minutes memory may hold before PutMetricData is throttled (:meth:`has_room`); a
        #: client spreading timestamps over two weeks creates one per datum until the next flush
        self.max_live_minutes = max_live_minutes
        self.live_minutes = 0
        self.retention_s = retention_s
        self.max_series = max_series
        self.max_series_per_account = max_series if max_series_per_account is None else max_series_per_account
        self.flush_interval_s = flush_interval_s
        self._clock = clock
        self._live: dict[Series, dict[int, Summary]] = {}
        self._units: dict[Series, str] = {}
        #: every series with data inside the retention: its newest minute
        self._newest: dict[Series, int] = {}
        #: how many of them each account has
        self._per_account: dict[str, int] = {}
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._last_prune = 0.0
        self.refused = 0
        #: bumped whenever summaries leave memory: a caller caching :meth:`cells` resolves again
        self.epoch = 0
        #: called before any read or flush: feeds that aggregate on their own first (LambdaMetrics)
        self._settlers: list[Callable[[], None]] = []

    def before_read(self, settle: Callable[[], None]) -> None:
        """Have ``settle`` called before every read and flush, so that a feed may aggregate on its
        hot path and hand its data over only when it is looked at (or on its own tick)."""
        self._settlers.append(settle)

    def _settle(self) -> None:
        for settle in self._settlers:
            settle()

    # -- lifecycle ----------------------------------------------------------------------------------
    async def start(self) -> None:
        """Learn the archived series (ListMetrics, the series cap), then flush periodically."""
        if self.archive is not None:
            since = self._minute(self._clock() - self.retention_s)
            await asyncio.to_thread(self.archive.adopt, self.account)
            for account, namespace, name, dims, newest in await asyncio.to_thread(self.archive.list_series, since):
                series = Series(namespace, name, dims_from_text(dims), account or self.account)
                if series not in self._newest:
                    self._per_account[series.account] = self._per_account.get(series.account, 0) + 1
                self._newest[series] = max(newest, self._newest.get(series, newest))
        self._task = asyncio.create_task(self._run(), name="metrics-flush")

    async def stop(self) -> None:
        """Stop flushing and write everything memory holds (the current minute included)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush(everything=True)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.flush_interval_s)
            try:
                await self.flush()
            except Exception:  # noqa: BLE001 - metrics are best effort; the next flush retries
                log.exception("writing metrics to the archive failed; kept in memory")

    # -- recording (hot path) -----------------------------------------------------------------------
    @staticmethod
    def _minute(ts: float) -> int:
        return int(ts // 60)

    def accepts(self, ts: float) -> bool:
        """Whether a datum timestamped ``ts`` is inside what CloudWatch takes."""
        now = self._clock()
        return now - self.retention_s <= ts <= now + FUTURE_S

    def own(self, series: Series) -> Series:
        """``series`` in the server's account if it names none."""
        return series if series.account != UNSET_ACCOUNT else series.in_account(self.account)

    def _summary(self, series: Series, ts: float, unit: str) -> Summary | None:
        if series.account == UNSET_ACCOUNT:
            series = series.in_account(self.account)
        if not math.isfinite(ts) or not self.accepts(ts):
            self.refused += 1
            return None
        minute = self._minute(ts)
        newest = self._newest.get(series)
        if newest is None:
            held = self._per_account.get(series.account, 0)
            if len(self._newest) >= self.max_series or held >= self.max_series_per_account:
                self.refused += 1
                return None
            self._newest[series] = minute
            self._per_account[series.account] = held + 1
        elif minute > newest:
            self._newest[series] = minute
        self._units[series] = unit
        minutes = self._live.get(series)
        if minutes is None:
            minutes = self._live[series] = {}
        summary = minutes.get(minute)
        if summary is None:
            summary = minutes[minute] = Summary()
            self.live_minutes += 1
        return summary

    def record(self, series: Series, value: float, *, ts: float | None = None, unit: str = "None",
               weight: float = 1.0) -> bool:
        """``weight`` samples of ``value`` at ``ts`` (now); False if refused (too old, too far
        ahead, or a new series past the cap)."""
        summary = self._summary(series, self._clock() if ts is None else ts, unit)
        if summary is None:
            return False
        summary.add(value, weight)
        return True

    def record_set(self, series: Series, count: float, total: float, minimum: float, maximum: float, *,
                   ts: float | None = None, unit: str = "None") -> bool:
        summary = self._summary(series, self._clock() if ts is None else ts, unit)
        if summary is None:
            return False
        summary.add_set(count, total, minimum, maximum)
        return True

    def cells(self, series: Sequence[Series], unit: str, ts: float) -> list[Summary]:
        """The in-memory summaries of ``series`` for the minute of ``ts`` (created as needed;
        refused series left out), for a caller that adds to them directly while ``epoch`` and the
        minute stay the same (LambdaMetrics: one lookup per series per minute, not per datum)."""
        out: list[Summary] = []
        for one in series:
            summary = self._summary(one, ts, unit)
            if summary is not None:
                out.append(summary)
        return out

    def record_summary(self, series: Series, part: Summary, *, ts: float | None = None, unit: str = "None") -> bool:
        """Samples aggregated already (a PutMetricData datum's values); False if refused."""
        summary = self._summary(series, self._clock() if ts is None else ts, unit)
        if summary is None:
            return False
        summary.merge(part)
        return True

    def can_add(self, new_series: int, account: str | None = None) -> bool:
        """Whether ``new_series`` more series (of ``account``) fit under the caps (PutMetricData
        asks first, so a request is taken whole or refused whole)."""
        in_account = self._per_account.get(account or self.account, 0)
        return (len(self._newest) + new_series <= self.max_series
                and in_account + new_series <= self.max_series_per_account)

    def has_room(self, new_minutes: int) -> bool:
        """Whether memory may take ``new_minutes`` more series-minutes (PutMetricData asks first;
        Lambda's own metrics are never refused for it)."""
        return self.live_minutes + new_minutes <= self.max_live_minutes

    def known(self, series: Series) -> bool:
        self._settle()
        return self.own(series) in self._newest

    # -- flushing -----------------------------------------------------------------------------------
    async def flush(self, *, everything: bool = False) -> int:
        """Archive the minutes that have ended (all of them with ``everything``); returns the rows
        written. Without an archive, memory keeps them until the retention prunes them."""
        self._settle()
        current = self._minute(self._clock())
        async with self._lock:
            if self.archive is None:
                self._prune_memory()
                return 0
            rows: list[MinuteRow] = []
            taken: list[tuple[Series, int]] = []
            for series, minutes in self._live.items():
                unit = self._units.get(series, "None")
                for minute, summary in minutes.items():
                    if everything or minute < current:
                        rows.append((series.account, series.namespace, series.name, series.dims_key, minute, unit,
                                     summary.to_json()))
                        taken.append((series, minute))
            if rows:
                await asyncio.to_thread(self.archive.write_minutes, rows)
            if taken:
                self.epoch += 1
            for series, minute in taken:  # written: now the archive answers for them
                minutes = self._live[series]
                del minutes[minute]
                self.live_minutes -= 1
                if not minutes:
                    del self._live[series]
            if self._clock() - self._last_prune >= _PRUNE_EVERY_S:
                self._last_prune = self._clock()
                await asyncio.to_thread(self.archive.prune, self._minute(self._clock() - self.retention_s))
                self._prune_memory()
            return len(rows)

    def _prune_memory(self) -> None:
        self.epoch += 1
        oldest = self._minute(self._clock() - self.retention_s)
        for series in [s for s, newest in self._newest.items() if newest < oldest]:
            del self._newest[series]
            self._units.pop(series, None)
            left = self._per_account[series.account] - 1
            if left:
                self._per_account[series.account] = left
            else:
                del self._per_account[series.account]
        for series, minutes in list(self._live.items()):
            for minute in [m for m in minutes if m < oldest]:
                del minutes[minute]
                self.live_minutes -= 1
            if not minutes:
                del self._live[series]

    # -- reading ------------------------------------------------------------------------------------
    async def minutes(self, series: Series, start: float, end: float) -> list[tuple[int, str, Summary]]:
        """(minute, unit, summary) of every minute of ``series`` with data in [start, end),
        archive and memory merged, oldest first."""
        series = self.own(series)
        first, last = self._minute(start), self._minute(end - 1e-9) + 1
        oldest = self._minute(self._clock() - self.retention_s)
        first = max(first, oldest)
        if last <= first:
            return []
        merged: dict[int, Summary] = {}
        units: dict[int, str] = {}
        self._settle()
        async with self._lock:
            if self.archive is not None and series in self._newest:
                stored = await asyncio.to_thread(self.archive.read_minutes, series.account, series.namespace, series.name,
                                                 series.dims_key, first, last)
                for minute, unit, text in stored:
                    merged.setdefault(minute, Summary()).merge(Summary.from_json(text))
                    units[minute] = unit
            live_unit = self._units.get(series, "None")
            for minute, summary in self._live.get(series, {}).items():
                if first <= minute < last:
                    merged.setdefault(minute, Summary()).merge(summary)
                    units[minute] = live_unit
        return [(m, units[m], merged[m]) for m in sorted(merged)]

    def series(self, *, since: float | None = None, account: str | None = None) -> Iterable[Series]:
        """Every series with data since ``since`` (default: inside the retention); of ``account``
        only when given (ListMetrics: the caller's)."""
        self._settle()
        floor = self._minute(since if since is not None else self._clock() - self.retention_s)
        return (s for s, newest in list(self._newest.items())
                if newest >= floor and (account is None or s.account == account))

    def unit_of(self, series: Series) -> str | None:
        self._settle()
        return self._units.get(self.own(series))

    def now(self) -> float:
        return self._clock()
