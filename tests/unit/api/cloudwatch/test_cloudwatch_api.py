"""CloudWatch's GetMetricStatistics / GetMetricData / ListMetrics / PutMetricData through the wire
(botocore query serialiser -> Dispatcher -> handler -> botocore parser) over a real metrics.db:
exact Lambda metric counts after a scripted mix of invocations, errors and throttles, percentiles,
alias dimensions, custom metrics, paging, and the refusals a hostile or careless client meets."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import pytest
from cw_world import DAY, T0, World
from cw_wire import error

FN = {"Name": "FunctionName", "Value": "orders"}


@dataclass(frozen=True)
class Cfg:
    name: str
    version: str
    account: str = "000000000000"

    @property
    def key(self) -> str:
        return f"{self.account}:function:{self.name}"


@dataclass(frozen=True)
class Outcome:
    function_error: str | None
    duration_ms: float


def at(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, timezone.utc)


def exact_percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(p / 100 * len(ordered) - 1e-9)) - 1]


def script(world: World) -> list[float]:
    """12 successes and 3 function errors of orders $LATEST, 4 throttles; the durations used."""
    durations = [float(10 * (i + 1)) for i in range(15)]
    for i, d in enumerate(durations):
        world.lambda_metrics.observe(Cfg("orders", "$LATEST"), Outcome("Unhandled" if i % 5 == 4 else None, d))
    for _ in range(4):
        world.lambda_metrics.throttled("orders")
    return durations


async def stats(world: World, metric: str, dims: list[dict[str, str]], **extra: Any) -> dict[str, Any]:
    params: dict[str, Any] = {"Namespace": "AWS/Lambda", "MetricName": metric, "Dimensions": dims,
                              "StartTime": at(T0), "EndTime": at(T0 + 60), "Period": 60,
                              "Statistics": ["Sum", "SampleCount", "Average", "Minimum", "Maximum"]}
    params.update(extra)
    return await world.cw("GetMetricStatistics", params)


async def test_lambda_metrics_exact_after_a_scripted_mix(world: World) -> None:
    durations = script(world)
    invocations = await stats(world, "Invocations", [FN])
    errors = await stats(world, "Errors", [FN])
    throttles = await stats(world, "Throttles", [FN])
    [inv] = invocations["Datapoints"]
    assert (inv["Sum"], inv["Unit"], inv["Timestamp"]) == (15.0, "Count", at(T0))
    assert (errors["Datapoints"][0]["Sum"], errors["Datapoints"][0]["Average"]) == (3.0, pytest.approx(0.2))
    assert throttles["Datapoints"][0]["Sum"] == 4.0
    across = await stats(world, "Invocations", [])  # Lambda's "across all functions" metric
    assert across["Datapoints"][0]["Sum"] == 15.0
    duration = await stats(world, "Duration", [FN], ExtendedStatistics=["p50", "p90", "p99"])
    [point] = duration["Datapoints"]
    assert (point["Minimum"], point["Maximum"], point["Unit"]) == (10.0, 150.0, "Milliseconds")
    assert point["Average"] == pytest.approx(sum(durations) / 15)
    for p in ("p50", "p90", "p99"):
        assert point["ExtendedStatistics"][p] == pytest.approx(exact_percentile(durations, float(p[1:])), rel=0.01)


async def test_alias_invocations_carry_resource_and_executed_version(world: World) -> None:
    world.lambda_metrics.observe(Cfg("orders", "3"), Outcome(None, 5.0), qualifier="live")
    world.lambda_metrics.observe(Cfg("orders", "3"), Outcome(None, 5.0), qualifier="3")
    resource_live = {"Name": "Resource", "Value": "orders:live"}
    by_alias = await stats(world, "Invocations", [FN, resource_live])
    by_executed = await stats(world, "Invocations", [FN, resource_live, {"Name": "ExecutedVersion", "Value": "3"}])
    by_version = await stats(world, "Invocations", [FN, {"Name": "Resource", "Value": "orders:3"}])
    by_function = await stats(world, "Invocations", [{"Name": "FunctionName", "Value": "orders"}])
    assert [r["Datapoints"][0]["Sum"] for r in (by_alias, by_executed, by_version, by_function)] == [1.0, 1.0, 1.0, 2.0]
    listed = await world.cw("ListMetrics", {"Namespace": "AWS/Lambda", "MetricName": "Invocations",
                                            "Dimensions": [{"Name": "ExecutedVersion"}]})
    assert [m["Dimensions"] for m in listed["Metrics"]] == [
        [{"Name": "ExecutedVersion", "Value": "3"}, FN, resource_live]]


async def test_put_metric_data_then_read_it_back_after_a_flush(world: World) -> None:
    dims = [{"Name": "Api", "Value": "checkout"}]
    put = await world.cw("PutMetricData", {"Namespace": "Shop", "MetricData": [
        {"MetricName": "Latency", "Dimensions": dims, "Value": 120.0, "Unit": "Milliseconds", "Timestamp": at(T0 + 5)},
        {"MetricName": "Latency", "Dimensions": dims, "Values": [10.0, 20.0], "Counts": [3.0, 1.0],
         "Unit": "Milliseconds", "Timestamp": at(T0 + 70)},
        {"MetricName": "Latency", "Dimensions": dims, "Unit": "Milliseconds", "Timestamp": at(T0 + 130),
         "StatisticValues": {"SampleCount": 2, "Sum": 9.0, "Minimum": 4.0, "Maximum": 5.0}},
    ]})
    assert put["ResponseMetadata"]["HTTPStatusCode"] == 200
    world.clock.now = T0 + 600
    assert await world.metrics.flush() == 3  # now only the archive holds them
    got = await world.cw("GetMetricStatistics", {
        "Namespace": "Shop", "MetricName": "Latency", "Dimensions": dims, "StartTime": at(T0), "EndTime": at(T0 + 180),
        "Period": 60, "Statistics": ["Sum", "SampleCount"], "Unit": "Milliseconds"})
    assert [(d["Timestamp"], d["Sum"], d["SampleCount"]) for d in got["Datapoints"]] == [
        (at(T0), 120.0, 1.0), (at(T0 + 60), 50.0, 4.0), (at(T0 + 120), 9.0, 2.0)]
    whole = await world.cw("GetMetricStatistics", {
        "Namespace": "Shop", "MetricName": "Latency", "Dimensions": dims, "StartTime": at(T0), "EndTime": at(T0 + 180),
        "Period": 180, "Statistics": ["Maximum", "Minimum"]})
    assert [(d["Maximum"], d["Minimum"]) for d in whole["Datapoints"]] == [(120.0, 4.0)]


async def test_get_metric_data_orders_and_pages(world: World) -> None:
    series = [{"Name": "Queue", "Value": "q1"}]
    for minute in range(5):
        for _ in range(minute + 1):
            world.metrics.record(_series("Jobs", "Depth", series), float(minute), ts=T0 + minute * 60)
    query = {"Id": "depth", "MetricStat": {"Metric": {"Namespace": "Jobs", "MetricName": "Depth", "Dimensions": series},
                                           "Period": 60, "Stat": "SampleCount"}}
    other = {"Id": "peak", "Label": "peak depth", "MetricStat": {
        "Metric": {"Namespace": "Jobs", "MetricName": "Depth", "Dimensions": series}, "Period": 300, "Stat": "Maximum"}}
    base = {"StartTime": at(T0), "EndTime": at(T0 + 300)}
    newest_first = await world.cw("GetMetricData", {**base, "MetricDataQueries": [query, other]})
    first, second = newest_first["MetricDataResults"]
    assert (first["Id"], first["Values"], first["StatusCode"]) == ("depth", [5.0, 4.0, 3.0, 2.0, 1.0], "Complete")
    assert first["Timestamps"] == [at(T0 + m * 60) for m in (4, 3, 2, 1, 0)]
    assert (second["Label"], second["Values"]) == ("peak depth", [4.0])
    ascending = await world.cw("GetMetricData", {**base, "MetricDataQueries": [query], "ScanBy": "TimestampAscending"})
    assert ascending["MetricDataResults"][0]["Values"] == [1.0, 2.0, 3.0, 4.0, 5.0]
    # pages of 4 datapoints across both queries, each datapoint once
    seen: list[float] = []
    token: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {**base, "MetricDataQueries": [query, other], "MaxDatapoints": 4}
        if token:
            params["NextToken"] = token
        page = await world.cw("GetMetricData", params)
        pages += 1
        seen += [v for r in page["MetricDataResults"] for v in r["Values"]]
        token = page.get("NextToken")
        if token is None:
            break
    assert (pages, seen) == (2, [5.0, 4.0, 3.0, 2.0, 1.0, 4.0])


def _series(namespace: str, name: str, dims: list[dict[str, str]]) -> Any:
    from lambent.observability.metrics import Series, dimensions

    return Series(namespace, name, dimensions({d["Name"]: d["Value"] for d in dims}))


async def test_list_metrics_filters_and_pages(world: World) -> None:
    data = [{"MetricName": "M", "Dimensions": [{"Name": "id", "Value": f"{i:02d}"}], "Value": 1.0} for i in range(30)]
    await world.cw("PutMetricData", {"Namespace": "Many", "MetricData": data})
    world.clock.now = T0 + 4 * 3600
    await world.cw("PutMetricData", {"Namespace": "Other", "MetricData": [{"MetricName": "Fresh", "Value": 1.0}]})
    everything = await world.cw("ListMetrics", {})
    assert len(everything["Metrics"]) == 31 and "NextToken" not in everything
    one = await world.cw("ListMetrics", {"Namespace": "Many", "Dimensions": [{"Name": "id", "Value": "07"}]})
    assert one["Metrics"] == [{"Namespace": "Many", "MetricName": "M", "Dimensions": [{"Name": "id", "Value": "07"}]}]
    recent = await world.cw("ListMetrics", {"RecentlyActive": "PT3H"})
    assert [m["MetricName"] for m in recent["Metrics"]] == ["Fresh"]


@pytest.mark.parametrize(("operation", "params", "code", "fragment"), [
    ("PutMetricData", {"Namespace": "AWS/Lambda", "MetricData": [{"MetricName": "Invocations", "Value": 1.0}]},
     "InvalidParameterValue", "Namespace"),
    ("PutMetricData", {"Namespace": "N", "MetricData": [{"MetricName": "M", "Value": 1.0, "Values": [1.0]}]},
     "InvalidParameterCombination", "mutually exclusive"),
    ("PutMetricData", {"Namespace": "N", "MetricData": [{"MetricName": "M", "Value": 1.0,
                                                          "Timestamp": at(T0 + 3 * 3600)}]},
     "InvalidParameterValue", "two hours in the future"),
    ("PutMetricData", {"Namespace": "N", "MetricData": [{"MetricName": "M", "Value": 1.0,
                                                          "Timestamp": at(T0 - 16 * DAY)}]},
     "InvalidParameterValue", "within the past"),
    ("PutMetricData", {"Namespace": "N", "MetricData": [{"MetricName": "M", "Values": [1.0, 2.0], "Counts": [1.0]}]},
     "InvalidParameterValue", "same size"),
    # json: the layer refuses the body ("NaN" is no JSON number); query: the domain refuses the value
    ("PutMetricData", {"Namespace": "N", "MetricData": [{"MetricName": "M", "Value": float("nan")}]},
     "InvalidParameterValue", "is invalid|is not a number"),
    ("PutMetricData", {"Namespace": "N", "MetricData": [{"MetricName": "M"}]}, "MissingParameter", "Value"),
    ("PutMetricData", {"Namespace": "N", "MetricData": [{"MetricName": "M", "Value": 1.0, "Dimensions": [
        {"Name": "a", "Value": "1"}, {"Name": "a", "Value": "2"}]}]}, "InvalidParameterValue", "duplicate"),
    ("PutMetricData", {"Namespace": "N", "EntityMetricData": [{"MetricData": [{"MetricName": "M", "Value": 1.0}]}]},
     "InvalidParameterValue", "EntityMetricData is not supported"),
    ("GetMetricStatistics", {"Namespace": "N", "MetricName": "M", "StartTime": at(T0), "EndTime": at(T0 + 60),
                             "Period": 90, "Statistics": ["Sum"]}, "InvalidParameterValue", "multiple of 60"),
    ("GetMetricStatistics", {"Namespace": "N", "MetricName": "M", "StartTime": at(T0 - 2 * DAY), "EndTime": at(T0),
                             "Period": 60, "Statistics": ["Sum"]}, "InvalidParameterCombination", "1,440"),
    ("GetMetricStatistics", {"Namespace": "N", "MetricName": "M", "StartTime": at(T0 + 60), "EndTime": at(T0),
                             "Period": 60, "Statistics": ["Sum"]}, "InvalidParameterValue", "StartTime"),
    ("GetMetricStatistics", {"Namespace": "N", "MetricName": "M", "StartTime": at(T0), "EndTime": at(T0 + 60),
                             "Period": 60}, "MissingParameter", "Statistics"),
    ("GetMetricStatistics", {"Namespace": "N", "MetricName": "M", "StartTime": at(T0), "EndTime": at(T0 + 60),
                             "Period": 60, "ExtendedStatistics": ["p101"]}, "InvalidParameterValue", "p101"),
    ("GetMetricData", {"StartTime": at(T0), "EndTime": at(T0 + 60),
                       "MetricDataQueries": [{"Id": "e1", "Expression": "SUM(METRICS())"}]},
     "InvalidParameterValue", "Metric math"),
    ("GetMetricData", {"StartTime": at(T0), "EndTime": at(T0 + 60), "MetricDataQueries": [
        {"Id": "Bad", "MetricStat": {"Metric": {"Namespace": "N", "MetricName": "M"}, "Period": 60, "Stat": "Sum"}}]},
     "InvalidParameterValue", "Id"),
    ("GetMetricData", {"StartTime": at(T0), "EndTime": at(T0 + 60), "NextToken": "forged", "MetricDataQueries": [
        {"Id": "a", "MetricStat": {"Metric": {"Namespace": "N", "MetricName": "M"}, "Period": 60, "Stat": "Sum"}}]},
     "InvalidNextToken", "token"),
    ("ListMetrics", {"RecentlyActive": "PT1H"}, "ValidationError", "recentlyActive"),  # the model's enum
    ("ListMetrics", {"IncludeLinkedAccounts": True}, "InvalidParameterValue", "IncludeLinkedAccounts"),
])
async def test_refusals(world: World, operation: str, params: dict[str, Any], code: str, fragment: str) -> None:
    status, got_code, message = error(await world.cw(operation, params))
    assert (status, got_code) == (400, code), message
    assert any(f in message for f in fragment.split("|")), message
    assert list(world.metrics.series()) == []  # nothing was recorded


async def test_a_client_cannot_grow_the_series_without_bound(world: World) -> None:
    # the world's cap is 50 series: a request that would pass it is refused whole
    data = [{"MetricName": "M", "Dimensions": [{"Name": "id", "Value": str(i)}], "Value": 1.0} for i in range(51)]
    status, code, _ = error(await world.cw("PutMetricData", {"Namespace": "Flood", "MetricData": data}))
    assert (status, code) == (400, "LimitExceeded")
    assert list(world.metrics.series()) == []
    ok = await world.cw("PutMetricData", {"Namespace": "Flood", "MetricData": data[:50]})
    assert ok["ResponseMetadata"]["HTTPStatusCode"] == 200
    again = await world.cw("PutMetricData", {"Namespace": "Flood", "MetricData": data[:50]})  # known series: fine
    assert again["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert len(list(world.metrics.series())) == 50


async def test_boto3_sends_json_signed_for_monitoring_and_the_layer_serves_it(world: World) -> None:
    from cw_wire import Boto3Client

    from lambent.api.protocols import protocols_of

    if not isinstance(world.cw, Boto3Client):
        assert world.protocol == "query"
        assert protocols_of("cloudwatch") == ("json", "query")  # json is the layer's default for cloudwatch
        return
    got = await world.cw("ListMetrics", {})
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 200
    [headers] = world.cw.sent
    assert headers["Content-Type"] == "application/x-amz-json-1.0"
    assert headers["X-Amz-Target"] == "GraniteServiceVersion20100801.ListMetrics"
    assert "/us-east-1/monitoring/aws4_request" in headers["Authorization"]


async def test_timestamps_spread_over_the_retention_cannot_fill_memory(world: World) -> None:
    world.metrics.max_live_minutes = 100
    data = [{"MetricName": "M", "Value": 1.0, "Timestamp": at(T0 - i * 60)} for i in range(101)]
    status, code, _ = error(await world.cw("PutMetricData", {"Namespace": "Spread", "MetricData": data}))
    assert (status, code) == (400, "Throttling")
    assert world.metrics.live_minutes == 0
    ok = await world.cw("PutMetricData", {"Namespace": "Spread", "MetricData": data[:100]})
    assert ok["ResponseMetadata"]["HTTPStatusCode"] == 200
    world.lambda_metrics.observe(Cfg("orders", "1"), Outcome(None, 1.0))  # Lambda's own are never refused
    world.lambda_metrics.settle()  # (aggregated on the invoke path, handed over each second)
    assert world.metrics.live_minutes > 100
    before = world.metrics.live_minutes
    assert await world.metrics.flush() == 99  # a flush makes room again: every ended minute goes
    assert world.metrics.live_minutes == before - 99 and world.metrics.has_room(90)
