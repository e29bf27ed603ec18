"""When a schedule fires next: pure functions over one schedule's spec and :class:`Plan`.

All times are schedule time (:mod:`lambent.schedules.clock`). The rules:

- The first occurrence of a new or changed schedule is the first one at or after *now*
  (a rate schedule without StartDate therefore fires at once, as AWS documents). StartDate and
  EndDate bound rate and cron schedules; one-time schedules ignore them (as AWS does).
- Nothing at or before ``Plan.last_occurrence`` ever fires again: that is the exactly-once rule.
- With a FlexibleTimeWindow of N minutes an occurrence fires at a uniformly random moment in
  ``[occurrence, occurrence + N min)``; the moment is drawn once and persisted with the plan.
- An occurrence that could not fire in time (the server was down) still fires if it is at most
  a *grace* late — the flexible window, or ``missed_grace_s`` when the window is OFF, and never
  less than 60 s — and is otherwise skipped (the caller logs it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import tzinfo

from lambent.schedules import expressions
from lambent.schedules.expressions import AtExpression, CronExpression, Expression, RateExpression
from lambent.schedules.model import Plan, ScheduleSpec

#: Occurrences are at least a minute apart; searching "after X" starts this much later.
_AFTER_S = 1.0
#: AWS invokes "with 60 second precision" (schedule-types.html): no occurrence counts as missed
#: before it is this late, whatever the configured grace.
PRECISION_S = 60.0


@dataclass(frozen=True)
class Timing:
    """One schedule's expression with its bounds, resolved to schedule time."""

    expression: Expression
    tz: tzinfo
    start: float | None
    end: float | None
    #: For at(): the instant, in schedule time.
    at: float | None
    window_s: float

    @classmethod
    def of(cls, spec: ScheduleSpec, from_wall: Callable[[float], float]) -> Timing:
        expr = expressions.parse(spec.expression)
        tz = expressions.timezone(spec.timezone)
        return cls(
            expression=expr,
            tz=tz,
            start=from_wall(spec.start_date) if spec.start_date is not None else None,
            end=from_wall(spec.end_date) if spec.end_date is not None else None,
            at=from_wall(expr.instant(tz)) if isinstance(expr, AtExpression) else None,
            window_s=spec.flexible_window_s,
        )

    @property
    def one_time(self) -> bool:
        return self.at is not None

    def first_at_or_after(self, t: float, anchor: float) -> float | None:
        """The first occurrence >= ``t``, or None when there is none (any more)."""
        if self.at is not None:
            return self.at if self.at >= t else None
        if self.start is not None:
            t = max(t, self.start)
        occurrence: float | None
        if isinstance(self.expression, RateExpression):
            occurrence = self.expression.first_at_or_after(t, anchor=anchor)
        elif isinstance(self.expression, CronExpression):
            occurrence = self.expression.first_at_or_after(t, tz=self.tz)
        else:
            occurrence = None
        if occurrence is None or (self.end is not None and occurrence > self.end):
            return None
        return occurrence


def initial_plan(timing: Timing, *, now: float, created: float, rng: Callable[[], float]) -> Plan:
    """The plan of a schedule just created: rate schedules count from StartDate, else creation."""
    anchor = timing.start if timing.start is not None else created
    return schedule_next(timing, Plan(anchor=anchor), after=now, rng=rng, inclusive=True)


def replan(timing: Timing, plan: Plan, *, now: float, rng: Callable[[], float]) -> Plan:
    """After an update changed when the schedule runs: the next occurrence from now on that has
    not fired yet (an update that leaves the timing alone keeps the plan instead)."""
    anchor = timing.start if timing.start is not None else plan.anchor
    plan = replace(plan, anchor=anchor)
    start = now
    if plan.last_occurrence is not None:
        start = max(start, plan.last_occurrence + _AFTER_S)
    return schedule_next(timing, plan, after=start, rng=rng, inclusive=True)


def schedule_next(timing: Timing, plan: Plan, *, after: float, rng: Callable[[], float],
                  inclusive: bool = False) -> Plan:
    """Plan the first occurrence after (or at, if ``inclusive``) ``after``."""
    t = after if inclusive else after + _AFTER_S
    if plan.last_occurrence is not None:
        t = max(t, plan.last_occurrence + _AFTER_S)
    occurrence = timing.first_at_or_after(t, plan.anchor)
    if occurrence is None:
        return replace(plan, next_occurrence=None, fire_at=None)
    return replace(plan, next_occurrence=occurrence, fire_at=occurrence + timing.window_s * rng())


@dataclass(frozen=True)
class CatchUp:
    """The result of looking at a plan that may be overdue."""

    plan: Plan
    #: Occurrences given up on (more than the grace late): how many, the first and the last.
    skipped: int = 0
    first_skipped: float | None = None
    last_skipped: float | None = None
    #: True when there were more than the counting limit (``skipped`` is then a lower bound).
    more: bool = False


def grace_s(timing: Timing, missed_grace_s: float) -> float:
    """How late an occurrence may still fire: its flexible window, else the fixed grace; at least
    AWS's 60-second precision (so the engine's own latency never counts as a miss)."""
    return max(PRECISION_S, timing.window_s if timing.window_s > 0 else missed_grace_s)


def catch_up(timing: Timing, plan: Plan, *, now: float, missed_grace_s: float,
             rng: Callable[[], float], limit: int = 10_000) -> CatchUp:
    """Give up on the occurrences more than the grace behind ``now`` (they count as done, so
    they never fire later either) and plan the first one that may still fire."""
    occurrence = plan.next_occurrence
    cutoff = now - grace_s(timing, missed_grace_s)
    if occurrence is None or occurrence >= cutoff:
        return CatchUp(plan)
    skipped, last = 0, occurrence
    probe: float | None = occurrence
    while probe is not None and probe < cutoff and skipped < limit:
        skipped, last = skipped + 1, probe
        probe = timing.first_at_or_after(probe + _AFTER_S, plan.anchor)
    more = probe is not None and probe < cutoff
    plan = replace(plan, last_occurrence=last)
    plan = schedule_next(timing, plan, after=cutoff, rng=rng, inclusive=True)
    return CatchUp(plan, skipped, occurrence, last, more)
