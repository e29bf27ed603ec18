"""Asynchronous invocation that loses nothing: accept durably, deliver at least once.

``enqueue`` returns only once the event is committed and fsynced (``AsyncEventStore``); the
dispatcher then feeds due events into the same execution environments as synchronous invokes,
through :class:`InvokeService` (so reserved and account concurrency apply: a throttled event
waits and is retried). After each attempt :mod:`retry_policy` decides; a finished event goes to
its on-success destination, a failed one to the function's dead-letter queue and on-failure
destination, and only then leaves the queue. Every attempt reuses the event's request id, so
functions can be idempotent. After a crash every event still in the queue is delivered again.
"""

from __future__ import annotations

import asyncio
import heapq
import json
import logging
import time
import uuid
from collections import deque
from typing import Protocol

from lambent import arns
from lambent.control.event_invoke import EventInvokeConfigs
from lambent.control.functions import FunctionService
from lambent.errors import LambentError, ResourceNotFound, TooManyRequests
from lambent.invoke.capacity import Starvation, must_wait
from lambent.invoke.destinations import Destinations, invocation_record
from lambent.invoke.retry_policy import (
    DEFAULT_MAX_AGE_S,
    DEFAULT_MAX_RETRIES,
    Action,
    Outcome,
    decide,
    expired,
)
from lambent.invoke.service import InvokeService
from lambent.settings import Settings
from lambent.store.async_queue import AsyncEventStore, NewEvent, QueuedEvent
from lambent.worker.environment import InvokeRequest

log = logging.getLogger(__name__)

#: Payloads of queued events kept in memory (beyond this they are read back from the store).
_MEMORY_CACHE_BYTES = 256 * 1024 * 1024
#: How often the dispatcher looks again for room when a function waits for memory.
_STARVED_POLL_S = 0.05
#: A starved function's next event is attempted anyway after this long (real seconds): if the
#: memory never frees up (synchronous load, a function larger than the budget) it is throttled,
#: backs off and ages out as on AWS instead of waiting without end.
_STARVED_MAX_WAIT_S = 5.0
#: The longest trace header stored with an event (async_events.trace_header); a longer one
#: (lambent's own are under 100 bytes) is not kept and the event's trace is derived.
_MAX_TRACE_HEADER = 256


def event_trace_header(request_id: str, enqueued_at: float) -> str:
    """The trace an event runs in when it came without one (or the process restarted since): a
    pure function of the event, so every attempt and every restart agree."""
    digits = "".join(c for c in request_id.lower() if c in "0123456789abcdef")
    digits = (digits + "0" * 24)[:24]
    return f"Root=1-{int(enqueued_at) & 0xFFFFFFFF:08x}-{digits}"


class AsyncMetrics(Protocol):
    """Lambda's async metrics (lambent.observability.metrics.LambdaMetrics; invoke cannot import it)."""

    def async_received(self, name: str, qualifier: str | None = None) -> None: ...
    def async_attempt(self, name: str, qualifier: str | None, age_ms: float) -> None: ...
    def async_dropped(self, name: str, qualifier: str | None = None) -> None: ...
    def dead_letter_error(self, name: str, qualifier: str | None = None) -> None: ...
    def destination_failure(self, name: str, qualifier: str | None = None) -> None: ...


class AsyncInvoker:
    """The async queue's front (enqueue) and back (dispatcher). Scope: one per server."""

    def __init__(self, settings: Settings, functions: FunctionService, invoker: InvokeService,
                 store: AsyncEventStore, configs: EventInvokeConfigs) -> None:
        self.settings = settings.async_
        self.functions = functions
        self.invoker = invoker
        self.store = store
        self.configs = configs
        self.destinations = Destinations(settings.aws, settings.region, store, self.settings.delivery_attempts,
                                         self.enqueue)
        #: Events waiting for a later time (a retry's backoff): (due at, event id, function).
        self._timers: list[tuple[float, int, str]] = []
        #: Due events, first in first out per function; a function with nothing ready has no key.
        self._ready: dict[str, deque[int]] = {}
        self._ready_count = 0
        #: Functions waiting for memory that other functions' environments hold (see _saturated).
        self._starved: dict[str, float] = {}  # function -> since (monotonic)
        #: What the dispatch pass under way has decided but its tasks have not done yet: idle
        #: environments its events will take, per function, and memory of environments they will
        #: start. Capacity checks count them, so two decisions never count on the same room.
        self._pass_claims: dict[str, int] = {}
        self._pass_new_mb = 0
        self._in_flight: set[int] = set()
        #: Payload bytes of the queued events per account (max_queued_bytes_per_account).
        self._account_bytes: dict[str, int] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._deliveries: set[asyncio.Task[None]] = set()
        #: Last function response per event, for the failure record (lost on restart: then the
        #: record carries no responseContext).
        self._last_response: dict[int, tuple[str, str | None, bytes]] = {}
        #: Events accepted by this process, kept in memory so that dispatching needs no read;
        #: events from before a restart (and rescheduled ones) are read back from the store.
        self._events: dict[int, QueuedEvent] = {}
        self._events_bytes = 0
        self._per_function: dict[str, int] = {}
        #: Consecutive deliveries of an event that failed outside its attempt (see _deliver).
        self._delivery_failures: dict[int, int] = {}
        #: Every capacity question the dispatcher asks goes through this one view.
        self._capacity = _LiveCapacity(self)
        #: AsyncEventsReceived, AsyncEventAge, AsyncEventsDropped, DeadLetterErrors,
        #: DestinationDeliveryFailures (set by the platform; None: not recorded)
        self.metrics: AsyncMetrics | None = None

    # -- front ------------------------------------------------------------------------------------
    async def enqueue(self, function_name: arns.FunctionKey, qualifier: str | None, payload: bytes, *,
                      request_id: str | None = None, trace_id: str | None = None) -> str:
        """Durably queue one event and return its request id (the function must exist).
        ``trace_id``: the X-Ray trace header it was accepted with; its attempts run in that trace
        (stored with the event: also after a restart)."""
        self.functions.resolve(function_name, qualifier, invoking=True)
        rid = request_id or str(uuid.uuid4())
        now = time.time()
        body = payload or b"{}"
        account = arns.key_account(function_name)
        held = self._account_bytes.get(account, 0)
        cap = self.settings.max_queued_bytes_per_account
        if held + len(body) > cap:
            raise TooManyRequests(
                f"Rate Exceeded. The account's queued asynchronous events hold {held} bytes; this lambent server "
                f"queues at most {cap} bytes per account, retry once some have run.",
                reason="CallerRateLimitExceeded", function=function_name)
        trace = trace_id if trace_id is not None and len(trace_id) <= _MAX_TRACE_HEADER else None
        event_id = await self.store.add(NewEvent(rid, function_name, qualifier, body, now, trace))
        self._account_bytes[account] = self._account_bytes.get(account, 0) + len(body)
        if self._events_bytes + len(body) <= _MEMORY_CACHE_BYTES:
            self._events[event_id] = QueuedEvent(event_id, rid, function_name, qualifier, body, now, 0, now, 0, trace)
            self._events_bytes += len(body)
        if self.metrics is not None:
            self.metrics.async_received(function_name, qualifier)
        self._make_ready(function_name, event_id)
        self._wake.set()
        return rid

    async def enqueue_target(self, function_arn: str, qualifier: str | None, payload: bytes, *,
                             request_id: str | None = None) -> str:
        """:meth:`enqueue` for a function named by its ARN (a schedule's target): the function of
        the ARN's account; an ARN without one names none (ResourceNotFound)."""
        ref = arns.parse_function_name(function_arn, field="Arn", max_len=256, create=False)
        key = arns.key_of(ref, self.functions.settings.region, ref.account_id or "")
        return await self.enqueue(key, qualifier if qualifier is not None else ref.qualifier, payload,
                                  request_id=request_id)

    def _make_ready(self, function: str, event_id: int) -> None:
        ready = self._ready.get(function)
        if ready is None:
            ready = self._ready[function] = deque()
        ready.append(event_id)
        self._ready_count += 1

    def _later(self, at: float, event_id: int, function: str) -> None:
        heapq.heappush(self._timers, (at, event_id, function))

    # -- lifecycle ----------------------------------------------------------------------------------
    async def start(self) -> None:
        for function, n in await asyncio.to_thread(self.store.queued_bytes):
            account = arns.key_account(arns.FunctionKey(function))
            self._account_bytes[account] = self._account_bytes.get(account, 0) + n
        self._timers = await asyncio.to_thread(self.store.schedule)
        heapq.heapify(self._timers)
        if self._timers:
            log.info("resuming %d queued asynchronous events", len(self._timers))
        self._task = asyncio.get_running_loop().create_task(self._dispatch_loop())

    async def stop(self, grace_s: float = 5.0) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._deliveries:
            # In-flight events stay in the queue until they finish: cancelled ones run again later.
            _, pending = await asyncio.wait(self._deliveries, timeout=grace_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        await asyncio.to_thread(self.store.close)

    @property
    def queued(self) -> int:
        return len(self._timers) + self._ready_count + len(self._in_flight)

    # -- dispatcher ---------------------------------------------------------------------------------
    def _saturated(self, function: str) -> bool:
        """Whether ``function``'s next ready event should wait (for a completion) instead of
        starting: :func:`lambent.invoke.capacity.must_wait` on the live capacity, applied to the
        starvation records."""
        now = time.monotonic()
        verdict = must_wait(function, self._per_function.get(function, 0), self._capacity, self._starved, now,
                            _STARVED_MAX_WAIT_S)
        if verdict.starvation is Starvation.MARK:
            self._starved.setdefault(function, now)
        elif verdict.starvation is Starvation.CLEAR:
            self._starved.pop(function, None)
        return verdict.wait

    def _dispatch_ready(self) -> None:
        loop = asyncio.get_running_loop()
        max_in_flight = self.settings.max_in_flight
        self._pass_claims.clear()
        self._pass_new_mb = 0
        for function in list(self._ready):
            ready = self._ready[function]
            while ready and len(self._in_flight) < max_in_flight and not self._saturated(function):
                event_id = ready.popleft()
                self._ready_count -= 1
                if event_id in self._in_flight:
                    continue
                self._in_flight.add(event_id)
                running = self._per_function.get(function, 0)
                if running < self._capacity.environments(function):
                    self._pass_claims[function] = self._pass_claims.get(function, 0) + 1
                else:
                    self._pass_new_mb += self._capacity.memory_mb(function)
                self._per_function[function] = running + 1
                task = loop.create_task(self._deliver(event_id, function))
                self._deliveries.add(task)
                task.add_done_callback(self._deliveries.discard)
            if not ready:
                del self._ready[function]
                self._starved.pop(function, None)
            else:  # round robin: a function that had to stop goes to the back
                self._ready[function] = self._ready.pop(function)

    async def _dispatch_loop(self) -> None:
        while True:
            now = time.time()
            timers = self._timers
            while timers and timers[0][0] <= now:
                _, event_id, function = heapq.heappop(timers)
                self._make_ready(function, event_id)
            self._wake.clear()
            if self._ready:
                self._dispatch_ready()
            # A completion or a new event wakes us; otherwise the next timer. A starved function
            # may also be waiting for synchronous invocations to free memory: look again soon.
            timeout = max(0.0, timers[0][0] - time.time()) if timers else None
            if self._starved:
                timeout = _STARVED_POLL_S if timeout is None else min(timeout, _STARVED_POLL_S)
            # asyncio.timeout, not wait_for: Python 3.11's wait_for swallows a cancellation that
            # arrives as the wake-up completes (stop() right after an accept), and stop() then
            # waited for the loop until its next timer, or for ever.
            try:
                async with asyncio.timeout(timeout):
                    await self._wake.wait()
            except TimeoutError:
                pass

    async def _deliver(self, event_id: int, function: str) -> None:
        try:
            event = self._events.pop(event_id, None)
            if event is not None:
                self._events_bytes -= len(event.payload)
            else:
                event = await asyncio.to_thread(self.store.get, event_id)
            if event is not None:
                await self._attempt(event)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - never lose the event: try again later
            # Outside the attempt itself (the store could not read or reschedule it): backed off
            # like a system error, per event, so that a failing store is not hammered.
            failures = self._delivery_failures.get(event_id, 0)
            self._delivery_failures[event_id] = failures + 1
            delay = min(self.settings.backoff_max_s, self.settings.backoff_initial_s * 2**failures) * self.settings.time_scale
            log.exception("async delivery of event %d failed unexpectedly; next try in %.3f s", event_id, delay)
            self._later(time.time() + delay, event_id, function)
        else:
            self._delivery_failures.pop(event_id, None)
        finally:
            self._in_flight.discard(event_id)
            left = self._per_function.get(function, 1) - 1
            if left > 0:
                self._per_function[function] = left
            else:
                self._per_function.pop(function, None)
            self._wake.set()

    async def _attempt(self, event: QueuedEvent) -> None:
        eic = self.configs.lookup(arns.FunctionKey(event.function), event.qualifier)
        max_retries = eic.max_retry_attempts if eic and eic.max_retry_attempts is not None else DEFAULT_MAX_RETRIES
        max_age = eic.max_event_age_s if eic and eic.max_event_age_s is not None else DEFAULT_MAX_AGE_S
        now = time.time()
        if expired(now, event.enqueued_at, max_age * self.settings.time_scale):
            await self._fail(event, "EventAgeExceeded", event.attempts)
            return
        attempts = event.attempts
        if self.metrics is not None:
            self.metrics.async_attempt(event.function, event.qualifier, (now - event.enqueued_at) * 1000.0)
        try:
            result = await self.invoker.invoke(
                arns.FunctionKey(event.function), event.qualifier,
                InvokeRequest(request_id=event.request_id, payload=event.payload,
                              invoked_arn=self.functions.arn(arns.FunctionKey(event.function), event.qualifier),
                              trace_id=event.trace_header or event_trace_header(event.request_id, event.enqueued_at),
                              queued_at=event.enqueued_at),
            )
        except ResourceNotFound:
            log.warning("dropping async event %s: function %s no longer exists", event.request_id,
                        self.functions.arn(arns.FunctionKey(event.function), event.qualifier))
            if self.metrics is not None:
                self.metrics.async_dropped(event.function, event.qualifier)
            self._dequeued(event)
            return
        except TooManyRequests:
            outcome = Outcome.THROTTLED
        except LambentError:
            # A system error (a sandbox that could not start: already logged with its cause by the
            # invoke service): backed off like a throttle, as on AWS, never counted as an attempt.
            outcome = Outcome.SYSTEM_ERROR
        except Exception:  # noqa: BLE001 - an error no layer translated is a system error too
            log.exception("async event %s of %s: untranslated error during the attempt", event.request_id,
                          event.function)
            outcome = Outcome.SYSTEM_ERROR
        else:
            attempts += 1
            failed = result.outcome.function_error is not None
            outcome = Outcome.FUNCTION_ERROR if failed else Outcome.SUCCESS
            self._last_response[event.id] = (result.config.version, result.outcome.function_error, result.outcome.payload)
        decision = decide(outcome, now=time.time(), enqueued_at=event.enqueued_at, attempts=attempts,
                          backoff_step=event.backoff_step, max_retries=max_retries, max_age_s=max_age,
                          settings=self.settings)
        if decision.action == Action.RETRY:
            assert decision.next_attempt_at is not None  # noqa: S101 - RETRY always carries a time
            if outcome is Outcome.SYSTEM_ERROR:
                log.info("async event %s of %s: system error, next attempt in %.3f s (backoff step %d)",
                         event.request_id, event.function, decision.next_attempt_at - time.time(),
                         decision.backoff_step)
            await self.store.reschedule(event.id, decision.next_attempt_at, decision.attempts, decision.backoff_step)
            self._later(decision.next_attempt_at, event.id, event.function)
        elif decision.action == Action.DONE:
            if eic and eic.on_success:
                sent = await self.destinations.send_record(eic.on_success, self._record(event, "Success", attempts),
                                                           success=True, role=self._role_of(event))
                if not sent and self.metrics is not None:
                    self.metrics.destination_failure(event.function, event.qualifier)
            await self._finish(event)
        else:
            await self._fail(event, decision.condition or "RetriesExhausted", attempts)

    def _role_of(self, event: QueuedEvent) -> str | None:
        """The execution role of the version that ran ``event``: a Lambda destination is invoked
        with it (None if the function is gone; the destinations then refuse to invoke as nobody)."""
        executed = self._last_response.get(event.id, (None, None, None))[0]
        qualifier = executed if executed is not None and executed != arns.LATEST else event.qualifier
        try:
            return self.functions.resolve(arns.FunctionKey(event.function), qualifier).role
        except ResourceNotFound:
            return None

    def _record(self, event: QueuedEvent, condition: str, attempts: int) -> dict[str, object]:
        version, function_error, response = self._last_response.get(event.id, (None, None, None))
        qualifier = event.qualifier or arns.LATEST
        return invocation_record(
            request_id=event.request_id, function_arn=self.functions.arn(arns.FunctionKey(event.function), qualifier),
            condition=condition, invoke_count=max(1, attempts), request_payload=event.payload,
            executed_version=version, function_error=function_error, response_payload=response,
        )

    async def _fail(self, event: QueuedEvent, condition: str, attempts: int) -> None:
        eic = self.configs.lookup(arns.FunctionKey(event.function), event.qualifier)
        response = self._last_response.get(event.id, (None, None, None))[2]
        try:
            cfg = self.functions.resolve(arns.FunctionKey(event.function), event.qualifier)
            dlq = cfg.dead_letter_arn
        except ResourceNotFound:
            dlq = None
        if dlq:
            message = "Event age exceeded" if condition == "EventAgeExceeded" else _error_message(response)
            sent = await self.destinations.send_dead_letter(dlq, event.payload, event.request_id, "200", message,
                                                           function=event.function)
            if not sent and self.metrics is not None:
                self.metrics.dead_letter_error(event.function, event.qualifier)
        if eic and eic.on_failure:
            sent = await self.destinations.send_record(eic.on_failure, self._record(event, condition, attempts),
                                                       success=False, role=self._role_of(event))
            if not sent and self.metrics is not None:
                self.metrics.destination_failure(event.function, event.qualifier)
        if self.metrics is not None:  # AWS: dropped, after it went to the DLQ / destination if any
            self.metrics.async_dropped(event.function, event.qualifier)
        if not dlq and not (eic and eic.on_failure):
            log.warning("async event %s for %s discarded (%s) with no DLQ or on-failure destination",
                        event.request_id, event.function, condition)
        await self._finish(event)

    async def _finish(self, event: QueuedEvent) -> None:
        self._dequeued(event)
        self._last_response.pop(event.id, None)

    def _dequeued(self, event: QueuedEvent) -> None:
        """``event`` leaves the queue (delivered, dropped or failed for good)."""
        self.store.delete_soon(event.id)
        account = arns.key_account(arns.FunctionKey(event.function))
        left = self._account_bytes.get(account, 0) - len(event.payload)
        if left > 0:
            self._account_bytes[account] = left
        else:
            self._account_bytes.pop(account, None)


class _LiveCapacity:
    """:class:`lambent.invoke.capacity.Capacity` read from the invoke service now, counting what
    the dispatch pass under way has decided but not yet started (``_pass_claims``, ``_pass_new_mb``)."""

    __slots__ = ("_owner",)

    def __init__(self, owner: AsyncInvoker) -> None:
        self._owner = owner

    def environments(self, function: str) -> int:
        return self._owner.invoker.pool.count(function)

    def has_concurrency(self, function: str) -> bool:
        return self._owner.invoker.has_concurrency(arns.FunctionKey(function))

    def has_room(self, function: str) -> bool:
        owner = self._owner
        return owner.invoker.has_room(arns.FunctionKey(function), owner._pass_claims, owner._pass_new_mb)

    def memory_mb(self, function: str) -> int:
        return self._owner.invoker.memory_of(arns.FunctionKey(function))


def _error_message(response: bytes | None) -> str:
    if not response:
        return ""
    try:
        obj = json.loads(response)
    except (ValueError, UnicodeDecodeError):
        return response.decode("utf-8", "replace")
    return str(obj.get("errorMessage", "")) if isinstance(obj, dict) else str(obj)
