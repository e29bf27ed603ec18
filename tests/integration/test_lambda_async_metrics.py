"""Lambda's async and throttle metrics (namespace AWS/Lambda) after a scripted mix, read back
through boto3's ``cloudwatch`` client with exact counts. moto's server stands in for SQS (started
on a loopback port); a queue that does not exist there makes the DLQ and the on-failure
destination fail without retries.

The mix: 3 events to an alias of a function that succeeds; 2 events to a function that always
fails with no retries and a DLQ and on-failure destination that cannot be reached; 2 synchronous
requests to a function with reserved concurrency 0.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from botocore.exceptions import ClientError

from harness import create_function, free_port

ACCOUNT = "123456789012"
OK_APP = {"app.py": "def handler(e, c):\n    return {'ok': True}\n"}
FAIL_APP = {"app.py": "def handler(e, c):\n    raise ValueError('always fails')\n"}


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def _sum(cw: Any, metric: str, dims: dict[str, str], statistic: str = "Sum") -> float:
    now = datetime.now(timezone.utc)
    out = cw.get_metric_statistics(
        Namespace="AWS/Lambda", MetricName=metric, Dimensions=[{"Name": k, "Value": v} for k, v in dims.items()],
        StartTime=now - timedelta(minutes=10), EndTime=now + timedelta(minutes=1), Period=60, Statistics=[statistic],
    )
    return float(sum(p[statistic] for p in out["Datapoints"]))


def _wait_for(cw: Any, metric: str, dims: dict[str, str], want: float, timeout_s: float = 30) -> float:
    deadline = time.monotonic() + timeout_s
    got = _sum(cw, metric, dims)
    while got < want and time.monotonic() < deadline:
        time.sleep(0.2)
        got = _sum(cw, metric, dims)
    return got


def test_async_and_throttle_metrics_count_exactly(fresh_server: Any, moto_url: str) -> None:
    srv = fresh_server(
        LAMBENT_ASYNC_TIME_SCALE="0.002", LAMBENT_ASYNC_DELIVERY_ATTEMPTS="2",
        LAMBENT_AWS_SQS_ENDPOINT_URL=moto_url, LAMBENT_AWS_ACCESS_KEY_ID="testing",
        LAMBENT_AWS_SECRET_ACCESS_KEY="testing",
    )
    lam, cw = srv.client(), srv.client("cloudwatch")
    ok = create_function(lam, OK_APP)
    version = lam.publish_version(FunctionName=ok)["Version"]
    lam.create_alias(FunctionName=ok, Name="live", FunctionVersion=version)
    missing = f"arn:aws:sqs:us-east-1:{ACCOUNT}:no-such-queue-{uuid.uuid4().hex[:8]}"  # moto's state is per process
    bad = create_function(lam, FAIL_APP, DeadLetterConfig={"TargetArn": missing})
    lam.put_function_event_invoke_config(FunctionName=bad, MaximumRetryAttempts=0,
                                         DestinationConfig={"OnFailure": {"Destination": missing}})
    held = create_function(lam, OK_APP)
    lam.put_function_concurrency(FunctionName=held, ReservedConcurrentExecutions=0)

    for _ in range(3):
        assert lam.invoke(FunctionName=ok, Qualifier="live", InvocationType="Event", Payload=b"{}")["StatusCode"] == 202
    for _ in range(2):
        assert lam.invoke(FunctionName=bad, InvocationType="Event", Payload=b"{}")["StatusCode"] == 202
    for _ in range(2):
        with pytest.raises(ClientError) as exc:
            lam.invoke(FunctionName=held, Payload=b"{}")
        assert exc.value.response["Error"]["Code"] == "TooManyRequestsException"

    live = {"FunctionName": ok, "Resource": f"{ok}:live"}
    # the failing function's events are done once both are dropped (after their DLQ and destination)
    assert _wait_for(cw, "AsyncEventsDropped", {"FunctionName": bad}, 2) == 2
    assert _wait_for(cw, "Invocations", {**live, "ExecutedVersion": version}, 3) == 3

    assert _sum(cw, "AsyncEventsReceived", live) == 3
    assert _sum(cw, "AsyncEventsReceived", {"FunctionName": ok}) == 3
    assert _sum(cw, "AsyncEventAge", live, "SampleCount") == 3
    assert _sum(cw, "AsyncEventsDropped", {"FunctionName": ok}) == 0
    assert _sum(cw, "AsyncEventsReceived", {"FunctionName": bad}) == 2
    assert _sum(cw, "AsyncEventAge", {"FunctionName": bad}, "SampleCount") == 2  # no retries: one attempt each
    assert _sum(cw, "DeadLetterErrors", {"FunctionName": bad}) == 2
    assert _sum(cw, "DestinationDeliveryFailures", {"FunctionName": bad}) == 2
    assert _sum(cw, "Errors", {"FunctionName": bad}) == 2
    assert _sum(cw, "Throttles", {"FunctionName": held}) == 2
    assert _sum(cw, "Invocations", {"FunctionName": held}) == 0
    # account-wide (no dimensions): everything above together
    assert _sum(cw, "AsyncEventsReceived", {}) == 5
    assert _sum(cw, "AsyncEventsDropped", {}) == 2
    assert _sum(cw, "Throttles", {}) == 2
    # the async metrics carry no ExecutedVersion (an event is counted, not a run), as on Lambda
    listed = cw.list_metrics(Namespace="AWS/Lambda", MetricName="AsyncEventsReceived")["Metrics"]
    assert all(d["Name"] != "ExecutedVersion" for m in listed for d in m["Dimensions"])
    assert {tuple(sorted(d["Name"] for d in m["Dimensions"])) for m in listed} == {
        (), ("FunctionName",), ("FunctionName", "Resource")}
