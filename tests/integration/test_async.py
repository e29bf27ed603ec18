"""Asynchronous invocation through boto3 against the real server, with moto's server standing in
for SQS, SNS and EventBridge (started on a loopback port by these tests)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from harness import ACCESS_KEY, SECRET_KEY, create_function, free_port, invoke_json
from lambent.api.models import client as model_client

TIME_SCALE = "0.002"  # 1 min -> 0.12 s, 2 min -> 0.24 s, 60 s of event age -> 0.12 s
ACCOUNT = "123456789012"


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def aws(moto_url: str, service: str) -> Any:
    return boto3.client(service, endpoint_url=moto_url, region_name="us-east-1", aws_access_key_id="testing",
                        aws_secret_access_key="testing", config=Config(retries={"max_attempts": 2}))


@pytest.fixture
def async_server(fresh_server: Any, moto_url: str) -> Any:
    return fresh_server(
        LAMBENT_ASYNC_TIME_SCALE=TIME_SCALE,
        LAMBENT_AWS_SQS_ENDPOINT_URL=moto_url, LAMBENT_AWS_SNS_ENDPOINT_URL=moto_url,
        LAMBENT_AWS_EVENTS_ENDPOINT_URL=moto_url, LAMBENT_AWS_ACCESS_KEY_ID="testing",
        LAMBENT_AWS_SECRET_ACCESS_KEY="testing",
    )


def queue(moto_url: str, name: str) -> tuple[str, str]:
    sqs = aws(moto_url, "sqs")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def drain(moto_url: str, url: str, want: int, timeout_s: float = 30) -> list[dict[str, Any]]:
    sqs = aws(moto_url, "sqs")
    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout_s
    while len(got) < want and time.monotonic() < deadline:
        out = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1, MessageAttributeNames=["All"])
        for m in out.get("Messages", []):
            got.append(m)
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return got


def log_lines(srv: Any, name: str) -> list[str]:
    from lambent.observability.logs import LogStore, account_group

    return [e.message for e in LogStore(srv.data_dir / "logs").events(account_group("000000000000", f"/aws/lambda/{name}"))]


OK_APP = {"app.py": "def handler(e, c):\n    print('ran', c.aws_request_id)\n    return {'ok': e.get('n')}\n"}
FAIL_APP = {"app.py": "def handler(e, c):\n    print('ran', c.aws_request_id)\n    raise ValueError('always fails')\n"}


def test_event_invoke_returns_202_and_success_destination_gets_the_record(async_server: Any, moto_url: str) -> None:
    lam = async_server.client()
    name = create_function(lam, OK_APP)
    url, arn = queue(moto_url, "on-success")
    lam.put_function_event_invoke_config(FunctionName=name, DestinationConfig={"OnSuccess": {"Destination": arn}})
    resp = lam.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps({"n": 7}))
    assert resp["StatusCode"] == 202
    request_id = resp["ResponseMetadata"]["RequestId"]
    (msg,) = drain(moto_url, url, 1)
    record = json.loads(msg["Body"])
    assert record["version"] == "1.0" and record["timestamp"].endswith("Z")
    assert record["requestContext"] == {
        "requestId": request_id, "functionArn": f"arn:aws:lambda:us-east-1:000000000000:function:{name}:$LATEST",
        "condition": "Success", "approximateInvokeCount": 1,
    }
    assert record["requestPayload"] == {"n": 7}
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST"}
    assert record["responsePayload"] == {"ok": 7}


def test_function_errors_are_retried_then_go_to_failure_destination_and_dlq(async_server: Any, moto_url: str) -> None:
    lam = async_server.client()
    dlq_url, dlq_arn = queue(moto_url, "dlq")
    fail_url, fail_arn = queue(moto_url, "on-failure")
    name = create_function(lam, FAIL_APP, DeadLetterConfig={"TargetArn": dlq_arn})
    lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=2,
                                         DestinationConfig={"OnFailure": {"Destination": fail_arn}})
    resp = lam.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"order": 1}')
    request_id = resp["ResponseMetadata"]["RequestId"]
    (failure,) = drain(moto_url, fail_url, 1)
    record = json.loads(failure["Body"])
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["requestContext"]["requestId"] == request_id
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"}
    assert record["responsePayload"]["errorType"] == "ValueError"
    (dead,) = drain(moto_url, dlq_url, 1)
    assert json.loads(dead["Body"]) == {"order": 1}
    attrs = {k: v["StringValue"] for k, v in dead["MessageAttributes"].items()}
    assert attrs == {"RequestID": request_id, "ErrorCode": "200", "ErrorMessage": "always fails"}
    # three attempts, all with the same request id
    assert [line for line in log_lines(async_server, name) if line.startswith("ran ")] == [f"ran {request_id}"] * 3


def test_zero_retries_means_one_attempt(async_server: Any, moto_url: str) -> None:
    lam = async_server.client()
    fail_url, fail_arn = queue(moto_url, "zero-retries")
    name = create_function(lam, FAIL_APP)
    lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0,
                                         DestinationConfig={"OnFailure": {"Destination": fail_arn}})
    lam.invoke(FunctionName=name, InvocationType="Event", Payload=b"{}")
    (failure,) = drain(moto_url, fail_url, 1)
    assert json.loads(failure["Body"])["requestContext"]["approximateInvokeCount"] == 1


def test_throttled_events_wait_then_expire_with_event_age(async_server: Any, moto_url: str) -> None:
    lam = async_server.client()
    fail_url, fail_arn = queue(moto_url, "expired")
    name = create_function(lam, OK_APP)
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    lam.put_function_event_invoke_config(FunctionName=name, MaximumEventAgeInSeconds=60,
                                         DestinationConfig={"OnFailure": {"Destination": fail_arn}})
    lam.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"n": 1}')
    (failure,) = drain(moto_url, fail_url, 1)
    record = json.loads(failure["Body"])
    assert record["requestContext"]["condition"] == "EventAgeExceeded"
    assert "responseContext" not in record


def test_throttled_events_are_delivered_once_capacity_returns(async_server: Any, moto_url: str) -> None:
    lam = async_server.client()
    url, arn = queue(moto_url, "eventually")
    name = create_function(lam, OK_APP)
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    lam.put_function_event_invoke_config(FunctionName=name, DestinationConfig={"OnSuccess": {"Destination": arn}})
    ids = {lam.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps({"n": i}))["ResponseMetadata"]["RequestId"] for i in range(5)}
    time.sleep(1.0)
    assert drain(moto_url, url, 1, timeout_s=1) == []
    lam.delete_function_concurrency(FunctionName=name)
    got = drain(moto_url, url, 5)
    assert {json.loads(m["Body"])["requestContext"]["requestId"] for m in got} == ids


def test_sns_eventbridge_and_lambda_destinations(async_server: Any, moto_url: str) -> None:
    lam = async_server.client()
    sns, events = aws(moto_url, "sns"), aws(moto_url, "events")
    sns_q_url, sns_q_arn = queue(moto_url, "via-sns")
    topic = sns.create_topic(Name="results")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=sns_q_arn, Attributes={"RawMessageDelivery": "true"})
    bus_q_url, bus_q_arn = queue(moto_url, "via-bus")
    bus = events.create_event_bus(Name="results-bus")["EventBusArn"]
    events.put_rule(Name="all", EventBusName="results-bus", EventPattern=json.dumps({"source": ["lambda"]}))
    events.put_targets(Rule="all", EventBusName="results-bus", Targets=[{"Id": "q", "Arn": bus_q_arn}])
    sink = create_function(lam, {"app.py": "def handler(e, c):\n    print('SINK', e['requestContext']['condition'], e['requestContext']['requestId'])\n"})
    ok = create_function(lam, OK_APP)
    bad = create_function(lam, FAIL_APP)
    lam.put_function_event_invoke_config(FunctionName=ok, DestinationConfig={"OnSuccess": {"Destination": topic}, "OnFailure": {"Destination": bus}})
    lam.put_function_event_invoke_config(FunctionName=bad, MaximumRetryAttempts=0, DestinationConfig={
        "OnFailure": {"Destination": f"arn:aws:lambda:us-east-1:000000000000:function:{sink}"}})
    ok_id = lam.invoke(FunctionName=ok, InvocationType="Event", Payload=b'{"n": 2}')["ResponseMetadata"]["RequestId"]
    bad_id = lam.invoke(FunctionName=bad, InvocationType="Event", Payload=b"{}")["ResponseMetadata"]["RequestId"]
    (via_sns,) = drain(moto_url, sns_q_url, 1)
    assert json.loads(via_sns["Body"])["requestContext"]["requestId"] == ok_id
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not any(line.startswith("SINK") for line in log_lines(async_server, sink)):
        time.sleep(0.2)
    assert f"SINK RetriesExhausted {bad_id}" in log_lines(async_server, sink)
    # and a failure routed to the bus arrives as an EventBridge event
    lam.put_function_event_invoke_config(FunctionName=bad, MaximumRetryAttempts=0, DestinationConfig={"OnFailure": {"Destination": bus}})
    bad2 = lam.invoke(FunctionName=bad, InvocationType="Event", Payload=b"{}")["ResponseMetadata"]["RequestId"]
    (via_bus,) = drain(moto_url, bus_q_url, 1)
    envelope = json.loads(via_bus["Body"])
    assert envelope["source"] == "lambda" and envelope["detail-type"] == "Lambda Function Invocation Result - Failure"
    assert envelope["detail"]["requestContext"]["requestId"] == bad2


def test_accepted_events_survive_kill_9(async_server: Any, moto_url: str) -> None:
    lam = async_server.client()
    url, arn = queue(moto_url, "durable")
    name = create_function(lam, {"app.py": "import time\ndef handler(e, c):\n    time.sleep(0.2)\n    return e\n"})
    lam.put_function_event_invoke_config(FunctionName=name, DestinationConfig={"OnSuccess": {"Destination": arn}})
    ids = [lam.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps({"i": i}))["ResponseMetadata"]["RequestId"]
           for i in range(20)]
    assert async_server.proc is not None
    async_server.proc.send_signal(signal.SIGKILL)
    async_server.proc.wait()
    async_server.start()
    # at least once: an event that was running when the server died runs again, so duplicates
    # are allowed; a missing one is not
    delivered: set[str] = set()
    deadline = time.monotonic() + 60
    while not set(ids) <= delivered and time.monotonic() < deadline:
        delivered |= {json.loads(m["Body"])["requestContext"]["requestId"] for m in drain(moto_url, url, 20, timeout_s=2)}
    assert set(ids) == delivered


def test_event_invoke_config_api(async_server: Any) -> None:
    lam = async_server.client()
    name = create_function(lam, OK_APP)
    lam.publish_version(FunctionName=name)
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    with pytest.raises(ClientError) as exc:
        lam.get_function_event_invoke_config(FunctionName=name)
    assert exc.value.response["Error"]["Code"] == "ResourceNotFoundException"
    put = lam.put_function_event_invoke_config(FunctionName=name, Qualifier="live", MaximumRetryAttempts=1)
    assert put["FunctionArn"].endswith(f"{name}:live") and put["MaximumRetryAttempts"] == 1
    upd = lam.update_function_event_invoke_config(FunctionName=name, Qualifier="live", MaximumEventAgeInSeconds=120)
    assert (upd["MaximumRetryAttempts"], upd["MaximumEventAgeInSeconds"]) == (1, 120)
    lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0)
    listed = lam.list_function_event_invoke_configs(FunctionName=name)["FunctionEventInvokeConfigs"]
    assert sorted(c["FunctionArn"].rsplit(":", 1)[1] for c in listed) == ["$LATEST", "live"]
    lam.delete_function_event_invoke_config(FunctionName=name, Qualifier="live")
    assert len(lam.list_function_event_invoke_configs(FunctionName=name)["FunctionEventInvokeConfigs"]) == 1
    raw = async_server.client(parameter_validation=False)
    with pytest.raises(ClientError) as exc:
        raw.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=3)
    assert exc.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(ClientError) as exc:
        lam.put_function_event_invoke_config(FunctionName=name, DestinationConfig={"OnFailure": {"Destination": "arn:aws:s3:::bucket"}})
    assert exc.value.response["Error"]["Code"] == "InvalidParameterValueException"


def test_payload_limits_and_legacy_invoke_async(async_server: Any) -> None:
    lam = async_server.client()
    name = create_function(lam, OK_APP)
    with pytest.raises(ClientError) as exc:
        lam.invoke(FunctionName=name, InvocationType="Event", Payload=b'"' + b"x" * 1_100_000 + b'"')
    assert (exc.value.response["Error"]["Code"], exc.value.response["ResponseMetadata"]["HTTPStatusCode"]) == ("RequestTooLargeException", 413)
    assert lam.invoke_async(FunctionName=name, InvokeArgs=b'{"n": 3}')["Status"] == 202
    with pytest.raises(ClientError) as exc:
        lam.invoke_async(FunctionName=name, InvokeArgs=b'"' + b"x" * 300_000 + b'"')
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    with pytest.raises(ClientError) as exc:
        lam.invoke(FunctionName="missing-fn", InvocationType="Event", Payload=b"{}")
    assert exc.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert invoke_json(lam, name, {"n": 1})[1] == {"ok": 1}



def test_a_destination_that_cannot_be_reached_is_recorded_not_dropped(async_server: Any, moto_url: str) -> None:
    import sqlite3

    lam = async_server.client()
    name = create_function(lam, FAIL_APP)
    # unique: moto's backends are one per process, and this test creates the queue at its end
    queue_name = f"no-such-queue-{uuid.uuid4().hex[:8]}"
    missing = f"arn:aws:sqs:us-east-1:{ACCOUNT}:{queue_name}"
    lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0,
                                         DestinationConfig={"OnFailure": {"Destination": missing}})
    request_id = lam.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"keep": "me"}')["ResponseMetadata"]["RequestId"]
    db_path = async_server.data_dir / "async-queue.db"
    rows: list[tuple[str, str, bytes]] = []
    deadline = time.monotonic() + 30
    while not rows and time.monotonic() < deadline:
        time.sleep(0.3)
        with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as db:
            rows = db.execute("select request_id, target, record from undeliverable").fetchall()
    assert len(rows) == 1
    rid, target, record = rows[0]
    assert (rid, target) == (request_id, missing)
    assert json.loads(record)["requestPayload"] == {"keep": "me"}
    # the operator sees it, and what is still queued (a throttled function's event), with `lambent queue`
    held = create_function(lam, OK_APP)
    lam.put_function_concurrency(FunctionName=held, ReservedConcurrentExecutions=0)
    lam.invoke(FunctionName=held, InvocationType="Event", Payload=b"{}")
    env = {**os.environ, "COLUMNS": "250", "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
    cli = [sys.executable, "-m", "lambent.cli.main", "queue"]
    where = ["--endpoint-url", async_server.url, "--region", "us-east-1"]
    out = subprocess.run([*cli, *where], capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 0, out.stderr
    assert "Undeliverable destination/DLQ records: 1" in out.stdout
    assert request_id in out.stdout and "no-such-queue" in out.stdout and name in out.stdout
    assert held in out.stdout  # its event waits in the queue
    # the API behind it: the record names its source function and kind
    api = model_client("lambent", async_server.url, ACCESS_KEY, SECRET_KEY, "us-east-1")
    (rec,) = api.list_undeliverable_records(FunctionName=name)["Records"]
    assert (rec["RequestId"], rec["FunctionName"], rec["Target"], rec["Kind"]) == (request_id, name, missing, "InvocationRecord")
    assert [q["FunctionName"] for q in api.list_async_event_queues(FunctionName=held)["Queues"]] == [held]
    # a redrive while the queue is still missing fails and keeps the record (with the new error)
    out = subprocess.run([*cli, "redrive", *where, "--all"], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 1 and f"not delivered: {rec['RecordId']}" in out.stdout, out.stdout + out.stderr
    assert api.list_undeliverable_records()["Total"] == 1
    assert api.redrive_undeliverable_records(RecordIds=[999999])["Failed"] == [{"RecordId": 999999, "ErrorMessage": "No such record."}]
    # once the queue exists, the redrive delivers the very record that was kept, and it is gone
    url, _ = queue(moto_url, queue_name)
    out = subprocess.run([*cli, "redrive", *where, str(rec["RecordId"])], capture_output=True, text=True, timeout=120,
                         env=env)
    assert out.returncode == 0 and "redriven: 1" in out.stdout, out.stdout + out.stderr
    (msg,) = drain(moto_url, url, 1)
    assert json.loads(msg["Body"]) == json.loads(record)
    assert api.list_undeliverable_records()["Total"] == 0


def test_a_burst_beyond_the_memory_budget_waits_for_environments_without_throttling(fresh_server: Any) -> None:
    """Room for two environments, twelve slow events: the dispatcher runs two at a time and never
    starts one that the pool would throttle (a throttled event would sit in the queue with a
    backoff step for at least a second at real time scale)."""
    import sqlite3

    srv = fresh_server(LAMBENT_WORKER_MEMORY_BUDGET_MB="256")
    lam = srv.client()
    name = create_function(lam, {"app.py": "import time\ndef handler(e, c):\n    time.sleep(0.1)\n    print('ran', c.aws_request_id)\n"},
                           MemorySize=128)
    ids = {lam.invoke(FunctionName=name, InvocationType="Event", Payload=b"{}")["ResponseMetadata"]["RequestId"] for _ in range(12)}
    db = sqlite3.connect(f"file:{srv.data_dir / 'async-queue.db'}?mode=ro", uri=True)
    worst_backoff, left = 0, len(ids)
    deadline = time.monotonic() + 30
    while left and time.monotonic() < deadline:
        left, backoff = db.execute("select count(*), coalesce(max(backoff_step), 0) from async_events").fetchone()
        worst_backoff = max(worst_backoff, backoff)
        time.sleep(0.02)
    db.close()
    assert left == 0
    assert worst_backoff == 0
    ran = {line.split()[1] for line in log_lines(srv, name) if line.startswith("ran ")}
    assert ran == ids


def test_an_account_cannot_queue_beyond_its_share(fresh_server: Any) -> None:
    # Given a server queueing at most 1,000 payload bytes per account, and a function that cannot run
    srv = fresh_server(LAMBENT_ASYNC_MAX_QUEUED_BYTES_PER_ACCOUNT="1000")
    lam = srv.client()
    name = create_function(lam, OK_APP)
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    payload = json.dumps({"n": 1, "pad": "x" * 280}).encode()  # ~300 bytes
    # When it accepts three events, the fourth is throttled with Lambda's error, and nothing is stored
    for _ in range(3):
        assert lam.invoke(FunctionName=name, InvocationType="Event", Payload=payload)["StatusCode"] == 202
    with pytest.raises(ClientError) as refused:
        lam.invoke(FunctionName=name, InvocationType="Event", Payload=payload)
    err = refused.value.response
    assert (err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"]) == ("TooManyRequestsException", 429)
    assert err["Reason"] == "CallerRateLimitExceeded" and "per account" in err["Error"]["Message"]
    # Then once the queued events run, the account has room again
    lam.delete_function_concurrency(FunctionName=name)
    deadline = time.monotonic() + 30
    while True:
        try:
            assert lam.invoke(FunctionName=name, InvocationType="Event", Payload=payload)["StatusCode"] == 202
            break
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "TooManyRequestsException" or time.monotonic() > deadline:
                raise
            time.sleep(0.2)
