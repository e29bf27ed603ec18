"""Parsing rate(), cron() and at(), with AWS's exact errors."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from lambent.errors import ValidationError
from lambent.schedules import expressions as ex
from lambent.schedules.expressions import AtExpression, CronExpression, RateExpression


def utc(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp()


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("rate(1 minute)", 60), ("rate(5 minutes)", 300), ("rate(2 minute)", 120),  # AWS accepts the singular
        ("rate(1 hour)", 3600), ("rate(12 hours)", 43200), ("rate(1 day)", 86400), ("rate(7 days)", 604800),
    ],
)
def test_rate_expressions_parse_to_an_interval(text: str, seconds: int) -> None:
    expr = ex.parse(text)
    assert isinstance(expr, RateExpression)
    assert expr.interval_s == seconds


# Every case here was recorded against AWS (LocalStack's scheduler snapshot tests), with exactly
# this message; plus a few of our own in the same family.
@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("cron(0 1 * * * *)", "exactly one of day-of-month and day-of-week must be '?'"),
        ("cron(7 20 * * NOT *)", "exactly one of day-of-month and day-of-week must be '?'"),
        ("cron(INVALID)", "expected 6 fields separated by single spaces, got 1"),
        ("cron(0 dummy ? * MON-FRI *)", "hours: 'dummy' is not a number"),
        ("cron(71 8 1 * ? *)", "minutes: 71 is outside 0-59"),
        ("cron()", "expected 6 fields separated by single spaces, got 0"),
        ("rate(10 seconds)", None),
        ("rate(10 years)", None),
        ("rate()", None),
        ("rate(10)", None),
        ("rate(10 minutess)", None),
        ("rate(foo minutes)", None),
        ("rate(-10 minutes)", None),
        ("rate( 10 minutes )", None),
        (" rate(10 minutes)", None),
        ("at(2021-12-31T23:59:59Z)", None),
        ("at(2021-12-31)", None),
        ("rate(0 minutes)", "the rate must be a positive integer"),
        ("at(2023-02-29T10:00:00)", "day is out of range for month"),
        ("cron(0 8 ? * 3#6 *)", "day-of-week: '3#6' needs an occurrence 1-5 after '#'"),
        ("cron(0 8 ? * ? *)", "exactly one of day-of-month and day-of-week must be '?'"),
        ("cron(0 8 1 * MON *)", "exactly one of day-of-month and day-of-week must be '?'"),
        ("cron(0 8 1 13 ? *)", "month: 13 is outside 1-12"),
        ("cron(0 8 1 * ? 1969)", "year: 1969 is outside 1970-2199"),
        ("cron(0 8 1 * ? 2030-2025)", "year: range '2030-2025' runs backwards"),
        ("cron(0/0 8 1 * ? *)", "minutes: bad increment in '0/0'"),
        ("cron(0 8 1 * ? * *)", "expected 6 fields separated by single spaces, got 7"),
        ("cron(0 24 1 * ? *)", "hours: 24 is outside 0-23"),
        ("cron(0 8 32 * ? *)", "day-of-month: 32 is outside 1-31"),
        ("cron(0 8 ? * 8 *)", "day-of-week: 8 is outside 1-7"),
        ("cron(0 8 ? * FUN *)", "day-of-week: 'FUN' is not a number or a name"),
        ("cron(0,,5 8 1 * ? *)", "minutes: empty value in ''"),
    ],
)
def test_invalid_expressions_are_awss_validation_exception(text: str, hint: str | None) -> None:
    with pytest.raises(ValidationError) as err:
        ex.parse(text)
    assert err.value.message == f"Invalid Schedule Expression {text}."
    if hint is not None:
        assert err.value.context["hint"] == hint


@pytest.mark.parametrize(
    "text",
    [
        "cron(0 12 * * ? *)", "cron(0/15 * ? * MON-FRI *)", "cron(15 10 ? * 6L *)", "cron(0 8 1 * ? *)",
        "cron(0 18 ? * MON-FRI *)", "cron(0 9 ? * 2#1 *)", "cron(0 0 LW * ? *)", "cron(0 0 15W * ? *)",
        "cron(0 0 L * ? *)", "cron(5,35 14 * * ? *)", "cron(0 8 1 JAN,JUL ? 2030-2035)", "cron(0 22-2 ? * FRI-MON *)",
        "cron(0-15/1 8-8 ? * 2,3,4,5,6,7 *)", "cron(30-30 13-13 ? * 2,4,6 *)", "cron(1-31/30 1-1 ? * 1,7 *)",
        "cron(* * ? * * 2024)", "cron(0 10 ? * sun *)",
    ],
)
def test_valid_cron_expressions_parse(text: str) -> None:
    assert isinstance(ex.parse(text), CronExpression)


def test_at_expression_is_a_wall_clock_time_read_in_the_schedules_time_zone() -> None:
    expr = ex.parse("at(2025-06-01T09:30:00)")
    assert isinstance(expr, AtExpression)
    assert expr.instant(ex.timezone("UTC")) == utc("2025-06-01T09:30:00")
    assert expr.instant(ex.timezone("Europe/Paris")) == utc("2025-06-01T07:30:00")  # CEST, UTC+2
    assert expr.instant(ex.timezone("America/New_York")) == utc("2025-06-01T13:30:00")  # EDT, UTC-4


def test_time_zones_are_iana_names() -> None:
    assert ex.timezone("Asia/Kolkata").key == "Asia/Kolkata"
    for bad in ["Mars/Olympus_Mons", "", " UTC", "../etc/passwd", "/etc/localtime"]:
        with pytest.raises(ValidationError) as err:
            ex.timezone(bad)
        assert err.value.message == f"Invalid Schedule Expression Timezone {bad}."


def test_rate_occurrences_count_from_the_anchor() -> None:
    expr = ex.parse("rate(5 minutes)")
    assert isinstance(expr, RateExpression)
    anchor = 1_000_000.0
    assert expr.first_at_or_after(anchor - 999, anchor=anchor) == anchor
    assert expr.first_at_or_after(anchor, anchor=anchor) == anchor
    assert expr.first_at_or_after(anchor + 1, anchor=anchor) == anchor + 300
    assert expr.first_at_or_after(anchor + 300, anchor=anchor) == anchor + 300
    assert expr.first_at_or_after(anchor + 86_400 * 365 + 1, anchor=anchor) == anchor + 86_400 * 365 + 300


def test_a_rate_in_days_is_24_hours_whatever_daylight_saving_time_does() -> None:
    # Given a daily rate anchored the day before New York springs forward
    expr = ex.parse("rate(1 day)")
    assert isinstance(expr, RateExpression)
    anchor = utc("2024-03-09T14:00:00")  # 09:00 EST
    # When the clocks go forward, Then the next occurrence is still 24 h later (10:00 EDT)
    assert expr.first_at_or_after(anchor + 1, anchor=anchor) == utc("2024-03-10T14:00:00")
