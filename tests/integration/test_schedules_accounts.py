"""EventBridge Scheduler per account (issue 10), end to end through boto3's ``scheduler`` client
for two accounts against a real server.

Abuse case: a tenant names its schedule like another tenant's, lists, reads and deletes by name,
and points a schedule at the other tenant's function, hoping to see, remove or drive the other's
resources. Each call acts in its own account: its own ``default`` group, its own schedules; a
schedule fires only its own account's function."""

from __future__ import annotations

import json
import re
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from botocore.exceptions import ClientError

from harness import INVOKE_ANY, ROLE, ROLE_TRUST, Server, create_function, unique, zip_of
from test_authorization import _client, _error, _new_account

pytestmark = pytest.mark.integration

REGION, SERVER_ACCOUNT = "us-east-1", "000000000000"
TICK_APP = {"app.py": (
    "def handler(e, c):\n"
    "    print('TICK', e['id'], c.invoked_function_arn)\n"
    "    return e\n"
)}
INPUT = json.dumps({"id": "<aws.scheduler.execution-id>"})
OFF = {"Mode": "OFF"}


def _fn_arn(account: str, name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{account}:function:{name}"


def _ticks(server: Server, account: str, fn: str) -> list[tuple[str, str]]:
    """(execution id, invoked function ARN) of every run of ``account``'s function ``fn``."""
    from lambent.observability.logs import LogStore, account_group

    out = []
    for e in LogStore(server.data_dir / "logs").events(account_group(account, f"/aws/lambda/{fn}")):
        m = re.match(r"TICK (\S+) (\S+)", e.message)
        if m:
            out.append((m.group(1), m.group(2)))
    return out


def _tenant(server: Server) -> tuple[str, Any, Any, str]:
    """A new account: its id, its Lambda and Scheduler clients, and a role of its own that Lambda
    runs functions with and Scheduler invokes targets with (it may invoke any function)."""
    tenant = _new_account(server)
    key, secret = tenant["AccessKeyId"], tenant["SecretAccessKey"]
    iam = _client(server, key, secret, "iam")
    name = unique("role")
    deadline = time.monotonic() + 5
    while True:  # a running server sees a key the CLI made within a second
        try:
            role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=ROLE_TRUST)["Role"]["Arn"]
            break
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "InvalidClientTokenId" or time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    iam.put_role_policy(RoleName=name, PolicyName="invoke", PolicyDocument=INVOKE_ANY)
    return tenant["AccountId"], _client(server, key, secret), _client(server, key, secret, "scheduler"), role


def test_two_accounts_have_their_own_schedules_and_each_fires_its_own_function(server: Server) -> None:
    # Given account A (the server's) with a function and a (disabled) schedule "name" in default,
    # and a schedule only A has
    lam_a, sch_a = server.client(), server.client("scheduler")
    fn = create_function(lam_a, TICK_APP)
    name, only_a = unique("sched"), unique("only-a")
    arn_a = sch_a.create_schedule(Name=name, ScheduleExpression="rate(1 minute)", FlexibleTimeWindow=OFF,
                                  State="DISABLED", Target={"Arn": _fn_arn(SERVER_ACCOUNT, fn), "RoleArn": ROLE})[
        "ScheduleArn"]
    sch_a.create_schedule(Name=only_a, ScheduleExpression="rate(1 day)", FlexibleTimeWindow=OFF, State="DISABLED",
                          Target={"Arn": _fn_arn(SERVER_ACCOUNT, fn), "RoleArn": ROLE})
    # And account B with a function of the same name, its own code
    b, lam_b, sch_b, role_b = _tenant(server)
    lam_b.create_function(FunctionName=fn, Runtime="python3.11", Role=role_b, Handler="app.handler",
                          Code={"ZipFile": zip_of(TICK_APP)})
    lam_b.get_waiter("function_active_v2").wait(FunctionName=fn, WaiterConfig={"Delay": 0.1, "MaxAttempts": 100})

    # When B creates a schedule of the same name in its default group, firing 3 seconds from now
    when = datetime.now(timezone.utc) + timedelta(seconds=3)
    arn_b = sch_b.create_schedule(Name=name, ScheduleExpression=f"at({when:%Y-%m-%dT%H:%M:%S})",
                                  FlexibleTimeWindow=OFF,
                                  Target={"Arn": _fn_arn(b, fn), "RoleArn": role_b, "Input": INPUT})["ScheduleArn"]

    # Then each ARN carries its owner's account
    assert arn_a == f"arn:aws:scheduler:{REGION}:{SERVER_ACCOUNT}:schedule/default/{name}"
    assert arn_b == f"arn:aws:scheduler:{REGION}:{b}:schedule/default/{name}"
    # And each lists and reads only its own
    assert [s["Arn"] for s in sch_b.list_schedules()["Schedules"]] == [arn_b]
    assert [s["Arn"] for s in sch_a.list_schedules(NamePrefix=name)["Schedules"]] == [arn_a]
    got_b = sch_b.get_schedule(Name=name)
    assert (got_b["Arn"], got_b["Target"]["Arn"], got_b["State"]) == (arn_b, _fn_arn(b, fn), "ENABLED")
    assert sch_a.get_schedule(Name=name)["State"] == "DISABLED"
    # And B has its own default group, and none of A's
    assert [g["Arn"] for g in sch_b.list_schedule_groups()["ScheduleGroups"]] == [
        f"arn:aws:scheduler:{REGION}:{b}:schedule-group/default"]
    assert sch_b.get_schedule_group(Name="default")["Arn"] == f"arn:aws:scheduler:{REGION}:{b}:schedule-group/default"
    # And B can neither read nor delete the schedule only A has
    missing = ("ResourceNotFoundException", 404, f"Schedule {only_a} does not exist.")
    assert _error(sch_b.get_schedule, Name=only_a) == missing
    assert _error(sch_b.delete_schedule, Name=only_a) == missing
    assert sch_a.get_schedule(Name=only_a)["Name"] == only_a
    # Nor target A's function, nor use A's role
    code, status, message = _error(sch_b.create_schedule, Name=unique("steal"), ScheduleExpression="rate(1 minute)",
                                   FlexibleTimeWindow=OFF, Target={"Arn": _fn_arn(SERVER_ACCOUNT, fn), "RoleArn": role_b})
    assert (code, status) == ("ValidationException", 400)
    assert message == (f"Invalid target ARN {_fn_arn(SERVER_ACCOUNT, fn)}: lambent schedules invoke a Lambda function "
                       f"of this server, arn:aws:lambda:{REGION}:{b}:function:<name>[:<version or alias>].")
    # (A's role: the dispatcher's iam:PassRole check refuses it first, as AWS does across accounts)
    code, status, message = _error(sch_b.create_schedule, Name=unique("steal"), ScheduleExpression="rate(1 minute)",
                                   FlexibleTimeWindow=OFF, Target={"Arn": _fn_arn(b, fn), "RoleArn": ROLE})
    assert (code, status) == ("AccessDeniedException", 403) and "iam:PassRole" in message and ROLE in message
    assert [s["Arn"] for s in sch_b.list_schedules()["Schedules"]] == [arn_b]  # nothing was created

    # And B's schedule fires B's function, once, and not A's function of the same name
    deadline = time.monotonic() + 30
    while not _ticks(server, b, fn) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)
    runs = _ticks(server, b, fn)
    assert len(runs) == 1 and runs[0][1] == _fn_arn(b, fn)
    assert _ticks(server, SERVER_ACCOUNT, fn) == []

    # And B deleting its schedule leaves A's of the same name
    sch_b.delete_schedule(Name=name)
    assert sch_b.list_schedules()["Schedules"] == []
    assert sch_a.get_schedule(Name=name)["Arn"] == arn_a
    sch_a.delete_schedule(Name=name)
    sch_a.delete_schedule(Name=only_a)


def test_groups_and_their_tags_are_per_account(server: Server) -> None:
    # Given A and B each with a group of the same name, tagged differently
    sch_a = server.client("scheduler")
    b, _, sch_b, _ = _tenant(server)
    group = unique("grp")
    arn_a = sch_a.create_schedule_group(Name=group, Tags=[{"Key": "owner", "Value": "a"}])["ScheduleGroupArn"]
    arn_b = sch_b.create_schedule_group(Name=group, Tags=[{"Key": "owner", "Value": "b"}])["ScheduleGroupArn"]
    assert arn_a == f"arn:aws:scheduler:{REGION}:{SERVER_ACCOUNT}:schedule-group/{group}"
    assert arn_b == f"arn:aws:scheduler:{REGION}:{b}:schedule-group/{group}"
    # Then each reads its own tags; A's group is not B's to read or tag (the dispatcher refuses
    # another account's ARN, as AWS does without a grant)
    assert sch_b.list_tags_for_resource(ResourceArn=arn_b)["Tags"] == [{"Key": "owner", "Value": "b"}]
    assert _error(sch_b.list_tags_for_resource, ResourceArn=arn_a)[:2] == ("AccessDeniedException", 403)
    assert _error(sch_b.tag_resource, ResourceArn=arn_a, Tags=[{"Key": "x", "Value": "y"}])[:2] == (
        "AccessDeniedException", 403)
    assert sch_a.list_tags_for_resource(ResourceArn=arn_a)["Tags"] == [{"Key": "owner", "Value": "a"}]
    # And B deleting its group leaves A's
    sch_b.delete_schedule_group(Name=group)
    assert _error(sch_b.get_schedule_group, Name=group)[:2] == ("ResourceNotFoundException", 404)
    assert sch_a.get_schedule_group(Name=group)["Arn"] == arn_a
    sch_a.delete_schedule_group(Name=group)
