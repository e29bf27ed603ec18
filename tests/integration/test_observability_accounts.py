"""AWS/Lambda metrics, custom metrics and X-Ray traces per account (issue 10), end to end through
boto3 against a real server.

Abuse case: a tenant names its function like another tenant's and reads CloudWatch and X-Ray,
hoping to see the other's invocation counts or traces (or to poison them with PutMetricData /
PutTraceSegments). Each account's reads answer with its own series and traces only, and what a
caller writes lands in its own account."""

from __future__ import annotations

import json
import os
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from harness import Server, create_function, invoke_json, unique, zip_of
from test_accounts_isolation import _tenant
from test_authorization import _client

pytestmark = pytest.mark.integration

APP = {"app.py": "def handler(event, context):\n    return {'ok': True}\n"}


def _invocations(cw: Any, name: str) -> float:
    now = datetime.now(timezone.utc)
    out = cw.get_metric_data(
        MetricDataQueries=[{"Id": "inv", "MetricStat": {"Metric": {
            "Namespace": "AWS/Lambda", "MetricName": "Invocations",
            "Dimensions": [{"Name": "FunctionName", "Value": name}]}, "Period": 60, "Stat": "Sum"}}],
        StartTime=now - timedelta(minutes=10), EndTime=now + timedelta(minutes=1))
    return float(sum(out["MetricDataResults"][0]["Values"]))


def _with_trace_header(client: Any, header: str) -> None:
    def add(request: Any, **_: Any) -> None:
        request.headers["X-Amzn-Trace-Id"] = header

    client.meta.events.register("before-sign.lambda.Invoke", add)


def _root() -> str:
    return f"1-{int(time.time()):08x}-{os.urandom(12).hex()}"


def _trace_ids(xray: Any, since: datetime) -> set[str]:
    out = xray.get_trace_summaries(StartTime=since, EndTime=datetime.now(timezone.utc) + timedelta(seconds=5))
    return {s["Id"] for s in out["TraceSummaries"]}


def _wait_segments(xray: Any, trace_id: str, want: int, timeout_s: float = 15) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout_s
    segments: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        traces = xray.batch_get_traces(TraceIds=[trace_id])["Traces"]
        segments = [json.loads(s["Document"]) for t in traces for s in t["Segments"]]
        if len(segments) >= want:
            return segments
        time.sleep(0.2)
    return segments


def test_each_account_reads_its_own_lambda_and_custom_metrics(server: Server) -> None:
    # Given account A (the server's) and a new account B, each with a function of one name
    a = server.client()
    name = create_function(a, APP)
    tenant, b, role_b = _tenant(server)
    b.create_function(FunctionName=name, Runtime="python3.11", Role=role_b, Handler="app.handler",
                      Code={"ZipFile": zip_of(APP)})
    b.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 100})
    cw_a = server.client("cloudwatch")
    cw_b = _client(server, tenant["AccessKeyId"], tenant["SecretAccessKey"], "cloudwatch")
    # When A invokes its function 2 times and B its own 5 times
    for _ in range(2):
        invoke_json(a, name)
    for _ in range(5):
        invoke_json(b, name)
    # Then each account's Invocations sum for FunctionName=name is its own
    assert _invocations(cw_a, name) == 2.0
    assert _invocations(cw_b, name) == 5.0
    # And B lists only its own function's series
    listed = cw_b.list_metrics(Namespace="AWS/Lambda", MetricName="Invocations")["Metrics"]
    values = {d["Value"] for m in listed for d in m["Dimensions"] if d["Name"] == "FunctionName"}
    assert values == {name}
    everything_a = {d["Value"] for m in cw_a.list_metrics(Namespace="AWS/Lambda")["Metrics"] for d in m["Dimensions"]
                    if d["Name"] == "FunctionName"}
    assert name in everything_a  # A's own function of that name
    # And PutMetricData writes into the caller's account only
    namespace = unique("Shop")
    cw_b.put_metric_data(Namespace=namespace, MetricData=[{"MetricName": "Orders", "Value": 7.0}])
    assert [m["MetricName"] for m in cw_b.list_metrics(Namespace=namespace)["Metrics"]] == ["Orders"]
    assert cw_a.list_metrics(Namespace=namespace)["Metrics"] == []
    now = datetime.now(timezone.utc)
    stats = {"Namespace": namespace, "MetricName": "Orders", "StartTime": now - timedelta(minutes=5),
             "EndTime": now + timedelta(minutes=1), "Period": 60, "Statistics": ["Sum"]}
    assert sum(p["Sum"] for p in cw_b.get_metric_statistics(**stats)["Datapoints"]) == 7.0
    assert cw_a.get_metric_statistics(**stats)["Datapoints"] == []


def test_traces_of_one_account_are_not_anothers(server: Server) -> None:
    # Given an Active function of one name in account A (the server's) and in a new account B
    a = server.client()
    name = create_function(a, APP, TracingConfig={"Mode": "Active"})
    tenant, b, role_b = _tenant(server)
    b.create_function(FunctionName=name, Runtime="python3.11", Role=role_b, Handler="app.handler",
                      Code={"ZipFile": zip_of(APP)}, TracingConfig={"Mode": "Active"})
    b.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 100})
    xray_a = server.client("xray")
    xray_b = _client(server, tenant["AccessKeyId"], tenant["SecretAccessKey"], "xray")
    started = datetime.now(timezone.utc) - timedelta(seconds=5)
    # When each invokes its own in a trace it chose
    root_a, root_b = _root(), _root()
    _with_trace_header(a, f"Root={root_a};Sampled=1")
    _with_trace_header(b, f"Root={root_b};Sampled=1")
    invoke_json(a, name)
    invoke_json(b, name)
    # Then each account's trace holds Lambda's two segments, marked with its own account
    seg_a = _wait_segments(xray_a, root_a, 2)
    seg_b = _wait_segments(xray_b, root_b, 2)
    assert {s["aws"]["account_id"] for s in seg_a} == {"000000000000"}
    assert {s["aws"]["account_id"] for s in seg_b} == {tenant["AccountId"]}
    assert any(s.get("resource_arn", "").startswith(f"arn:aws:lambda:us-east-1:{tenant['AccountId']}:") for s in seg_b)
    # And neither sees the other's trace in GetTraceSummaries nor BatchGetTraces
    ids_a, ids_b = _trace_ids(xray_a, started), _trace_ids(xray_b, started)
    assert root_a in ids_a and root_b not in ids_a
    assert root_b in ids_b and root_a not in ids_b
    other = xray_a.batch_get_traces(TraceIds=[root_b])
    assert other["Traces"] == [] and other["UnprocessedTraceIds"] == [root_b]
    # And PutTraceSegments lands in the caller's account
    root_c = _root()
    now = time.time()
    doc = {"id": os.urandom(8).hex(), "trace_id": root_c, "name": "client", "start_time": now - 1, "end_time": now}
    assert xray_b.put_trace_segments(TraceSegmentDocuments=[json.dumps(doc)])["UnprocessedTraceSegments"] == []
    assert len(_wait_segments(xray_b, root_c, 1)) == 1
    assert xray_a.batch_get_traces(TraceIds=[root_c])["Traces"] == []
