"""Metrics per account (issue 10): AWS/Lambda metrics are recorded in the account owning the
function (its key), with the bare name as FunctionName; EMF metrics in the log group's account;
the CloudWatch domain answers and writes in the caller's account only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import pytest

from lambent.observability.emf import EmfRecorder
from lambent.observability.metrics import LambdaMetrics, MetricsService
from lambent.observability.metrics.cloudwatch import CloudWatch, MetricsRequestError
from lambent.observability.metrics.lambda_metrics import split_key
from lambent.observability.metrics.series import Series, dimensions

HOME = "000000000000"
A = "111111111111"
B = "222222222222"
T0 = 1_800_000_000.0


@dataclass(frozen=True)
class Cfg:
    name: str
    version: str
    account: str

    @property
    def key(self) -> str:
        return f"{self.account}:function:{self.name}"


@dataclass(frozen=True)
class Outcome:
    function_error: str | None
    duration_ms: float


def world() -> tuple[MetricsService, LambdaMetrics, CloudWatch]:
    svc = MetricsService(None, retention_s=86400.0, max_series=1000, flush_interval_s=10.0, clock=lambda: T0 + 30,
                         account=HOME)
    return svc, LambdaMetrics(svc), CloudWatch(svc)


def at(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, timezone.utc)


async def total(cw: CloudWatch, account: str, metric: str, dims: list[dict[str, str]],
                namespace: str = "AWS/Lambda") -> float | None:
    out = await cw.get_metric_statistics({"Namespace": namespace, "MetricName": metric, "Dimensions": dims,
                                          "StartTime": at(T0), "EndTime": at(T0 + 60), "Period": 60,
                                          "Statistics": ["Sum"]}, account)
    points: list[dict[str, Any]] = out["Datapoints"]
    return points[0]["Sum"] if points else None


FN = [{"Name": "FunctionName", "Value": "f"}]


def test_split_key() -> None:
    assert split_key(f"{A}:function:f", HOME) == (A, "f")
    assert split_key("f", HOME) == (HOME, "f")
    assert split_key("12:function:f", HOME) == (HOME, "12:function:f")


async def test_two_accounts_functions_of_one_name_have_their_own_series() -> None:
    _, lm, cw = world()
    for _ in range(2):
        lm.observe(Cfg("f", "$LATEST", A), Outcome(None, 5.0))
    for _ in range(5):
        lm.observe(Cfg("f", "$LATEST", B), Outcome("Unhandled", 5.0))
    lm.throttled(f"{B}:function:f")
    assert await total(cw, A, "Invocations", FN) == 2.0
    assert await total(cw, B, "Invocations", FN) == 5.0
    assert await total(cw, A, "Invocations", []) == 2.0  # "across all functions" is the account's own
    assert await total(cw, A, "Errors", FN) == 0.0
    assert await total(cw, B, "Errors", FN) == 5.0
    assert await total(cw, A, "Throttles", FN) is None
    assert await total(cw, B, "Throttles", FN) == 1.0
    assert await total(cw, HOME, "Invocations", FN) is None
    listed = await cw.list_metrics({"Namespace": "AWS/Lambda", "MetricName": "Invocations"}, A)
    assert {tuple((d["Name"], d["Value"]) for d in m["Dimensions"]) for m in listed["Metrics"]} == {
        (), (("FunctionName", "f"),)}
    data = await cw.get_metric_data({"StartTime": at(T0), "EndTime": at(T0 + 60), "MetricDataQueries": [
        {"Id": "inv", "MetricStat": {"Metric": {"Namespace": "AWS/Lambda", "MetricName": "Invocations",
                                                "Dimensions": FN}, "Period": 60, "Stat": "Sum"}}]}, B)
    assert data["MetricDataResults"][0]["Values"] == [5.0]


async def test_async_metrics_recorded_by_key_are_read_under_function_name() -> None:
    """The known bug: the async queue reports its function key; the series must carry the bare
    name (FunctionName=f) in the key's account."""
    _, lm, cw = world()
    key = f"{A}:function:f"
    lm.async_received(key)
    lm.async_received(key, "live")
    lm.async_attempt(key, None, 12.0)
    lm.async_dropped(key)
    lm.dead_letter_error(key)
    lm.destination_failure(key)
    assert await total(cw, A, "AsyncEventsReceived", FN) == 2.0
    assert await total(cw, A, "AsyncEventsDropped", FN) == 1.0
    assert await total(cw, A, "AsyncEventsDropped", []) == 1.0
    assert await total(cw, A, "DeadLetterErrors", FN) == 1.0
    assert await total(cw, A, "DestinationDeliveryFailures", FN) == 1.0
    assert await total(cw, A, "AsyncEventAge", FN) == 12.0
    resource = [*FN, {"Name": "Resource", "Value": "f:live"}]
    assert await total(cw, A, "AsyncEventsReceived", resource) == 1.0
    assert await total(cw, B, "AsyncEventsReceived", FN) is None
    assert lm.totals_of(key, "$LATEST").async_dropped == 1


async def test_concurrency_samples_per_account() -> None:
    _, lm, cw = world()
    lm.sample_concurrency({f"{A}:function:f": 2, f"{B}:function:f": 3, f"{B}:function:g": 1}, 9, 0,
                          unreserved_in={A: 2, B: 1, HOME: 0}.__getitem__, reserved_in={A: 0, B: 10, HOME: 0}.__getitem__)
    async def maximum(account: str, metric: str, dims: list[dict[str, str]]) -> float | None:
        out = await cw.get_metric_statistics({"Namespace": "AWS/Lambda", "MetricName": metric, "Dimensions": dims,
                                              "StartTime": at(T0), "EndTime": at(T0 + 60), "Period": 60,
                                              "Statistics": ["Maximum"]}, account)
        return out["Datapoints"][0]["Maximum"] if out["Datapoints"] else None

    assert await maximum(A, "ConcurrentExecutions", FN) == 2.0
    assert await maximum(B, "ConcurrentExecutions", FN) == 3.0
    assert await maximum(B, "ConcurrentExecutions", []) == 4.0
    assert await maximum(HOME, "ConcurrentExecutions", []) == 0.0
    assert await maximum(B, "UnreservedConcurrentExecutions", []) == 1.0
    assert await maximum(B, "ClaimedAccountConcurrency", []) == 11.0
    assert await maximum(A, "ClaimedAccountConcurrency", []) == 2.0


async def test_concurrency_without_per_account_figures_keeps_the_host_ones_for_the_server() -> None:
    _, lm, cw = world()
    lm.sample_concurrency({"f": 1, f"{A}:function:f": 2}, 3, 4)  # bare names are the server account's
    stats = {"StartTime": at(T0), "EndTime": at(T0 + 60), "Period": 60, "Statistics": ["Maximum"],
             "Namespace": "AWS/Lambda"}
    home = await cw.get_metric_statistics({**stats, "MetricName": "ClaimedAccountConcurrency"}, HOME)
    assert home["Datapoints"][0]["Maximum"] == 7.0
    other = await cw.get_metric_statistics({**stats, "MetricName": "ClaimedAccountConcurrency"}, A)
    assert other["Datapoints"] == []
    mine = await cw.get_metric_statistics({**stats, "MetricName": "ConcurrentExecutions", "Dimensions": FN}, A)
    assert mine["Datapoints"][0]["Maximum"] == 2.0


async def test_put_metric_data_writes_into_the_callers_account() -> None:
    _, _, cw = world()
    datum = {"Namespace": "Shop", "MetricData": [{"MetricName": "Orders", "Value": 3.0, "Timestamp": at(T0 + 10)}]}
    await cw.put_metric_data(datum, A)
    assert await total(cw, A, "Orders", [], "Shop") == 3.0
    assert await total(cw, B, "Orders", [], "Shop") is None
    assert (await cw.list_metrics({"Namespace": "Shop"}, B))["Metrics"] == []
    assert len((await cw.list_metrics({"Namespace": "Shop"}, A))["Metrics"]) == 1


async def test_get_metric_data_refuses_another_account_id_and_takes_its_own() -> None:
    _, lm, cw = world()
    lm.observe(Cfg("f", "$LATEST", A), Outcome(None, 5.0))
    query = {"Id": "q", "MetricStat": {"Metric": {"Namespace": "AWS/Lambda", "MetricName": "Invocations",
                                                  "Dimensions": FN}, "Period": 60, "Stat": "Sum"}}
    own = await cw.get_metric_data({"StartTime": at(T0), "EndTime": at(T0 + 60),
                                    "MetricDataQueries": [{**query, "AccountId": A}]}, A)
    assert own["MetricDataResults"][0]["Values"] == [1.0]
    with pytest.raises(MetricsRequestError, match="cross-account"):
        await cw.get_metric_data({"StartTime": at(T0), "EndTime": at(T0 + 60),
                                  "MetricDataQueries": [{**query, "AccountId": A}]}, B)


async def test_emf_metrics_go_to_the_log_groups_account() -> None:
    svc, _, cw = world()
    emf = EmfRecorder(svc)
    doc = ('{"_aws":{"Timestamp":%d,"CloudWatchMetrics":[{"Namespace":"Shop","Dimensions":[[]],'
           '"Metrics":[{"Name":"Orders"}]}]},"Orders":4}' % int((T0 + 10) * 1000))
    emf.line(f"{B}:/aws/lambda/f", doc, int((T0 + 10) * 1000))
    emf.line("/aws/lambda/legacy", doc, int((T0 + 10) * 1000))  # no account: the server's
    assert emf.recorded == 2
    assert await total(cw, B, "Orders", [], "Shop") == 4.0
    assert await total(cw, HOME, "Orders", [], "Shop") == 4.0
    assert await total(cw, A, "Orders", [], "Shop") is None
    assert svc.known(Series("Shop", "Orders", dimensions({}), B))


async def test_one_account_cannot_fill_the_series_cap_for_the_others() -> None:
    # Given a host cap of 10 series, at most 4 of one account
    svc = MetricsService(None, retention_s=86400.0, max_series=10, flush_interval_s=10.0, clock=lambda: T0 + 30,
                         account=HOME, max_series_per_account=4)
    cw = CloudWatch(svc)

    def put(n: int, first: int = 0) -> dict[str, Any]:
        return {"Namespace": "Spam", "MetricData": [
            {"MetricName": "M", "Dimensions": [{"Name": "id", "Value": str(first + i)}], "Value": 1.0,
             "Timestamp": at(T0 + 10)} for i in range(n)]}

    # When account A puts 4 series, then tries a fifth (and a request of several past its share)
    await cw.put_metric_data(put(4), A)
    for extra in (put(1, 4), put(3, 10)):
        with pytest.raises(MetricsRequestError) as refused:
            await cw.put_metric_data(extra, A)
        assert refused.value.code == "LimitExceeded" and "4 of one account" in refused.value.message
    # Then its known series still record, A's direct records past its share are refused, and
    # account B (and the server's functions) still have room
    await cw.put_metric_data(put(1), A)
    assert not svc.record(Series("Spam", "M", dimensions({"id": "direct"}), A), 1.0)
    await cw.put_metric_data(put(4), B)
    assert svc.record(Series("AWS/Lambda", "Invocations", (), HOME), 1.0)
    assert len(list(svc.series(account=A))) == 4 and len(list(svc.series(account=B))) == 4
