"""What happens to a delivery after a failed attempt: pure decisions, no I/O.

Copies https://docs.aws.amazon.com/scheduler/latest/APIReference/API_RetryPolicy.html: an event
is retried up to ``MaximumRetryAttempts`` times (0-185, default 185) for at most
``MaximumEventAgeInSeconds`` (60-86400, default 86400) after it fired, with exponential backoff
and jitter; then it goes to the dead-letter queue if the target has one
(https://docs.aws.amazon.com/scheduler/latest/UserGuide/configuring-schedule-dlq.html), else it is
dropped. Every failure is retried — a missing function may be created in time — as AWS does.
All durations are schedule time.
"""

from __future__ import annotations

from dataclasses import dataclass

from lambent.schedules.model import ExhaustedCondition, RetryPolicy

BACKOFF_INITIAL_S = 1.0
BACKOFF_MAX_S = 300.0


@dataclass(frozen=True)
class RetryDecision:
    """Either ``retry_at`` (try again then) or ``exhausted`` (give up, for that reason)."""

    retry_at: float | None = None
    exhausted: ExhaustedCondition | None = None


def backoff_s(retries_done: int, jitter: float) -> float:
    """Delay before retry number ``retries_done + 1``: doubling from 1 s up to 5 min, scaled by
    ``0.5 + jitter / 2`` for a ``jitter`` drawn uniformly from [0, 1)."""
    base = min(BACKOFF_MAX_S, BACKOFF_INITIAL_S * 2.0 ** min(retries_done, 30))
    return base * (0.5 + jitter / 2.0)


def too_old(policy: RetryPolicy, *, created_at: float, now: float) -> bool:
    """An event older than MaximumEventAgeInSeconds is not attempted any more."""
    return now - created_at > policy.max_event_age_s


def decide(policy: RetryPolicy, *, attempts: int, created_at: float, now: float, jitter: float) -> RetryDecision:
    """After the ``attempts``-th attempt failed at ``now``: retry when, or give up why."""
    retries_done = attempts - 1
    if retries_done >= policy.max_retry_attempts:
        return RetryDecision(exhausted=ExhaustedCondition.ATTEMPTS)
    at = now + backoff_s(retries_done, jitter)
    if too_old(policy, created_at=created_at, now=at):
        return RetryDecision(exhausted=ExhaustedCondition.AGE)
    return RetryDecision(retry_at=at)
