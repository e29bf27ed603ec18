"""The Scheduler handlers' own logic on params the protocol layer parsed from real wire bodies:
the complete typed spec (UpdateSchedule is a full replacement), the Lambda-target rules the model
cannot state, pagination tokens, and output shapes the layer serialises as AWS does."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Any, cast

import pytest

from lambent.api.protocols import handler
from lambent.api.scheduler_api import group_shape, page, schedule_shape, schedule_spec
from lambent.errors import ValidationError
from lambent.schedules.model import (
    ActionAfterCompletion,
    RetryPolicy,
    Schedule,
    ScheduleGroup,
    ScheduleSpec,
    ScheduleState,
    Target,
)
from lambent.schedules.service import SchedulerService

REGION, ACCOUNT = "us-east-1", "000000000000"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/scheduler"
FN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:tick"
SERVICE = cast(SchedulerService, SimpleNamespace(
    region=REGION, account_id=ACCOUNT,
    schedule_arn=lambda g, n, a=ACCOUNT: f"arn:aws:scheduler:{REGION}:{a}:schedule/{g}/{n}",
    group_arn=lambda n, a=ACCOUNT: f"arn:aws:scheduler:{REGION}:{a}:schedule-group/{n}",
))


def parsed(method: str, body: dict[str, Any], name: str = "nightly") -> tuple[str, dict[str, Any]]:
    """(operation, params) as the layer hands them to a handler, from a wire body."""
    return handler("scheduler").parse(method, f"/schedules/{name}", "", {}, json.dumps(body).encode())


def minimal(**extra: Any) -> dict[str, Any]:
    return {"ScheduleExpression": "rate(5 minutes)", "FlexibleTimeWindow": {"Mode": "OFF"},
            "Target": {"Arn": FN, "RoleArn": ROLE}, **extra}


def test_update_is_a_full_replacement_what_is_not_given_takes_its_default() -> None:
    op, params = parsed("PUT", minimal())
    assert op == "UpdateSchedule"
    group, spec = schedule_spec(params, SERVICE, ACCOUNT)
    assert group == "default"
    assert spec == ScheduleSpec(
        expression="rate(5 minutes)", target=Target(arn=FN, role_arn=ROLE, function_name="tick"),
        timezone="UTC", start_date=None, end_date=None, description=None, state=ScheduleState.ENABLED,
        kms_key_arn=None, flexible_window_min=None, action_after_completion=ActionAfterCompletion.NONE,
    )
    assert spec.target.retry_policy == RetryPolicy(185, 86400)


def test_every_member_lands_typed_in_the_spec() -> None:
    start = datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    op, params = parsed("POST", minimal(
        GroupName="ops", ScheduleExpressionTimezone="Europe/Paris", StartDate=start.timestamp(),
        EndDate="2030-02-01T00:00:00Z", Description="d", State="DISABLED", ActionAfterCompletion="DELETE",
        KmsKeyArn=f"arn:aws:kms:{REGION}:{ACCOUNT}:key/k1", FlexibleTimeWindow={"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 15},
        Target={"Arn": FN + ":live", "RoleArn": ROLE, "Input": '{"a": 1}', "DeadLetterConfig": {"Arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:dlq"},
                "RetryPolicy": {"MaximumRetryAttempts": 3}},
    ))
    assert op == "CreateSchedule"
    group, spec = schedule_spec(params, SERVICE, ACCOUNT)
    assert group == "ops"
    assert (spec.start_date, spec.end_date) == (start.timestamp(), datetime(2030, 2, 1, tzinfo=timezone.utc).timestamp())
    assert (spec.timezone, spec.description, spec.state, spec.action_after_completion) == (
        "Europe/Paris", "d", ScheduleState.DISABLED, ActionAfterCompletion.DELETE)
    assert (spec.kms_key_arn, spec.flexible_window_min) == (f"arn:aws:kms:{REGION}:{ACCOUNT}:key/k1", 15)
    assert spec.target == Target(arn=FN + ":live", role_arn=ROLE, function_name="tick", qualifier="live", input='{"a": 1}',
                                 retry_policy=RetryPolicy(3, 86400), dead_letter_arn=f"arn:aws:sqs:{REGION}:{ACCOUNT}:dlq")


@pytest.mark.parametrize(("body", "message"), [
    (minimal(FlexibleTimeWindow={"Mode": "FLEXIBLE"}),
     "MaximumWindowInMinutes is required when FlexibleTimeWindow Mode is FLEXIBLE."),
    (minimal(FlexibleTimeWindow={"Mode": "OFF", "MaximumWindowInMinutes": 5}),
     "MaximumWindowInMinutes must not be set when FlexibleTimeWindow Mode is OFF."),
    (minimal(Target={"Arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:q", "RoleArn": ROLE}),
     f"Invalid target ARN arn:aws:sqs:{REGION}:{ACCOUNT}:q: lambent schedules invoke a Lambda function of this server, "
     f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:<name>[:<version or alias>]."),
    # another account's or region's function is not this server's to invoke
    (minimal(Target={"Arn": "arn:aws:lambda:us-east-1:999999999999:function:f", "RoleArn": ROLE}), None),
    (minimal(Target={"Arn": f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:f", "RoleArn": ROLE}), None),
    # the execution role must be of the schedule's account too
    (minimal(Target={"Arn": FN, "RoleArn": "arn:aws:iam::999999999999:role/scheduler"}),
     "Invalid RoleArn arn:aws:iam::999999999999:role/scheduler: the execution role must be a role of the "
     f"schedule's account, arn:aws:iam::{ACCOUNT}:role/<name>."),
    (minimal(Target={"Arn": FN, "RoleArn": ROLE, "SqsParameters": {"MessageGroupId": "g"}}),
     "SqsParameters is not supported: lambent schedules invoke Lambda functions only."),
    (minimal(Target={"Arn": FN, "RoleArn": ROLE, "Input": "not json"}),
     "Target Input must be well-formed JSON for a Lambda target."),
    # hostile: an Input nested past the JSON decoder's recursion limit is a client error, not a crash
    (minimal(Target={"Arn": FN, "RoleArn": ROLE, "Input": "[" * 100_000 + "]" * 100_000}),
     "Target Input must be well-formed JSON for a Lambda target."),
])
def test_what_the_model_cannot_say_is_refused_as_validation(body: dict[str, Any], message: str | None) -> None:
    _, params = parsed("POST", body)
    with pytest.raises(ValidationError) as err:
        schedule_spec(params, SERVICE, ACCOUNT)
    if message is not None:
        assert err.value.message == message
    else:
        assert err.value.message.startswith("Invalid target ARN")


def test_the_model_checks_run_before_the_handler_with_aws_paths() -> None:
    with pytest.raises(ValidationError) as err:
        parsed("POST", minimal(Target={"Arn": FN, "RoleArn": "not-a-role", "RetryPolicy": {"MaximumRetryAttempts": 186}}))
    assert err.value.message.startswith("2 validation errors detected: ")
    assert "at 'target.roleArn'" in err.value.message and "at 'target.retryPolicy.maximumRetryAttempts'" in err.value.message


def test_pages_follow_their_token_and_survive_a_deleted_item() -> None:
    items = [f"s{n}" for n in range(5)]
    first, token = page(items, str, None, 2)
    assert first == ["s0", "s1"] and token is not None
    second, token2 = page([i for i in items if i != "s1"], str, token, 2)  # s1 deleted meanwhile
    assert second == ["s2", "s3"] and token2 is not None
    last, end = page(items, str, token2, 2)
    assert (last, end) == (["s4"], None)
    assert page(items, str, None, None) == (items, None)  # AWS's default page holds 100


@pytest.mark.parametrize("token", ["%%%", "\u00ff\u00fe", "////"])
def test_a_forged_token_is_a_validation_error(token: str) -> None:
    with pytest.raises(ValidationError, match="Invalid NextToken."):
        page(["a", "b"], str, token, 1)


def test_outputs_serialise_as_aws_epoch_seconds_and_no_null_members() -> None:
    spec = ScheduleSpec(expression="rate(1 hour)", target=Target(arn=FN, role_arn=ROLE, function_name="tick"),
                        start_date=1_900_000_000.0)
    s = Schedule("default", "nightly", spec, created_at=1_800_000_000.5, modified_at=1_800_000_001.0, account=ACCOUNT)
    status, _, body = handler("scheduler").serialise("GetSchedule", schedule_shape(SERVICE, s))
    doc = json.loads(body)
    assert status == 200
    assert (doc["CreationDate"], doc["LastModificationDate"], doc["StartDate"]) == (1_800_000_000.5, 1_800_000_001, 1_900_000_000)
    assert "EndDate" not in doc and "Description" not in doc and "KmsKeyArn" not in doc
    assert doc["Target"] == {"Arn": FN, "RoleArn": ROLE,
                             "RetryPolicy": {"MaximumEventAgeInSeconds": 86400, "MaximumRetryAttempts": 185}}
    assert doc["FlexibleTimeWindow"] == {"Mode": "OFF"}
    g = ScheduleGroup("ops", 1_800_000_000.0, 1_800_000_000.0, ACCOUNT)
    _, _, body = handler("scheduler").serialise("GetScheduleGroup", group_shape(SERVICE, g))
    assert json.loads(body) == {"Arn": SERVICE.group_arn("ops"), "CreationDate": 1_800_000_000,
                                "LastModificationDate": 1_800_000_000, "Name": "ops", "State": "ACTIVE"}


def test_a_target_and_role_are_checked_against_the_callers_account_not_the_servers() -> None:
    # Given a caller of account B (not the server's)
    other = "111122223333"
    fn_b, role_b = f"arn:aws:lambda:{REGION}:{other}:function:tick", f"arn:aws:iam::{other}:role/r"
    # When it names its own function and role, the spec holds them
    _, params = parsed("POST", minimal(Target={"Arn": fn_b, "RoleArn": role_b}))
    _, spec = schedule_spec(params, SERVICE, other)
    assert (spec.target.arn, spec.target.role_arn) == (fn_b, role_b)
    # And the server account's function is not B's to target (AWS's message, naming B's account)
    _, params = parsed("POST", minimal(Target={"Arn": FN, "RoleArn": role_b}))
    with pytest.raises(ValidationError) as err:
        schedule_spec(params, SERVICE, other)
    assert err.value.message == (
        f"Invalid target ARN {FN}: lambent schedules invoke a Lambda function of this server, "
        f"arn:aws:lambda:{REGION}:{other}:function:<name>[:<version or alias>].")
    # Nor the server account's role
    _, params = parsed("POST", minimal(Target={"Arn": fn_b, "RoleArn": ROLE}))
    with pytest.raises(ValidationError, match="the execution role must be a role of the schedule's account"):
        schedule_spec(params, SERVICE, other)
    # And the shapes carry the owner's account
    s = Schedule("default", "n", spec, 1.0, 1.0, other)
    assert schedule_shape(SERVICE, s)["Arn"] == f"arn:aws:scheduler:{REGION}:{other}:schedule/default/n"
    assert group_shape(SERVICE, ScheduleGroup("g", 1.0, 1.0, other))["Arn"] == (
        f"arn:aws:scheduler:{REGION}:{other}:schedule-group/g")
