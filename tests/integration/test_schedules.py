"""EventBridge Scheduler through boto3's ``scheduler`` client against the real server: the API, and
schedules firing real functions through the async queue (time-scaled: LAMBENT_SCHEDULES_TIME_SCALE
0.01 makes a schedule minute last 0.6 s). Invocations are counted in the functions' log groups;
moto's server stands in for SQS as the dead-letter queue."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from harness import ROLE, Server, create_function, free_port, unique

SCALE = "0.01"
REGION, ACCOUNT = "us-east-1", "000000000000"
TICK_APP = {"app.py": (
    "def handler(e, c):\n"
    "    print('TICK', e['at'], e['id'], c.aws_request_id)\n"
    "    return e\n"
)}
INPUT = json.dumps({"at": "<aws.scheduler.scheduled-time>", "id": "<aws.scheduler.execution-id>"})
OFF = {"Mode": "OFF"}


def fn_arn(name: str, qualifier: str | None = None) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}" + (f":{qualifier}" if qualifier else "")


def target(name: str, **extra: Any) -> dict[str, Any]:
    return {"Arn": fn_arn(name), "RoleArn": ROLE, "Input": INPUT, **extra}


def ticks(srv: Server, fn: str) -> list[tuple[str, str, str]]:
    """(scheduled time, execution id, request id) of every run of ``fn``, in log order."""
    from lambent.observability.logs import LogStore, account_group

    out = []
    for e in LogStore(srv.data_dir / "logs").events(account_group("000000000000", f"/aws/lambda/{fn}")):
        m = re.match(r"TICK (\S+) (\S+) (\S+)", e.message)
        if m:
            out.append((m.group(1), m.group(2), m.group(3)))
    return out


def wait_for(predicate: Callable[[], bool], timeout_s: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def error_of(call: Callable[[], Any]) -> tuple[int, str, str]:
    with pytest.raises(ClientError) as err:
        call()
    r = err.value.response
    return r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Code"], r["Error"]["Message"]


def minutes_apart(times: list[str]) -> list[float]:
    parsed = [datetime.strptime(t, "%Y-%m-%dT%H:%M:%SZ") for t in times]
    return [(b - a).total_seconds() / 60 for a, b in zip(parsed, parsed[1:], strict=False)]


@pytest.fixture
def scaled(fresh_server: Any) -> Callable[..., Server]:
    def make(**env: str) -> Server:
        return fresh_server(LAMBENT_SCHEDULES_TIME_SCALE=SCALE, **env)  # type: ignore[no-any-return]

    return make


# -- the API ------------------------------------------------------------------------------------------
def test_create_get_update_list_delete(server: Server) -> None:
    sch = server.client("scheduler")
    name, fn = unique("sched"), unique("fn")
    start = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(days=1)
    arn = sch.create_schedule(
        Name=name, ScheduleExpression="cron(0 9 ? * MON-FRI *)", ScheduleExpressionTimezone="Europe/Paris",
        StartDate=start, EndDate=start + timedelta(days=30), Description="weekday mornings", State="DISABLED",
        FlexibleTimeWindow={"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 15}, ActionAfterCompletion="DELETE",
        Target=target(fn, RetryPolicy={"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 600},
                      DeadLetterConfig={"Arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:dlq"}),
    )["ScheduleArn"]
    assert arn == f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/default/{name}"

    got = sch.get_schedule(Name=name)
    got.pop("ResponseMetadata")
    created, modified = got.pop("CreationDate"), got.pop("LastModificationDate")
    assert isinstance(created, datetime) and abs(created.timestamp() - time.time()) < 60 and modified == created
    assert got == {
        "Arn": arn, "Name": name, "GroupName": "default", "ScheduleExpression": "cron(0 9 ? * MON-FRI *)",
        "ScheduleExpressionTimezone": "Europe/Paris", "StartDate": start, "EndDate": start + timedelta(days=30),
        "Description": "weekday mornings", "State": "DISABLED", "ActionAfterCompletion": "DELETE",
        "FlexibleTimeWindow": {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 15},
        "Target": {"Arn": fn_arn(fn), "RoleArn": ROLE, "Input": INPUT,
                   "RetryPolicy": {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 600},
                   "DeadLetterConfig": {"Arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:dlq"}},
    }

    # UpdateSchedule replaces the whole definition: what is not given goes back to its default
    sch.update_schedule(Name=name, ScheduleExpression="rate(5 minutes)", FlexibleTimeWindow=OFF,
                        Target={"Arn": fn_arn(fn, "live"), "RoleArn": ROLE})
    got = sch.get_schedule(Name=name)
    assert (got["ScheduleExpression"], got["ScheduleExpressionTimezone"], got["State"]) == ("rate(5 minutes)", "UTC", "ENABLED")
    assert got["Target"] == {"Arn": fn_arn(fn, "live"), "RoleArn": ROLE,
                             "RetryPolicy": {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400}}
    assert got["ActionAfterCompletion"] == "NONE" and got["FlexibleTimeWindow"] == OFF
    assert "Description" not in got and "StartDate" not in got
    assert got["LastModificationDate"] > got["CreationDate"]

    summary = [s for s in sch.list_schedules(NamePrefix=name)["Schedules"]]
    assert [(s["Name"], s["State"], s["Target"]) for s in summary] == [(name, "ENABLED", {"Arn": fn_arn(fn, "live")})]
    assert sch.delete_schedule(Name=name)["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert error_of(lambda: sch.get_schedule(Name=name)) == (404, "ResourceNotFoundException",
                                                             f"Schedule {name} does not exist.")
    assert error_of(lambda: sch.delete_schedule(Name=name)) == (404, "ResourceNotFoundException",
                                                                f"Schedule {name} does not exist.")


def test_list_filters_and_pagination(server: Server) -> None:
    sch = server.client("scheduler")
    prefix = unique("page")
    group = unique("grp")
    sch.create_schedule_group(Name=group)
    for n in range(5):
        sch.create_schedule(Name=f"{prefix}-{n}", GroupName=group, ScheduleExpression="rate(1 day)",
                            FlexibleTimeWindow=OFF, Target=target("nobody"), State="DISABLED" if n % 2 else "ENABLED")
    pages = list(sch.get_paginator("list_schedules").paginate(GroupName=group, PaginationConfig={"PageSize": 2}))
    assert [len(p["Schedules"]) for p in pages] == [2, 2, 1]
    assert [s["Name"] for p in pages for s in p["Schedules"]] == [f"{prefix}-{n}" for n in range(5)]
    disabled = sch.list_schedules(GroupName=group, State="DISABLED")["Schedules"]
    assert [s["Name"] for s in disabled] == [f"{prefix}-1", f"{prefix}-3"]
    assert all(s["GroupName"] == group for s in disabled)
    assert sch.list_schedules(NamePrefix=prefix + "-4")["Schedules"][0]["Arn"].endswith(f"schedule/{group}/{prefix}-4")
    assert error_of(lambda: sch.list_schedules(GroupName="no-such-group")) == (
        404, "ResourceNotFoundException", "Schedule group no-such-group does not exist.")


def test_schedule_groups_and_their_tags(server: Server) -> None:
    sch = server.client("scheduler")
    group = unique("grp")
    arn = sch.create_schedule_group(Name=group, Tags=[{"Key": "team", "Value": "ops"}])["ScheduleGroupArn"]
    assert arn == f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule-group/{group}"
    got = sch.get_schedule_group(Name=group)
    assert (got["Arn"], got["Name"], got["State"]) == (arn, group, "ACTIVE")
    default = sch.get_schedule_group(Name="default")
    assert default["Arn"].endswith("schedule-group/default")
    names = [g["Name"] for g in sch.list_schedule_groups()["ScheduleGroups"]]
    assert "default" in names and group in names
    assert error_of(lambda: sch.create_schedule_group(Name=group)) == (
        409, "ConflictException", f"Schedule group {group} already exists.")

    sch.tag_resource(ResourceArn=arn, Tags=[{"Key": "env", "Value": "test"}])
    assert sch.list_tags_for_resource(ResourceArn=arn)["Tags"] == [
        {"Key": "env", "Value": "test"}, {"Key": "team", "Value": "ops"}]
    sch.untag_resource(ResourceArn=arn, TagKeys=["team"])
    assert sch.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "env", "Value": "test"}]

    sch.create_schedule(Name="inside", GroupName=group, ScheduleExpression="rate(1 day)", FlexibleTimeWindow=OFF,
                        Target=target("nobody"))
    assert sch.get_schedule(Name="inside", GroupName=group)["GroupName"] == group
    sch.delete_schedule_group(Name=group)
    assert error_of(lambda: sch.get_schedule_group(Name=group))[:2] == (404, "ResourceNotFoundException")
    assert error_of(lambda: sch.get_schedule(Name="inside", GroupName=group)) == (
        404, "ResourceNotFoundException", f"Schedule group {group} does not exist.")
    assert error_of(lambda: sch.delete_schedule_group(Name="default"))[:2] == (400, "ValidationException")


@pytest.mark.parametrize("expression", [
    "cron(0 1 * * * *)", "cron(7 20 * * NOT *)", "cron(71 8 1 * ? *)", "rate(10 seconds)", "rate(0 minutes)",
    "rate( 10 minutes )", "at(2021-12-31T23:59:59Z)", "at(2021-02-30T10:00:00)",
])
def test_invalid_expressions_are_refused_as_aws_does(server: Server, expression: str) -> None:
    sch = server.client("scheduler")
    assert error_of(lambda: sch.create_schedule(
        Name=unique("bad"), ScheduleExpression=expression, FlexibleTimeWindow=OFF, Target=target("f"),
    )) == (400, "ValidationException", f"Invalid Schedule Expression {expression}.")


def test_other_validation_errors(server: Server) -> None:
    sch = server.client("scheduler")
    name = unique("v")

    def create(**kw: Any) -> Callable[[], Any]:
        args = {"Name": name, "ScheduleExpression": "rate(1 hour)", "FlexibleTimeWindow": OFF, "Target": target("f")}
        return lambda: sch.create_schedule(**{**args, **kw})

    assert error_of(create(Target={"Arn": "arn:aws:sqs:us-east-1:000000000000:q", "RoleArn": ROLE})) == (
        400, "ValidationException",
        "Invalid target ARN arn:aws:sqs:us-east-1:000000000000:q: lambent schedules invoke a Lambda function of "
        f"this server, arn:aws:lambda:{REGION}:{ACCOUNT}:function:<name>[:<version or alias>].")
    assert error_of(create(Target={"Arn": "arn:aws:lambda:eu-west-1:000000000000:function:f", "RoleArn": ROLE}))[1] \
        == "ValidationException"
    assert error_of(create(Target={"Arn": fn_arn("f"), "RoleArn": "not-a-role"})) == (
        400, "ValidationException",
        "1 validation error detected: Value 'not-a-role' at 'target.roleArn' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: arn:aws[a-z-]*:iam::\\d{12}:role\\/[\\w+=,.@\\/-]+")
    assert error_of(create(FlexibleTimeWindow={"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 2000})) == (
        400, "ValidationException",
        "1 validation error detected: Value '2000' at 'flexibleTimeWindow.maximumWindowInMinutes' failed to "
        "satisfy constraint: Member must have value less than or equal to 1440")
    assert error_of(create(FlexibleTimeWindow={"Mode": "FLEXIBLE"})) == (
        400, "ValidationException", "MaximumWindowInMinutes is required when FlexibleTimeWindow Mode is FLEXIBLE.")
    assert error_of(create(Target=target("f", RetryPolicy={"MaximumRetryAttempts": 186})))[2].endswith(
        "at 'target.retryPolicy.maximumRetryAttempts' failed to satisfy constraint: Member must have value less "
        "than or equal to 185")
    assert error_of(create(Target={"Arn": fn_arn("f"), "RoleArn": ROLE, "Input": "not json"})) == (
        400, "ValidationException", "Target Input must be well-formed JSON for a Lambda target.")
    assert error_of(create(ScheduleExpressionTimezone="Mars/Olympus")) == (
        400, "ValidationException", "Invalid Schedule Expression Timezone Mars/Olympus.")
    assert error_of(create(StartDate=datetime.now(timezone.utc) - timedelta(hours=1))) == (
        400, "ValidationException", "The StartDate you specify cannot be earlier than 5 minutes ago.")
    assert error_of(create(GroupName="no-such-group")) == (
        404, "ResourceNotFoundException", "Schedule group no-such-group does not exist.")
    sch.create_schedule(Name=name, ScheduleExpression="rate(1 hour)", FlexibleTimeWindow=OFF, Target=target("f"))
    assert error_of(create()) == (409, "ConflictException", f"Schedule {name} already exists.")
    assert error_of(lambda: sch.update_schedule(Name=unique("none"), ScheduleExpression="rate(1 hour)",
                                                FlexibleTimeWindow=OFF, Target=target("f")))[:2] == (
        404, "ResourceNotFoundException")
    sch.delete_schedule(Name=name)


# -- firing -----------------------------------------------------------------------------------------------
def test_a_rate_schedule_invokes_a_real_function_repeatedly(scaled: Callable[..., Server]) -> None:
    srv = scaled()
    lam, sch = srv.client(), srv.client("scheduler")
    fn = create_function(lam, TICK_APP)
    sch.create_schedule(Name="every-minute", ScheduleExpression="rate(1 minute)", FlexibleTimeWindow=OFF,
                        Target=target(fn))
    wait_for(lambda: len(ticks(srv, fn)) >= 5, what="5 runs")
    sch.delete_schedule(Name="every-minute")
    time.sleep(1.5)  # let anything already queued run
    runs = ticks(srv, fn)
    time.sleep(1.5)
    assert ticks(srv, fn) == runs  # deleted: no more runs
    times = [r[0] for r in runs]
    assert sorted(times) == times and minutes_apart(times) == [1.0] * (len(times) - 1)
    assert len({r[1] for r in runs}) == len(runs)  # one execution id per occurrence


def test_a_cron_schedule_and_an_at_schedule_fire(scaled: Callable[..., Server]) -> None:
    srv = scaled()
    lam, sch = srv.client(), srv.client("scheduler")
    cron_fn, at_fn = create_function(lam, TICK_APP), create_function(lam, TICK_APP)
    sch.create_schedule(Name="cron", ScheduleExpression="cron(* * * * ? *)", FlexibleTimeWindow=OFF,
                        Target=target(cron_fn))
    # at() is a wall-clock instant, whatever the time scale: 3 seconds from now, in Tokyo time
    when = datetime.now(timezone(timedelta(hours=9))) + timedelta(seconds=3)
    sch.create_schedule(Name="once", ScheduleExpression=f"at({when:%Y-%m-%dT%H:%M:%S})",
                        ScheduleExpressionTimezone="Asia/Tokyo", FlexibleTimeWindow=OFF, Target=target(at_fn),
                        ActionAfterCompletion="DELETE")
    wait_for(lambda: len(ticks(srv, at_fn)) == 1, what="the at() run")
    assert time.time() >= when.replace(microsecond=0).timestamp()
    wait_for(lambda: len(ticks(srv, cron_fn)) >= 4, what="4 cron runs")
    cron_times = [r[0] for r in ticks(srv, cron_fn)]
    assert all(t.endswith(":00Z") for t in cron_times)  # on whole (schedule-time) minutes
    assert minutes_apart(cron_times[:4]) == [1.0, 1.0, 1.0]
    time.sleep(2)
    assert len(ticks(srv, at_fn)) == 1
    assert error_of(lambda: sch.get_schedule(Name="once"))[:2] == (404, "ResourceNotFoundException")


def test_a_disabled_schedule_does_not_fire_until_enabled(scaled: Callable[..., Server]) -> None:
    srv = scaled()
    lam, sch = srv.client(), srv.client("scheduler")
    fn = create_function(lam, TICK_APP)
    args = {"Name": "later", "ScheduleExpression": "rate(1 minute)", "FlexibleTimeWindow": OFF, "Target": target(fn)}
    sch.create_schedule(State="DISABLED", **args)
    time.sleep(3)  # five schedule minutes
    assert ticks(srv, fn) == []
    sch.update_schedule(State="ENABLED", **args)
    wait_for(lambda: len(ticks(srv, fn)) >= 2, what="runs once enabled")


def test_a_restart_neither_repeats_nor_loses_occurrences(scaled: Callable[..., Server]) -> None:
    # A grace far longer than the restart: every occurrence missed while down fires afterwards.
    srv = scaled(LAMBENT_SCHEDULES_MISSED_GRACE_S="100000")
    lam, sch = srv.client(), srv.client("scheduler")
    fn = create_function(lam, TICK_APP)
    sch.create_schedule(Name="steady", ScheduleExpression="rate(1 minute)", FlexibleTimeWindow=OFF, Target=target(fn))
    wait_for(lambda: len(ticks(srv, fn)) >= 3, what="runs before the restart")
    srv.stop()
    before = ticks(srv, fn)
    time.sleep(2)  # about three schedule minutes missed
    srv.start()
    wait_for(lambda: len({r[0] for r in ticks(srv, fn)}) >= len({r[0] for r in before}) + 6,
             what="runs after the restart")
    sch = srv.client("scheduler")
    sch.delete_schedule(Name="steady")
    time.sleep(1.5)
    runs = ticks(srv, fn)
    # Each occurrence was queued once: one request id per scheduled time (the async queue may run a
    # request again after a restart — same request id — but the scheduler never queued it twice).
    by_time: dict[str, set[str]] = {}
    for at, _, request_id in runs:
        by_time.setdefault(at, set()).add(request_id)
    assert all(len(ids) == 1 for ids in by_time.values()), by_time
    times = sorted(by_time)
    assert minutes_apart(times) == [1.0] * (len(times) - 1)  # and none lost: no gap across the restart


def test_occurrences_missed_beyond_the_grace_are_skipped_and_logged(scaled: Callable[..., Server]) -> None:
    srv = scaled(LAMBENT_SCHEDULES_MISSED_GRACE_S="0")
    lam, sch = srv.client(), srv.client("scheduler")
    fn = create_function(lam, TICK_APP)
    sch.create_schedule(Name="strict", ScheduleExpression="rate(1 minute)", FlexibleTimeWindow=OFF, Target=target(fn))
    wait_for(lambda: len(ticks(srv, fn)) >= 2, what="runs before the restart")
    srv.stop()
    time.sleep(2)
    srv.start()
    wait_for(lambda: "missed occurrence(s)" in srv.log(), what="the skip warning")
    wait_for(lambda: len(ticks(srv, fn)) >= 4, what="runs after the restart")
    times = sorted({r[0] for r in ticks(srv, fn)})
    assert max(minutes_apart(times)) >= 3  # the gap of the skipped occurrences
    assert re.search(r"WARNING lambent\.schedules\.service: schedule 000000000000:default/strict: skipped \d+ missed", srv.log())


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def test_a_failing_target_goes_to_the_dead_letter_queue(scaled: Callable[..., Server], moto_url: str) -> None:
    srv = scaled(LAMBENT_AWS_SQS_ENDPOINT_URL=moto_url, LAMBENT_AWS_ACCESS_KEY_ID="testing",
                 LAMBENT_AWS_SECRET_ACCESS_KEY="testing")
    sqs = boto3.client("sqs", endpoint_url=moto_url, region_name=REGION, aws_access_key_id="testing",
                       aws_secret_access_key="testing", config=Config(retries={"max_attempts": 2}))
    url = sqs.create_queue(QueueName="scheduler-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sch = srv.client("scheduler")
    missing = unique("missing")
    now = datetime.now(timezone.utc)
    arn = sch.create_schedule(
        Name="doomed", ScheduleExpression=f"at({now:%Y-%m-%dT%H:%M:%S})", FlexibleTimeWindow=OFF,
        Target=target(missing, RetryPolicy={"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 3600},
                      DeadLetterConfig={"Arn": dlq_arn}),
    )["ScheduleArn"]
    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + 30
    while not got and time.monotonic() < deadline:
        got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1, MessageAttributeNames=["All"]).get("Messages", [])
    (msg,) = got
    attrs = {k: v["StringValue"] for k, v in msg["MessageAttributes"].items()}
    body = json.loads(msg["Body"])
    assert body["id"] == attrs["EXECUTION_ID"]
    assert body["at"] == attrs["SCHEDULED_TIME"]
    assert attrs["ERROR_CODE"] == "ResourceNotFoundException"
    # Scheduler invokes Lambda, whose unqualified Invoke miss names $LATEST (AWS's recorded text)
    assert attrs["ERROR_MESSAGE"] == f"Function not found: {fn_arn(missing)}:$LATEST"
    assert attrs["EXHAUSTED_RETRY_CONDITION"] == "MaximumRetryAttempts"
    assert attrs["RETRY_ATTEMPTS"] == "2"
    assert attrs["IS_PAYLOAD_TRUNCATED"] == "false"
    assert (attrs["SCHEDULE_ARN"], attrs["TARGET_ARN"]) == (arn, fn_arn(missing))
