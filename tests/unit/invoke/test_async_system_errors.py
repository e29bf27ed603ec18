"""An asynchronous attempt that fails on lambent's side (a sandbox that cannot start, or any error
no layer translated) is a system error: retried with the retry policy's exponential backoff, never
counted as an attempt, never the dispatcher's flat 1-second fallback; and the invoke service logs
the cause of a worker failure once, with the ARN invoked."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from lambent.errors import SERVICE_FAILURE_MESSAGE, EnvironmentStartFailed, ServiceError
from lambent.invoke.async_queue import AsyncInvoker
from lambent.invoke.retry_policy import Action, Outcome, decide
from lambent.settings import AsyncSettings, Settings
from lambent.store.async_queue import AsyncEventStore, QueuedEvent

INITIAL_S = 0.25


class Functions:
    def resolve(self, name: str, qualifier: str | None = None, draw: float | None = None, invoking: bool = False) -> object:
        return object()

    def arn(self, name: str, qualifier: str | None = None) -> str:
        return f"arn:aws:lambda:us-east-1:000000000000:function:{name}"


class NoConfigs:
    def lookup(self, name: str, qualifier: str | None) -> None:
        return None


@dataclass
class Failing:
    """The invoke side: every attempt raises ``error``."""

    error: Exception
    calls: int = 0

    async def invoke(self, name: str, qualifier: str | None, req: object) -> object:
        self.calls += 1
        raise self.error


def make(tmp_path: Path, error: Exception) -> tuple[AsyncInvoker, AsyncEventStore, Failing]:
    base = Settings.from_env({}, data_dir=tmp_path)
    settings = Settings(**{**base.__dict__, "async_": AsyncSettings(backoff_initial_s=INITIAL_S, backoff_max_s=60.0)})
    store = AsyncEventStore(tmp_path / "q.db")
    fake = Failing(error)
    return AsyncInvoker(settings, Functions(), fake, store, NoConfigs()), store, fake  # type: ignore[arg-type]


def event(backoff_step: int, attempts: int = 0) -> QueuedEvent:
    now = time.time()
    return QueuedEvent(1, "rid-1", "f", None, b"{}", now, attempts, now, backoff_step)


def start_failed() -> EnvironmentStartFailed:
    return EnvironmentStartFailed(SERVICE_FAILURE_MESSAGE, function="f:$LATEST", request_id="rid-1",
                                  cause="/nonexistent/sh is missing or not executable", hint="install bash")


def test_the_policy_backs_a_system_error_off_exponentially_without_using_an_attempt() -> None:
    settings = AsyncSettings(backoff_initial_s=INITIAL_S, backoff_max_s=60.0)
    now = time.time()
    delays = []
    for step in range(5):
        d = decide(Outcome.SYSTEM_ERROR, now=now, enqueued_at=now, attempts=0, backoff_step=step, max_retries=2,
                   max_age_s=21600, settings=settings)
        assert (d.action, d.attempts, d.backoff_step) == (Action.RETRY, 0, step + 1)
        assert d.next_attempt_at is not None
        delays.append(round(d.next_attempt_at - now, 6))
    assert delays == [INITIAL_S * 2**k for k in range(5)]


@pytest.mark.parametrize("error", [start_failed(), RuntimeError("nobody translated me")],
                         ids=["EnvironmentStartFailed", "untranslated"])
@pytest.mark.parametrize("step", [0, 3])
async def test_a_failed_attempt_is_rescheduled_with_the_policys_backoff(
    tmp_path: Path, error: Exception, step: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    invoker, store, fake = make(tmp_path, error)
    rescheduled: list[tuple[int, float, int, int]] = []

    async def reschedule(event_id: int, at: float, attempts: int, backoff_step: int) -> None:
        rescheduled.append((event_id, at, attempts, backoff_step))

    monkeypatch.setattr(store, "reschedule", reschedule)
    before = time.time()
    await invoker._attempt(event(step))
    after = time.time()
    assert fake.calls == 1
    [(event_id, at, attempts, backoff_step)] = rescheduled
    # Then: the next step of the backoff, no attempt counted, due after the policy's delay (not 1 s)
    assert (event_id, attempts, backoff_step) == (1, 0, step + 1)
    delay = INITIAL_S * 2**step
    assert before + delay <= at <= after + delay
    assert invoker._timers == [(at, 1, "f")]
    store.close()


async def test_the_dispatcher_keeps_nothing_of_a_translated_error_for_its_own_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The cause was logged where it was translated (the invoke service): the dispatcher logs
    only its decision, not the cause again."""
    invoker, store, _ = make(tmp_path, start_failed())

    async def reschedule(*args: object) -> None:
        return None

    monkeypatch.setattr(store, "reschedule", reschedule)
    with caplog.at_level(logging.INFO, logger="lambent.invoke.async_queue"):
        await invoker._attempt(event(0))
    messages = [r.getMessage() for r in caplog.records if r.name == "lambent.invoke.async_queue"]
    assert len(messages) == 1 and "system error, next attempt in" in messages[0]
    assert "nonexistent" not in messages[0]
    store.close()


async def test_a_delivery_failing_outside_its_attempt_backs_off_too(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The store cannot read the event back (a ServiceError of the store): the event is tried
    again after the backoff, doubling per consecutive failure, not every second."""
    invoker, store, fake = make(tmp_path, start_failed())

    def unreadable(event_id: int) -> None:
        raise ServiceError("lambent's state database could not carry out the request (disk I/O error)")

    monkeypatch.setattr(store, "get", unreadable)
    delays = []
    for _ in range(3):
        before = time.time()
        await invoker._deliver(7, "f")
        at, event_id, function = invoker._timers.pop()
        assert (event_id, function) == (7, "f")
        delays.append(at - before)
    assert fake.calls == 0
    for step, delay in enumerate(delays):
        assert INITIAL_S * 2**step <= delay <= INITIAL_S * 2**step + 0.5, delays
    store.close()
