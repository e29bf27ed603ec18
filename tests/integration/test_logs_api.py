"""CloudWatch Logs API on the server's endpoint through boto3's ``logs`` client: a function's own
output appears in its log group and stream, searchable with filter patterns; groups, streams,
PutLogEvents and retention policies as a tool would use them; IAM users get only what their
policy names (logs:* actions on log-group ARNs)."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from harness import Server, create_function, invoke_json
from shape_check import ShapeRecorder

PRINTER = {"app.py": """
import json
def handler(e, c):
    print('plain ' + e['who'])
    print(json.dumps({'level': e['level'], 'latency': e['latency'], 'who': e['who']}))
    return 1
"""}


@pytest.fixture(scope="module")
def logs(server: Server) -> Any:
    return server.client("logs")


def _wait_for(fn: Any, timeout_s: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        got = fn()
        if got or time.monotonic() > deadline:
            return got
        time.sleep(0.1)


def test_function_logs_are_served_and_filtered(lam: Any, logs: Any) -> None:
    name = create_function(lam, PRINTER)
    invoke_json(lam, name, {"who": "first", "level": "INFO", "latency": 20})
    invoke_json(lam, name, {"who": "second", "level": "ERROR", "latency": 250})
    group = f"/aws/lambda/{name}"
    groups = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    assert [g["logGroupName"] for g in groups] == [group]
    assert groups[0]["logGroupArn"] == f"arn:aws:logs:us-east-1:000000000000:log-group:{group}"
    streams = _wait_for(lambda: logs.describe_log_streams(
        logGroupName=group, orderBy="LastEventTime", descending=True)["logStreams"])
    assert streams and "[$LATEST]" in streams[0]["logStreamName"]

    def messages() -> list[str]:
        return [e["message"] for e in logs.get_log_events(
            logGroupName=group, logStreamName=streams[0]["logStreamName"], startFromHead=True)["events"]]

    got = _wait_for(lambda: (m := messages()) and any("REPORT RequestId" in x for x in m) and
                    sum("REPORT RequestId" in x for x in m) == 2 and m)
    assert any(m.startswith("START RequestId:") for m in got)
    assert any(m.rstrip("\n") == "plain second" for m in got)
    errors = logs.filter_log_events(logGroupName=group, filterPattern='{ $.level = "ERROR" }')["events"]
    assert [json.loads(e["message"])["who"] for e in errors] == ["second"]
    slow = logs.filter_log_events(logGroupName=group, filterPattern="{ $.latency > 100 }")["events"]
    assert [json.loads(e["message"])["latency"] for e in slow] == [250]
    plain = logs.filter_log_events(logGroupName=group, filterPattern='"plain" -second')["events"]
    assert [e["message"].rstrip("\n") for e in plain] == ["plain first"]


def test_tools_create_put_read_and_delete(logs: Any) -> None:
    group = f"/tools/{uuid.uuid4().hex[:8]}"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    now = int(time.time() * 1000)
    logs.put_log_events(logGroupName=group, logStreamName="s",
                        logEvents=[{"timestamp": now + i, "message": f"line {i}"} for i in range(5)])
    page = logs.get_log_events(logGroupName=group, logStreamName="s", startFromHead=True, limit=3)
    assert [e["message"] for e in page["events"]] == ["line 0", "line 1", "line 2"]
    rest = logs.get_log_events(logGroupName=group, logStreamName="s", nextToken=page["nextForwardToken"])
    assert [e["message"] for e in rest["events"]] == ["line 3", "line 4"]
    end = logs.get_log_events(logGroupName=group, logStreamName="s", nextToken=rest["nextForwardToken"])
    assert end["events"] == [] and end["nextForwardToken"] == rest["nextForwardToken"]
    logs.put_retention_policy(logGroupName=group, retentionInDays=14)
    assert logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]["retentionInDays"] == 14
    logs.delete_log_group(logGroupName=group)
    with pytest.raises(ClientError) as exc:
        logs.describe_log_streams(logGroupName=group)
    assert exc.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert exc.value.response["Error"]["Message"] == "The specified log group does not exist."


def test_users_read_only_the_log_groups_their_policy_names(server: Server, logs: Any) -> None:
    mine, other = f"/team/{uuid.uuid4().hex[:8]}", f"/secret/{uuid.uuid4().hex[:8]}"
    for g in (mine, other):
        logs.create_log_group(logGroupName=g)
        logs.create_log_stream(logGroupName=g, logStreamName="s")
    iam = server.client("iam")
    user = f"logreader{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="only", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["logs:GetLogEvents", "logs:FilterLogEvents"],
                                                 "Resource": f"arn:aws:logs:us-east-1:000000000000:log-group:{mine}*"}]}))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    reader = boto3.client("logs", endpoint_url=server.url, region_name="us-east-1",
                          aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"],
                          config=Config(retries={"max_attempts": 0}))
    assert reader.filter_log_events(logGroupName=mine)["events"] == []
    assert reader.get_log_events(logGroupName=mine, logStreamName="s")["events"] == []
    for call, kw in ((reader.filter_log_events, {"logGroupName": other}),
                     (reader.get_log_events, {"logGroupName": other, "logStreamName": "s"}),
                     (reader.describe_log_groups, {}),
                     (reader.put_log_events, {"logGroupName": mine, "logStreamName": "s",
                                              "logEvents": [{"timestamp": int(time.time() * 1000), "message": "x"}]}),
                     (reader.delete_log_group, {"logGroupName": mine})):
        with pytest.raises(ClientError) as exc:
            call(**kw)
        assert exc.value.response["Error"]["Code"] == "AccessDeniedException", call
    assert logs.describe_log_groups(logGroupNamePrefix=mine)["logGroups"]  # still there


#: Every CloudWatch Logs operation lambent serves; test_wire_conformance.py's CASES should carry
#: it as "logs" once the service is registered.
LOGS_OPERATIONS = {
    "CreateLogGroup", "DeleteLogGroup", "DescribeLogGroups", "PutRetentionPolicy", "DeleteRetentionPolicy",
    "CreateLogStream", "DeleteLogStream", "DescribeLogStreams", "GetLogEvents", "FilterLogEvents", "PutLogEvents",
}


def test_logs_responses_match_the_model(server: Server) -> None:
    """Each raw answer body against botocore's output shape; each error code one the operation declares."""
    rec = ShapeRecorder()
    logs = rec.attach(server.client("logs"))
    group = f"/wire/{uuid.uuid4().hex[:8]}"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    now = int(time.time() * 1000)
    logs.put_log_events(logGroupName=group, logStreamName="s", logEvents=[{"timestamp": now, "message": "a"}])
    logs.put_log_events(logGroupName=group, logStreamName="s", logEvents=[{"timestamp": now + 4 * 3_600_000,
                                                                           "message": "future"}])
    logs.put_retention_policy(logGroupName=group, retentionInDays=30)
    logs.describe_log_groups(logGroupNamePrefix=group, limit=1)
    logs.describe_log_streams(logGroupName=group, orderBy="LastEventTime", descending=True)
    logs.get_log_events(logGroupName=group, logStreamName="s", startFromHead=True)
    logs.filter_log_events(logGroupName=group, filterPattern="a", limit=1)
    logs.delete_retention_policy(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="gone")
    logs.delete_log_stream(logGroupName=group, logStreamName="gone")
    for call, kw, code in (
        (logs.create_log_group, {"logGroupName": group}, "ResourceAlreadyExistsException"),
        (logs.get_log_events, {"logGroupName": group, "logStreamName": "nope"}, "ResourceNotFoundException"),
        (logs.filter_log_events, {"logGroupName": group, "filterPattern": "{ $.a = "}, "InvalidParameterException"),
        (logs.put_retention_policy, {"logGroupName": group, "retentionInDays": 2}, "InvalidParameterException"),
    ):
        with pytest.raises(ClientError) as exc:
            call(**kw)
        assert exc.value.response["Error"]["Code"] == code
    logs.delete_log_group(logGroupName=group)
    assert LOGS_OPERATIONS <= rec.operations(), sorted(LOGS_OPERATIONS - rec.operations())
    # The Logs model's error shapes declare no members, yet AWS's answers carry "message" (and
    # botocore reads it from any json error): that one member is AWS's, not a disagreement.
    problems = [p for p in rec.problems() if "(4" not in p.split(":")[0] or "$.message: not a member of" not in p]
    assert problems == [], "\n".join(problems)
