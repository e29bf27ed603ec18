"""Issue 12 (Performance): the invoke path only aggregates Lambda's metrics in memory and hands
them to the metrics service every second; a read settles them first. So right after a burst of
invokes — no polling — CloudWatch (through boto3) and GET /metrics count every invocation
exactly, with the errors and durations the REPORT lines show."""

from __future__ import annotations

import base64
import re
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from typing import Any

from harness import create_function

APP = {"app.py": "def handler(event, context):\n"
                 "    if event.get('fail'):\n"
                 "        raise ValueError('asked to')\n"
                 "    return {'ok': True}\n"}
INVOKES = 12  # every third fails


def test_metrics_count_every_invocation_at_once(server: Any, lam: Any) -> None:
    name = create_function(lam, APP)
    durations: list[float] = []
    for i in range(INVOKES):
        resp = lam.invoke(FunctionName=name, Payload=b'{"fail": true}' if i % 3 == 2 else b"{}", LogType="Tail")
        assert ("FunctionError" in resp) == (i % 3 == 2)
        tail = base64.b64decode(resp["LogResult"]).decode()
        found = re.search(r"REPORT RequestId: \S+\tDuration: ([0-9.]+) ms", tail)
        assert found is not None
        durations.append(float(found.group(1)))
    cw = server.client("cloudwatch")
    now = datetime.now(timezone.utc)

    def stat(metric: str, statistic: str) -> float:
        got = cw.get_metric_statistics(Namespace="AWS/Lambda", MetricName=metric,
                                       Dimensions=[{"Name": "FunctionName", "Value": name}],
                                       StartTime=now - timedelta(minutes=10), EndTime=now + timedelta(minutes=2),
                                       Period=720, Statistics=[statistic])
        return float(sum(p[statistic] for p in got["Datapoints"]))

    # read once, immediately: nothing is waiting for a flush
    assert stat("Invocations", "Sum") == INVOKES
    assert stat("Errors", "Sum") == INVOKES // 3
    assert stat("Duration", "SampleCount") == INVOKES
    # REPORT rounds to 0.01 ms; the metric keeps the exact float
    assert abs(stat("Duration", "Sum") - sum(durations)) <= 0.005 * INVOKES + 1e-6
    with urllib.request.urlopen(server.url + "/metrics", timeout=10) as res:
        body = res.read().decode()
    labels = f'account="000000000000",function="{name}",version="$LATEST"'  # the function's account (issue 10)
    assert f"lambent_invocations_total{{{labels}}} {INVOKES}" in body
    assert f"lambent_errors_total{{{labels}}} {INVOKES // 3}" in body
    assert f'lambent_duration_seconds_bucket{{{labels},le="+Inf"}} {INVOKES}' in body


def test_recording_off_records_nothing_and_loses_no_invocation(fresh_server: Any) -> None:
    # What benchmarks/observability_overhead.py's "off" server runs with: every recorder off. The
    # function still runs and logs; no AWS/Lambda metric (not even the concurrency samples), no EMF.
    srv = fresh_server(LAMBENT_METRICS_ENABLED="false", LAMBENT_METRICS_EMF_ENABLED="false",
                       LAMBENT_BILLING_ENABLED="false", LAMBENT_TRACING_ENABLED="false",
                       LAMBENT_METRICS_CONCURRENCY_SAMPLE_S="0.2")
    lam = srv.client()
    emf_app = {"app.py": "import json, time\n"
                         "def handler(event, context):\n"
                         "    print(json.dumps({'_aws': {'Timestamp': int(time.time() * 1000), 'CloudWatchMetrics': [{\n"
                         "        'Namespace': 'Off', 'Dimensions': [[]], 'Metrics': [{'Name': 'm'}]}]}, 'm': 1}))\n"
                         "    return {'ok': True}\n"}
    name = create_function(lam, emf_app)
    for _ in range(3):
        resp = lam.invoke(FunctionName=name, Payload=b"{}", LogType="Tail")
        assert resp["StatusCode"] == 200 and "FunctionError" not in resp
        assert "REPORT RequestId" in base64.b64decode(resp["LogResult"]).decode()
    time.sleep(1.0)  # several concurrency sampling periods
    cw = srv.client("cloudwatch")
    assert cw.list_metrics(Namespace="AWS/Lambda")["Metrics"] == []
    assert cw.list_metrics(Namespace="Off")["Metrics"] == []
