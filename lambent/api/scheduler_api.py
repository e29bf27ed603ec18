"""EventBridge Scheduler API (2021-06-30, rest-json): schedules, schedule groups, their tags.

Served by the protocol layer (SigV4 service name ``scheduler``): each operation is one handler
registered under its name in botocore's ``scheduler/2021-06-30/service-2.json``, which parses
the request, checks the model's constraints (required members, lengths, patterns, enums, ranges:
AWS's ``ValidationException`` text) and renders errors in the scheduler's envelope (its codes:
``ConflictException``, ``ThrottlingException``, ``ValidationException`` for every client error,
``InternalServerException``). What is left here is what the model cannot say: targets are
lambent's own Lambda functions, a flexible window needs its width, Input is JSON.

Defaults GetSchedule returns, and the error messages, copy AWS as recorded by LocalStack's
snapshot tests (``ScheduleExpressionTimezone`` "UTC", ``ActionAfterCompletion`` "NONE",
RetryPolicy 185 / 86400, ``Schedule <name> does not exist.``).

Per account, as on AWS: every operation acts in the caller's account (``call.principal.account_id``)
and its own groups, ``default`` included; ARNs carry that account, and a schedule's target and
role must be of it too. Authorisation is the dispatcher's (``scheduler:*`` actions).

``ClientToken`` (botocore fills it in on every create) is accepted; a retried create answers
ConflictException rather than the first answer, which is what a retry needs to know.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any, TypeVar

from lambent.api.dispatch import Call
from lambent.api.services import SCHEDULER
from lambent.errors import ValidationError
from lambent.schedules.model import (
    DEFAULT_GROUP,
    ActionAfterCompletion,
    FlexibleMode,
    RetryPolicy,
    Schedule,
    ScheduleGroup,
    ScheduleSpec,
    ScheduleState,
    Target,
)
from lambent.schedules.service import SchedulerService

T = TypeVar("T")
Output = dict[str, Any]

_LAMBDA_ARN_RE = re.compile(
    r"^arn:aws[a-zA-Z-]*:lambda:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):function:"
    r"(?P<name>[a-zA-Z0-9-_]{1,64})(?::(?P<qualifier>\$LATEST|[a-zA-Z0-9-_]{1,128}))?$"
)
#: The account of an IAM role ARN (the model has checked the ARN's pattern already).
_ROLE_ACCOUNT_RE = re.compile(r"^arn:aws[a-zA-Z-]*:iam::(?P<account>\d{12}):role/")
#: Templated-target parameters of targets lambent does not run.
_OTHER_TARGET_PARAMETERS = (
    "EcsParameters", "EventBridgeParameters", "EventBridgePutEventsV2Parameters",
    "EventBridgePutRawEventsParameters", "KinesisParameters", "SageMakerPipelineParameters", "SqsParameters",
)
#: AWS's page size when MaxResults is not given.
DEFAULT_MAX_RESULTS = 100


async def _scope(call: Call) -> tuple[SchedulerService, str]:
    """The scheduler and the caller's account, which every operation acts in (its ``default``
    group made the first time the account uses the Scheduler)."""
    service: SchedulerService = call.platform.schedules
    account = call.principal.account_id
    await service.open_account(account)
    return service, account


# -- request values ---------------------------------------------------------------------------------
def _epoch(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def _when(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, timezone.utc)


def _target(raw: dict[str, Any], service: SchedulerService, account: str) -> Target:
    """The Lambda target of a schedule of ``account``: a function of that account (the engine
    invokes the ARN's function, so this is what keeps a schedule to its own account's functions),
    with an execution role of that account."""
    for key in _OTHER_TARGET_PARAMETERS:
        if raw.get(key) is not None:
            raise ValidationError(f"{key} is not supported: lambent schedules invoke Lambda functions only.")
    arn: str = raw["Arn"]
    m = _LAMBDA_ARN_RE.match(arn)
    expected = f"arn:aws:lambda:{service.region}:{account}:function:<name>[:<version or alias>]"
    if m is None or (m.group("region"), m.group("account")) != (service.region, account):
        raise ValidationError(f"Invalid target ARN {arn}: lambent schedules invoke a Lambda function of this "
                              f"server, {expected}.")
    role: str = raw["RoleArn"]
    r = _ROLE_ACCOUNT_RE.match(role)
    if r is None or r.group("account") != account:
        raise ValidationError(f"Invalid RoleArn {role}: the execution role must be a role of the schedule's "
                              f"account, arn:aws:iam::{account}:role/<name>.")
    text = raw.get("Input")
    if text is not None:
        try:
            json.loads(text)
        except (ValueError, RecursionError):  # RecursionError: nested too deep
            raise ValidationError("Target Input must be well-formed JSON for a Lambda target.") from None
    retry = raw.get("RetryPolicy") or {}
    defaults = RetryPolicy()
    return Target(
        arn=arn, role_arn=role, function_name=m.group("name"), qualifier=m.group("qualifier"),
        input=text,
        retry_policy=RetryPolicy(
            retry.get("MaximumRetryAttempts", defaults.max_retry_attempts),
            retry.get("MaximumEventAgeInSeconds", defaults.max_event_age_s),
        ),
        dead_letter_arn=(raw.get("DeadLetterConfig") or {}).get("Arn"),
    )


def schedule_spec(params: dict[str, Any], service: SchedulerService, account: str) -> tuple[str, ScheduleSpec]:
    """(group, spec) of a CreateSchedule / UpdateSchedule request of a caller of ``account``, its
    model constraints already checked. UpdateSchedule replaces the whole definition (AWS: "all the parameters not given go
    back to their defaults"), so both build the complete spec the same way."""
    flex: dict[str, Any] = params["FlexibleTimeWindow"]
    window = flex.get("MaximumWindowInMinutes")
    if flex["Mode"] == FlexibleMode.FLEXIBLE and window is None:
        raise ValidationError("MaximumWindowInMinutes is required when FlexibleTimeWindow Mode is FLEXIBLE.")
    if flex["Mode"] == FlexibleMode.OFF and window is not None:
        raise ValidationError("MaximumWindowInMinutes must not be set when FlexibleTimeWindow Mode is OFF.")
    spec = ScheduleSpec(
        expression=params["ScheduleExpression"],
        target=_target(params["Target"], service, account),
        timezone=params.get("ScheduleExpressionTimezone") or "UTC",
        start_date=_epoch(params.get("StartDate")),
        end_date=_epoch(params.get("EndDate")),
        description=params.get("Description"),
        state=ScheduleState(params.get("State") or ScheduleState.ENABLED),
        kms_key_arn=params.get("KmsKeyArn"),
        flexible_window_min=window,
        action_after_completion=ActionAfterCompletion(params.get("ActionAfterCompletion") or ActionAfterCompletion.NONE),
    )
    return params.get("GroupName") or DEFAULT_GROUP, spec


def page(items: Sequence[T], key: Callable[[T], str], token: str | None, max_results: int | None) -> tuple[list[T], str | None]:
    """NextToken/MaxResults pagination (MaxResults already range-checked by the model); the token
    is the last returned item's key, base64-encoded, so a deleted item does not shift the pages."""
    size = DEFAULT_MAX_RESULTS if max_results is None else max_results
    start = 0
    if token:
        try:
            after = base64.b64decode(token.encode(), altchars=b"-_", validate=True).decode()
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise ValidationError("Invalid NextToken.") from None
        start = next((n for n, item in enumerate(items) if key(item) > after), len(items))
    found = list(items[start:start + size])
    more = bool(found) and start + size < len(items)
    return found, base64.urlsafe_b64encode(key(found[-1]).encode()).decode() if more else None


def _tags(raw: list[dict[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in raw or ()}


# -- response shapes ----------------------------------------------------------------------------------
def schedule_shape(service: SchedulerService, s: Schedule) -> Output:
    """GetScheduleOutput."""
    spec, target = s.spec, s.spec.target
    out_target: Output = {
        "Arn": target.arn,
        "RoleArn": target.role_arn,
        "RetryPolicy": {
            "MaximumEventAgeInSeconds": target.retry_policy.max_event_age_s,
            "MaximumRetryAttempts": target.retry_policy.max_retry_attempts,
        },
        "Input": target.input,
        "DeadLetterConfig": None if target.dead_letter_arn is None else {"Arn": target.dead_letter_arn},
    }
    return {
        "ActionAfterCompletion": spec.action_after_completion.value,
        "Arn": service.schedule_arn(s.group, s.name, s.account),
        "CreationDate": _when(s.created_at),
        "FlexibleTimeWindow": (
            {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": spec.flexible_window_min}
            if spec.flexible_window_min else {"Mode": "OFF"}
        ),
        "GroupName": s.group,
        "LastModificationDate": _when(s.modified_at),
        "Name": s.name,
        "ScheduleExpression": spec.expression,
        "ScheduleExpressionTimezone": spec.timezone,
        "State": spec.state.value,
        "Target": out_target,
        "Description": spec.description,
        "StartDate": _when(spec.start_date),
        "EndDate": _when(spec.end_date),
        "KmsKeyArn": spec.kms_key_arn,
    }


def schedule_summary(service: SchedulerService, s: Schedule) -> Output:
    """ScheduleSummary (ListSchedules)."""
    return {
        "Arn": service.schedule_arn(s.group, s.name, s.account),
        "CreationDate": _when(s.created_at),
        "GroupName": s.group,
        "LastModificationDate": _when(s.modified_at),
        "Name": s.name,
        "State": s.spec.state.value,
        "Target": {"Arn": s.spec.target.arn},
    }


def group_shape(service: SchedulerService, g: ScheduleGroup) -> Output:
    """GetScheduleGroupOutput and ScheduleGroupSummary."""
    return {
        "Arn": service.group_arn(g.name, g.account),
        "CreationDate": _when(g.created_at),
        "LastModificationDate": _when(g.modified_at),
        "Name": g.name,
        "State": "ACTIVE",
    }


# -- schedules ----------------------------------------------------------------------------------------
@SCHEDULER.register("CreateSchedule")
async def create_schedule(call: Call) -> Output:
    service, account = await _scope(call)
    group, spec = schedule_spec(call.params, service, account)
    name: str = call.params["Name"]
    await service.create(group, name, spec, account=account)
    return {"ScheduleArn": service.schedule_arn(group, name, account)}


@SCHEDULER.register("UpdateSchedule")
async def update_schedule(call: Call) -> Output:
    service, account = await _scope(call)
    group, spec = schedule_spec(call.params, service, account)
    name: str = call.params["Name"]
    await service.update(group, name, spec, account=account)
    return {"ScheduleArn": service.schedule_arn(group, name, account)}


@SCHEDULER.register("GetSchedule")
async def get_schedule(call: Call) -> Output:
    service, account = await _scope(call)
    group = call.params.get("GroupName") or DEFAULT_GROUP
    return schedule_shape(service, service.get(group, call.params["Name"], account=account))


@SCHEDULER.register("DeleteSchedule")
async def delete_schedule(call: Call) -> Output:
    service, account = await _scope(call)
    await service.delete(call.params.get("GroupName") or DEFAULT_GROUP, call.params["Name"], account=account)
    return {}


@SCHEDULER.register("ListSchedules")
async def list_schedules(call: Call) -> Output:
    service, account = await _scope(call)
    p = call.params
    state = ScheduleState(p["State"]) if p.get("State") else None
    items = service.list_schedules(p.get("GroupName"), p.get("NamePrefix"), state, account=account)
    found, nxt = page(items, lambda s: f"{s.group}\x00{s.name}", p.get("NextToken"), p.get("MaxResults"))
    return {"Schedules": [schedule_summary(service, s) for s in found], "NextToken": nxt}


# -- schedule groups ----------------------------------------------------------------------------------
@SCHEDULER.register("CreateScheduleGroup")
async def create_schedule_group(call: Call) -> Output:
    service, account = await _scope(call)
    name: str = call.params["Name"]
    await service.create_group(name, _tags(call.params.get("Tags")), account=account)
    return {"ScheduleGroupArn": service.group_arn(name, account)}


@SCHEDULER.register("GetScheduleGroup")
async def get_schedule_group(call: Call) -> Output:
    service, account = await _scope(call)
    return group_shape(service, service.get_group(call.params["Name"], account=account))


@SCHEDULER.register("DeleteScheduleGroup")
async def delete_schedule_group(call: Call) -> Output:
    service, account = await _scope(call)
    await service.delete_group(call.params["Name"], account=account)
    return {}


@SCHEDULER.register("ListScheduleGroups")
async def list_schedule_groups(call: Call) -> Output:
    service, account = await _scope(call)
    p = call.params
    groups = service.list_groups(p.get("NamePrefix"), account=account)
    found, nxt = page(groups, lambda g: g.name, p.get("NextToken"), p.get("MaxResults"))
    return {"ScheduleGroups": [group_shape(service, g) for g in found], "NextToken": nxt}


# -- tags (schedule groups only, as in AWS; the caller's own groups only) ------------------------------------
@SCHEDULER.register("ListTagsForResource")
async def list_tags_for_resource(call: Call) -> Output:
    service, account = await _scope(call)
    tags = service.tags(call.params["ResourceArn"], account=account)
    return {"Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}


@SCHEDULER.register("TagResource")
async def tag_resource(call: Call) -> Output:
    service, account = await _scope(call)
    await service.tag(call.params["ResourceArn"], _tags(call.params["Tags"]), account=account)
    return {}


@SCHEDULER.register("UntagResource")
async def untag_resource(call: Call) -> Output:
    service, account = await _scope(call)
    await service.untag(call.params["ResourceArn"], list(call.params["TagKeys"]), account=account)
    return {}
