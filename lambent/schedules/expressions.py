"""Schedule expressions — ``rate(...)``, ``cron(...)``, ``at(...)`` — and their occurrences.

Copies https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html:

- ``rate(value unit)``: a positive integer and ``minute(s) | hour(s) | day(s)`` (AWS accepts
  ``rate(2 minute)``). A day is 24 hours on the clock, whatever daylight saving time does.
  Occurrences count from an anchor (StartDate, else when the schedule was created).
- ``cron(fields)``: :mod:`lambent.schedules.cron`, evaluated on the wall clock of
  ScheduleExpressionTimezone. Daylight saving time as AWS documents it
  (https://repost.aws/knowledge-center/eventbridge-scheduler-adjust-dst): a wall-clock time that
  does not exist (spring forward) is skipped; one that happens twice (fall back) fires once, the
  first time.
- ``at(yyyy-mm-ddThh:mm:ss)``: one instant, read in ScheduleExpressionTimezone.

Anything else is AWS's ``ValidationException: Invalid Schedule Expression <expression>.``
(messages recorded against AWS in LocalStack's snapshot tests); the precise reason is kept in the
error's context for logs. Times here are epoch seconds; nothing in this module reads a clock.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from lambent.errors import ValidationError
from lambent.schedules import cron

_RATE_RE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_AT_RE = re.compile(r"^at\((\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\)$")
_CRON_RE = re.compile(r"^cron\((.*)\)$")
_UNIT_S = {"minute": 60, "hour": 3600, "day": 86400}
#: Larger rates would overflow date arithmetic (and never fire anyway).
_MAX_RATE_S = 100 * 365 * 86400


def invalid_expression(text: str, reason: str) -> ValidationError:
    return ValidationError(f"Invalid Schedule Expression {text}.", hint=reason)


@dataclass(frozen=True)
class RateExpression:
    text: str
    interval_s: int

    def first_at_or_after(self, t: float, *, anchor: float) -> float:
        """The first ``anchor + k * interval`` (k >= 0) not earlier than ``t``."""
        if t <= anchor:
            return anchor
        k = math.ceil((t - anchor) / self.interval_s - 1e-9)
        return anchor + k * self.interval_s


@dataclass(frozen=True)
class CronExpression:
    text: str
    spec: cron.CronSpec

    def first_at_or_after(self, t: float, *, tz: tzinfo) -> float | None:
        """The first instant >= ``t`` whose wall-clock minute in ``tz`` matches, or None."""
        naive = datetime.fromtimestamp(t, tz).replace(tzinfo=None, fold=0)
        if naive.second or naive.microsecond:
            naive = naive.replace(second=0, microsecond=0) + timedelta(minutes=1)
        while True:
            match = self.spec.next_local(naive)
            if match is None:
                return None
            instant = _instant(match, tz)
            if instant is not None and instant >= t:
                return instant
            # Skipped by spring-forward, or the second pass of a fall-back hour: try the next minute.
            naive = match + timedelta(minutes=1)


@dataclass(frozen=True)
class AtExpression:
    text: str
    local: datetime  # naive wall-clock time

    def instant(self, tz: tzinfo) -> float:
        """The epoch instant; a wall time skipped by spring-forward runs at the shifted time."""
        return self.local.replace(tzinfo=tz).timestamp()


Expression = RateExpression | CronExpression | AtExpression


def parse(text: str) -> Expression:
    """Parse a ScheduleExpression, or raise AWS's ValidationException."""
    if m := _RATE_RE.match(text):
        value, unit = int(m.group(1)), m.group(2).removesuffix("s")
        if value < 1:
            raise invalid_expression(text, "the rate must be a positive integer")
        if value * _UNIT_S[unit] > _MAX_RATE_S:
            raise invalid_expression(text, "the rate is longer than 100 years")
        return RateExpression(text, value * _UNIT_S[unit])
    if m := _CRON_RE.match(text):
        try:
            return CronExpression(text, cron.parse(m.group(1)))
        except cron.CronError as exc:
            raise invalid_expression(text, str(exc)) from None
    if m := _AT_RE.match(text):
        try:
            y, mo, d, h, mi, s = (int(g) for g in m.groups())
            local = datetime(y, mo, d, h, mi, s)
        except ValueError as exc:
            raise invalid_expression(text, str(exc)) from None
        return AtExpression(text, local)
    raise invalid_expression(text, "expected rate(value unit), cron(fields) or at(yyyy-mm-ddThh:mm:ss)")


def timezone(name: str) -> ZoneInfo:
    """An IANA time zone, or AWS-style ValidationException."""
    try:
        if not name or name != name.strip():
            raise ValueError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValidationError(f"Invalid Schedule Expression Timezone {name}.") from None


def _instant(local: datetime, tz: tzinfo) -> float | None:
    """``local`` (naive, fold=0: the first of a repeated wall time) as an instant; None if that
    wall time does not exist in ``tz`` (it falls in a spring-forward gap)."""
    aware = local.replace(tzinfo=tz, fold=0)
    instant = aware.timestamp()
    if datetime.fromtimestamp(instant, tz).replace(tzinfo=None) != local:
        return None
    return instant
