"""Every account has its own functions, log groups and deployments (issue 10: "Resources of one
account are invisible to another unless a policy grants access; ARNs carry the account id"),
end to end through boto3 against a real server.

Abuse case: a tenant creates a function named like another tenant's, lists, reads and invokes by
name, and reads log groups, hoping to reach the other's code, configuration or logs. Each call
acts on its own account's resources; the other's function is reachable only by its ARN and only
after its owner's AddPermission."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from harness import Server, create_function, invoke_json, unique, zip_of
from test_authorization import _client, _error, _new_account

pytestmark = pytest.mark.integration

TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})


def _code(answer: str) -> dict[str, str]:
    return {"app.py": f"def handler(event, context):\n    print('from {answer}')\n    return {{'who': '{answer}'}}\n"}


def _tenant(server: Server) -> tuple[dict[str, str], Any, str]:
    """A new account, its Lambda client (once the server knows its key) and a role of its own."""
    tenant = _new_account(server)
    key, secret = tenant["AccessKeyId"], tenant["SecretAccessKey"]
    iam = _client(server, key, secret, "iam")
    deadline = time.monotonic() + 5
    while True:  # a running server sees a key the CLI made within a second
        try:
            role = iam.create_role(RoleName=unique("role"), AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
            break
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "InvalidClientTokenId" or time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    return tenant, _client(server, key, secret), role


def _one_name_in_two_accounts(server: Server) -> tuple[Any, Any, dict[str, str], str]:
    """Account A's (the server's) Lambda client, a new account B's, B's keys, and the name of a
    function each of them has (answering "A" and "B")."""
    a = server.client()
    name = create_function(a, _code("A"))
    tenant, b, role_b = _tenant(server)
    b.create_function(FunctionName=name, Runtime="python3.11", Role=role_b, Handler="app.handler",
                      Code={"ZipFile": zip_of(_code("B"))})
    b.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 100})
    return a, b, tenant, name


def test_two_accounts_each_have_their_own_function_of_one_name(server: Server) -> None:
    # Given account A (the server's) and a new account B, each with a function of the same name
    a, b, tenant, name = _one_name_in_two_accounts(server)
    # When each invokes it by name, each runs its own code
    assert invoke_json(a, name)[1] == {"who": "A"}
    assert invoke_json(b, name)[1] == {"who": "B"}
    # Then every ARN carries the owning account, and list/get show only one's own
    arn_a = a.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    arn_b = b.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    assert arn_a == f"arn:aws:lambda:us-east-1:000000000000:function:{name}"
    assert arn_b == f"arn:aws:lambda:us-east-1:{tenant['AccountId']}:function:{name}"
    assert [f["FunctionArn"] for f in b.list_functions()["Functions"]] == [arn_b]
    assert arn_b not in [f["FunctionArn"] for f in a.list_functions()["Functions"]]
    assert b.get_account_settings()["AccountUsage"]["FunctionCount"] == 1
    # And B reaches A's function by ARN only where A allows it
    assert _error(b.get_function, FunctionName=arn_a)[:2] == ("AccessDeniedException", 403)
    assert _error(b.invoke, FunctionName=arn_a)[:2] == ("AccessDeniedException", 403)
    a.add_permission(FunctionName=name, StatementId="b", Action="lambda:InvokeFunction", Principal=tenant["AccountId"])
    assert invoke_json(b, arn_a)[1] == {"who": "A"}
    assert _error(b.get_function, FunctionName=arn_a)[:2] == ("AccessDeniedException", 403)
    # And deleting B's function leaves A's alone
    b.delete_function(FunctionName=name)
    assert invoke_json(a, name)[1] == {"who": "A"}
    assert _error(b.invoke, FunctionName=name)[:2] == ("ResourceNotFoundException", 404)


def test_log_groups_are_per_account(server: Server) -> None:
    # Given a function of one name in each account, each invoked once
    a, b, tenant, name = _one_name_in_two_accounts(server)
    invoke_json(a, name)
    invoke_json(b, name)
    logs_a = server.client("logs")
    logs_b = _client(server, tenant["AccessKeyId"], tenant["SecretAccessKey"], "logs")
    group = f"/aws/lambda/{name}"

    def messages(logs: Any) -> str:
        deadline = time.monotonic() + 10
        while True:
            text = "".join(e["message"] for e in logs.filter_log_events(logGroupName=group)["events"])
            if "from" in text or time.monotonic() > deadline:
                return text
            time.sleep(0.2)

    # Then each account's group holds its own function's lines only
    text_a, text_b = messages(logs_a), messages(logs_b)
    assert "from A" in text_a and "from B" not in text_a
    assert "from B" in text_b and "from A" not in text_b
    groups_b = [g["logGroupName"] for g in logs_b.describe_log_groups()["logGroups"]]
    assert groups_b == [group]
    arn = logs_b.describe_log_groups()["logGroups"][0]["logGroupArn"]
    assert arn == f"arn:aws:logs:us-east-1:{tenant['AccountId']}:log-group:{group}"


def test_usage_is_reported_per_account(server: Server) -> None:
    from lambent.api.models import client as model_client

    from harness import ACCESS_KEY, SECRET_KEY

    # Given a function of one name in each account, A's invoked twice and B's three times
    a, b, tenant, name = _one_name_in_two_accounts(server)
    for _ in range(2):
        invoke_json(a, name)
    for _ in range(3):
        invoke_json(b, name)
    usage_a = model_client("lambent", server.url, ACCESS_KEY, SECRET_KEY, "us-east-1")
    usage_b = model_client("lambent", server.url, tenant["AccessKeyId"], tenant["SecretAccessKey"], "us-east-1")

    def requests(client: Any, **params: str) -> list[tuple[str, int]]:
        deadline = time.monotonic() + 30  # usage is visible within 30 s
        while True:
            rows = [(r["function"], r["requests"]) for r in client.get_usage(**params)["rows"]]
            if sum(n for _, n in rows) >= 2 or time.monotonic() > deadline:
                return rows
            time.sleep(0.25)

    # Then each account's report holds its own invocations only, under the bare name
    assert requests(usage_a, FunctionName=name) == [(name, 2)]
    assert requests(usage_b) == [(name, 3)]  # B's whole account: its one function
    assert requests(usage_b, FunctionName=name) == [(name, 3)]
    # And A cannot read B's usage by naming B's function ARN
    arn_b = f"arn:aws:lambda:us-east-1:{tenant['AccountId']}:function:{name}"
    assert _error(usage_a.get_usage, FunctionName=arn_b)[:2] == ("AccessDeniedException", 403)
