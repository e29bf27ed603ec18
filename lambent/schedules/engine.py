"""The firing loop: due occurrences become deliveries, deliveries become async invocations.

One asyncio task (started by ``Platform.start``, stopped by ``Platform.stop``). Each turn it
1. fires every schedule whose time has come (:meth:`SchedulerService.fire`: plan advanced and
   delivery written in one transaction — the outbox), then
2. hands every due delivery to the async queue (``enqueue``) and deletes it once the queue has it
   durably. A failed attempt is retried per the target's RetryPolicy (:mod:`retry`), then sent to
   its dead-letter queue or dropped, with a log line either way.
   Before each attempt the target is authorised as Scheduler is on AWS (issue 10; Scheduler User
   Guide, "Set up the execution role"): ``scheduler.amazonaws.com`` assumes the target's RoleArn,
   which must allow ``lambda:InvokeFunction`` on the target's ARN (``invoke_check``, built by
   :class:`lambent.iam.service_calls.ServiceCalls`). A denial is a failed target invocation like
   any other: retried (the role may be fixed meanwhile), then dead-lettered with ERROR_CODE
   ``AccessDeniedException`` and AWS's denial text as ERROR_MESSAGE.
It then sleeps until the next fire or retry time, at most ``max_sleep_real_s``, or until a
schedule changes. Every wait has a timeout; an error on one schedule or delivery is logged and
the loop goes on.

Exactly once: an occurrence fires only by the transaction that moves the schedule's watermark
past it, so a restart can neither repeat nor lose it. The one window left is a crash after the
async queue accepted a delivery and before its outbox row is deleted: the delivery is then sent
again after the restart, with the same execution id (``<aws.scheduler.execution-id>``).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import replace
from typing import Protocol

from lambent.errors import AccessDenied, LambentError, ResourceNotFound, ResourceNotReady, TooManyRequests
from lambent.schedules import retry
from lambent.schedules.clock import Clock
from lambent.schedules.dead_letters import DeadLetterSink
from lambent.schedules.model import Delivery, ExhaustedCondition
from lambent.schedules.payloads import dead_letter, iso_time, render_input
from lambent.schedules.service import SchedulerService
from lambent.settings import ScheduleSettings

log = logging.getLogger(__name__)

#: Attempts (and real seconds between them, doubling) to put one message on a dead-letter queue.
DLQ_SEND_ATTEMPTS = 3
DLQ_RETRY_DELAY_REAL_S = 0.2
#: Occurrences one schedule may fire in one turn (the rest wait for the next turn).
MAX_FIRES_PER_SCHEDULE_TURN = 100
#: Shortest sleep between turns (real seconds), so nothing can spin the loop.
MIN_SLEEP_REAL_S = 0.005


class Enqueuer(Protocol):
    """lambent's async invoke (``lambent.invoke.async_queue.AsyncInvoker``)."""

    async def enqueue_target(self, function_arn: str, qualifier: str | None, payload: bytes, *,
                             request_id: str | None = None) -> str:
        """Durably queue one event; returns its request id. Raises lambent errors."""
        ...


#: (role ARN, function ARN) -> nothing if Scheduler acting with that role may invoke the
#: function; raises AccessDenied (``lambent.iam.service_calls.InvokeCheck``).
InvokeCheck = Callable[[str, str], None]


def error_code(exc: BaseException) -> str:
    """The ERROR_CODE a dead-letter message carries: the Lambda API's error code."""
    if isinstance(exc, AccessDenied):
        return "AccessDeniedException"
    if isinstance(exc, ResourceNotFound):
        return "ResourceNotFoundException"
    if isinstance(exc, TooManyRequests):
        return "TooManyRequestsException"
    if isinstance(exc, ResourceNotReady):
        return "ResourceNotReadyException"
    if isinstance(exc, TimeoutError):
        return "RequestTimeout"
    if isinstance(exc, LambentError):
        return "ServiceException"
    return type(exc).__name__


class ScheduleEngine:
    """Scope: one per server, from start to stop."""

    def __init__(self, service: SchedulerService, *, enqueuer: Enqueuer, dead_letters: DeadLetterSink,
                 settings: ScheduleSettings, clock: Clock | None = None,
                 rng: Callable[[], float] = random.random, invoke_check: InvokeCheck | None = None) -> None:
        self.service = service
        #: Authorises each attempt (None: every target is invoked unchecked, as before issue 10).
        self.invoke_check = invoke_check
        self.enqueuer = enqueuer
        self.dead_letters = dead_letters
        self.settings = settings
        self.clock = clock or service.clock
        self.rng = rng
        self._deliveries: dict[int, Delivery] = {}
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        service.on_change(self._wake.set)
        #: Counters, for tests and logs.
        self.enqueued = 0
        self.dead_lettered = 0
        self.dropped = 0

    @property
    def pending(self) -> list[Delivery]:
        return sorted(self._deliveries.values(), key=lambda d: d.id)

    async def load(self) -> None:
        """Load the service (if not yet) and pick up the deliveries a previous run left in the outbox."""
        await self.service.load()
        for d in await asyncio.to_thread(self.service.store.load_deliveries):
            self._deliveries[d.id] = d
        if self._deliveries:
            log.info("resuming %d scheduled deliveries left by the previous run", len(self._deliveries))

    async def start(self) -> None:
        await self.load()
        self._stopping = False
        self._task = asyncio.get_running_loop().create_task(self._run(), name="schedule-engine")

    async def stop(self, timeout_s: float = 5.0) -> None:
        """Let the current turn finish (bounded), then end the loop."""
        self._stopping = True
        self._wake.set()
        if self._task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout_s)
        except (TimeoutError, asyncio.CancelledError):
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._task = None

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                await self.tick()
            except Exception:  # noqa: BLE001 - the loop must outlive any bug
                log.exception("schedule engine turn failed")
            if self._stopping:
                break
            try:
                await asyncio.wait_for(self._wake.wait(), self._sleep_real_s())
            except TimeoutError:
                pass

    def _sleep_real_s(self) -> float:
        times = [d.next_attempt_at for d in self._deliveries.values()]
        nxt = self.service.next_fire_at()
        if nxt is not None:
            times.append(nxt)
        if not times:
            return self.settings.max_sleep_real_s
        delay = self.clock.real_seconds(min(times) - self.clock.now())
        return min(self.settings.max_sleep_real_s, max(MIN_SLEEP_REAL_S, delay))

    async def tick(self) -> None:
        """One turn: fire what is due, then attempt the due deliveries."""
        now = self.clock.now()
        for key in self.service.due_keys(now):
            # Several occurrences may be due at once (caught up after a restart): fire them in order.
            for _ in range(MAX_FIRES_PER_SCHEDULE_TURN):
                if self._stopping:
                    return
                try:
                    delivery = await self.service.fire(key, now)
                except Exception:  # noqa: BLE001 - one bad schedule must not stop the others
                    log.exception("schedule %s:%s/%s failed to fire", *key)
                    break
                if delivery is None:
                    break
                self._deliveries[delivery.id] = delivery
                log.debug("schedule %s:%s/%s fired occurrence %s (execution %s)", *key,
                          iso_time(delivery.scheduled_time), delivery.execution_id)
        now = self.clock.now()
        for d in self.pending:
            if self._stopping:
                return
            if d.next_attempt_at <= now:
                try:
                    await self._attempt(d)
                except Exception:  # noqa: BLE001
                    log.exception("delivery %s of %s failed unexpectedly", d.execution_id, d.schedule_arn)

    async def _attempt(self, d: Delivery) -> None:
        policy = d.target.retry_policy
        if retry.too_old(policy, created_at=d.created_at, now=self.clock.now()):
            await self._give_up(d, ExhaustedCondition.AGE)
            return
        attempt = d.attempts + 1
        payload = render_input(d, attempt)
        try:
            if self.invoke_check is not None:
                self.invoke_check(d.target.role_arn, d.target.arn)
            request_id = await asyncio.wait_for(
                # The execution id as request id: a redelivered occurrence is recognisable by the
                # function (context.aws_request_id), as it is on every retry of a Lambda event.
                self.enqueuer.enqueue_target(d.target.arn, d.target.qualifier, payload, request_id=d.execution_id),
                self.settings.call_timeout_real_s,
            )
        except Exception as exc:  # noqa: BLE001 - every failure goes through the retry policy
            message = exc.message if isinstance(exc, LambentError) else (str(exc) or type(exc).__name__)
            d = replace(d, attempts=attempt, last_error_code=error_code(exc), last_error_message=message)
            decision = retry.decide(policy, attempts=attempt, created_at=d.created_at, now=self.clock.now(),
                                    jitter=self.rng())
            if decision.retry_at is not None:
                d = replace(d, next_attempt_at=decision.retry_at)
                await asyncio.to_thread(self.service.store.update_delivery, d)
                self._deliveries[d.id] = d
                log.warning("%s (execution %s) attempt %d failed: %s: %s; retrying at %s", d.schedule_arn,
                            d.execution_id, attempt, d.last_error_code, message, iso_time(decision.retry_at))
            else:
                await self._give_up(d, decision.exhausted)
            return
        await asyncio.to_thread(self.service.store.delete_delivery, d.id)
        self._deliveries.pop(d.id, None)
        self.enqueued += 1
        log.info("%s (execution %s, occurrence %s) queued for %s as request %s", d.schedule_arn, d.execution_id,
                 iso_time(d.scheduled_time), d.target.arn, request_id)

    async def _give_up(self, d: Delivery, condition: ExhaustedCondition | None) -> None:
        """Retries are over: to the dead-letter queue if there is one, else dropped (logged)."""
        queue = d.target.dead_letter_arn
        if queue is None:
            self.dropped += 1
            log.warning("%s (execution %s, occurrence %s) dropped after %d attempt(s) (%s): %s: %s",
                        d.schedule_arn, d.execution_id, iso_time(d.scheduled_time), d.attempts,
                        condition, d.last_error_code, d.last_error_message)
        else:
            letter = dead_letter(d, condition, queue)
            for n in range(DLQ_SEND_ATTEMPTS):
                try:
                    await asyncio.wait_for(self.dead_letters.send(letter), 3 * self.settings.call_timeout_real_s)
                    self.dead_lettered += 1
                    log.warning("%s (execution %s) sent to dead-letter queue %s after %d attempt(s) (%s)",
                                d.schedule_arn, d.execution_id, queue, d.attempts, condition)
                    break
                except Exception as exc:  # noqa: BLE001 - retried, then logged
                    log.warning("dead-letter queue %s refused %s (try %d): %s", queue, d.execution_id, n + 1, exc)
                    await asyncio.sleep(DLQ_RETRY_DELAY_REAL_S * 2**n)
            else:
                self.dropped += 1
                log.error("%s (execution %s) lost: dead-letter queue %s unreachable", d.schedule_arn,
                          d.execution_id, queue)
        await asyncio.to_thread(self.service.store.delete_delivery, d.id)
        self._deliveries.pop(d.id, None)
