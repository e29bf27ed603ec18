"""AWS's six-field cron dialect: ``minutes hours day-of-month month day-of-week year``.

Copies https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-cron-expressions.html (the
reference EventBridge Scheduler points to): minutes 0-59, hours 0-23, day-of-month 1-31, month
1-12 or JAN-DEC, day-of-week 1-7 or SUN-SAT (1 = Sunday, as in Quartz), year 1970-2199; ``, - * /``
everywhere; ``?`` in exactly one of the two day fields; ``L`` (last day of the month; ``5L`` the
last Thursday) and ``W`` (``3W`` the weekday nearest the 3rd, ``LW`` the last weekday) in the day
fields; ``#`` (``3#2`` the second Tuesday) in day-of-week. Like Quartz, a range may wrap
(``FRI-MON``, ``22-2``) and lists may mix plain values with ``L``/``W``/``#`` items.

This module knows nothing of time zones: :meth:`CronSpec.next_local` finds the next matching
*wall-clock* minute; :mod:`lambent.schedules.expressions` maps wall clock to instants.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime

YEAR_MIN, YEAR_MAX = 1970, 2199
_MONTHS = {name: i for i, name in enumerate(
    ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], start=1)}
_DAYS = {name: i for i, name in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"], start=1)}


class CronError(ValueError):
    """The expression is not valid AWS cron; the message says which part and why."""


@dataclass(frozen=True)
class DayOfMonth:
    days: frozenset[int] = frozenset()
    last: bool = False  # L
    last_weekday: bool = False  # LW
    nearest_weekday: frozenset[int] = frozenset()  # nW

    def matches(self, year: int, month: int, day: int) -> bool:
        ndays = calendar.monthrange(year, month)[1]
        if day in self.days or (self.last and day == ndays):
            return True
        if self.last_weekday and day == _nearest_weekday(year, month, ndays, ndays):
            return True
        return any(n <= ndays and day == _nearest_weekday(year, month, n, ndays) for n in self.nearest_weekday)


@dataclass(frozen=True)
class DayOfWeek:
    days: frozenset[int] = frozenset()  # 1 = SUN ... 7 = SAT
    last_of: frozenset[int] = frozenset()  # nL: the last such weekday of the month
    nth: frozenset[tuple[int, int]] = frozenset()  # d#k: the k-th such weekday

    def matches(self, year: int, month: int, day: int) -> bool:
        dow = aws_weekday(year, month, day)
        if dow in self.days:
            return True
        if dow in self.last_of and day + 7 > calendar.monthrange(year, month)[1]:
            return True
        return (dow, (day - 1) // 7 + 1) in self.nth


@dataclass(frozen=True)
class CronSpec:
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    day_of_month: DayOfMonth | None  # None: '?'
    months: tuple[int, ...]
    day_of_week: DayOfWeek | None  # None: '?'
    years: tuple[int, ...]

    def day_matches(self, year: int, month: int, day: int) -> bool:
        # parse() guarantees exactly one of the two day fields is set.
        if self.day_of_month is not None:
            return self.day_of_month.matches(year, month, day)
        return self.day_of_week is not None and self.day_of_week.matches(year, month, day)

    def next_local(self, start: datetime) -> datetime | None:
        """The first matching wall-clock minute at or after ``start`` (naive), or None (after 2199)."""
        for year in self.years:
            if year < start.year:
                continue
            for month in self.months:
                if (year, month) < (start.year, start.month):
                    continue
                same_month = (year, month) == (start.year, start.month)
                ndays = calendar.monthrange(year, month)[1]
                for day in range(start.day if same_month else 1, ndays + 1):
                    if not self.day_matches(year, month, day):
                        continue
                    same_day = same_month and day == start.day
                    for hour in self.hours:
                        if same_day and hour < start.hour:
                            continue
                        same_hour = same_day and hour == start.hour
                        for minute in self.minutes:
                            if same_hour and minute < start.minute:
                                continue
                            return datetime(year, month, day, hour, minute)
        return None


def aws_weekday(year: int, month: int, day: int) -> int:
    """1 = Sunday ... 7 = Saturday (Python's weekday() is 0 = Monday)."""
    return (calendar.weekday(year, month, day) + 1) % 7 + 1


def _nearest_weekday(year: int, month: int, n: int, ndays: int) -> int:
    """Quartz's ``nW``: the Monday-Friday day nearest the n-th, never leaving the month."""
    wd = calendar.weekday(year, month, n)  # 5 = Saturday, 6 = Sunday
    if wd == 5:
        return n + 2 if n == 1 else n - 1
    if wd == 6:
        return n - 2 if n == ndays else n + 1
    return n


def parse(fields_text: str) -> CronSpec:
    """Parse the text between ``cron(`` and ``)``."""
    fields = fields_text.split()
    if len(fields) != 6 or fields_text != fields_text.strip():
        raise CronError(f"expected 6 fields separated by single spaces, got {len(fields)}")
    minute, hour, dom, month, dow, year = fields
    if (dom == "?") == (dow == "?"):
        raise CronError("exactly one of day-of-month and day-of-week must be '?'")
    return CronSpec(
        minutes=_sorted(_numeric(minute, 0, 59, "minutes")),
        hours=_sorted(_numeric(hour, 0, 23, "hours")),
        day_of_month=None if dom == "?" else _day_of_month(dom),
        months=_sorted(_numeric(month, 1, 12, "month", _MONTHS)),
        day_of_week=None if dow == "?" else _day_of_week(dow),
        years=_sorted(_numeric(year, YEAR_MIN, YEAR_MAX, "year", wrap=False)),
    )


def _sorted(values: set[int]) -> tuple[int, ...]:
    return tuple(sorted(values))


def _value(text: str, lo: int, hi: int, field: str, names: dict[str, int] | None) -> int:
    if names is not None and text.upper() in names:
        return names[text.upper()]
    if not text.isdigit():
        raise CronError(f"{field}: '{text}' is not a number" + (" or a name" if names else ""))
    value = int(text)
    if not lo <= value <= hi:
        raise CronError(f"{field}: {value} is outside {lo}-{hi}")
    return value


def _numeric(text: str, lo: int, hi: int, field: str, names: dict[str, int] | None = None,
             *, wrap: bool = True) -> set[int]:
    out: set[int] = set()
    for item in text.split(","):
        out |= _item(item, lo, hi, field, names, wrap)
    return out


def _item(item: str, lo: int, hi: int, field: str, names: dict[str, int] | None, wrap: bool) -> set[int]:
    base, sep, step_text = item.partition("/")
    step = 1
    if sep:
        if not step_text.isdigit() or int(step_text) < 1:
            raise CronError(f"{field}: bad increment in '{item}'")
        step = int(step_text)
    if base == "*":
        first, last = lo, hi
    elif "-" in base:
        a, _, b = base.partition("-")
        first, last = _value(a, lo, hi, field, names), _value(b, lo, hi, field, names)
    elif base:
        first = _value(base, lo, hi, field, names)
        last = hi if sep else first  # '5/15': from 5 to the end of the range, every 15
    else:
        raise CronError(f"{field}: empty value in '{item}'")
    if first <= last:
        seq = list(range(first, last + 1))
    elif wrap:  # 'FRI-MON', '22-2'
        seq = list(range(first, hi + 1)) + list(range(lo, last + 1))
    else:
        raise CronError(f"{field}: range '{base}' runs backwards")
    return set(seq[::step])


def _day_of_month(text: str) -> DayOfMonth:
    days: set[int] = set()
    last = last_weekday = False
    nearest: set[int] = set()
    for item in text.split(","):
        upper = item.upper()
        if upper == "L":
            last = True
        elif upper == "LW":
            last_weekday = True
        elif upper.endswith("W") and upper[:-1].isdigit():
            nearest.add(_value(upper[:-1], 1, 31, "day-of-month", None))
        else:
            days |= _item(item, 1, 31, "day-of-month", None, True)
    return DayOfMonth(frozenset(days), last, last_weekday, frozenset(nearest))


def _day_of_week(text: str) -> DayOfWeek:
    days: set[int] = set()
    last_of: set[int] = set()
    nth: set[tuple[int, int]] = set()
    for item in text.split(","):
        upper = item.upper()
        if upper == "L":  # alone, Quartz's 'L' is the last day of the week: Saturday
            days.add(7)
        elif upper.endswith("L"):
            last_of.add(_value(upper[:-1], 1, 7, "day-of-week", _DAYS))
        elif "#" in upper:
            d, _, k = upper.partition("#")
            if not k.isdigit() or not 1 <= int(k) <= 5:
                raise CronError(f"day-of-week: '{item}' needs an occurrence 1-5 after '#'")
            nth.add((_value(d, 1, 7, "day-of-week", _DAYS), int(k)))
        else:
            days |= _item(item, 1, 7, "day-of-week", _DAYS, True)
    return DayOfWeek(frozenset(days), frozenset(last_of), frozenset(nth))
