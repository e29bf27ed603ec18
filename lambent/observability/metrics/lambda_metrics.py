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
        self._totals: dict[tuple[str, str], Totals] = {}
        self._series: dict[tuple[str, tuple[Dimensions, ...]], tuple[Series, ...]] = {}
        #: (metric, dimension sets) -> (minute, service epoch, the summaries to add to)
        self._cells: dict[tuple[str, tuple[Dimensions, ...]], tuple[int, int, list[Summary]]] = {}
        self._sampler: asyncio.Task[None] | None = None
        self._clock = metrics.now
        #: (function, qualifier, version) -> this minute's invocations not yet in the service
        self._pending: dict[tuple[str, str | None, str], _Pending] = {}
        metrics.before_read(self.settle)

    def _each(self, metric: str, sets: tuple[Dimensions, ...]) -> tuple[Series, ...]:
        key = (metric, sets)
        found = self._series.get(key)
        if found is None:
            if len(self._series) > 65536:  # names come from the function registry; stay bounded anyway
                self._series.clear()
            found = self._series[key] = tuple(Series(NAMESPACE, metric, dims) for dims in sets)
        return found

    def _cells_of(self, metric: str, sets: tuple[Dimensions, ...], unit: str, ts: float) -> list[Summary]:
        """The summaries of ``metric`` in ``sets`` for the minute of ``ts`` (looked up once per
        series and minute, while the service's epoch stays the same)."""
        minute = int(ts // 60)
        key = (metric, sets)
        cached = self._cells.get(key)
        if cached is None or cached[0] != minute or cached[1] != self.metrics.epoch:
            if len(self._cells) > 65536:
                self._cells.clear()
            cached = self._cells[key] = (minute, self.metrics.epoch, self.metrics.cells(self._each(metric, sets), unit, ts))
        return cached[2]

    def _emit(self, metric: str, sets: tuple[Dimensions, ...], value: float, unit: str, now: float | None = None) -> None:
        bucket = bucket_of(value)
        for summary in self._cells_of(metric, sets, unit, self.metrics.now() if now is None else now):
            summary.add_bucketed(value, bucket)

    def totals_of(self, name: str, version: str) -> Totals:
        """The Prometheus counters of one version, pending invocations included."""
        self.settle()
        return self._totals_for(name, version)

    def _totals_for(self, name: str, version: str) -> Totals:
        # the feeds' (and settle's) access: no settle, so an async accept never pays for one
        key = (name, version)
        found = self._totals.get(key)
        if found is None:
            found = self._totals[key] = Totals(name, version)
        return found

    def totals(self) -> Iterator[Totals]:
        self.settle()
        return iter(list(self._totals.values()))

    def forget(self, name: str) -> None:
        """The function was deleted: its Prometheus counters go (CloudWatch's data stays)."""
        self.settle()
        for key in [k for k in self._totals if k[0] == name]:
            del self._totals[key]

    # -- feeds --------------------------------------------------------------------------------------
    def observe(self, cfg: ConfigLike, outcome: OutcomeLike, qualifier: str | None = None) -> None:
        """One invocation that ran (InvokeService observer). Hot path: one dict lookup and a few
        additions to the pending aggregate of (function, qualifier, version) for this minute;
        :meth:`settle` moves the aggregates into the metrics service (every second, and before
        any read of it), so what the CloudWatch API and Prometheus show is exact."""
        key = (cfg.name, qualifier, cfg.version)
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
        for (name, qualifier, version), acc in pending.items():
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
                for summary in self._cells_of(metric, sets, unit, acc.ts):
                    summary.merge(part)
            totals = self._totals_for(name, version)
            totals.invocations += acc.count
            totals.errors += acc.errors
            totals.duration_sum_s += acc.duration_sum / 1000.0
            running = 0
            cumulative = totals.duration_buckets
            for i, n in enumerate(acc.prometheus[:-1]):
                running += n
                cumulative[i] += running

    def throttled(self, name: str, qualifier: str | None = None, version: str | None = None) -> None:
        """A request refused for lack of concurrency (TooManyRequests from the limiter)."""
        sets = dimension_sets(name, qualifier, version or qualifier or LATEST)
        self._emit("Throttles", sets, 1.0, "Count")
        self._totals_for(name, version or LATEST).throttles += 1

    def throttle_observer(self, name: str, qualifier: str | None, version: str) -> None:
        """:meth:`throttled` as ``InvokeService.on_throttle``."""
        self.throttled(name, qualifier, version)

    def async_received(self, name: str, qualifier: str | None = None) -> None:
        """An event accepted into the async queue (Invoke with InvocationType=Event, a schedule, a
        Lambda destination)."""
        self._emit("AsyncEventsReceived", async_dimension_sets(name, qualifier), 1.0, "Count")
        self._totals_for(name, qualifier or LATEST).async_received += 1

    def async_attempt(self, name: str, qualifier: str | None, age_ms: float) -> None:
        """An async event is attempted ``age_ms`` after it was queued."""
        self._emit("AsyncEventAge", async_dimension_sets(name, qualifier), max(0.0, age_ms),
                   "Milliseconds")

    def async_dropped(self, name: str, qualifier: str | None = None) -> None:
        """An event left the queue without a successful run (retries or age exhausted, function gone)."""
        self._emit("AsyncEventsDropped", async_dimension_sets(name, qualifier), 1.0, "Count")
        self._totals_for(name, qualifier or LATEST).async_dropped += 1

    def dead_letter_error(self, name: str, qualifier: str | None = None) -> None:
        self._emit("DeadLetterErrors", async_dimension_sets(name, qualifier), 1.0, "Count")
        self._totals_for(name, qualifier or LATEST).dead_letter_errors += 1

    def destination_failure(self, name: str, qualifier: str | None = None) -> None:
        self._emit("DestinationDeliveryFailures", async_dimension_sets(name, qualifier), 1.0, "Count")
        self._totals_for(name, qualifier or LATEST).destination_failures += 1

    def sample_concurrency(self, running: Mapping[str, int], unreserved: int, reserved: int = 0) -> None:
        """One sample of the limiter: environments busy per function and in the unreserved pool;
        ``reserved``: the account's reserved concurrency (ClaimedAccountConcurrency is what on-demand
        invocations cannot have: the unreserved executions plus every reservation; lambent has no
        provisioned concurrency)."""
        now = self.metrics.now()
        total = 0
        for name, count in running.items():
            total += count
            self._emit("ConcurrentExecutions", ((("FunctionName", name),),), float(count), "Count", now)
        self._emit("ConcurrentExecutions", ((),), float(total), "Count", now)
        self._emit("UnreservedConcurrentExecutions", ((),), float(unreserved), "Count", now)
        self._emit("ClaimedAccountConcurrency", ((),), float(unreserved + reserved), "Count", now)

    # -- the concurrency sampler --------------------------------------------------------------------
    def start_sampling(self, running: Callable[[], Mapping[str, int]], unreserved: Callable[[], int],
                       reserved: Callable[[], int] = lambda: 0, interval_s: float = 1.0) -> None:
        async def sample() -> None:
            while True:
                self.settle()
                self.sample_concurrency(running(), unreserved(), reserved())
                await asyncio.sleep(interval_s)

        self._sampler = asyncio.create_task(sample(), name="lambda-concurrency-sampler")

    async def stop_sampling(self) -> None:
        if self._sampler is not None:
            self._sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sampler
            self._sampler = None
        self.settle()
