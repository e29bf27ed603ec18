"""A function that prints EMF documents (the line Powertools' Metrics prints) gets custom metrics
in CloudWatch, queryable with GetMetricData and ListMetrics through boto3; a malformed document
stays a plain log line and makes no metric."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Any

from harness import create_function

APP = {"app.py": '''
import json, time

def handler(event, context):
    # what aws_lambda_powertools.metrics.Metrics prints when the handler returns
    print(json.dumps({"_aws": {"Timestamp": int(time.time() * 1000), "CloudWatchMetrics": [{
        "Namespace": "ServerlessAirline", "Dimensions": [["service"]],
        "Metrics": [{"Name": "SuccessfulBooking", "Unit": "Count"}]}]},
        "service": "booking", "SuccessfulBooking": [1.0] * event["n"]}, separators=(",", ":")))
    print(json.dumps({"_aws": {"Timestamp": int(time.time() * 1000), "CloudWatchMetrics": [{
        "Namespace": "ServerlessAirline", "Dimensions": [["service"]],
        "Metrics": [{"Name": "Broken", "Unit": "Count"}]}]}, "service": "booking", "Broken": "one"}))
    return {"ok": True}
'''}


def test_emf_lines_become_custom_metrics(server: Any, lam: Any) -> None:
    name = create_function(lam, APP)
    for n in (2, 3):
        resp = lam.invoke(FunctionName=name, Payload=f'{{"n": {n}}}'.encode())
        assert resp["StatusCode"] == 200 and "FunctionError" not in resp
    cw = server.client("cloudwatch")
    now = datetime.now(timezone.utc)
    query = [{"Id": "booked", "MetricStat": {"Metric": {
        "Namespace": "ServerlessAirline", "MetricName": "SuccessfulBooking",
        "Dimensions": [{"Name": "service", "Value": "booking"}]}, "Period": 60, "Stat": "SampleCount"}}]
    deadline = time.monotonic() + 60
    total = 0.0
    while time.monotonic() < deadline:
        out = cw.get_metric_data(MetricDataQueries=query, StartTime=now - timedelta(minutes=5),
                                 EndTime=now + timedelta(minutes=5))
        total = sum(out["MetricDataResults"][0]["Values"])
        if total >= 5:
            break
        time.sleep(0.2)
    assert total == 5  # every value of both documents' arrays
    listed = cw.list_metrics(Namespace="ServerlessAirline")["Metrics"]
    assert {(m["MetricName"], tuple((d["Name"], d["Value"]) for d in m["Dimensions"])) for m in listed} >= {
        ("SuccessfulBooking", (("service", "booking"),))}
    assert all(m["MetricName"] != "Broken" for m in listed)  # a value that is not a number: no metric
    # both lines are in the function's logs, as plain events
    logs = server.client("logs")
    events = logs.filter_log_events(logGroupName=f"/aws/lambda/{name}", filterPattern='"_aws"')["events"]
    assert len(events) == 4 and sum('"Broken"' in e["message"] for e in events) == 2
