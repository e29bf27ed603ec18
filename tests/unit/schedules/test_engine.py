"""The engine with a hand-moved clock, a fake async queue and a fake dead-letter queue, over a
real database: each occurrence fires exactly once, across restarts too; retries and DLQ."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
import sqlalchemy as sa

from lambent.errors import ResourceNotFound, TooManyRequests, ValidationError
from lambent.schedules import ManualClock, ScaledClock, ScheduleEngine, SchedulerService
from lambent.schedules.model import ActionAfterCompletion, RetryPolicy, ScheduleSpec, ScheduleState, Target
from lambent.schedules.payloads import DeadLetter
from lambent.schedules.store import ScheduleStore
from lambent.settings import ScheduleSettings, Settings
from lambent.store import Store
from lambent.store import schema as t

T0 = 1_767_261_600.0  # 2026-01-01T10:00:00Z
FN_ARN = "arn:aws:lambda:us-east-1:000000000000:function:worker"
ROLE = "arn:aws:iam::000000000000:role/scheduler"
DLQ = "arn:aws:sqs:us-east-1:000000000000:dlq"
INPUT = json.dumps({"at": "<aws.scheduler.scheduled-time>", "id": "<aws.scheduler.execution-id>",
                    "attempt": "<aws.scheduler.attempt-number>"})


@dataclass
class FakeQueue:
    """Implements the Enqueuer protocol; ``failures`` are raised first, one per call."""

    events: list[tuple[str, str | None, dict[str, str]]] = field(default_factory=list)
    failures: list[Exception] = field(default_factory=list)
    calls: int = 0

    async def enqueue_target(self, function_arn: str, qualifier: str | None, payload: bytes, *,
                             request_id: str | None = None) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        self.events.append((function_arn.split(":")[6], qualifier, json.loads(payload)))
        assert request_id  # the execution id, so that a redelivery is recognisable
        return request_id

    @property
    def times(self) -> list[str]:
        return [e[2]["at"] for e in self.events]


@dataclass
class FakeDlq:
    letters: list[DeadLetter] = field(default_factory=list)

    async def send(self, letter: DeadLetter) -> None:
        self.letters.append(letter)


class World:
    """One database; a 'server' (service + engine) can be started on it again and again."""

    def __init__(self, tmp_path: Path, grace_s: float = 300.0) -> None:
        self.db = Store.open_in(tmp_path)
        self.clock = ManualClock(T0)
        self.queue = FakeQueue()
        self.dlq = FakeDlq()
        self.grace_s = grace_s
        self.boot()

    def boot(self) -> None:
        """A (re)start: everything in memory is rebuilt from the database."""
        self.service = SchedulerService(ScheduleStore(self.db.engine), self.clock, region="us-east-1",
                                        account_id="000000000000", missed_grace_s=self.grace_s, rng=lambda: 0.5)
        self.engine = ScheduleEngine(self.service, enqueuer=self.queue, dead_letters=self.dlq,
                                     settings=ScheduleSettings(), rng=lambda: 1.0)

    async def restart(self) -> None:
        self.boot()
        await self.engine.load()

    async def at(self, seconds_after_t0: float) -> None:
        """Move the clock and let the engine run one turn."""
        self.clock.t = T0 + seconds_after_t0
        await self.engine.tick()


def spec(expression: str, **kw: object) -> ScheduleSpec:
    target_kw = {k: kw.pop(k) for k in ("retry_policy", "dead_letter_arn", "qualifier") if k in kw}
    target = Target(FN_ARN, ROLE, "worker", input=INPUT, **target_kw)  # type: ignore[arg-type]
    return ScheduleSpec(expression, target, **kw)  # type: ignore[arg-type]


def iso(seconds_after_t0: float) -> str:
    from lambent.schedules.payloads import iso_time

    return iso_time(T0 + seconds_after_t0)


@pytest.fixture
async def world(tmp_path: Path) -> World:
    w = World(tmp_path)
    await w.service.load()
    return w


async def test_a_rate_schedule_fires_at_once_then_every_minute_each_occurrence_once(world: World) -> None:
    await world.service.create("default", "every-minute", spec("rate(1 minute)"))
    await world.at(0)
    await world.at(0)  # a second turn at the same instant fires nothing more
    await world.at(59)
    assert world.queue.times == [iso(0)]
    await world.at(60)
    await world.at(61)
    await world.at(180)
    assert world.queue.times == [iso(0), iso(60), iso(120), iso(180)]
    assert {e[0] for e in world.queue.events} == {"worker"}
    assert len({e[2]["id"] for e in world.queue.events}) == 4  # one execution id per occurrence


async def test_a_restart_neither_repeats_nor_loses_an_occurrence(world: World) -> None:
    # Given a minutely schedule that fired at T0 and T0+60
    await world.service.create("default", "s", spec("rate(1 minute)"))
    await world.at(0)
    await world.at(60)
    # When the server restarts at once, Then nothing fires again
    await world.restart()
    await world.at(60)
    assert world.queue.times == [iso(0), iso(60)]
    # When it was down across two occurrences (within the grace), Then each fires once, in order
    await world.restart()
    await world.at(185)
    assert world.queue.times == [iso(0), iso(60), iso(120), iso(180)]
    await world.restart()
    await world.at(240)
    assert world.queue.times == [iso(0), iso(60), iso(120), iso(180), iso(240)]


async def test_occurrences_missed_beyond_the_grace_are_skipped_with_a_warning(
        world: World, caplog: pytest.LogCaptureFixture) -> None:
    await world.service.create("default", "s", spec("rate(1 minute)"))
    await world.at(0)
    # Given the server down for an hour (grace 5 minutes)
    await world.restart()
    with caplog.at_level(logging.WARNING, logger="lambent.schedules.service"):
        await world.at(3600)
    # Then the 54 occurrences from T0+60 to T0+3240 are skipped, and the last five minutes' fire
    assert world.queue.times == [iso(0)] + [iso(s) for s in range(3300, 3601, 60)]
    warning = next(r for r in caplog.records if "skipped" in r.getMessage())
    assert warning.levelno == logging.WARNING
    assert f"skipped 54 missed occurrence(s) from {iso(60)} to {iso(3240)}, more than 300 s late" in warning.getMessage()
    # And the skipped ones never come back
    await world.restart()
    await world.at(3600)
    assert len(world.queue.events) == 7


async def test_a_flexible_schedule_catches_up_within_its_window(tmp_path: Path) -> None:
    world = World(tmp_path, grace_s=0.0)
    await world.service.load()
    await world.service.create("default", "flex", spec("rate(10 minutes)", flexible_window_min=15))
    # rng 0.5: each occurrence fires 7.5 minutes into its window
    await world.at(449)
    assert world.queue.times == []
    await world.at(450)
    assert world.queue.times == [iso(0)]
    # Down from T0+451 to T0+1400: occurrence T0+600 (window to T0+1500) still fires, once
    await world.restart()
    await world.at(1400)
    assert world.queue.times == [iso(0), iso(600)]
    await world.at(1200 + 450)
    assert world.queue.times == [iso(0), iso(600), iso(1200)]


async def test_a_disabled_schedule_does_not_fire_and_resumes_without_backfill(world: World) -> None:
    await world.service.create("default", "off", spec("rate(1 minute)", state=ScheduleState.DISABLED))
    await world.at(0)
    await world.at(600)
    assert world.queue.events == []
    await world.service.update("default", "off", spec("rate(1 minute)"))
    await world.at(600)
    await world.at(660)
    assert world.queue.times == [iso(600), iso(660)]


async def test_an_at_schedule_fires_once_and_can_delete_itself(world: World) -> None:
    await world.service.create("default", "keep", spec("at(2026-01-01T10:05:00)"))
    await world.service.create("default", "gone", spec("at(2026-01-01T10:05:00)",
                                                       action_after_completion=ActionAfterCompletion.DELETE))
    await world.at(299)
    assert world.queue.events == []
    await world.at(300)
    await world.at(3600)
    assert world.queue.times == [iso(300), iso(300)]
    assert world.service.plan("default", "keep").next_occurrence is None
    with pytest.raises(ResourceNotFound, match="Schedule gone does not exist."):
        world.service.get("default", "gone")
    await world.restart()
    await world.at(7200)
    assert len(world.queue.events) == 2
    assert [s.name for s in world.service.list_schedules()] == ["keep"]


async def test_an_at_a_little_in_the_past_still_runs_once(world: World) -> None:
    await world.service.create("default", "now", spec("at(2026-01-01T09:59:00)"))
    await world.at(0)
    assert world.queue.times == [iso(-60)]


async def test_end_date_ends_a_recurring_schedule(world: World) -> None:
    await world.service.create("default", "bounded", spec(
        "rate(1 minute)", end_date=T0 + 150, action_after_completion=ActionAfterCompletion.DELETE))
    for s in (0, 60, 120, 180, 240):
        await world.at(s)
    assert world.queue.times == [iso(0), iso(60), iso(120)]
    assert world.service.list_schedules() == []


async def test_a_cron_schedule_fires_on_its_wall_clock_minutes(world: World) -> None:
    await world.service.create("default", "quarter", spec("cron(0/15 * * * ? *)"))
    for s in range(0, 3601, 300):
        await world.at(s)
    assert world.queue.times == [iso(s) for s in (0, 900, 1800, 2700, 3600)]


async def test_an_update_that_keeps_the_timing_keeps_the_plan(world: World) -> None:
    await world.service.create("default", "s", spec("rate(1 minute)"))
    await world.at(0)
    before = world.service.plan("default", "s")
    await world.service.update("default", "s", replace(spec("rate(1 minute)"), description="new words"))
    assert world.service.plan("default", "s") == before
    # A new rate counts from the same anchor and never re-fires T0
    await world.service.update("default", "s", spec("rate(2 minutes)"))
    await world.at(30)
    await world.at(120)
    assert world.queue.times == [iso(0), iso(120)]


async def test_failed_enqueues_are_retried_with_the_same_execution_id(world: World) -> None:
    world.queue.failures = [ResourceNotFound("Function not found: x"), TooManyRequests("Rate Exceeded.", reason="x")]
    await world.service.create("default", "s", spec("at(2026-01-01T10:00:00)"))
    await world.at(0)  # attempt 1 fails; retry 1 s later (jitter 1.0)
    assert [d.attempts for d in world.engine.pending] == [1]
    await world.restart()  # the retry state is durable
    await world.at(1)  # attempt 2 fails; retry 2 s later
    await world.at(2.5)
    assert world.queue.events == []
    await world.at(3)
    assert len(world.queue.events) == 1
    assert world.queue.events[0][2]["attempt"] == "3"
    assert world.queue.calls == 3
    assert world.engine.pending == []
    assert world.service.store.load_deliveries() == []


async def test_exhausted_retries_go_to_the_dead_letter_queue(world: World) -> None:
    world.queue.failures = [ResourceNotFound("Function not found: " + FN_ARN)] * 3
    await world.service.create("default", "s", spec(
        "at(2026-01-01T10:00:00)", retry_policy=RetryPolicy(2, 3600), dead_letter_arn=DLQ))
    for s in (0, 1, 3, 100):
        await world.at(s)
    assert world.queue.calls == 3
    (letter,) = world.dlq.letters
    assert letter.queue_arn == DLQ
    assert json.loads(letter.body)["attempt"] == "3"
    assert letter.attributes["ERROR_CODE"] == "ResourceNotFoundException"
    assert letter.attributes["ERROR_MESSAGE"] == "Function not found: " + FN_ARN
    assert letter.attributes["EXHAUSTED_RETRY_CONDITION"] == "MaximumRetryAttempts"
    assert letter.attributes["RETRY_ATTEMPTS"] == "2"
    assert letter.attributes["SCHEDULE_ARN"] == "arn:aws:scheduler:us-east-1:000000000000:schedule/default/s"
    assert letter.attributes["SCHEDULED_TIME"] == iso(0)
    assert world.engine.pending == []


async def test_without_a_dead_letter_queue_a_failed_event_is_dropped_and_logged(
        world: World, caplog: pytest.LogCaptureFixture) -> None:
    world.queue.failures = [RuntimeError("boom")]
    await world.service.create("default", "s", spec("at(2026-01-01T10:00:00)", retry_policy=RetryPolicy(0, 60)))
    with caplog.at_level(logging.WARNING, logger="lambent.schedules.engine"):
        await world.at(0)
    assert (world.engine.dropped, world.dlq.letters, world.engine.pending) == (1, [], [])
    assert any("dropped after 1 attempt(s)" in r.getMessage() and "RuntimeError: boom" in r.getMessage()
               for r in caplog.records)


async def test_an_event_too_old_after_downtime_is_dead_lettered_without_an_attempt(world: World) -> None:
    world.queue.failures = [TooManyRequests("Rate Exceeded.", reason="x")]
    await world.service.create("default", "s", spec(
        "at(2026-01-01T10:00:00)", retry_policy=RetryPolicy(185, 600), dead_letter_arn=DLQ))
    await world.at(0)
    await world.restart()
    await world.at(2 * 86_400)
    assert world.queue.calls == 1
    assert world.dlq.letters[0].attributes["EXHAUSTED_RETRY_CONDITION"] == "MaximumEventAgeInSeconds"
    assert world.dlq.letters[0].attributes["ERROR_CODE"] == "TooManyRequestsException"


async def test_a_fired_occurrence_left_in_the_outbox_is_delivered_once_after_a_crash(world: World) -> None:
    # Given an occurrence that fired (plan advanced, outbox row written) just before a crash
    await world.service.create("default", "s", spec("rate(1 minute)"))
    delivery = await world.service.fire(("000000000000", "default", "s"), T0)
    assert delivery is not None and world.queue.events == []
    # When the server comes back, Then it is delivered, and the occurrence does not fire again
    await world.restart()
    await world.at(0)
    await world.at(30)
    assert world.queue.times == [iso(0)]
    assert world.queue.events[0][2]["id"] == delivery.execution_id


async def test_a_schedule_that_no_longer_parses_is_logged_and_skipped(
        world: World, caplog: pytest.LogCaptureFixture) -> None:
    await world.service.create("default", "broken", spec("rate(1 minute)"))
    await world.service.create("default", "fine", spec("rate(1 minute)"))
    with world.db.engine.begin() as conn:
        row = conn.execute(sa.select(t.schedules.c.spec).where(t.schedules.c.name == "broken")).scalar_one()
        doc = json.loads(row)
        doc["timezone"] = "Nowhere/Land"
        conn.execute(t.schedules.update().where(t.schedules.c.name == "broken").values(spec=json.dumps(doc)))
    with caplog.at_level(logging.ERROR):
        await world.restart()
    await world.at(0)
    assert len(world.queue.events) == 1
    assert any("schedule 000000000000:default/broken cannot run" in r.getMessage() for r in caplog.records)


async def test_groups_hold_schedules_and_deleting_one_deletes_its_schedules(world: World) -> None:
    await world.service.create_group("team", {"owner": "me"})
    await world.service.create("team", "s", spec("rate(1 minute)"))
    assert [s.group for s in world.service.list_schedules("team")] == ["team"]
    await world.service.delete_group("team")
    await world.at(0)
    assert world.queue.events == []
    assert [g.name for g in world.service.list_groups()] == ["default"]


async def test_the_running_loop_fires_on_scaled_time_and_stops(tmp_path: Path) -> None:
    # Given schedule time 1000x faster than the wall clock: rate(1 minute) every 60 ms
    db = Store.open_in(tmp_path)
    service = SchedulerService(ScheduleStore(db.engine), ScaledClock.resume(None, 0.001), region="us-east-1",
                               account_id="000000000000")
    queue = FakeQueue()
    engine = ScheduleEngine(service, enqueuer=queue, dead_letters=FakeDlq(), settings=ScheduleSettings())
    await engine.start()  # loads the service
    loop = asyncio.get_running_loop()
    started = loop.time()
    await service.create("default", "fast", spec("rate(1 minute)"))
    # (not a fixed sleep: on a loaded machine the loop may run late, but never early or twice)
    while len(queue.events) < 5 and loop.time() - started < 10:
        await asyncio.sleep(0.01)
    await engine.stop()
    elapsed = loop.time() - started
    fired = len(queue.events)
    assert fired >= 5
    assert fired <= elapsed / 0.060 + 2  # at most one per scaled minute (+ the boundary ones)
    assert len(set(queue.times)) == fired
    await asyncio.sleep(0.2)
    assert len(queue.events) == fired  # stopped means stopped


def test_schedule_time_is_saved_and_resumed(tmp_path: Path) -> None:
    db = Store.open_in(tmp_path)
    settings = Settings(schedules=ScheduleSettings(time_scale=0.5))
    first = SchedulerService.open(settings, db.engine).clock
    again = SchedulerService.open(settings, db.engine).clock
    assert isinstance(first, ScaledClock) and isinstance(again, ScaledClock)
    assert again.saved == first.saved


async def test_dates_are_checked_but_an_update_may_resend_the_ones_it_had(world: World) -> None:
    with pytest.raises(ValidationError, match="The StartDate you specify cannot be earlier than 5 minutes ago."):
        await world.service.create("default", "s", spec("rate(1 hour)", start_date=T0 - 301))
    with pytest.raises(ValidationError, match="The EndDate you specify must be later than the StartDate."):
        await world.service.create("default", "s", spec("rate(1 hour)", start_date=T0 + 60, end_date=T0 + 60))
    await world.service.create("default", "s", spec("rate(1 hour)", start_date=T0 - 60))
    world.clock.advance(86_400)
    await world.service.update("default", "s", spec("rate(2 hours)", start_date=T0 - 60))
    with pytest.raises(ValidationError, match="cannot be earlier than 5 minutes ago"):
        await world.service.update("default", "s", spec("rate(2 hours)", start_date=T0))
    # one-time schedules ignore the dates
    await world.service.create("default", "once", spec("at(2026-01-03T10:00:00)", start_date=T0 - 9999))
