"""When schedules fire: first occurrences, StartDate/EndDate, at(), flexible windows, catch-up."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

from lambent.schedules import timing as tm
from lambent.schedules.clock import ScaledClock
from lambent.schedules.model import Plan, ScheduleSpec, Target

T0 = datetime(2025, 1, 6, 10, 0, 0, tzinfo=timezone.utc).timestamp()  # a Monday, 10:00 UTC
TARGET = Target("arn:aws:lambda:us-east-1:000000000000:function:f", "arn:aws:iam::000000000000:role/r", "f")


def timing(expression: str, **kw: object) -> tm.Timing:
    return tm.Timing.of(ScheduleSpec(expression, TARGET, **kw), lambda wall: wall)  # type: ignore[arg-type]


def half() -> float:
    return 0.5


def zero() -> float:
    return 0.0


def test_a_rate_schedule_without_start_date_fires_at_once_then_every_interval() -> None:
    t = timing("rate(5 minutes)")
    plan = tm.initial_plan(t, now=T0, created=T0, rng=zero)
    assert (plan.anchor, plan.next_occurrence, plan.fire_at) == (T0, T0, T0)
    after = tm.schedule_next(t, replace(plan, last_occurrence=T0), after=T0, rng=zero)
    assert after.next_occurrence == T0 + 300


def test_a_rate_schedule_counts_from_its_start_date() -> None:
    t = timing("rate(1 hour)", start_date=T0 + 90)
    plan = tm.initial_plan(t, now=T0, created=T0, rng=zero)
    assert plan.anchor == T0 + 90
    assert plan.next_occurrence == T0 + 90


def test_a_cron_schedule_does_not_fire_before_its_start_date() -> None:
    t = timing("cron(0 * * * ? *)", start_date=T0 + 1)
    assert tm.initial_plan(t, now=T0, created=T0, rng=zero).next_occurrence == T0 + 3600


def test_no_occurrence_after_the_end_date() -> None:
    t = timing("cron(0 * * * ? *)", end_date=T0 + 2 * 3600)
    plan = tm.initial_plan(t, now=T0, created=T0, rng=zero)
    seen = []
    while plan.next_occurrence is not None:
        seen.append(plan.next_occurrence)
        plan = tm.schedule_next(t, replace(plan, last_occurrence=plan.next_occurrence), after=plan.next_occurrence,
                                rng=zero)
    assert seen == [T0, T0 + 3600, T0 + 7200]


def test_an_at_schedule_fires_once_and_ignores_start_and_end_dates() -> None:
    t = timing("at(2025-01-06T12:00:00)", start_date=T0 + 86_400, end_date=T0 + 60)
    assert t.one_time
    plan = tm.initial_plan(t, now=T0, created=T0, rng=zero)
    assert plan.next_occurrence == T0 + 7200
    after = tm.schedule_next(t, replace(plan, last_occurrence=T0 + 7200), after=T0 + 7200, rng=zero)
    assert after.next_occurrence is None


def test_at_is_read_in_the_schedules_time_zone() -> None:
    t = timing("at(2025-01-06T12:00:00)", timezone="Europe/Berlin")  # CET, UTC+1
    assert t.at == T0 + 3600


def test_at_is_converted_to_schedule_time_so_it_keeps_its_wall_clock_instant() -> None:
    # Given schedule time running 100 times as fast as the wall clock, anchored at T0
    clock = ScaledClock(T0, T0, 0.01, wall=lambda: T0)
    t = tm.Timing.of(ScheduleSpec("at(2025-01-06T10:01:00)", TARGET), clock.from_wall)
    # Then the instant one wall minute away is 100 schedule minutes away, and maps back to 10:01
    assert t.at == T0 + 6000
    assert clock.to_wall(t.at) == T0 + 60


def test_a_flexible_window_fires_inside_the_window_at_a_drawn_moment() -> None:
    t = timing("rate(1 hour)", flexible_window_min=15)
    plan = tm.initial_plan(t, now=T0, created=T0, rng=half)
    assert plan.next_occurrence == T0
    assert plan.fire_at == T0 + 450  # half of 15 minutes


def test_nothing_at_or_before_the_last_occurrence_fires_again() -> None:
    t = timing("rate(1 minute)")
    plan = Plan(anchor=T0, last_occurrence=T0 + 120)
    # even when asked for occurrences from long before
    assert tm.replan(t, plan, now=T0, rng=zero).next_occurrence == T0 + 180


def test_a_late_occurrence_within_the_grace_still_fires() -> None:
    t = timing("rate(1 minute)")
    plan = Plan(anchor=T0, next_occurrence=T0 + 60, fire_at=T0 + 60, last_occurrence=T0)
    caught = tm.catch_up(t, plan, now=T0 + 60 + 299, missed_grace_s=300, rng=zero)
    assert caught.skipped == 0
    assert caught.plan == plan


def test_occurrences_beyond_the_grace_are_skipped_and_counted() -> None:
    # Given a minutely schedule last run at T0, and the server back 10 min 30 s later
    t = timing("rate(1 minute)")
    plan = Plan(anchor=T0, next_occurrence=T0 + 60, fire_at=T0 + 60, last_occurrence=T0)
    caught = tm.catch_up(t, plan, now=T0 + 630, missed_grace_s=120, rng=zero)
    # Then T0+60 .. T0+480 (older than 2 min) are given up, T0+540 and T0+600 may still run
    assert (caught.skipped, caught.first_skipped, caught.last_skipped) == (8, T0 + 60, T0 + 480)
    assert caught.plan.next_occurrence == T0 + 540
    assert caught.plan.last_occurrence == T0 + 480


def test_a_flexible_schedules_grace_is_its_window() -> None:
    t = timing("rate(1 hour)", flexible_window_min=30)
    plan = Plan(anchor=T0, next_occurrence=T0 + 3600, fire_at=T0 + 3600 + 600, last_occurrence=T0)
    assert tm.catch_up(t, plan, now=T0 + 3600 + 1700, missed_grace_s=0, rng=zero).skipped == 0
    late = tm.catch_up(t, plan, now=T0 + 3600 + 1900, missed_grace_s=10_000, rng=zero)
    assert late.skipped == 1
    assert late.plan.next_occurrence == T0 + 7200


def test_a_missed_one_time_schedule_beyond_the_grace_has_nothing_left() -> None:
    t = timing("at(2025-01-06T10:00:00)")
    plan = Plan(anchor=T0, next_occurrence=T0, fire_at=T0)
    caught = tm.catch_up(t, plan, now=T0 + 3600, missed_grace_s=300, rng=zero)
    assert caught.skipped == 1
    assert caught.plan.next_occurrence is None


def test_counting_skipped_occurrences_is_bounded() -> None:
    t = timing("rate(1 minute)")
    plan = Plan(anchor=T0, next_occurrence=T0, fire_at=T0)
    caught = tm.catch_up(t, plan, now=T0 + 365 * 86_400, missed_grace_s=0, rng=zero, limit=50)
    assert (caught.skipped, caught.more) == (50, True)
    assert caught.plan.next_occurrence == T0 + 365 * 86_400 - 60  # still inside the 60 s precision


def test_no_grace_is_shorter_than_awss_60_second_precision() -> None:
    t = timing("rate(1 minute)")
    plan = Plan(anchor=T0, next_occurrence=T0 + 60, fire_at=T0 + 60, last_occurrence=T0)
    assert tm.catch_up(t, plan, now=T0 + 119, missed_grace_s=0, rng=zero).skipped == 0
    assert tm.catch_up(t, plan, now=T0 + 121, missed_grace_s=0, rng=zero).skipped == 1
