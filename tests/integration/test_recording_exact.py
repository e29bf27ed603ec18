"""Issue 12 (Performance): the invoke path only aggregates Lambda's metrics in memory and hands
them to the metrics service every second; a read settles them first. So right after a burst of
invokes — no polling — CloudWatch (through boto3) and GET /metrics count every invocation
exactly, with the errors and durations the REPORT lines show."""

from __future__ import annotations

import base64
import re
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
    labels = f'function="{name}",version="$LATEST"'
    assert f"lambent_invocations_total{{{labels}}} {INVOKES}" in body
    assert f"lambent_errors_total{{{labels}}} {INVOKES // 3}" in body
    assert f'lambent_duration_seconds_bucket{{{labels},le="+Inf"}} {INVOKES}' in body
