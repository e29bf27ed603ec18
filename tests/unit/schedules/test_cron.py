"""Next occurrences of AWS cron expressions: wildcards, L/W/#, names, time zones, DST."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from lambent.schedules import expressions as ex
from lambent.schedules.cron import aws_weekday
from lambent.schedules.expressions import CronExpression


def occurrences(text: str, start: str, tz: str = "UTC", n: int = 4) -> list[str]:
    """The next ``n`` occurrences after local time ``start``, as local ISO strings with offsets."""
    expr = ex.parse(text)
    assert isinstance(expr, CronExpression)
    zone = ZoneInfo(tz)
    t = datetime.fromisoformat(start).replace(tzinfo=zone).timestamp()
    out: list[str] = []
    for _ in range(n):
        nxt = expr.first_at_or_after(t, tz=zone)
        if nxt is None:
            break
        out.append(datetime.fromtimestamp(nxt, zone).isoformat())
        t = nxt + 1
    return out


def test_aws_weekdays_start_on_sunday() -> None:
    assert aws_weekday(2024, 3, 10) == 1  # a Sunday
    assert aws_weekday(2024, 3, 11) == 2  # Monday
    assert aws_weekday(2024, 3, 16) == 7  # Saturday


def test_every_minute_rounds_up_to_the_next_whole_minute() -> None:
    assert occurrences("cron(* * * * ? *)", "2024-01-01T10:00:30", n=2) == [
        "2024-01-01T10:01:00+00:00", "2024-01-01T10:02:00+00:00"]
    assert occurrences("cron(* * * * ? *)", "2024-01-01T10:00:00", n=1) == ["2024-01-01T10:00:00+00:00"]


def test_question_mark_in_day_of_week_means_any_weekday() -> None:
    assert occurrences("cron(0 12 * * ? *)", "2024-01-30T13:00:00", n=3) == [
        "2024-01-31T12:00:00+00:00", "2024-02-01T12:00:00+00:00", "2024-02-02T12:00:00+00:00"]


def test_weekday_names_and_ranges() -> None:
    # 2024-03-08 is a Friday
    assert occurrences("cron(0 9 ? * MON-FRI *)", "2024-03-08T10:00:00", n=3) == [
        "2024-03-11T09:00:00+00:00", "2024-03-12T09:00:00+00:00", "2024-03-13T09:00:00+00:00"]
    assert occurrences("cron(0 9 ? * 2-6 *)", "2024-03-08T10:00:00", n=1) == ["2024-03-11T09:00:00+00:00"]
    assert occurrences("cron(0 9 ? * sat,SUN *)", "2024-03-08T10:00:00", n=2) == [
        "2024-03-09T09:00:00+00:00", "2024-03-10T09:00:00+00:00"]


def test_ranges_wrap_around() -> None:
    assert occurrences("cron(0 9 ? * FRI-MON *)", "2024-03-07T00:00:00", n=4) == [
        "2024-03-08T09:00:00+00:00", "2024-03-09T09:00:00+00:00", "2024-03-10T09:00:00+00:00",
        "2024-03-11T09:00:00+00:00"]
    assert occurrences("cron(0 23-1 * * ? *)", "2024-01-01T12:00:00", n=3) == [
        "2024-01-01T23:00:00+00:00", "2024-01-02T00:00:00+00:00", "2024-01-02T01:00:00+00:00"]


def test_increments() -> None:
    assert occurrences("cron(0/15 10 * * ? *)", "2024-01-01T09:00:00", n=5) == [
        "2024-01-01T10:00:00+00:00", "2024-01-01T10:15:00+00:00", "2024-01-01T10:30:00+00:00",
        "2024-01-01T10:45:00+00:00", "2024-01-02T10:00:00+00:00"]
    assert occurrences("cron(1/10 10 * * ? *)", "2024-01-01T09:00:00", n=3) == [
        "2024-01-01T10:01:00+00:00", "2024-01-01T10:11:00+00:00", "2024-01-01T10:21:00+00:00"]
    assert occurrences("cron(0 0 1/10 * ? *)", "2024-02-02T00:00:00", n=3) == [
        "2024-02-11T00:00:00+00:00", "2024-02-21T00:00:00+00:00", "2024-03-01T00:00:00+00:00"]


def test_L_in_day_of_month_is_the_last_day() -> None:
    assert occurrences("cron(0 0 L * ? *)", "2024-01-15T00:00:00", n=3) == [
        "2024-01-31T00:00:00+00:00", "2024-02-29T00:00:00+00:00", "2024-03-31T00:00:00+00:00"]


def test_nL_in_day_of_week_is_the_last_such_weekday() -> None:
    # 6L: the last Friday of the month
    assert occurrences("cron(15 10 ? * 6L *)", "2024-01-01T00:00:00", n=3) == [
        "2024-01-26T10:15:00+00:00", "2024-02-23T10:15:00+00:00", "2024-03-29T10:15:00+00:00"]
    # L alone in day-of-week: Saturday (Quartz)
    assert occurrences("cron(0 0 ? * L *)", "2024-03-11T00:00:00", n=1) == ["2024-03-16T00:00:00+00:00"]


def test_W_is_the_nearest_weekday_within_the_month() -> None:
    # 2024-02-03 is a Saturday -> Friday 2nd; 2024-03-03 a Sunday -> Monday 4th
    assert occurrences("cron(0 12 3W * ? *)", "2024-02-01T00:00:00", n=3) == [
        "2024-02-02T12:00:00+00:00", "2024-03-04T12:00:00+00:00", "2024-04-03T12:00:00+00:00"]
    # 1W on Saturday 2024-06-01 does not go back into May: Monday 3rd
    assert occurrences("cron(0 12 1W * ? *)", "2024-05-15T00:00:00", n=1) == ["2024-06-03T12:00:00+00:00"]
    # 31W on Sunday 2024-03-31 does not go forward into April: Friday 29th
    assert occurrences("cron(0 12 31W * ? *)", "2024-03-15T00:00:00", n=1) == ["2024-03-29T12:00:00+00:00"]


def test_LW_is_the_last_weekday_of_the_month() -> None:
    assert occurrences("cron(0 12 LW * ? *)", "2024-03-01T00:00:00", n=3) == [
        "2024-03-29T12:00:00+00:00", "2024-04-30T12:00:00+00:00", "2024-05-31T12:00:00+00:00"]


def test_hash_is_the_nth_weekday_of_the_month() -> None:
    # 3#2: the second Tuesday
    assert occurrences("cron(0 8 ? * 3#2 *)", "2024-01-01T00:00:00", n=3) == [
        "2024-01-09T08:00:00+00:00", "2024-02-13T08:00:00+00:00", "2024-03-12T08:00:00+00:00"]
    # a 5th Friday only exists in some months
    assert occurrences("cron(0 8 ? * FRI#5 *)", "2024-01-01T00:00:00", n=3) == [
        "2024-03-29T08:00:00+00:00", "2024-05-31T08:00:00+00:00", "2024-08-30T08:00:00+00:00"]


def test_month_names_and_the_year_field() -> None:
    assert occurrences("cron(0 0 1 JAN,JUL ? 2030-2031)", "2024-01-01T00:00:00", n=5) == [
        "2030-01-01T00:00:00+00:00", "2030-07-01T00:00:00+00:00", "2031-01-01T00:00:00+00:00",
        "2031-07-01T00:00:00+00:00"]


def test_impossible_or_past_dates_have_no_occurrence() -> None:
    assert occurrences("cron(0 0 30 2 ? *)", "2024-01-01T00:00:00") == []
    assert occurrences("cron(0 0 1 1 ? 2000)", "2024-01-01T00:00:00") == []
    assert occurrences("cron(0 0 29 2 ? *)", "2024-03-01T00:00:00", n=2) == [
        "2028-02-29T00:00:00+00:00", "2032-02-29T00:00:00+00:00"]


def test_wall_clock_of_the_schedules_time_zone() -> None:
    assert occurrences("cron(0 9 * * ? *)", "2024-06-01T00:00:00", "Asia/Tokyo", n=1) == ["2024-06-01T09:00:00+09:00"]
    assert occurrences("cron(30 9 * * ? *)", "2024-06-01T00:00:00", "Asia/Kolkata", n=1) == [
        "2024-06-01T09:30:00+05:30"]


def test_spring_forward_skips_a_wall_time_that_does_not_exist() -> None:
    # New York: 2024-03-10 02:00 EST jumps to 03:00 EDT, so 02:30 does not exist that day.
    assert occurrences("cron(30 2 * * ? *)", "2024-03-09T00:00:00", "America/New_York", n=3) == [
        "2024-03-09T02:30:00-05:00", "2024-03-11T02:30:00-04:00", "2024-03-12T02:30:00-04:00"]
    # Times either side of the gap are unaffected.
    assert occurrences("cron(0 1,3 * * ? *)", "2024-03-10T00:00:00", "America/New_York", n=2) == [
        "2024-03-10T01:00:00-05:00", "2024-03-10T03:00:00-04:00"]


def test_fall_back_runs_a_repeated_wall_time_once() -> None:
    # New York: 2024-11-03 02:00 EDT falls back to 01:00 EST: 01:00-01:59 happen twice.
    assert occurrences("cron(30 1 * * ? *)", "2024-11-02T12:00:00", "America/New_York", n=3) == [
        "2024-11-03T01:30:00-04:00", "2024-11-04T01:30:00-05:00", "2024-11-05T01:30:00-05:00"]
    assert occurrences("cron(0/20 1 * * ? *)", "2024-11-03T00:00:00", "America/New_York", n=4) == [
        "2024-11-03T01:00:00-04:00", "2024-11-03T01:20:00-04:00", "2024-11-03T01:40:00-04:00",
        "2024-11-04T01:00:00-05:00"]


def test_searching_from_inside_the_repeated_hour_does_not_rerun_it() -> None:
    # Given the second pass of 01:xx (EST, fold=1) on 2024-11-03
    expr = ex.parse("cron(45 1 * * ? *)")
    assert isinstance(expr, CronExpression)
    zone = ZoneInfo("America/New_York")
    second_pass = datetime(2024, 11, 3, 1, 10, fold=1, tzinfo=zone).timestamp()
    # When we look for the next 01:45, Then it is tomorrow's, not the repeated one
    nxt = expr.first_at_or_after(second_pass, tz=zone)
    assert nxt is not None
    assert datetime.fromtimestamp(nxt, zone).isoformat() == "2024-11-04T01:45:00-05:00"


def test_london_daylight_saving_too() -> None:
    # 2024-03-31 01:00 GMT -> 02:00 BST: 01:30 does not exist
    assert occurrences("cron(30 1 * * ? *)", "2024-03-30T12:00:00", "Europe/London", n=2) == [
        "2024-04-01T01:30:00+01:00", "2024-04-02T01:30:00+01:00"]
