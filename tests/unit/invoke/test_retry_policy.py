"""The async retry decisions, as pure functions."""

from __future__ import annotations

from lambent.invoke.retry_policy import Action, Decision, Outcome, decide
from lambent.settings import AsyncSettings

S = AsyncSettings()


def d(outcome: Outcome, attempts: int, *, now: float = 1000.0, enqueued: float = 1000.0, step: int = 0,
      retries: int = 2, age: int = 21600, settings: AsyncSettings = S) -> Decision:
    return decide(outcome, now=now, enqueued_at=enqueued, attempts=attempts, backoff_step=step,
                  max_retries=retries, max_age_s=age, settings=settings)


def test_success_is_done() -> None:
    assert d(Outcome.SUCCESS, 1).action == Action.DONE


def test_function_errors_retry_after_one_then_two_minutes_then_fail() -> None:
    first = d(Outcome.FUNCTION_ERROR, 1)
    second = d(Outcome.FUNCTION_ERROR, 2)
    third = d(Outcome.FUNCTION_ERROR, 3)
    assert (first.action, first.next_attempt_at) == (Action.RETRY, 1060.0)
    assert (second.action, second.next_attempt_at) == (Action.RETRY, 1120.0)
    assert (third.action, third.condition) == (Action.FAIL, "RetriesExhausted")


def test_zero_retries_fails_at_once() -> None:
    assert d(Outcome.FUNCTION_ERROR, 1, retries=0).condition == "RetriesExhausted"


def test_throttles_back_off_exponentially_without_using_attempts() -> None:
    steps = []
    step = 0
    for _ in range(12):
        dec = d(Outcome.THROTTLED, 0, step=step)
        steps.append(dec.next_attempt_at - 1000.0)
        assert dec.attempts == 0
        step = dec.backoff_step
    assert steps[:4] == [1.0, 2.0, 4.0, 8.0]
    assert max(steps) == 300.0


def test_event_age_expiry_beats_a_retry() -> None:
    dec = d(Outcome.SYSTEM_ERROR, 0, now=1000.0 + 59.5, enqueued=1000.0, age=60)
    assert (dec.action, dec.condition) == (Action.FAIL, "EventAgeExceeded")


def test_time_scale_shrinks_delays_and_age_alike() -> None:
    fast = AsyncSettings(time_scale=0.001)
    assert d(Outcome.FUNCTION_ERROR, 1, settings=fast).next_attempt_at == 1000.0 + 0.06
    dec = d(Outcome.THROTTLED, 0, now=1000.0 + 0.07, enqueued=1000.0, age=60, settings=fast)
    assert dec.condition == "EventAgeExceeded"
