"""Periods and statistics over a series' minutes: what GetMetricStatistics and GetMetricData answer.

A period starts at the query's StartTime rounded down to the minute, then every ``period_s``
seconds (a multiple of 60: lambent keeps 1-minute resolution); a period with no sample has no
datapoint, as on CloudWatch. ``unit`` narrows to data recorded with that unit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lambent.observability.metrics.service import MetricsService
from lambent.observability.metrics.series import Series
from lambent.observability.metrics.summary import Summary


@dataclass(frozen=True, slots=True)
class Datapoint:
    #: the period's start, epoch seconds
    start: float
    unit: str
    summary: Summary


def aligned_start(start: float) -> float:
    return float(int(start // 60) * 60)


def period_count(start: float, end: float, period_s: int) -> int:
    """How many periods [start, end) spans (the datapoint limit is checked against this)."""
    span = end - aligned_start(start)
    return max(0, -(-int(span) // period_s))


def group(minutes: Sequence[tuple[int, str, Summary]], start: float, period_s: int,
          unit: str | None = None) -> list[Datapoint]:
    """The minutes (oldest first) merged into periods of ``period_s`` from ``start``."""
    base = aligned_start(start)
    periods: dict[int, tuple[str, Summary]] = {}
    for minute, minute_unit, summary in minutes:
        if unit is not None and minute_unit != unit:
            continue
        index = int((minute * 60 - base) // period_s)
        found = periods.get(index)
        if found is None:
            periods[index] = (minute_unit, Summary.merged((summary,)))
        else:
            found[1].merge(summary)
    return [Datapoint(base + i * period_s, u, s) for i, (u, s) in sorted(periods.items())]


async def datapoints(metrics: MetricsService, series: Series, start: float, end: float, period_s: int,
                     unit: str | None = None) -> list[Datapoint]:
    return group(await metrics.minutes(series, start, end), start, period_s, unit)
