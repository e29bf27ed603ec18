"""Log groups and streams through boto3's logs client (json 1.1 on the wire) and the layer."""

from __future__ import annotations

from typing import Any

import pytest

from lambent.observability.logs import account_group
from botocore.exceptions import ClientError
from logs_wire import Server

from lambent.iam.model import Principal, PrincipalKind


def _code(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    err = exc.value.response["Error"]
    return err["Code"], err["Message"]


def test_create_describe_delete_group(logs: Any) -> None:
    logs.create_log_group(logGroupName="/app/one")
    logs.create_log_group(logGroupName="/app/two")
    logs.create_log_group(logGroupName="other")
    groups = logs.describe_log_groups(logGroupNamePrefix="/app/")["logGroups"]
    assert [g["logGroupName"] for g in groups] == ["/app/one", "/app/two"]
    g = groups[0]
    assert g["arn"] == "arn:aws:logs:us-east-1:000000000000:log-group:/app/one:*"
    assert g["logGroupArn"] == "arn:aws:logs:us-east-1:000000000000:log-group:/app/one"
    assert g["storedBytes"] == 0 and g["creationTime"] > 0 and "retentionInDays" not in g
    with pytest.raises(ClientError) as exc:
        logs.create_log_group(logGroupName="/app/one")
    assert _code(exc) == ("ResourceAlreadyExistsException", "The specified log group already exists")
    logs.delete_log_group(logGroupName="/app/one")
    with pytest.raises(ClientError) as exc:
        logs.delete_log_group(logGroupName="/app/one")
    assert _code(exc) == ("ResourceNotFoundException", "The specified log group does not exist.")
    assert [g["logGroupName"] for g in logs.describe_log_groups()["logGroups"]] == ["/app/two", "other"]


def test_describe_log_groups_pages_with_next_token(logs: Any) -> None:
    for i in range(7):
        logs.create_log_group(logGroupName=f"g{i}")
    first = logs.describe_log_groups(limit=3)
    assert [g["logGroupName"] for g in first["logGroups"]] == ["g0", "g1", "g2"]
    pages = logs.get_paginator("describe_log_groups").paginate(PaginationConfig={"PageSize": 3})
    names = [g["logGroupName"] for page in pages for g in page["logGroups"]]
    assert names == [f"g{i}" for i in range(7)]


def test_function_logs_written_by_the_platform_appear(server: Server, logs: Any) -> None:
    w = server.logs.writer(account_group("000000000000", "/aws/lambda/fn"), "2026/12/02/[$LATEST]abc")
    w.write("START RequestId: 1", 1_000)
    w.write("hello", 2_000)
    w.close()
    assert [g["logGroupName"] for g in logs.describe_log_groups()["logGroups"]] == ["/aws/lambda/fn"]
    s = logs.describe_log_streams(logGroupName="/aws/lambda/fn")["logStreams"][0]
    assert s["logStreamName"] == "2026/12/02/[$LATEST]abc"
    assert (s["firstEventTimestamp"], s["lastEventTimestamp"]) == (1_000, 2_000)
    assert s["arn"].endswith(":log-group:/aws/lambda/fn:log-stream:2026/12/02/[$LATEST]abc")
    events = logs.get_log_events(logGroupName="/aws/lambda/fn", logStreamName=s["logStreamName"])["events"]
    assert [e["message"] for e in events] == ["START RequestId: 1", "hello"]


def test_streams_order_by_last_event_time_descending_and_pages(server: Server, logs: Any) -> None:
    logs.create_log_group(logGroupName="g")
    for name, t in (("a", 300), ("b", 100), ("c", 200)):
        logs.create_log_stream(logGroupName="g", logStreamName=name)
        logs.put_log_events(logGroupName="g", logStreamName=name, logEvents=[{"timestamp": _now() + t, "message": name}])
    by_time = logs.describe_log_streams(logGroupName="g", orderBy="LastEventTime", descending=True)["logStreams"]
    assert [s["logStreamName"] for s in by_time] == ["a", "c", "b"]
    page = logs.describe_log_streams(logGroupName="g", orderBy="LastEventTime", descending=True, limit=2)
    assert [s["logStreamName"] for s in page["logStreams"]] == ["a", "c"]
    rest = logs.describe_log_streams(logGroupName="g", orderBy="LastEventTime", descending=True, limit=2,
                                     nextToken=page["nextToken"])
    assert [s["logStreamName"] for s in rest["logStreams"]] == ["b"] and "nextToken" not in rest
    assert [s["logStreamName"] for s in logs.describe_log_streams(logGroupName="g", logStreamNamePrefix="b")
            ["logStreams"]] == ["b"]
    with pytest.raises(ClientError) as exc:
        logs.describe_log_streams(logGroupName="g", orderBy="LastEventTime", logStreamNamePrefix="a")
    assert _code(exc)[0] == "InvalidParameterException"
    with pytest.raises(ClientError) as exc:
        logs.create_log_stream(logGroupName="g", logStreamName="a")
    assert _code(exc) == ("ResourceAlreadyExistsException", "The specified log stream already exists")
    with pytest.raises(ClientError) as exc:
        logs.describe_log_streams(logGroupName="missing")
    assert _code(exc) == ("ResourceNotFoundException", "The specified log group does not exist.")


def test_retention_policy_allowed_values(logs: Any) -> None:
    logs.create_log_group(logGroupName="g")
    logs.put_retention_policy(logGroupName="g", retentionInDays=7)
    assert logs.describe_log_groups()["logGroups"][0]["retentionInDays"] == 7
    with pytest.raises(ClientError) as exc:
        logs.put_retention_policy(logGroupName="g", retentionInDays=2)
    code, message = _code(exc)
    assert code == "InvalidParameterException" and "Member must satisfy enum value set: [1, 3, 5, 7," in message
    logs.delete_retention_policy(logGroupName="g")
    assert "retentionInDays" not in logs.describe_log_groups()["logGroups"][0]
    with pytest.raises(ClientError) as exc:
        logs.put_retention_policy(logGroupName="nope", retentionInDays=7)
    assert _code(exc)[0] == "ResourceNotFoundException"


def test_unhandled_members_are_refused_by_name(logs: Any) -> None:
    with pytest.raises(ClientError) as exc:
        logs.create_log_group(logGroupName="g", kmsKeyId="arn:aws:kms:us-east-1:000000000000:key/x")
    code, message = _code(exc)
    assert code == "InvalidParameterException" and "kmsKeyId" in message


# -- hostile callers -------------------------------------------------------------------------------

def test_group_names_cannot_leave_the_logs_directory(server: Server, logs: Any) -> None:
    for name in ("..", "."):
        with pytest.raises(ClientError) as exc:
            logs.create_log_group(logGroupName=name)
        assert _code(exc)[0] == "InvalidParameterException"
    assert sorted(p.name for p in server.settings.data_dir.iterdir()) == ["logs"]
    assert list((server.settings.data_dir / "logs").iterdir()) == []


def test_names_too_long_for_one_file_are_refused_not_a_server_error(logs: Any) -> None:
    with pytest.raises(ClientError) as exc:
        logs.create_log_group(logGroupName="/" * 200)
    assert _code(exc)[0] == "InvalidParameterException"
    logs.create_log_group(logGroupName="g")
    with pytest.raises(ClientError) as exc:
        logs.create_log_stream(logGroupName="g", logStreamName="[" * 300)
    assert _code(exc)[0] == "InvalidParameterException"


def test_another_accounts_callers_see_no_logs(server: Server, logs: Any) -> None:
    logs.create_log_group(logGroupName="/aws/lambda/secret")
    server.principal = Principal(kind=PrincipalKind.ROOT, account_id="111111111111", arn="arn:aws:iam::111111111111:root",
                                 user_id="111111111111", name="", access_key_id="AKIDOTHER", secret_access_key="s")
    # its own account has no groups, and the other account's group is not found by its name
    assert logs.describe_log_groups()["logGroups"] == []
    with pytest.raises(ClientError) as exc:
        logs.describe_log_streams(logGroupName="/aws/lambda/secret")
    assert _code(exc)[0] == "ResourceNotFoundException"
    # nor by its ARN
    with pytest.raises(ClientError) as exc:
        logs.describe_log_streams(logGroupIdentifier="arn:aws:logs:us-east-1:000000000000:log-group:/aws/lambda/secret")
    assert _code(exc)[0] == "ResourceNotFoundException"


def _now() -> int:
    import time

    return int(time.time() * 1000)


def test_forged_page_tokens_are_invalid_parameters_not_server_errors(logs: Any) -> None:
    import base64
    import json

    logs.create_log_group(logGroupName="g")
    logs.create_log_stream(logGroupName="g", logStreamName="s")
    for order, token in (("LastEventTime", ["a", 1]), ("LastEventTime", [1]), ("LogStreamName", [1]),
                         ("LogStreamName", {"x": 1})):
        raw = base64.urlsafe_b64encode(json.dumps(token).encode()).decode()
        with pytest.raises(ClientError) as exc:
            logs.describe_log_streams(logGroupName="g", orderBy=order, nextToken=raw)
        assert _code(exc) == ("InvalidParameterException", "The specified nextToken is invalid."), token
    with pytest.raises(ClientError) as exc:
        logs.describe_log_groups(nextToken=base64.urlsafe_b64encode(b"[1]").decode())
    assert _code(exc)[0] == "InvalidParameterException"


def test_streams_by_name_page_in_both_directions(logs: Any) -> None:
    logs.create_log_group(logGroupName="g")
    for n in ("a", "b", "c", "d", "e"):
        logs.create_log_stream(logGroupName="g", logStreamName=n)
    for descending, want in ((False, ["a", "b", "c", "d", "e"]), (True, ["e", "d", "c", "b", "a"])):
        pages = logs.get_paginator("describe_log_streams").paginate(
            logGroupName="g", descending=descending, PaginationConfig={"PageSize": 2})
        assert [s["logStreamName"] for p in pages for s in p["logStreams"]] == want


def test_groups_by_arn_of_this_account_only(logs: Any) -> None:
    logs.create_log_group(logGroupName="/app")
    logs.create_log_stream(logGroupName="/app", logStreamName="s")
    arn = "arn:aws:logs:us-east-1:000000000000:log-group:/app"
    assert [s["logStreamName"] for s in logs.describe_log_streams(logGroupIdentifier=arn)["logStreams"]] == ["s"]
    assert logs.filter_log_events(logGroupIdentifier=arn)["events"] == []
    for other in ("arn:aws:logs:us-east-1:111111111111:log-group:/app", "arn:aws:logs:eu-west-1:000000000000:log-group:/app"):
        with pytest.raises(ClientError) as exc:
            logs.describe_log_streams(logGroupIdentifier=other)
        assert _code(exc) == ("ResourceNotFoundException", "The specified log group does not exist.")
    with pytest.raises(ClientError) as exc:
        logs.describe_log_streams(logGroupIdentifier=arn, logGroupName="/app")
    assert _code(exc)[0] == "InvalidParameterException"


def test_delete_log_stream(logs: Any) -> None:
    logs.create_log_group(logGroupName="g")
    logs.create_log_stream(logGroupName="g", logStreamName="s")
    logs.put_log_events(logGroupName="g", logStreamName="s", logEvents=[{"timestamp": _now(), "message": "m"}])
    logs.delete_log_stream(logGroupName="g", logStreamName="s")
    assert logs.describe_log_streams(logGroupName="g")["logStreams"] == []
    with pytest.raises(ClientError) as exc:
        logs.delete_log_stream(logGroupName="g", logStreamName="s")
    assert _code(exc) == ("ResourceNotFoundException", "The specified log stream does not exist.")
    logs.create_log_stream(logGroupName="g", logStreamName="s")  # the name is free again
