"""What happens to an asynchronous event after one delivery attempt: pure decisions, no I/O.

Copies https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html —
a function error is retried ``MaximumRetryAttempts`` times (default 2) after 1 and then 2
minutes; throttles and system errors are retried with exponential backoff (1 s doubling up to
5 minutes) and never count as attempts; an event older than ``MaximumEventAgeInSeconds``
(default 6 hours) is discarded to the failure destination.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from lambent.settings import AsyncSettings

DEFAULT_MAX_RETRIES = 2
DEFAULT_MAX_AGE_S = 21600


class Outcome(StrEnum):
    SUCCESS = "success"
    FUNCTION_ERROR = "function_error"
    THROTTLED = "throttled"
    SYSTEM_ERROR = "system_error"


class Action(StrEnum):
    DONE = "done"  # succeeded: on-success destination
    RETRY = "retry"  # try again at ``next_attempt_at``
    FAIL = "fail"  # give up: DLQ and on-failure destination, with ``condition``


@dataclass(frozen=True)
class Decision:
    action: Action
    attempts: int
    backoff_step: int = 0
    next_attempt_at: float | None = None
    condition: str | None = None  # "RetriesExhausted" | "EventAgeExceeded"


def expired(now: float, enqueued_at: float, max_age_s: float) -> bool:
    return now - enqueued_at > max_age_s


def decide(
    outcome: Outcome,
    *,
    now: float,
    enqueued_at: float,
    attempts: int,
    backoff_step: int,
    max_retries: int,
    max_age_s: float,
    settings: AsyncSettings,
) -> Decision:
    """``attempts`` counts function runs *including* this one when it ran the function.
    ``time_scale`` shrinks delays and the event age alike, so tests keep the same proportions."""
    scale = settings.time_scale
    max_age_s = max_age_s * scale
    if outcome == Outcome.SUCCESS:
        return Decision(Action.DONE, attempts)
    if outcome == Outcome.FUNCTION_ERROR:
        if attempts > max_retries:
            return Decision(Action.FAIL, attempts, condition="RetriesExhausted")
        delay = (settings.first_retry_delay_s if attempts == 1 else settings.second_retry_delay_s) * scale
        at = now + delay
        if expired(at, enqueued_at, max_age_s):
            return Decision(Action.FAIL, attempts, condition="EventAgeExceeded")
        return Decision(Action.RETRY, attempts, 0, at)
    # throttled or a system error: back off, without using up an attempt
    delay = min(settings.backoff_max_s, settings.backoff_initial_s * (2**backoff_step)) * scale
    at = now + delay
    if expired(at, enqueued_at, max_age_s):
        return Decision(Action.FAIL, attempts, condition="EventAgeExceeded")
    return Decision(Action.RETRY, attempts, backoff_step + 1, at)
