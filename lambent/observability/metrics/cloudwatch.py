"""The CloudWatch API's rules over :class:`MetricsService`: GetMetricStatistics, GetMetricData,
ListMetrics and PutMetricData, taking the operations' params (botocore model member names, typed
by the protocol layer) and returning their output shapes. No HTTP here: lambent/api/cloudwatch_api.py
registers the handlers, and translates :class:`MetricsRequestError` (its ``code`` is the CloudWatch
error code) into lambent's error classes.

Behaviour follows the CloudWatch API reference (Amazon CloudWatch API Reference, 2010-08-01):
periods are multiples of 60 (lambent keeps 1-minute resolution; high-resolution data is stored
per minute too), GetMetricStatistics returns at most 1,440 datapoints, a period without data has
no datapoint, GetMetricData answers up to MaxDatapoints (default 100,800) per page, newest first
unless ``ScanBy=TimestampAscending``, ListMetrics pages by 500, and PutMetricData refuses the
``AWS/`` namespaces, non-finite values and timestamps outside [now - retention, now + 2 h].
Metric math (``Expression``) is not served: such a query is refused, naming it.

Every operation acts in the caller's account (``account``: the principal's), as on AWS: reads see
that account's series only (AWS/Lambda's of its own functions, its own custom metrics) and
PutMetricData writes into it. A GetMetricData query naming another ``AccountId`` (cross-account
observability) is refused.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from lambent.observability.metrics.query import Datapoint, datapoints, period_count
from lambent.observability.metrics.service import FUTURE_S, MetricsService
from lambent.observability.metrics.series import Series, dimensions
from lambent.observability.metrics.summary import BASIC_STATISTICS, Summary, percentile_of

MAX_STATISTICS_DATAPOINTS = 1440
DEFAULT_MAX_DATAPOINTS = 100_800
MAX_QUERIES = 500
LIST_PAGE = 500
MAX_METRIC_DATA = 1000
MAX_VALUES = 150
RECENTLY_ACTIVE_S = 3 * 3600.0
_QUERY_ID = re.compile(r"^[a-z][a-zA-Z0-9_]*$")


class MetricsRequestError(ValueError):
    """A request CloudWatch would refuse; ``code`` is its CloudWatch error code
    (InvalidParameterValue, InvalidParameterCombination, MissingParameter, InvalidNextToken,
    LimitExceeded, Throttling)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _invalid(message: str) -> MetricsRequestError:
    return MetricsRequestError("InvalidParameterValue", message)


def _epoch(value: datetime) -> float:
    return (value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)).timestamp()


def _when(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, timezone.utc)


def _series(account: str, namespace: str, name: str, dims: Sequence[Mapping[str, str]] | None, where: str) -> Series:
    pairs = [(d["Name"], d["Value"]) for d in dims or ()]
    if len({n for n, _ in pairs}) != len(pairs):
        raise _invalid(f"The collection {where}Dimensions must not contain duplicate dimension names.")
    return Series(namespace, name, dimensions(pairs), account)


def _check_period(period: int, where: str) -> None:
    if period < 60 or period % 60:
        raise _invalid(f"The parameter {where}Period must be a multiple of 60.")


def _check_range(start: float, end: float) -> None:
    if start >= end:
        raise _invalid("The parameter StartTime must be less than the parameter EndTime.")


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"lambent:{offset}".encode()).decode()


def _offset(token: str | None, limit: int) -> int:
    if token is None:
        return 0
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
        prefix, _, raw = text.partition(":")
        offset = int(raw)
    except (ValueError, UnicodeError):
        offset = -1
        prefix = ""
    if prefix != "lambent" or not 0 <= offset <= limit:
        raise MetricsRequestError("InvalidNextToken", "The service cannot find the token.")
    return offset


class CloudWatch:
    """Scope: one per server, over its :class:`MetricsService`."""

    def __init__(self, metrics: MetricsService) -> None:
        self.metrics = metrics

    # -- GetMetricStatistics ------------------------------------------------------------------------
    async def get_metric_statistics(self, p: Mapping[str, Any], account: str) -> dict[str, Any]:
        stats: list[str] = list(p.get("Statistics") or ())
        extended: list[str] = list(p.get("ExtendedStatistics") or ())
        if not stats and not extended:
            raise MetricsRequestError("MissingParameter",
                                      "Must specify either the Statistics or the ExtendedStatistics parameter.")
        for name in stats:
            if name not in BASIC_STATISTICS:
                raise _invalid(f"The value {name} for parameter Statistics is not a valid statistic.")
        for name in extended:
            if percentile_of(name) is None:
                raise _invalid(f"The value {name} for parameter ExtendedStatistics is not a valid statistic.")
        period = int(p["Period"])
        _check_period(period, "")
        start, end = _epoch(p["StartTime"]), _epoch(p["EndTime"])
        _check_range(start, end)
        count = period_count(start, end, period)
        if count > MAX_STATISTICS_DATAPOINTS:
            raise MetricsRequestError(
                "InvalidParameterCombination",
                f"You have requested up to {count:,} datapoints, which exceeds the limit of 1,440. You may reduce "
                "the datapoints requested by increasing Period, or decreasing the time range.",
            )
        series = _series(account, p["Namespace"], p["MetricName"], p.get("Dimensions"), "")
        points = await datapoints(self.metrics, series, start, end, period, p.get("Unit"))
        out: list[dict[str, Any]] = []
        for point in points:
            entry: dict[str, Any] = {"Timestamp": _when(point.start), "Unit": point.unit}
            for name in stats:
                entry[name] = point.summary.statistic(name)
            if extended:
                entry["ExtendedStatistics"] = {name: point.summary.statistic(name) for name in extended}
            out.append(entry)
        return {"Label": p["MetricName"], "Datapoints": out}

    # -- GetMetricData ------------------------------------------------------------------------------
    async def get_metric_data(self, p: Mapping[str, Any], account: str) -> dict[str, Any]:
        queries: list[Mapping[str, Any]] = list(p["MetricDataQueries"])
        if not queries or len(queries) > MAX_QUERIES:
            raise _invalid(f"The collection MetricDataQueries must contain between 1 and {MAX_QUERIES} elements.")
        start, end = _epoch(p["StartTime"]), _epoch(p["EndTime"])
        _check_range(start, end)
        scan = p.get("ScanBy") or "TimestampDescending"
        limit = int(p.get("MaxDatapoints") or DEFAULT_MAX_DATAPOINTS)
        if limit < 1:
            raise _invalid("The parameter MaxDatapoints must be greater than 0.")
        seen: set[str] = set()
        answered: list[tuple[str, str, list[tuple[float, float]]]] = []
        for i, q in enumerate(queries, start=1):
            where = f"MetricDataQueries.member.{i}."
            qid = q["Id"]
            if not _QUERY_ID.match(qid):
                raise _invalid(f"The value {qid} for parameter {where}Id is invalid: it must start with a lower-case "
                               "letter and contain only letters, numbers and underscores.")
            if qid in seen:
                raise _invalid(f"The value {qid} for parameter MetricDataQueries.Id is duplicated.")
            seen.add(qid)
            if q.get("AccountId") is not None and q["AccountId"] != account:
                raise _invalid(f"{where}AccountId: cross-account observability is not supported by this lambent "
                               "server yet (GetMetricData); a caller reads its own account's metrics.")
            if q.get("Expression") is not None:
                raise _invalid(f"Metric math ({where}Expression) is not supported by this lambent server yet "
                               "(GetMetricData); remove it from the request.")
            stat_q = q.get("MetricStat")
            if stat_q is None:
                raise MetricsRequestError("MissingParameter",
                                          f"The parameter {where}MetricStat or {where}Expression is required.")
            stat = stat_q["Stat"]
            if stat not in BASIC_STATISTICS and percentile_of(stat) is None:
                raise _invalid(f"The value {stat} for parameter {where}MetricStat.Stat is not a valid statistic.")
            period = int(stat_q["Period"])
            _check_period(period, f"{where}MetricStat.")
            metric = stat_q["Metric"]
            if not metric.get("Namespace") or not metric.get("MetricName"):
                raise MetricsRequestError("MissingParameter",
                                          f"The parameters {where}MetricStat.Metric.Namespace and MetricName are required.")
            series = _series(account, metric["Namespace"], metric["MetricName"], metric.get("Dimensions"),
                             f"{where}MetricStat.Metric.")
            points: list[Datapoint] = await datapoints(self.metrics, series, start, end, period, stat_q.get("Unit"))
            values = [(pt.start, pt.summary.statistic(stat)) for pt in points]
            if scan != "TimestampAscending":
                values.reverse()
            if q.get("ReturnData", True):
                answered.append((qid, q.get("Label") or metric["MetricName"], values))
        total = sum(len(v) for _, _, v in answered)
        offset = _offset(p.get("NextToken"), total)
        page_end = offset + limit
        results: list[dict[str, Any]] = []
        position = 0
        for qid, label, values in answered:
            lo, hi = max(offset - position, 0), min(page_end - position, len(values))
            taken = values[lo:hi] if hi > lo else []
            rest = position + len(values) > page_end
            results.append({"Id": qid, "Label": label, "Timestamps": [_when(t) for t, _ in taken],
                            "Values": [v for _, v in taken], "StatusCode": "PartialData" if rest else "Complete"})
            position += len(values)
        out: dict[str, Any] = {"MetricDataResults": results, "Messages": []}
        if page_end < total:
            out["NextToken"] = _token(page_end)
        return out

    # -- ListMetrics --------------------------------------------------------------------------------
    async def list_metrics(self, p: Mapping[str, Any], account: str) -> dict[str, Any]:
        recently = p.get("RecentlyActive")
        if recently is not None and recently != "PT3H":
            raise _invalid(f"The value {recently} for parameter RecentlyActive is invalid.")
        since = self.metrics.now() - RECENTLY_ACTIVE_S if recently else None
        filters = [(f["Name"], f.get("Value")) for f in p.get("Dimensions") or ()]
        found = sorted(
            (s for s in self.metrics.series(since=since, account=account) if s.matches(p.get("Namespace"), p.get("MetricName"), filters)),
            key=lambda s: (s.namespace, s.name, s.dims),
        )
        offset = _offset(p.get("NextToken"), len(found))
        page = found[offset:offset + LIST_PAGE]
        out: dict[str, Any] = {"Metrics": [
            {"Namespace": s.namespace, "MetricName": s.name, "Dimensions": [{"Name": n, "Value": v} for n, v in s.dims]}
            for s in page
        ]}
        if offset + LIST_PAGE < len(found):
            out["NextToken"] = _token(offset + LIST_PAGE)
        return out

    # -- PutMetricData ------------------------------------------------------------------------------
    async def put_metric_data(self, p: Mapping[str, Any], account: str) -> None:
        namespace: str = p["Namespace"]
        if namespace.startswith("AWS/"):
            raise _invalid(f"The value {namespace} for parameter Namespace is invalid.")
        data: list[Mapping[str, Any]] = list(p.get("MetricData") or ())
        if not data:
            raise MetricsRequestError("MissingParameter", "The parameter MetricData is required.")
        if len(data) > MAX_METRIC_DATA:
            raise _invalid(f"The collection MetricData must not have a size greater than {MAX_METRIC_DATA}.")
        now = self.metrics.now()
        planned: list[tuple[Series, float, str, Summary]] = []
        for i, d in enumerate(data, start=1):
            where = f"MetricData.member.{i}."
            series = _series(account, namespace, d["MetricName"], d.get("Dimensions"), where)
            ts = _epoch(d["Timestamp"]) if d.get("Timestamp") is not None else now
            if ts > now + FUTURE_S:
                raise _invalid(f"The parameter {where}Timestamp must specify a time no more than two hours in the future.")
            if ts < now - self.metrics.retention_s:
                raise _invalid(f"The parameter {where}Timestamp must specify a time within the past "
                               f"{self.metrics.retention_s / 86400:g} days.")
            resolution = d.get("StorageResolution")
            if resolution is not None and resolution not in (1, 60):
                raise _invalid(f"The value {resolution} for parameter {where}StorageResolution is invalid: "
                               "it must be 1 or 60.")
            planned.append((series, ts, d.get("Unit") or "None", _summary_of(d, where)))
        new = {s for s, _, _, _ in planned if not self.metrics.known(s)}
        if not self.metrics.can_add(len(new), account):
            raise MetricsRequestError(
                "LimitExceeded", f"This lambent server keeps at most {self.metrics.max_series} metrics, "
                f"{self.metrics.max_series_per_account} of one account; the request would add more.")
        if not self.metrics.has_room(len(planned)):
            raise MetricsRequestError("Throttling", "Rate exceeded: metrics not yet stored exceed what this lambent "
                                      "server holds in memory; retry after a few seconds.")
        for series, ts, unit, summary in planned:
            if not self.metrics.record_summary(series, summary, ts=ts, unit=unit):
                raise MetricsRequestError("LimitExceeded", "The metric could not be recorded.")
        return None


def _finite(value: Any, name: str) -> float:
    number = float(value)
    if not math.isfinite(number) or abs(number) > 2.0 ** 360:
        raise _invalid(f"The value {value} for parameter {name} is invalid.")
    return number


def _summary_of(d: Mapping[str, Any], where: str) -> Summary:
    given = [k for k in ("Value", "StatisticValues", "Values") if d.get(k) is not None]
    if len(given) > 1:
        raise MetricsRequestError("InvalidParameterCombination",
                                  f"The parameters {where}{given[0]} and {where}{given[1]} are mutually exclusive "
                                  "and you have specified both.")
    summary = Summary()
    if not given or given[0] == "Value":
        if not given:
            raise MetricsRequestError("MissingParameter",
                                      f"The parameter {where}Value, {where}StatisticValues or {where}Values is required.")
        summary.add(_finite(d["Value"], f"{where}Value"))
    elif given[0] == "StatisticValues":
        sv = d["StatisticValues"]
        count = _finite(sv["SampleCount"], f"{where}StatisticValues.SampleCount")
        total = _finite(sv["Sum"], f"{where}StatisticValues.Sum")
        low = _finite(sv["Minimum"], f"{where}StatisticValues.Minimum")
        high = _finite(sv["Maximum"], f"{where}StatisticValues.Maximum")
        if count <= 0 or low > high:
            raise _invalid(f"The parameter {where}StatisticValues is invalid: SampleCount must be positive and "
                           "Minimum not greater than Maximum.")
        summary.add_set(count, total, low, high)
    else:
        values = [_finite(v, f"{where}Values") for v in d["Values"]]
        counts = [_finite(c, f"{where}Counts") for c in d.get("Counts") or [1.0] * len(values)]
        if not values or len(values) > MAX_VALUES:
            raise _invalid(f"The collection {where}Values must contain between 1 and {MAX_VALUES} elements.")
        if len(counts) != len(values):
            raise _invalid(f"The parameters {where}Values and {where}Counts must be of the same size.")
        for value, weight in zip(values, counts, strict=True):
            if weight < 0:
                raise _invalid(f"The parameter {where}Counts must not contain negative numbers.")
            if weight > 0:
                summary.add(value, weight)
        if summary.empty:
            raise _invalid(f"The parameter {where}Counts must contain a positive count.")
    return summary
