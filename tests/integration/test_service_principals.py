"""The Scheduler and Lambda destinations invoke functions as AWS's services do, and are checked
(issue 10), against the real server:

- a schedule's target runs only if ``scheduler.amazonaws.com`` may assume the schedule's RoleArn
  and that role may ``lambda:InvokeFunction`` the target; a denied occurrence is a failed target
  invocation: retried per its RetryPolicy, then in its dead-letter queue (moto's SQS) with
  ERROR_CODE AccessDeniedException;
- a Lambda destination runs only if the source function's execution role may invoke it; a denied
  record is recorded undeliverable with the AccessDeniedException, never dropped silently.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import Any

import boto3
import pytest
import sqlalchemy as sa
from botocore.config import Config

from harness import ROLE, Server, create_function, free_port, unique, zip_of

REGION, ACCOUNT = "us-east-1", "000000000000"
OFF = {"Mode": "OFF"}
TICK_APP: dict[str, str | bytes] = {"app.py": "def handler(e, c):\n    print('TICK', c.aws_request_id)\n    return {'ok': True}\n"}
INPUT = json.dumps({"id": "<aws.scheduler.execution-id>"})

def fn_arn(name: str, qualifier: str | None = None) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}" + (f":{qualifier}" if qualifier else "")


def _trust(service: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]})


def _role(srv: Server, service: str, may_invoke: str | None) -> tuple[str, str]:
    """A role ``service`` may assume, allowed to invoke ``may_invoke`` (nothing if None): (name, ARN)."""
    iam = srv.client("iam")
    name = unique("svc")
    arn: str = iam.create_role(RoleName=name, AssumeRolePolicyDocument=_trust(service))["Role"]["Arn"]
    if may_invoke is not None:
        iam.put_role_policy(RoleName=name, PolicyName="invoke", PolicyDocument=json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": may_invoke}]}))
    return name, arn


def runs(srv: Server, fn: str) -> list[str]:
    """Request ids of every run of ``fn`` (TICK_APP), in log order."""
    from lambent.observability.logs import LogStore, account_group

    found = (re.match(r"TICK (\S+)", e.message) for e in LogStore(srv.data_dir / "logs").events(account_group("000000000000", f"/aws/lambda/{fn}")))
    return [m.group(1) for m in found if m]


def wait_for(predicate: Callable[[], bool], what: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def undeliverable(srv: Server) -> list[tuple[str, str, str]]:
    """(request id, target, error) of every record the server gave up delivering."""
    from lambent.store.queue_schema import undeliverable as table

    engine = sa.create_engine(f"sqlite:///{srv.data_dir / 'async-queue.db'}")
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.select(table.c.request_id, table.c.target, table.c.error)).all()
    finally:
        engine.dispose()
    return [(str(r[0]), str(r[1]), str(r[2])) for r in rows]


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def checked_server(fresh_server: Callable[..., Server], moto_url: str) -> Server:
    return fresh_server(LAMBENT_SCHEDULES_TIME_SCALE="0.01",
                        LAMBENT_AWS_SQS_ENDPOINT_URL=moto_url, LAMBENT_AWS_ACCESS_KEY_ID="testing",
                        LAMBENT_AWS_SECRET_ACCESS_KEY="testing")


def _sqs(moto_url: str) -> Any:
    return boto3.client("sqs", endpoint_url=moto_url, region_name=REGION, aws_access_key_id="testing",
                        aws_secret_access_key="testing", config=Config(retries={"max_attempts": 2}))


def test_a_schedule_runs_its_target_only_as_far_as_its_role_allows(checked_server: Server, moto_url: str) -> None:
    srv = checked_server
    lam, sch, sqs = srv.client(), srv.client("scheduler"), _sqs(moto_url)
    url = sqs.create_queue(QueueName=unique("sched-dlq"))["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    fn = create_function(lam, TICK_APP)
    # Given one role that may invoke the function, one that may invoke another only, and one
    # Scheduler cannot assume at all (it trusts Lambda)
    _, allowed = _role(srv, "scheduler.amazonaws.com", fn_arn(fn))
    deny_name, denied = _role(srv, "scheduler.amazonaws.com", fn_arn("someone-else"))
    _, untrusting = _role(srv, "lambda.amazonaws.com", "*")
    now = datetime.now(timezone.utc)
    at = f"at({now:%Y-%m-%dT%H:%M:%S})"
    retry = {"MaximumRetryAttempts": 1, "MaximumEventAgeInSeconds": 3600}
    # When each fires once
    sch.create_schedule(Name=unique("ok"), ScheduleExpression=at, FlexibleTimeWindow=OFF,
                        Target={"Arn": fn_arn(fn), "RoleArn": allowed, "Input": INPUT})
    denied_arn = sch.create_schedule(
        Name=unique("denied"), ScheduleExpression=at, FlexibleTimeWindow=OFF,
        Target={"Arn": fn_arn(fn), "RoleArn": denied, "Input": INPUT, "RetryPolicy": retry,
                "DeadLetterConfig": {"Arn": dlq_arn}})["ScheduleArn"]
    sch.create_schedule(Name=unique("untrusting"), ScheduleExpression=at, FlexibleTimeWindow=OFF,
                        Target={"Arn": fn_arn(fn), "RoleArn": untrusting, "Input": INPUT, "RetryPolicy": retry,
                                "DeadLetterConfig": {"Arn": dlq_arn}})
    # Then the two refused occurrences reach the dead-letter queue with AWS's attributes
    letters: list[dict[str, str]] = []
    deadline = time.monotonic() + 30
    while len(letters) < 2 and time.monotonic() < deadline:
        for msg in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1, MaxNumberOfMessages=10,
                                       MessageAttributeNames=["All"]).get("Messages", []):
            letters.append({k: v["StringValue"] for k, v in msg["MessageAttributes"].items()})
    assert len(letters) == 2, srv.log()[-3000:]
    by_schedule = {a["SCHEDULE_ARN"]: a for a in letters}
    d = by_schedule[denied_arn]
    assert d["ERROR_CODE"] == "AccessDeniedException"
    assert d["ERROR_MESSAGE"] == (
        f"User: arn:aws:sts::{ACCOUNT}:assumed-role/{deny_name}/scheduler is not authorized to perform: "
        f"lambda:InvokeFunction on resource: {fn_arn(fn)} because no identity-based policy allows the "
        "lambda:InvokeFunction action")
    assert (d["EXHAUSTED_RETRY_CONDITION"], d["RETRY_ATTEMPTS"], d["TARGET_ARN"]) == (
        "MaximumRetryAttempts", "1", fn_arn(fn))
    (u,) = (a for a in letters if a["SCHEDULE_ARN"] != denied_arn)
    assert u["ERROR_CODE"] == "AccessDeniedException"
    assert u["ERROR_MESSAGE"] == f"scheduler.amazonaws.com is not authorized to perform: sts:AssumeRole on resource: {untrusting}"
    # And the function ran exactly once: for the schedule whose role may invoke it
    wait_for(lambda: len(runs(srv, fn)) >= 1, "the allowed schedule's run")
    assert len(runs(srv, fn)) == 1


def test_a_lambda_destination_runs_only_if_the_source_role_may_invoke_it(checked_server: Server) -> None:
    srv = checked_server
    lam = srv.client()
    allowed_dest = create_function(lam, TICK_APP)
    denied_dest = create_function(lam, TICK_APP)
    # Given a source function whose execution role may invoke one destination only
    _, exec_role = _role(srv, "lambda.amazonaws.com", fn_arn(allowed_dest))
    ok_source, bad_source = unique("src"), unique("src")
    for name in (ok_source, bad_source):
        lam.create_function(FunctionName=name, Runtime="python3.11", Role=exec_role, Handler="app.handler",
                            Code={"ZipFile": zip_of(TICK_APP)})
        lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 100})
    lam.put_function_event_invoke_config(
        FunctionName=ok_source, DestinationConfig={"OnSuccess": {"Destination": fn_arn(allowed_dest)}})
    lam.put_function_event_invoke_config(
        FunctionName=bad_source, DestinationConfig={"OnSuccess": {"Destination": fn_arn(denied_dest)}})
    # When both run asynchronously
    ok_rid = lam.invoke(FunctionName=ok_source, InvocationType="Event", Payload=b"{}")["ResponseMetadata"]["RequestId"]
    bad_rid = lam.invoke(FunctionName=bad_source, InvocationType="Event", Payload=b"{}")["ResponseMetadata"]["RequestId"]
    # Then the allowed destination gets the record, the denied one is recorded undeliverable
    wait_for(lambda: len(runs(srv, allowed_dest)) == 1, "the allowed destination's run")
    wait_for(lambda: any(r[0] == bad_rid for r in undeliverable(srv)), "the denied record")
    [(_, target, error)] = [r for r in undeliverable(srv) if r[0] == bad_rid]
    assert target == fn_arn(denied_dest)
    assert error.startswith(f"AccessDeniedException: User: arn:aws:sts::{ACCOUNT}:assumed-role/")
    assert f"is not authorized to perform: lambda:InvokeFunction on resource: {fn_arn(denied_dest)}" in error
    assert runs(srv, denied_dest) == []
    assert [r for r in undeliverable(srv) if r[0] == ok_rid] == []
    assert ROLE != exec_role  # the harness's shared role played no part
