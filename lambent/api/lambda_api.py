"""The Lambda API (2015-03-31): functions, invoke, account settings, concurrency, tags.

Handlers are registered under their operation names in botocore's ``lambda`` model
(``lambent.api.services.LAMBDA``); the protocol layer (:mod:`lambent.api.dispatch`) hands them
the request's members typed and checked against the model, and serialises what they return (the
operation's output shape). Here: what the model does not say — lambent's domain ranges (MemorySize
up to 10240, Timeout up to 900, where the model allows 32768 and 5400), AWS's own answers where
they differ from a model check (Runtime outside the enum), and the translation to the control plane.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import re
from collections.abc import Mapping
from functools import cache
from typing import Any

from lambent import arns
from lambent.api import shapes
from lambent.api.codeurl import presign_code_url
from lambent.api.dispatch import Call
from lambent.api.lambda_vpc import check_role_may_manage_interfaces, check_vpc_update, vpc_config_of
from lambent.api.protocols.model import service_model
from lambent.api.protocols.rest_json import EXTRA_HEADERS
from lambent.api.pagination import paginate
from lambent.api.services import LAMBDA
from lambent.control.functions import CreateFunctionInput
from lambent.control.model import FunctionConfig
from lambent.control.versions import published
from lambent.control.updates import NOT_GIVEN, ConfigUpdate, NotGiven
from lambent.control.validation import (
    EPHEMERAL_MAX_MB,
    EPHEMERAL_MIN_MB,
    MEMORY_MAX_MB,
    MEMORY_MIN_MB,
    TIMEOUT_MAX_S,
    TIMEOUT_MIN_S,
    Checker,
)
from lambent.errors import (
    AccessDenied,
    InvalidParameterValue,
    InvalidRequestContent,
    RequestEntityTooLarge,
    RequestTooLarge,
)
from lambent.iam.sts import service_may_assume
from lambent.observability.tracing.header import accepted_trace_header
from lambent.platform import Platform
from lambent.worker.environment import InvokeRequest

#: AWS's limit on a CreateFunction/UpdateFunctionCode request (a 50 MB zip, base64-encoded, plus JSON).
CODE_REQUEST_MAX_BYTES = 70_167_211
Output = dict[str, Any]


@cache
def runtime_enum() -> tuple[str, ...]:
    return tuple(service_model("lambda").shape_for("Runtime").enum)


def _decode_zip(code: Mapping[str, Any], limit: int) -> bytes:
    """The .zip of a ``Code`` structure (CreateFunction) or of UpdateFunctionCode's members; the
    layer has already base64-decoded ``ZipFile``."""
    if code.get("ImageUri"):
        raise InvalidParameterValue("Container images are not supported by this lambent server yet; use a .zip package.")
    if code.get("S3Bucket") or code.get("S3Key"):
        raise InvalidParameterValue("Code from S3 is not supported by this lambent server; upload the .zip as ZipFile.")
    data = code.get("ZipFile")
    if not data:
        raise InvalidParameterValue("Please provide a source for function code.")
    if len(data) > limit:
        raise RequestEntityTooLarge(f"Request must be smaller than {CODE_REQUEST_MAX_BYTES} bytes for the CreateFunction operation")
    return bytes(data)


def _check_runtime_enum(runtime: str | None) -> None:
    """A Runtime outside the model's enum is InvalidParameterValueException on AWS, not a model
    ValidationException (recorded against AWS: "Value python2.0 at 'runtime' failed to satisfy
    constraint: Member must satisfy enum value set: [...] or be a valid ARN"). Checked after the
    field constraints, as AWS does."""
    if runtime is not None and runtime not in runtime_enum():
        raise InvalidParameterValue(
            f"Value {runtime} at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: "
            f"[{', '.join(runtime_enum())}] or be a valid ARN"
        )


#: Checked here rather than by the model: lambent's ranges (control/validation.py) and AWS's answer
#: for a Runtime outside the enum.
#: The function name and qualifier are checked by ``arns.parse_function_name`` (both at once, with
#: CreateFunction's and the path's rules, as AWS words them).
_NAMED = frozenset({"functionName", "qualifier"})
_DOMAIN_CHECKED = _NAMED | {"timeout", "memorySize", "ephemeralStorage.size", "runtime"}


def _check_domain(params: Mapping[str, Any], *, name_required: bool = False) -> None:
    c = Checker()
    if name_required:
        c.required("functionName", params.get("FunctionName"))
    c.int_range("timeout", params.get("Timeout"), TIMEOUT_MIN_S, TIMEOUT_MAX_S)
    c.int_range("memorySize", params.get("MemorySize"), MEMORY_MIN_MB, MEMORY_MAX_MB)
    eph = params.get("EphemeralStorage")
    if eph is not None:
        c.required("ephemeralStorage.size", eph.get("Size"))
        c.int_range("ephemeralStorage.size", eph.get("Size"), EPHEMERAL_MIN_MB, EPHEMERAL_MAX_MB)
    c.raise_if_any()
    _check_runtime_enum(params.get("Runtime"))


_DLQ_ARN = re.compile(r"^arn:aws[a-zA-Z-]*:(sqs|sns):[a-z0-9-]+:\d{12}:[A-Za-z0-9_.-]+$")


def _dead_letter_arn(dlc: Mapping[str, Any] | None) -> str | None:
    target = (dlc or {}).get("TargetArn")
    if not target:
        return None
    if not _DLQ_ARN.match(target):
        raise InvalidParameterValue(
            f"The provided target ARN {target} is invalid: a dead-letter queue must be an SQS queue or SNS topic ARN."
        )
    return str(target)


def _snap_start(params: Mapping[str, Any]) -> str | NotGiven:
    """SnapStart's ApplyOn (NOT_GIVEN without SnapStart; ``{}`` is AWS's default, None). Only None
    is honoured: lambent has no snapshots."""
    snap = params.get("SnapStart")
    if snap is None:
        return NOT_GIVEN
    apply_on = snap.get("ApplyOn") or "None"
    if apply_on != "None":
        raise InvalidParameterValue(
            f"SnapStart ApplyOn {apply_on} is not supported by this lambent server yet; only None is."
        )
    return str(apply_on)


#: Lambda's service principal: the execution role's trust policy must let it assume the role.
LAMBDA_SERVICE = "lambda.amazonaws.com"
ROLE_NOT_ASSUMABLE = "The role defined for the function cannot be assumed by Lambda."


def _check_execution_role(p: Platform, role_arn: str, function_name: str, account_id: str) -> None:
    """CreateFunction / UpdateFunctionConfiguration's Role: a role of the function's own account
    (AWS: "Cross-account pass role is not allowed.") that exists and whose trust policy lets
    Lambda assume it, evaluated as STS does when the function's credentials are issued (same
    session name). Nothing is issued here: a CreateFunction costs no session. The caller's
    ``iam:PassRole`` on the role was checked by the authorisation step before the handler."""
    if role_arn.split(":")[4:5] != [account_id]:
        raise AccessDenied("Cross-account pass role is not allowed.", role=role_arn)
    if not service_may_assume(p.iam, LAMBDA_SERVICE, role_arn, function_name):
        raise InvalidParameterValue(ROLE_NOT_ASSUMABLE, role=role_arn)


def _check_architectures(archs: list[str] | None) -> None:
    if archs and archs != ["x86_64"]:
        raise InvalidParameterValue(f"Architecture {archs[0]} is not supported on this lambent host (x86_64).")


def _target(call: Call) -> tuple[Platform, arns.FunctionKey, str | None]:
    """The function a call names: by a bare name the caller's own, by an ARN that account's."""
    p = call.platform
    name, qualifier = p.functions.ref(call.params["FunctionName"], call.params.get("Qualifier"),
                                      account_id=call.principal.account_id)
    return p, name, qualifier


def _config_out(p: Platform, name: arns.FunctionKey, qualifier: str | None) -> Output:
    cfg = p.functions.resolve(name, qualifier)
    return shapes.function_configuration(cfg, p.functions.arn(name, qualifier))


async def _publish_when_ready(p: Platform, name: arns.FunctionKey) -> FunctionConfig:
    """``Publish: true`` on CreateFunction / UpdateFunctionCode: publish once the code is ready."""
    await p.functions.settle(name)
    return await p.versions.publish(name)


# -- functions -------------------------------------------------------------------------------------
# What each handler acts on; every other member given in a request is refused naming it.
_CONFIG_HANDLED: dict[str, frozenset[str] | None] = {
    "FunctionName": None, "Role": None, "Handler": None, "Description": None, "Timeout": None, "MemorySize": None,
    "Environment": None, "Runtime": None, "DeadLetterConfig": None, "TracingConfig": None, "EphemeralStorage": None,
    "SnapStart": None, "LoggingConfig": None, "VpcConfig": None,
}


@LAMBDA.register("CreateFunction", skip=_DOMAIN_CHECKED, handled={
    **_CONFIG_HANDLED, "Publish": None, "PackageType": None, "Tags": None, "Architectures": None,
    # S3 and image sources are refused by _decode_zip naming them
    "Code": frozenset({"ZipFile", "S3Bucket", "S3Key", "ImageUri"}),
})
async def create_function(call: Call) -> Output:
    p, params = call.platform, call.params
    _check_domain(params, name_required=True)
    snap_start = _snap_start(params)
    ref = arns.parse_function_name(params["FunctionName"])
    # A function is created in the caller's account (an ARN naming another is AWS's 403).
    account = call.principal.account_id
    arns.check_account(ref, p.settings.region, account)
    if ref.qualifier:
        raise InvalidParameterValue("Unsupported: function name with a qualifier in CreateFunction.")
    if params.get("PackageType", "Zip") != "Zip":
        raise InvalidParameterValue("Container images are not supported by this lambent server yet; use a .zip package.")
    runtime, handler = params.get("Runtime"), params.get("Handler")
    if not runtime or not handler:
        raise InvalidParameterValue("Runtime and Handler are mandatory parameters for functions created with deployment packages.")
    _check_architectures(params.get("Architectures"))
    _check_execution_role(p, params["Role"], ref.name, account)
    vpc_config = vpc_config_of(p, params, params["Role"])
    if vpc_config is not None and vpc_config.attached:
        check_role_may_manage_interfaces(p, params["Role"])
    zip_file = _decode_zip(params["Code"], p.settings.limits.zip_max_bytes)
    logging_cfg = params.get("LoggingConfig") or {}
    cfg = await p.functions.create(
        CreateFunctionInput(
            account_id=account, name=ref.name, runtime=runtime, role=params["Role"], handler=handler, zip_file=zip_file,
            description=params.get("Description") or "",
            timeout_s=params.get("Timeout") or 3,
            memory_mb=params.get("MemorySize") or 128,
            ephemeral_storage_mb=(params.get("EphemeralStorage") or {}).get("Size") or 512,
            environment=_env_vars(params),
            architectures=("x86_64",),
            tags=dict(params.get("Tags") or {}),
            tracing_mode=(params.get("TracingConfig") or {}).get("Mode") or "PassThrough",
            log_format=logging_cfg.get("LogFormat") or "Text",
            log_group=logging_cfg.get("LogGroup"),
            application_log_level=logging_cfg.get("ApplicationLogLevel"),
            system_log_level=logging_cfg.get("SystemLogLevel"),
            dead_letter_arn=_dead_letter_arn(params.get("DeadLetterConfig")),
            snap_start_apply_on=snap_start if isinstance(snap_start, str) else "None",
            vpc_config=vpc_config,
        )
    )
    if params.get("Publish"):
        # AWS answers with version 1's configuration under the unqualified ARN.
        cfg = await _publish_when_ready(p, cfg.key)
    return shapes.function_configuration(cfg, p.functions.arn(cfg.key))


def _env_vars(params: Mapping[str, Any]) -> dict[str, str] | None:
    env = params.get("Environment")
    if env is None:
        return None
    return dict(env.get("Variables") or {})


_QUALIFIED = {"FunctionName": None, "Qualifier": None}


@LAMBDA.register("GetFunction", skip=_NAMED, handled=_QUALIFIED)
async def get_function(call: Call) -> Output:
    p, name, qualifier = _target(call)
    cfg = p.functions.resolve(name, qualifier)
    entry = p.functions.entry(name)
    out: Output = {
        "Configuration": _config_out(p, name, qualifier),
        "Code": {
            "RepositoryType": "S3",
            "Location": presign_code_url(p.settings.base_url, cfg.code_hash_hex, p.credentials.secret_access_key),
        },
    }
    if entry.tags:
        out["Tags"] = dict(entry.tags)
    if entry.reserved_concurrency is not None:
        out["Concurrency"] = {"ReservedConcurrentExecutions": entry.reserved_concurrency}
    return out


@LAMBDA.register("GetFunctionConfiguration", skip=_NAMED, handled=_QUALIFIED)
async def get_function_configuration(call: Call) -> Output:
    p, name, qualifier = _target(call)
    return _config_out(p, name, qualifier)


@LAMBDA.register("ListFunctions", handled=dict.fromkeys(["FunctionVersion", "Marker", "MaxItems"]))
async def list_functions(call: Call) -> Output:
    p, params = call.platform, call.params
    entries = p.functions.entries(call.principal.account_id)  # the caller's own functions only
    if params.get("FunctionVersion") == "ALL":
        configs = [c for e in entries for c in [e.latest, *published(e)]]
    else:
        configs = [e.latest for e in entries]
    items, nxt = paginate(configs, lambda c: f"{c.name}:{c.version}", params.get("Marker"), params.get("MaxItems"))
    out: Output = {
        "Functions": [
            shapes.list_entry(c, p.functions.arn(c.key, None if c.version == arns.LATEST else c.version))
            for c in items
        ]
    }
    if nxt:
        out["NextMarker"] = nxt
    return out


@LAMBDA.register("UpdateFunctionCode", skip=_NAMED, handled=dict.fromkeys(
    ["FunctionName", "ZipFile", "S3Bucket", "S3Key", "ImageUri", "Architectures", "Publish", "DryRun", "RevisionId"]))
async def update_function_code(call: Call) -> Output:
    p, name, qualifier = _target(call)
    params = call.params
    if qualifier is not None:
        raise InvalidParameterValue("Updating the code of a qualified function is not allowed.")
    _check_architectures(params.get("Architectures"))
    zip_file = _decode_zip(params, p.settings.limits.zip_max_bytes)
    if params.get("DryRun"):
        p.code.check(zip_file)
        return _config_out(p, name, None)
    cfg = await p.functions.update_code(name, zip_file, params.get("RevisionId"))
    if params.get("Publish"):
        # AWS answers with the new version's configuration under its qualified ARN.
        cfg = await _publish_when_ready(p, name)
        return shapes.function_configuration(cfg, p.functions.arn(name, cfg.version))
    return shapes.function_configuration(cfg, p.functions.arn(name))


def _member(value: Any) -> Any:
    """A member given (not None) or NOT_GIVEN."""
    return NOT_GIVEN if value is None else value


def config_update(params: Mapping[str, Any]) -> ConfigUpdate:
    """UpdateFunctionConfiguration's members as the control plane's typed partial update."""
    tracing = params.get("TracingConfig") or {}
    logging_cfg = params.get("LoggingConfig") or {}
    ephemeral = params.get("EphemeralStorage") or {}
    env: dict[str, str] | NotGiven = NOT_GIVEN
    if "Environment" in params:
        env = _env_vars(params) or {}
    dlq: str | None | NotGiven = NOT_GIVEN
    if "DeadLetterConfig" in params:
        dlq = _dead_letter_arn(params["DeadLetterConfig"])
    return ConfigUpdate(
        role=_member(params.get("Role")),
        handler=_member(params.get("Handler")),
        description=_member(params.get("Description")),
        timeout_s=_member(params.get("Timeout")),
        memory_mb=_member(params.get("MemorySize")),
        runtime=_member(params.get("Runtime")),
        environment=env,
        ephemeral_storage_mb=_member(ephemeral.get("Size")),
        tracing_mode=_member(tracing.get("Mode") or None),
        dead_letter_arn=dlq,
        log_format=_member(logging_cfg.get("LogFormat") or None),
        log_group=_member(logging_cfg.get("LogGroup") or None),
        application_log_level=_member(logging_cfg.get("ApplicationLogLevel") or None),
        system_log_level=_member(logging_cfg.get("SystemLogLevel") or None),
        snap_start_apply_on=_snap_start(params),
    )


@LAMBDA.register("UpdateFunctionConfiguration", skip=_DOMAIN_CHECKED, handled={**_CONFIG_HANDLED, "RevisionId": None})
async def update_function_configuration(call: Call) -> Output:
    p, name, qualifier = _target(call)
    params = call.params
    if qualifier is not None:
        raise InvalidParameterValue("Updating the configuration of a qualified function is not allowed.")
    _check_domain(params)
    p.functions.entry(name)  # 404 before anything else
    update = config_update(params)
    if isinstance(update.role, str):
        _check_execution_role(p, update.role, arns.key_name(name), arns.key_account(name))
    role = update.role if isinstance(update.role, str) else p.functions.entry(name).latest.role
    vpc_config = vpc_config_of(p, params, role)
    check_vpc_update(p, p.functions.entry(name).latest, vpc_config, update.role if isinstance(update.role, str) else None)
    if vpc_config is not None:
        update = dataclasses.replace(update, vpc_config=vpc_config)
    cfg = await p.functions.update_configuration(name, update, params.get("RevisionId"))
    return shapes.function_configuration(cfg, p.functions.arn(name))


@LAMBDA.register("DeleteFunction", skip=_NAMED, handled=_QUALIFIED)
async def delete_function(call: Call) -> Output:
    p, name, qualifier = _target(call)
    if qualifier is None:
        await p.functions.delete(name)
    else:
        await p.versions.delete(name, qualifier)
    return {"StatusCode": 204}


# -- invoke ----------------------------------------------------------------------------------------
@LAMBDA.register("Invoke", skip=_NAMED, handled=dict.fromkeys(
    ["FunctionName", "InvocationType", "LogType", "ClientContext", "Payload", "Qualifier"]))
async def invoke(call: Call) -> Output:
    p, name, qualifier = _target(call)
    params = call.params
    invocation_type = params.get("InvocationType") or "RequestResponse"
    payload: bytes = params.get("Payload") or b""
    limits = p.settings.limits
    if len(payload) > limits.sync_payload_max_bytes:
        raise RequestTooLarge(
            f"Request must be smaller than {limits.sync_payload_max_bytes} bytes for the InvokeFunction operation"
        )
    if payload:
        try:
            json.loads(payload)
        except (ValueError, RecursionError) as exc:  # RecursionError: nested too deep
            raise InvalidRequestContent(f"Could not parse request body into json: Could not parse payload into json: {exc}") from None
    else:
        payload = b"{}"
    if invocation_type == "DryRun":
        p.invoker.check_invocable(p.functions.resolve(name, qualifier))
        return {"StatusCode": 204}
    if invocation_type == "Event":
        if len(payload) > limits.async_payload_max_bytes:
            raise RequestTooLarge(f"Request must be smaller than {limits.async_payload_max_bytes} bytes for the InvokeFunction operation")
        trace = accepted_trace_header(call.headers.get("x-amzn-trace-id"), call.request_id)
        await p.async_invoker.enqueue(name, qualifier, payload, request_id=call.request_id, trace_id=trace)
        return {"StatusCode": 202, EXTRA_HEADERS: {"X-Amzn-Trace-Id": trace}}
    log_type = params.get("LogType") or "None"
    result = await p.invoker.invoke(
        name, qualifier,
        InvokeRequest(
            request_id=call.request_id, payload=payload, invoked_arn=p.functions.arn(name, qualifier),
            want_tail=log_type == "Tail", client_context=_client_context(params.get("ClientContext")),
            trace_id=call.headers.get("x-amzn-trace-id"),
        ),
    )
    out: Output = {"StatusCode": 200, "ExecutedVersion": result.config.version, "Payload": result.outcome.payload}
    if result.outcome.function_error:
        out["FunctionError"] = result.outcome.function_error
    if log_type == "Tail":
        out["LogResult"] = base64.b64encode(result.outcome.log_tail).decode()
    if result.trace_header:
        out[EXTRA_HEADERS] = {"X-Amzn-Trace-Id": result.trace_header}
    return out


def _client_context(raw: str | None) -> str | None:
    """X-Amz-Client-Context is base64 JSON (at most 3583 bytes); runtimes get the JSON text."""
    if not raw:
        return None
    if len(raw) > 3583:
        raise InvalidRequestContent("Client context must be no longer than 3583 bytes.")
    try:
        text = base64.b64decode(raw, validate=True).decode()
        json.loads(text)
    except (binascii.Error, UnicodeDecodeError, ValueError, RecursionError):
        raise InvalidRequestContent("Client context must be a valid Base64-encoded JSON object.") from None
    return text


@LAMBDA.register("InvokeAsync", skip=_NAMED, handled=dict.fromkeys(["FunctionName", "InvokeArgs"]))
async def invoke_async(call: Call) -> Output:
    """The deprecated InvokeAsync (2014-11-13): queue the body as an event, answer 202."""
    p = call.platform
    name, qualifier = p.functions.ref(call.params["FunctionName"], account_id=call.principal.account_id)
    payload: bytes = call.params.get("InvokeArgs") or b""
    limit = p.settings.limits.invoke_async_max_bytes
    if len(payload) > limit:
        raise RequestTooLarge(f"Request must be smaller than {limit} bytes for the InvokeAsync operation")
    if payload:
        try:
            json.loads(payload)
        except (ValueError, RecursionError) as exc:  # RecursionError: nested too deep
            raise InvalidRequestContent(f"Could not parse request body into json: {exc}") from None
    await p.async_invoker.enqueue(name, qualifier, payload or b"{}", request_id=call.request_id)
    # The model's only output member, Status, is the HTTP status code: the body is empty.
    return {"Status": 202}


# -- account, concurrency, tags ------------------------------------------------------------------
@LAMBDA.register("GetAccountSettings", handled={})
async def get_account_settings(call: Call) -> Output:
    p = call.platform
    limits = p.settings.limits
    account = call.principal.account_id  # each account's own limits and usage
    entries = p.functions.entries(account)
    # AWS counts the code of $LATEST and of every published version, also when versions share it.
    total_code = sum(cfg.code_size for e in entries for cfg in e.versions.values())
    return {
        "AccountLimit": {
            "TotalCodeSize": 80_530_636_800,
            "CodeSizeUnzipped": limits.unzipped_max_bytes,
            "CodeSizeZipped": limits.zip_max_bytes,
            "ConcurrentExecutions": limits.account_concurrency,
            "UnreservedConcurrentExecutions": limits.account_concurrency - p.functions.total_reserved(account),
        },
        "AccountUsage": {"TotalCodeSize": total_code, "FunctionCount": len(entries)},
    }


@LAMBDA.register("PutFunctionConcurrency", skip=_NAMED, handled=dict.fromkeys(["FunctionName", "ReservedConcurrentExecutions"]))
async def put_function_concurrency(call: Call) -> Output:
    p, name, qualifier = _target(call)
    if qualifier is not None:
        raise InvalidParameterValue("Reserved concurrency is set on the function, not on a version or alias.")
    # The model bounds it below only; too much for the account is the service's InvalidParameterValue.
    result = await p.functions.put_concurrency(name, call.params["ReservedConcurrentExecutions"])
    return {"ReservedConcurrentExecutions": result}


@LAMBDA.register("GetFunctionConcurrency", skip=_NAMED, handled={"FunctionName": None})
async def get_function_concurrency(call: Call) -> Output:
    p, name, _ = _target(call)
    value = p.functions.entry(name).reserved_concurrency
    return {} if value is None else {"ReservedConcurrentExecutions": value}


@LAMBDA.register("DeleteFunctionConcurrency", skip=_NAMED, handled={"FunctionName": None})
async def delete_function_concurrency(call: Call) -> None:
    p, name, _ = _target(call)
    await p.functions.delete_concurrency(name)


@LAMBDA.register("TagResource", handled=dict.fromkeys(["Resource", "Tags"]))
async def tag_resource(call: Call) -> None:
    await call.platform.functions.tag(call.params["Resource"], dict(call.params["Tags"]),
                                      account_id=call.principal.account_id)


@LAMBDA.register("UntagResource", handled=dict.fromkeys(["Resource", "TagKeys"]))
async def untag_resource(call: Call) -> None:
    await call.platform.functions.untag(call.params["Resource"], list(call.params["TagKeys"]),
                                        account_id=call.principal.account_id)


@LAMBDA.register("ListTags", handled={"Resource": None})
async def list_tags(call: Call) -> Output:
    return {"Tags": call.platform.functions.tags(call.params["Resource"], account_id=call.principal.account_id)}


def max_body_bytes(method: str, path: str) -> int:
    """Largest body read for a route; bigger requests are refused before they are read."""
    if path.endswith("/invocations"):
        return 6_291_456 + 1
    if "/invoke-async" in path:
        return 262_144 + 1
    return CODE_REQUEST_MAX_BYTES
