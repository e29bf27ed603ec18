"""Lambda's own metrics, namespace ``AWS/Lambda``, as Lambda publishes them.

AWS, "Types of metrics for Lambda functions" (Lambda developer guide,
https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html):

- Invocations (Count): every invocation that ran the code, successful or a function error;
  throttled requests are not counted. Errors (Count): invocations that ended in a function error
  (recorded as 0 for the others, so Average is the error rate). Throttles (Count): requests refused
  for lack of concurrency. Duration (Milliseconds): time spent in the handler; percentiles as
  extended statistics.
- ConcurrentExecutions (Count, read with Maximum): environments processing events at once;
  UnreservedConcurrentExecutions (Count): the same for functions without reserved concurrency,
  account-wide only; ClaimedAccountConcurrency (Count): concurrency unavailable to on-demand
  invocations (unreserved executions + reserved concurrency), account-wide.
- DeadLetterErrors, DestinationDeliveryFailures (Count): an async event's failure that could not
  reach its dead-letter queue / destination. AsyncEventsReceived (Count): events queued;
  AsyncEventAge (Milliseconds): time from queueing to the invocation attempt; AsyncEventsDropped
  (Count): events dropped without running successfully.

Dimensions (Lambda's combinations): none (across all functions), ``FunctionName``,
``FunctionName`` + ``Resource`` (``NAME:QUALIFIER``, a version or alias the request named), and
``FunctionName`` + ``Resource`` + ``ExecutedVersion`` for requests through an alias (the version
the alias routed to).

The feed is :meth:`LambdaMetrics.observe` on ``InvokeService.observers`` (config and outcome; the
request's qualifier when the hook passes it), :meth:`throttled` where the concurrency limiter
refuses, the ``async_*`` methods on the async queue's paths and :meth:`sample_concurrency` every
second. Each is a few dict updates on the event loop; :meth:`observe` (every invocation) only adds
to a pending aggregate per (function, qualifier, version) and minute, which :meth:`settle` moves
into the service every second and before anything reads the service or the Prometheus totals, so
counts stay exact and queryable at once.

Accounts: every metric is recorded in the account that owns the function, with the bare name
as its ``FunctionName`` (two accounts' functions ``f`` have two series, each read by its own
account only); the dimensionless ones are per account too (an account's own total). The feeds
take the function's key (``ACCOUNT:function:NAME``, lambent.arns) — :meth:`observe` reads
``cfg.key`` — or a bare name, which is the server account's (:attr:`MetricsService.account`).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from bisect import bisect_left
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Protocol

from lambent.observability.metrics.series import Dimensions, Series, dimensions
from lambent.observability.metrics.service import MetricsService
from lambent.observability.metrics.summary import Summary, bucket_of

NAMESPACE = "AWS/Lambda"
LATEST = "$LATEST"

#: upper bounds (seconds) of the Prometheus duration histogram
DURATION_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0)


class ConfigLike(Protocol):
    """What LambdaMetrics reads of lambent.control.model.FunctionConfig."""

    @property
    def name(self) -> str: ...

    @property
    def key(self) -> str:
        """``ACCOUNT:function:NAME`` (lambent.arns.FunctionKey)."""
        ...

    @property
    def version(self) -> str: ...


class OutcomeLike(Protocol):
    """What LambdaMetrics reads of lambent.worker.environment.InvokeOutcome."""

    @property
    def function_error(self) -> str | None: ...

    @property
    def duration_ms(self) -> float: ...


@dataclass
class Totals:
    """Cumulative counters of one function version since the server started (Prometheus)."""

    function: str
    version: str
    #: the account owning the function
    account: str = ""
    invocations: int = 0
    errors: int = 0
    throttles: int = 0
    duration_sum_s: float = 0.0
    #: cumulative counts per DURATION_BUCKETS_S bound (+Inf is ``invocations``)
    duration_buckets: list[int] = field(default_factory=lambda: [0] * len(DURATION_BUCKETS_S))
    async_received: int = 0
    async_dropped: int = 0
    dead_letter_errors: int = 0
    destination_failures: int = 0


#: pending aggregates held before they are settled early (distinct function versions invoked
#: within one sampler tick); bounds memory whatever the invocation rate
MAX_PENDING = 4096
_ONE_BUCKET = bucket_of(1.0)


class _Pending:
    """Invocations of one (function, qualifier, version) in one minute, not yet settled."""

    __slots__ = ("minute", "ts", "count", "errors", "duration_sum", "duration_min", "duration_max", "buckets",
                 "prometheus")

    def __init__(self, minute: int) -> None:
        self.minute = minute
        self.ts = 0.0
        self.count = 0
        self.errors = 0
        self.duration_sum = 0.0
        self.duration_min = math.inf
        self.duration_max = -math.inf
        #: Summary bucket -> invocations (the Duration distribution)
        self.buckets: dict[int, int] = {}
        #: invocations per Prometheus bucket (index of the first bound at or above; last: +Inf only)
        self.prometheus = [0] * (len(DURATION_BUCKETS_S) + 1)


_KEY_MARK = ":function:"


def split_key(function: str, home: str) -> tuple[str, str]:
    """(account, bare name) of a function key ``ACCOUNT:function:NAME``; a bare name is
    ``home``'s (the server's account). lambent.arns' format, parsed here (observability does not
    import arns: docs/architecture.md)."""
    account, mark, name = function.partition(_KEY_MARK)
    if mark and len(account) == 12 and account.isdigit() and name:
        return account, name
    return home, function


@lru_cache(maxsize=4096)  # names come from the function registry; bounded anyway
def dimension_sets(name: str, qualifier: str | None, executed: str) -> tuple[Dimensions, ...]:
    """Lambda's dimension combinations for one request of ``name`` (qualified as the request
    named it) that ran version ``executed``."""
    sets: list[Dimensions] = [(), (("FunctionName", name),)]
    if qualifier:
        resource = {"FunctionName": name, "Resource": f"{name}:{qualifier}"}
        sets.append(dimensions(resource))
        if not qualifier.isdigit() and qualifier != LATEST:  # an alias
            sets.append(dimensions({**resource, "ExecutedVersion": executed}))
    return tuple(sets)


@lru_cache(maxsize=4096)
def async_dimension_sets(name: str, qualifier: str | None) -> tuple[Dimensions, ...]:
    """The dimensions of the async metrics (AsyncEvents*, DeadLetterErrors,
    DestinationDeliveryFailures): the function and the resource invoked; no ExecutedVersion (the
    event, not a run, is counted)."""
    sets: list[Dimensions] = [(), (("FunctionName", name),)]
    if qualifier:
        sets.append(dimensions({"FunctionName": name, "Resource": f"{name}:{qualifier}"}))
    return tuple(sets)


class LambdaMetrics:
    """Scope: one per server, beside its :class:`MetricsService`."""

    def __init__(self, metrics: MetricsService) -> None:
        self.metrics = metrics
        self._totals: dict[tuple[str, str, str], Totals] = {}
        self._series: dict[tuple[str, str, tuple[Dimensions, ...]], tuple[Series, ...]] = {}
        #: (account, metric, dimension sets) -> (minute, service epoch, the summaries to add to)
        self._cells: dict[tuple[str, str, tuple[Dimensions, ...]], tuple[int, int, list[Summary]]] = {}
        self._sampler: asyncio.Task[None] | None = None
        self._clock = metrics.now
        #: (function key, qualifier, version) -> this minute's invocations not yet in the service
        self._pending: dict[tuple[str, str | None, str], _Pending] = {}
        metrics.before_read(self.settle)

    def _split(self, function: str) -> tuple[str, str]:
        return split_key(function, self.metrics.account)

    def _each(self, account: str, metric: str, sets: tuple[Dimensions, ...]) -> tuple[Series, ...]:
        key = (account, metric, sets)
        found = self._series.get(key)
        if found is None:
            if len(self._series) > 65536:  # names come from the function registry; stay bounded anyway
                self._series.clear()
            found = self._series[key] = tuple(Series(NAMESPACE, metric, dims, account) for dims in sets)
        return found

    def _cells_of(self, account: str, metric: str, sets: tuple[Dimensions, ...], unit: str,
                  ts: float) -> list[Summary]:
        """The summaries of ``metric`` in ``sets`` of ``account`` for the minute of ``ts`` (looked
        up once per series and minute, while the service's epoch stays the same)."""
        minute = int(ts // 60)
        key = (account, metric, sets)
        cached = self._cells.get(key)
        if cached is None or cached[0] != minute or cached[1] != self.metrics.epoch:
            if len(self._cells) > 65536:
                self._cells.clear()
            cached = self._cells[key] = (minute, self.metrics.epoch,
                                         self.metrics.cells(self._each(account, metric, sets), unit, ts))
        return cached[2]

    def _emit(self, account: str, metric: str, sets: tuple[Dimensions, ...], value: float, unit: str,
              now: float | None = None) -> None:
        bucket = bucket_of(value)
        for summary in self._cells_of(account, metric, sets, unit, self.metrics.now() if now is None else now):
            summary.add_bucketed(value, bucket)

    def totals_of(self, function: str, version: str) -> Totals:
        """The Prometheus counters of one version (``function``: its key, or a bare name of the
        server's account), pending invocations included."""
        self.settle()
        account, name = self._split(function)
        return self._totals_for(account, name, version)

    def _totals_for(self, account: str, name: str, version: str) -> Totals:
        # the feeds' (and settle's) access: no settle, so an async accept never pays for one
        key = (account, name, version)
        found = self._totals.get(key)
        if found is None:
            found = self._totals[key] = Totals(name, version, account)
        return found

    def totals(self) -> Iterator[Totals]:
        self.settle()
        return iter(list(self._totals.values()))

    def forget(self, function: str) -> None:
        """The function was deleted: its Prometheus counters go (CloudWatch's data stays).
        ``function``: its key (that account's only); a bare name forgets the functions of that
        name in every account (what a caller holding only the name can mean)."""
        self.settle()
        account, name = self._split(function)
        everywhere = account == self.metrics.account and function == name
        for key in [k for k in self._totals if k[1] == name and (everywhere or k[0] == account)]:
            del self._totals[key]

    # -- feeds --------------------------------------------------------------------------------------
    def observe(self, cfg: ConfigLike, outcome: OutcomeLike, qualifier: str | None = None) -> None:
        """One invocation that ran (InvokeService observer). Hot path: one dict lookup and a few
        additions to the pending aggregate of (function, qualifier, version) for this minute;
        :meth:`settle` moves the aggregates into the metrics service (every second, and before
        any read of it), so what the CloudWatch API and Prometheus show is exact."""
        key = (cfg.key, qualifier, cfg.version)
        now = self._clock()
        minute = int(now // 60)
        acc = self._pending.get(key)
        if acc is None or acc.minute != minute:
            if acc is not None or len(self._pending) >= MAX_PENDING:
                self.settle()
            acc = self._pending[key] = _Pending(minute)
        acc.ts = now
        acc.count += 1
        if outcome.function_error is not None:
            acc.errors += 1
        duration = outcome.duration_ms
        acc.duration_sum += duration
        if duration < acc.duration_min:
            acc.duration_min = duration
        if duration > acc.duration_max:
            acc.duration_max = duration
        buckets = acc.buckets
        bucket = bucket_of(duration)
        buckets[bucket] = buckets.get(bucket, 0) + 1
        acc.prometheus[bisect_left(DURATION_BUCKETS_S, duration / 1000.0)] += 1

    def settle(self) -> None:
        """Move the pending invocation aggregates into the metrics service and the Prometheus
        totals (off the hot path: the sampler's tick, and before the service is read)."""
        pending = self._pending
        if not pending:
            return
        self._pending = {}
        for (function, qualifier, version), acc in pending.items():
            account, name = self._split(function)
            sets = dimension_sets(name, qualifier, version)
            count = float(acc.count)
            errors = float(acc.errors)
            invocations = Summary(count, count, 1.0, 1.0, {_ONE_BUCKET: count})
            error_buckets: dict[int, float] = {}
            if acc.count > acc.errors:
                error_buckets[0] = count - errors
            if acc.errors:
                error_buckets[_ONE_BUCKET] = errors
            failures = Summary(count, errors, 0.0 if acc.count > acc.errors else 1.0, 1.0 if acc.errors else 0.0,
                               error_buckets)
            durations = Summary(count, acc.duration_sum, acc.duration_min, acc.duration_max,
                                {b: float(n) for b, n in acc.buckets.items()})
            for metric, unit, part in (("Invocations", "Count", invocations), ("Errors", "Count", failures),
                                       ("Duration", "Milliseconds", durations)):
                for summary in self._cells_of(account, metric, sets, unit, acc.ts):
                    summary.merge(part)
            totals = self._totals_for(account, name, version)
            totals.invocations += acc.count
            totals.errors += acc.errors
            totals.duration_sum_s += acc.duration_sum / 1000.0
            running = 0
            cumulative = totals.duration_buckets
            for i, n in enumerate(acc.prometheus[:-1]):
                running += n
                cumulative[i] += running

    def throttled(self, function: str, qualifier: str | None = None, version: str | None = None) -> None:
        """A request refused for lack of concurrency (TooManyRequests from the limiter);
        ``function``: the function's key (or a bare name of the server's account)."""
        account, name = self._split(function)
        sets = dimension_sets(name, qualifier, version or qualifier or LATEST)
        self._emit(account, "Throttles", sets, 1.0, "Count")
        self._totals_for(account, name, version or LATEST).throttles += 1

    def throttle_observer(self, function: str, qualifier: str | None, version: str) -> None:
        """:meth:`throttled` as ``InvokeService.on_throttle``."""
        self.throttled(function, qualifier, version)

    def _async(self, metric: str, function: str, qualifier: str | None, value: float, unit: str) -> Totals:
        account, name = self._split(function)
        self._emit(account, metric, async_dimension_sets(name, qualifier), value, unit)
        return self._totals_for(account, name, qualifier or LATEST)

    def async_received(self, function: str, qualifier: str | None = None) -> None:
        """An event accepted into the async queue (Invoke with InvocationType=Event, a schedule, a
        Lambda destination). ``function`` (here and in the other ``async_*``): the queue's
        function key."""
        self._async("AsyncEventsReceived", function, qualifier, 1.0, "Count").async_received += 1

    def async_attempt(self, function: str, qualifier: str | None, age_ms: float) -> None:
        """An async event is attempted ``age_ms`` after it was queued."""
        account, name = self._split(function)
        self._emit(account, "AsyncEventAge", async_dimension_sets(name, qualifier), max(0.0, age_ms), "Milliseconds")

    def async_dropped(self, function: str, qualifier: str | None = None) -> None:
        """An event left the queue without a successful run (retries or age exhausted, function gone)."""
        self._async("AsyncEventsDropped", function, qualifier, 1.0, "Count").async_dropped += 1

    def dead_letter_error(self, function: str, qualifier: str | None = None) -> None:
        self._async("DeadLetterErrors", function, qualifier, 1.0, "Count").dead_letter_errors += 1

    def destination_failure(self, function: str, qualifier: str | None = None) -> None:
        self._async("DestinationDeliveryFailures", function, qualifier, 1.0, "Count").destination_failures += 1

    def sample_concurrency(self, running: Mapping[str, int], unreserved: int, reserved: int = 0, *,
                           unreserved_in: Callable[[str], int] | None = None,
                           reserved_in: Callable[[str], int] | None = None) -> None:
        """One sample of the limiter: environments busy per function (keyed by function key, or
        by bare name for the server's account) and in the unreserved pool; ``reserved``: the
        reserved concurrency (ClaimedAccountConcurrency is what on-demand invocations cannot have:
        the unreserved executions plus every reservation; lambent has no provisioned concurrency).

        Per account: every account with a running function, and the server's, gets its own
        ConcurrentExecutions total; UnreservedConcurrentExecutions and ClaimedAccountConcurrency
        come from ``unreserved_in(account)`` / ``reserved_in(account)`` when given, else
        ``unreserved`` / ``reserved`` are the server account's."""
        now = self.metrics.now()
        home = self.metrics.account
        totals: dict[str, int] = {home: 0}
        for function, count in running.items():
            account, name = self._split(function)
            totals[account] = totals.get(account, 0) + count
            self._emit(account, "ConcurrentExecutions", ((("FunctionName", name),),), float(count), "Count", now)
        for account, total in totals.items():
            self._emit(account, "ConcurrentExecutions", ((),), float(total), "Count", now)
            if unreserved_in is not None:
                free = unreserved_in(account)
                claimed = free + (reserved_in(account) if reserved_in is not None else 0)
            elif account == home:
                free, claimed = unreserved, unreserved + reserved
            else:
                continue
            self._emit(account, "UnreservedConcurrentExecutions", ((),), float(free), "Count", now)
            self._emit(account, "ClaimedAccountConcurrency", ((),), float(claimed), "Count", now)

    # -- the concurrency sampler --------------------------------------------------------------------
    def start_sampling(self, running: Callable[[], Mapping[str, int]], unreserved: Callable[[], int],
                       reserved: Callable[[], int] = lambda: 0, interval_s: float = 1.0, *,
                       unreserved_in: Callable[[str], int] | None = None,
                       reserved_in: Callable[[str], int] | None = None) -> None:
        """Sample every ``interval_s``; ``running`` per function key (the limiter's ``snapshot``)
        records each account's own figures (see :meth:`sample_concurrency`)."""
        async def sample() -> None:
            while True:
                self.settle()
                self.sample_concurrency(running(), unreserved(), reserved(), unreserved_in=unreserved_in,
                                        reserved_in=reserved_in)
                await asyncio.sleep(interval_s)

        self._sampler = asyncio.create_task(sample(), name="lambda-concurrency-sampler")

    async def stop_sampling(self) -> None:
        if self._sampler is not None:
            self._sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sampler
            self._sampler = None
        self.settle()
