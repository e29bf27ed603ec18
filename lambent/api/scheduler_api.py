"""EventBridge Scheduler API (2021-06-30, rest-json): schedules, schedule groups, their tags.

Routed here by the SigV4 service name ``scheduler``. Shapes and member names follow botocore's
``scheduler/2021-06-30/service-2.json``; timestamps are epoch seconds. Defaults GetSchedule
returns, and the error messages, copy AWS as recorded by LocalStack's snapshot tests
(``ScheduleExpressionTimezone`` "UTC", ``ActionAfterCompletion`` "NONE", RetryPolicy 185 / 86400,
``Schedule <name> does not exist.``). Targets are lambent's own Lambda functions.

Errors use the scheduler's codes, which differ from Lambda's for the same lambent classes
(``ConflictException``, ``ThrottlingException``, ``InternalServerException``, and
``ValidationException`` for every client error), each with a ``Message`` member.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import logging
import re
import uuid
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, Router

from lambent.api.rest import Handler, body_json, endpoint, json_response, platform_of
from lambent.control.validation import Checker
from lambent.errors import (
    ClientError,
    LambentError,
    ResourceConflict,
    ResourceNotFound,
    ServiceError,
    TooManyRequests,
    ValidationError,
)
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

log = logging.getLogger(__name__)

NAME_PATTERN = r"[0-9a-zA-Z-_.]+"
ROLE_ARN_PATTERN = r"arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@\/-]+"
DLQ_ARN_PATTERN = r"arn:aws[a-z-]*:sqs:[a-z0-9\-]+:\d{12}:[a-zA-Z0-9\-_]+"
KMS_ARN_PATTERN = r"arn:aws[a-z-]*:kms:[a-z0-9\-]+:\d{12}:(key|alias)\/[0-9a-zA-Z-_]*"
CLIENT_TOKEN_PATTERN = r"[a-zA-Z0-9-_]+"
_LAMBDA_ARN_RE = re.compile(
    r"^arn:aws[a-zA-Z-]*:lambda:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):function:"
    r"(?P<name>[a-zA-Z0-9-_]{1,64})(?::(?P<qualifier>\$LATEST|[a-zA-Z0-9-_]{1,128}))?$"
)
#: Templated-target parameters of targets lambent does not run.
_OTHER_TARGET_PARAMETERS = (
    "EcsParameters", "EventBridgeParameters", "EventBridgePutEventsV2Parameters",
    "EventBridgePutRawEventsParameters", "KinesisParameters", "SageMakerPipelineParameters", "SqsParameters",
)
DEFAULT_MAX_RESULTS = 100


# -- errors ---------------------------------------------------------------------------------------
def _code(exc: LambentError) -> tuple[str, int]:
    if isinstance(exc, ResourceNotFound):
        return "ResourceNotFoundException", 404
    if isinstance(exc, ResourceConflict):
        return "ConflictException", 409
    if isinstance(exc, TooManyRequests):
        return "ThrottlingException", 429
    if isinstance(exc, ClientError):
        return "ValidationException", 400
    return "InternalServerException", 500


def scheduler_error(exc: LambentError) -> Response:
    """The scheduler's error envelope: ``x-amzn-ErrorType`` and ``{"Message": ...}``."""
    code, status = _code(exc)
    headers = {"x-amzn-ErrorType": code, "x-amzn-RequestId": str(uuid.uuid4())}
    return Response(json.dumps({"Message": exc.message}), status_code=status, headers=headers,
                    media_type="application/json")


def _operation(fn: Handler) -> Handler:
    """Map errors to the scheduler's envelopes (rest.endpoint stays the outer safety net)."""

    @functools.wraps(fn)
    async def wrapped(request: Request) -> Response:
        try:
            return await fn(request)
        except LambentError as exc:
            return scheduler_error(exc)
        except Exception as exc:  # noqa: BLE001 - never crash on a request
            log.exception("unhandled error in %s", fn.__name__)
            return scheduler_error(ServiceError(f"Internal error: {type(exc).__name__}"))

    return endpoint(wrapped)


def _service(request: Request) -> SchedulerService:
    return platform_of(request).schedules


# -- request parsing --------------------------------------------------------------------------------
def _name(request: Request, field: str = "name") -> str:
    name: str = request.path_params["Name"]
    c = Checker()
    c.string(field, name, min_len=1, max_len=64, pattern=NAME_PATTERN)
    c.raise_if_any()
    return name


def _group_name(value: Any, c: Checker, field: str = "groupName") -> str:
    c.string(field, value, min_len=1, max_len=64, pattern=NAME_PATTERN)
    return value if isinstance(value, str) and value else DEFAULT_GROUP


def _timestamp(value: Any, field: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            pass
    raise ValidationError(f"1 validation error detected: Value '{value}' at '{field}' failed to satisfy "
                          "constraint: Member must be a timestamp")


def _object(value: Any, field: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValidationError(f"1 validation error detected: Value at '{field}' failed to satisfy constraint: "
                              "Member must be a structure")
    return value


def _target(raw: dict[str, Any], service: SchedulerService) -> Target:
    for key in _OTHER_TARGET_PARAMETERS:
        if raw.get(key) is not None:
            raise ValidationError(f"{key} is not supported: lambent schedules invoke Lambda functions only.")
    arn: str = raw["Arn"]
    m = _LAMBDA_ARN_RE.match(arn)
    expected = f"arn:aws:lambda:{service.region}:{service.account_id}:function:<name>[:<version or alias>]"
    if m is None or (m.group("region"), m.group("account")) != (service.region, service.account_id):
        raise ValidationError(f"Invalid target ARN {arn}: lambent schedules invoke a Lambda function of this "
                              f"server, {expected}.")
    text = raw.get("Input")
    if text is not None:
        try:
            json.loads(text)
        except (ValueError, RecursionError):  # RecursionError: nested too deep
            raise ValidationError("Target Input must be well-formed JSON for a Lambda target.") from None
    retry = _object(raw.get("RetryPolicy"), "target.retryPolicy")
    defaults = RetryPolicy()
    dlq = _object(raw.get("DeadLetterConfig"), "target.deadLetterConfig").get("Arn")
    return Target(
        arn=arn, role_arn=raw["RoleArn"], function_name=m.group("name"), qualifier=m.group("qualifier"),
        input=text,
        retry_policy=RetryPolicy(
            retry.get("MaximumRetryAttempts", defaults.max_retry_attempts),
            retry.get("MaximumEventAgeInSeconds", defaults.max_event_age_s),
        ),
        dead_letter_arn=dlq,
    )


def _spec(body: dict[str, Any], service: SchedulerService) -> tuple[str, ScheduleSpec]:
    """Validate a CreateSchedule / UpdateSchedule body; returns (group, spec)."""
    c = Checker()
    group = _group_name(body.get("GroupName"), c)
    c.required("scheduleExpression", body.get("ScheduleExpression"))
    c.string("scheduleExpression", body.get("ScheduleExpression"), min_len=1, max_len=256)
    c.string("scheduleExpressionTimezone", body.get("ScheduleExpressionTimezone"), min_len=1, max_len=50)
    c.string("description", body.get("Description"), max_len=512)
    c.enum("state", body.get("State"), [s.value for s in ScheduleState])
    c.enum("actionAfterCompletion", body.get("ActionAfterCompletion"), [a.value for a in ActionAfterCompletion])
    c.string("kmsKeyArn", body.get("KmsKeyArn"), min_len=1, max_len=2048, pattern=KMS_ARN_PATTERN)
    c.string("clientToken", body.get("ClientToken"), min_len=1, max_len=64, pattern=CLIENT_TOKEN_PATTERN)
    c.required("flexibleTimeWindow", body.get("FlexibleTimeWindow"))
    flex = _object(body.get("FlexibleTimeWindow"), "flexibleTimeWindow")
    if body.get("FlexibleTimeWindow") is not None:
        c.required("flexibleTimeWindow.mode", flex.get("Mode"))
        c.enum("flexibleTimeWindow.mode", flex.get("Mode"), [m.value for m in FlexibleMode])
        c.int_range("flexibleTimeWindow.maximumWindowInMinutes", flex.get("MaximumWindowInMinutes"), 1, 1440)
    c.required("target", body.get("Target"))
    raw = _object(body.get("Target"), "target")
    if body.get("Target") is not None:
        c.required("target.arn", raw.get("Arn"))
        c.string("target.arn", raw.get("Arn"), min_len=1, max_len=1600)
        c.required("target.roleArn", raw.get("RoleArn"))
        c.string("target.roleArn", raw.get("RoleArn"), min_len=1, max_len=1600, pattern=ROLE_ARN_PATTERN)
        c.string("target.input", raw.get("Input"), min_len=1, max_len=262_144)
        retry = _object(raw.get("RetryPolicy"), "target.retryPolicy")
        c.int_range("target.retryPolicy.maximumRetryAttempts", retry.get("MaximumRetryAttempts"), 0, 185)
        c.int_range("target.retryPolicy.maximumEventAgeInSeconds", retry.get("MaximumEventAgeInSeconds"), 60, 86400)
        dlq = _object(raw.get("DeadLetterConfig"), "target.deadLetterConfig")
        c.string("target.deadLetterConfig.arn", dlq.get("Arn"), min_len=1, max_len=1600, pattern=DLQ_ARN_PATTERN)
    c.raise_if_any()

    window = flex.get("MaximumWindowInMinutes")
    if flex["Mode"] == FlexibleMode.FLEXIBLE and window is None:
        raise ValidationError("MaximumWindowInMinutes is required when FlexibleTimeWindow Mode is FLEXIBLE.")
    if flex["Mode"] == FlexibleMode.OFF and window is not None:
        raise ValidationError("MaximumWindowInMinutes must not be set when FlexibleTimeWindow Mode is OFF.")
    spec = ScheduleSpec(
        expression=body["ScheduleExpression"],
        target=_target(raw, service),
        timezone=body.get("ScheduleExpressionTimezone") or "UTC",
        start_date=_timestamp(body.get("StartDate"), "startDate"),
        end_date=_timestamp(body.get("EndDate"), "endDate"),
        description=body.get("Description"),
        state=ScheduleState(body.get("State") or ScheduleState.ENABLED),
        kms_key_arn=body.get("KmsKeyArn"),
        flexible_window_min=window,
        action_after_completion=ActionAfterCompletion(body.get("ActionAfterCompletion") or ActionAfterCompletion.NONE),
    )
    return group, spec


def _page(items: list[Any], request: Request, key: Any) -> tuple[list[Any], str | None]:
    """NextToken/MaxResults pagination; the token is the last item's key, base64-encoded."""
    q = request.query_params
    max_results = DEFAULT_MAX_RESULTS
    if "MaxResults" in q:
        c = Checker()
        try:
            max_results = int(q["MaxResults"])
        except ValueError:
            c.fail("maxResults", q["MaxResults"], "Member must be an integer")
        c.int_range("maxResults", max_results, 1, 100)
        c.raise_if_any()
    start = 0
    if q.get("NextToken"):
        try:
            after = base64.urlsafe_b64decode(q["NextToken"].encode()).decode()
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise ValidationError("Invalid NextToken.") from None
        keys = [key(i) for i in items]
        start = next((n for n, k in enumerate(keys) if k > after), len(items))
    page = items[start:start + max_results]
    nxt = base64.urlsafe_b64encode(key(page[-1]).encode()).decode() if page and start + max_results < len(items) else None
    return page, nxt


# -- response shapes ----------------------------------------------------------------------------------
def schedule_shape(service: SchedulerService, s: Schedule) -> dict[str, Any]:
    spec, target = s.spec, s.spec.target
    out_target: dict[str, Any] = {
        "Arn": target.arn,
        "RoleArn": target.role_arn,
        "RetryPolicy": {
            "MaximumEventAgeInSeconds": target.retry_policy.max_event_age_s,
            "MaximumRetryAttempts": target.retry_policy.max_retry_attempts,
        },
    }
    if target.input is not None:
        out_target["Input"] = target.input
    if target.dead_letter_arn is not None:
        out_target["DeadLetterConfig"] = {"Arn": target.dead_letter_arn}
    out: dict[str, Any] = {
        "ActionAfterCompletion": spec.action_after_completion.value,
        "Arn": service.schedule_arn(s.group, s.name),
        "CreationDate": s.created_at,
        "FlexibleTimeWindow": (
            {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": spec.flexible_window_min}
            if spec.flexible_window_min else {"Mode": "OFF"}
        ),
        "GroupName": s.group,
        "LastModificationDate": s.modified_at,
        "Name": s.name,
        "ScheduleExpression": spec.expression,
        "ScheduleExpressionTimezone": spec.timezone,
        "State": spec.state.value,
        "Target": out_target,
    }
    for key, value in (("Description", spec.description), ("StartDate", spec.start_date),
                       ("EndDate", spec.end_date), ("KmsKeyArn", spec.kms_key_arn)):
        if value is not None:
            out[key] = value
    return out


def schedule_summary(service: SchedulerService, s: Schedule) -> dict[str, Any]:
    return {
        "Arn": service.schedule_arn(s.group, s.name),
        "CreationDate": s.created_at,
        "GroupName": s.group,
        "LastModificationDate": s.modified_at,
        "Name": s.name,
        "State": s.spec.state.value,
        "Target": {"Arn": s.spec.target.arn},
    }


def group_shape(service: SchedulerService, g: ScheduleGroup) -> dict[str, Any]:
    return {
        "Arn": service.group_arn(g.name),
        "CreationDate": g.created_at,
        "LastModificationDate": g.modified_at,
        "Name": g.name,
        "State": "ACTIVE",
    }


def _tags(raw: Any, field: str = "tags") -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, list) or len(raw) > 200:
        raise ValidationError(f"1 validation error detected: Value at '{field}' failed to satisfy constraint: "
                              "Member must be a list of at most 200 tags")
    c = Checker()
    out: dict[str, str] = {}
    for n, tag in enumerate(raw, start=1):
        tag = tag if isinstance(tag, dict) else {}
        c.required(f"{field}.{n}.member.key", tag.get("Key"))
        c.required(f"{field}.{n}.member.value", tag.get("Value"))
        c.string(f"{field}.{n}.member.key", tag.get("Key"), min_len=1, max_len=128)
        c.string(f"{field}.{n}.member.value", tag.get("Value"), min_len=1, max_len=256)
        if isinstance(tag.get("Key"), str) and isinstance(tag.get("Value"), str):
            out[tag["Key"]] = tag["Value"]
    c.raise_if_any()
    return out


# -- schedules ----------------------------------------------------------------------------------------
@_operation
async def create_schedule(request: Request) -> Response:
    service = _service(request)
    name = _name(request)
    group, spec = _spec(body_json(request), service)
    await service.create(group, name, spec)
    return json_response({"ScheduleArn": service.schedule_arn(group, name)})


@_operation
async def update_schedule(request: Request) -> Response:
    service = _service(request)
    name = _name(request)
    group, spec = _spec(body_json(request), service)
    await service.update(group, name, spec)
    return json_response({"ScheduleArn": service.schedule_arn(group, name)})


@_operation
async def get_schedule(request: Request) -> Response:
    service = _service(request)
    name = _name(request)
    c = Checker()
    group = _group_name(request.query_params.get("groupName"), c)
    c.raise_if_any()
    return json_response(schedule_shape(service, service.get(group, name)))


@_operation
async def delete_schedule(request: Request) -> Response:
    service = _service(request)
    name = _name(request)
    c = Checker()
    group = _group_name(request.query_params.get("groupName"), c)
    c.string("clientToken", request.query_params.get("clientToken"), min_len=1, max_len=64,
             pattern=CLIENT_TOKEN_PATTERN)
    c.raise_if_any()
    await service.delete(group, name)
    return json_response({})


@_operation
async def list_schedules(request: Request) -> Response:
    service = _service(request)
    q = request.query_params
    c = Checker()
    group = q.get("ScheduleGroup")
    c.string("groupName", group, min_len=1, max_len=64, pattern=NAME_PATTERN)
    c.string("namePrefix", q.get("NamePrefix"), min_len=1, max_len=64, pattern=NAME_PATTERN)
    c.enum("state", q.get("State"), [s.value for s in ScheduleState])
    c.string("nextToken", q.get("NextToken"), min_len=1, max_len=2048)
    c.raise_if_any()
    state = ScheduleState(q["State"]) if q.get("State") else None
    items = service.list_schedules(group or None, q.get("NamePrefix"), state)
    page, nxt = _page(items, request, lambda s: f"{s.group}\x00{s.name}")
    out: dict[str, Any] = {"Schedules": [schedule_summary(service, s) for s in page]}
    if nxt:
        out["NextToken"] = nxt
    return json_response(out)


# -- schedule groups ----------------------------------------------------------------------------------
@_operation
async def create_schedule_group(request: Request) -> Response:
    service = _service(request)
    name = _name(request)
    body = body_json(request)
    c = Checker()
    c.string("clientToken", body.get("ClientToken"), min_len=1, max_len=64, pattern=CLIENT_TOKEN_PATTERN)
    c.raise_if_any()
    await service.create_group(name, _tags(body.get("Tags")))
    return json_response({"ScheduleGroupArn": service.group_arn(name)})


@_operation
async def get_schedule_group(request: Request) -> Response:
    service = _service(request)
    return json_response(group_shape(service, service.get_group(_name(request))))


@_operation
async def delete_schedule_group(request: Request) -> Response:
    service = _service(request)
    await service.delete_group(_name(request))
    return json_response({})


@_operation
async def list_schedule_groups(request: Request) -> Response:
    service = _service(request)
    c = Checker()
    c.string("namePrefix", request.query_params.get("NamePrefix"), min_len=1, max_len=64, pattern=NAME_PATTERN)
    c.raise_if_any()
    groups = service.list_groups(request.query_params.get("NamePrefix"))
    page, nxt = _page(groups, request, lambda g: g.name)
    out: dict[str, Any] = {"ScheduleGroups": [group_shape(service, g) for g in page]}
    if nxt:
        out["NextToken"] = nxt
    return json_response(out)


# -- tags (schedule groups only, as in AWS) ----------------------------------------------------------------
@_operation
async def list_tags_for_resource(request: Request) -> Response:
    tags = _service(request).tags(request.path_params["arn"])
    return json_response({"Tags": [{"Key": k, "Value": v} for k, v in tags.items()]})


@_operation
async def tag_resource(request: Request) -> Response:
    body = body_json(request)
    c = Checker()
    c.required("tags", body.get("Tags"))
    c.raise_if_any()
    await _service(request).tag(request.path_params["arn"], _tags(body.get("Tags")))
    return json_response({})


@_operation
async def untag_resource(request: Request) -> Response:
    keys = request.query_params.getlist("TagKeys")
    await _service(request).untag(request.path_params["arn"], keys)
    return json_response({})


def build_router() -> Router:
    return Router(
        routes=[
            Route("/schedules", list_schedules, methods=["GET"]),
            Route("/schedules/{Name}", create_schedule, methods=["POST"]),
            Route("/schedules/{Name}", get_schedule, methods=["GET"]),
            Route("/schedules/{Name}", update_schedule, methods=["PUT"]),
            Route("/schedules/{Name}", delete_schedule, methods=["DELETE"]),
            Route("/schedule-groups", list_schedule_groups, methods=["GET"]),
            Route("/schedule-groups/{Name}", create_schedule_group, methods=["POST"]),
            Route("/schedule-groups/{Name}", get_schedule_group, methods=["GET"]),
            Route("/schedule-groups/{Name}", delete_schedule_group, methods=["DELETE"]),
            Route("/tags/{arn:path}", list_tags_for_resource, methods=["GET"]),
            Route("/tags/{arn:path}", tag_resource, methods=["POST"]),
            Route("/tags/{arn:path}", untag_resource, methods=["DELETE"]),
        ]
    )
