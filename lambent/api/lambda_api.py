"""The Lambda REST API (2015-03-31): routes and wire <-> domain translation.

Paths, status codes and shapes come from botocore's ``lambda/2015-03-31/service-2.json``. Bodies
have already been read and their SigV4 signature verified by :mod:`lambent.api.app`; handlers find
the body in ``request.state.body``.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from functools import cache
from typing import Any

import botocore.session
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, Router

from lambent import arns
from lambent.api import lambda_async, lambda_versions, shapes
from lambent.api.codeurl import presign_code_url
from lambent.api.rest import body_json, endpoint, json_response, paginate, platform_of, refuse_unhandled, unhandled
from lambent.control.functions import CreateFunctionInput
from lambent.control.model import FunctionConfig
from lambent.control.versions import published
from lambent.control.validation import (
    EPHEMERAL_MAX_MB,
    EPHEMERAL_MIN_MB,
    HANDLER_PATTERN,
    MEMORY_MAX_MB,
    MEMORY_MIN_MB,
    ROLE_PATTERN,
    TIMEOUT_MAX_S,
    TIMEOUT_MIN_S,
    Checker,
)
from lambent.errors import (
    InvalidParameterValue,
    InvalidRequestContent,
    RequestEntityTooLarge,
    RequestTooLarge,
)
from lambent.platform import Platform
from lambent.worker.environment import InvokeRequest

#: AWS's limit on a CreateFunction/UpdateFunctionCode request (a 50 MB zip, base64-encoded, plus JSON).
CODE_REQUEST_MAX_BYTES = 70_167_211


@cache
def runtime_enum() -> tuple[str, ...]:
    model = botocore.session.get_session().get_service_model("lambda")
    return tuple(model.shape_for("Runtime").enum)


def _decode_zip(code: Any, limit: int) -> bytes:
    if not isinstance(code, dict):
        raise InvalidParameterValue("Code must be an object with ZipFile.")
    if code.get("ImageUri"):
        raise InvalidParameterValue("Container images are not supported by this lambent server yet; use a .zip package.")
    if code.get("S3Bucket") or code.get("S3Key"):
        raise InvalidParameterValue("Code from S3 is not supported by this lambent server; upload the .zip as ZipFile.")
    raw = code.get("ZipFile")
    if not raw:
        raise InvalidParameterValue("Please provide a source for function code.")
    try:
        data = base64.b64decode(raw, validate=True)
    except (binascii.Error, TypeError, ValueError):
        raise InvalidParameterValue("Could not unzip uploaded file. Please check your file, then try to upload again.") from None
    if len(data) > limit:
        raise RequestEntityTooLarge(f"Request must be smaller than {CODE_REQUEST_MAX_BYTES} bytes for the CreateFunction operation")
    return data


def _check_runtime_enum(runtime: Any) -> None:
    """A Runtime outside the model's enum is InvalidParameterValueException on AWS, not a model
    ValidationException (recorded against AWS: "Value python2.0 at 'runtime' failed to satisfy
    constraint: Member must satisfy enum value set: [...] or be a valid ARN"). Checked after the
    field constraints, as AWS does."""
    if runtime is not None and runtime not in runtime_enum():
        raise InvalidParameterValue(
            f"Value {runtime} at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: "
            f"[{', '.join(runtime_enum())}] or be a valid ARN"
        )


def _check_common(c: Checker, body: dict[str, Any]) -> None:
    c.string("role", body.get("Role"), max_len=10000, pattern=ROLE_PATTERN)
    c.string("handler", body.get("Handler"), max_len=128, pattern=HANDLER_PATTERN)
    c.string("description", body.get("Description"), max_len=256)
    c.int_range("timeout", body.get("Timeout"), TIMEOUT_MIN_S, TIMEOUT_MAX_S)
    c.int_range("memorySize", body.get("MemorySize"), MEMORY_MIN_MB, MEMORY_MAX_MB)
    eph = body.get("EphemeralStorage")
    if eph is not None:
        size = eph.get("Size") if isinstance(eph, dict) else None
        c.required("ephemeralStorage.size", size)
        c.int_range("ephemeralStorage.size", size, EPHEMERAL_MIN_MB, EPHEMERAL_MAX_MB)
    env = body.get("Environment")
    if env is not None and not isinstance(env, dict):
        c.fail("environment", env, "Member must be a structure")


_DLQ_ARN = re.compile(r"^arn:aws[a-zA-Z-]*:(sqs|sns):[a-z0-9-]+:\d{12}:[A-Za-z0-9_.-]+$")


def _dead_letter_arn(body: dict[str, Any]) -> str | None:
    dlc = body.get("DeadLetterConfig")
    if dlc is None:
        return None
    target = dlc.get("TargetArn") if isinstance(dlc, dict) else None
    if not target:
        return None
    if not isinstance(target, str) or not _DLQ_ARN.match(target):
        raise InvalidParameterValue(
            f"The provided target ARN {target} is invalid: a dead-letter queue must be an SQS queue or SNS topic ARN."
        )
    return target


def _env_vars(body: dict[str, Any]) -> dict[str, str] | None:
    env = body.get("Environment")
    return env.get("Variables") if isinstance(env, dict) else None


# -- functions -------------------------------------------------------------------------------------
# What each handler acts on; every other member of the operation's input is refused naming it.
_CONFIG_HANDLED: dict[str, frozenset[str] | None] = {
    "FunctionName": None, "Role": None, "Handler": None, "Description": None, "Timeout": None, "MemorySize": None,
    "Environment": None, "Runtime": None, "DeadLetterConfig": None, "TracingConfig": None, "EphemeralStorage": None,
    "SnapStart": None, "LoggingConfig": frozenset({"LogFormat", "LogGroup"}),
}
_CREATE = unhandled("CreateFunction", {
    **_CONFIG_HANDLED, "Publish": None, "PackageType": None, "Tags": None, "Architectures": None,
    # S3 and image sources are refused by _decode_zip naming them
    "Code": frozenset({"ZipFile", "S3Bucket", "S3Key", "ImageUri"}),
})
_UPDATE_CONFIG = unhandled("UpdateFunctionConfiguration", {**_CONFIG_HANDLED, "RevisionId": None})
_UPDATE_CODE = unhandled("UpdateFunctionCode", dict.fromkeys(
    ["FunctionName", "ZipFile", "S3Bucket", "S3Key", "ImageUri", "Architectures", "Publish", "DryRun", "RevisionId"]))
_LIST = unhandled("ListFunctions", dict.fromkeys(["FunctionVersion", "Marker", "MaxItems"]))
_INVOKE = unhandled("Invoke", dict.fromkeys(
    ["FunctionName", "InvocationType", "LogType", "ClientContext", "Payload", "Qualifier"]))
for _op in ("GetFunction", "GetFunctionConfiguration", "DeleteFunction"):
    unhandled(_op, dict.fromkeys(["FunctionName", "Qualifier"]))
unhandled("InvokeAsync", dict.fromkeys(["FunctionName", "InvokeArgs"]))
unhandled("GetAccountSettings", {})
unhandled("PutFunctionConcurrency", dict.fromkeys(["FunctionName", "ReservedConcurrentExecutions"]))
for _op in ("GetFunctionConcurrency", "DeleteFunctionConcurrency"):
    unhandled(_op, dict.fromkeys(["FunctionName"]))
unhandled("TagResource", dict.fromkeys(["Resource", "Tags"]))
unhandled("UntagResource", dict.fromkeys(["Resource", "TagKeys"]))
unhandled("ListTags", dict.fromkeys(["Resource"]))


def _check_snap_start(body: dict[str, Any]) -> None:
    """SnapStart is honoured only as AWS's default (ApplyOn None): lambent has no snapshots."""
    snap = body.get("SnapStart")
    if isinstance(snap, dict) and snap.get("ApplyOn") not in (None, "None"):
        raise InvalidParameterValue(
            f"SnapStart ApplyOn {snap.get('ApplyOn')} is not supported by this lambent server yet; only None is."
        )


def _check_architectures(archs: Any) -> None:
    if archs and archs != ["x86_64"]:
        raise InvalidParameterValue(f"Architecture {archs[0] if isinstance(archs, list) and archs else archs} "
                                    "is not supported on this lambent host (x86_64).")


@endpoint
async def create_function(request: Request) -> Response:
    p = platform_of(request)
    body = body_json(request)
    c = Checker()
    c.required("functionName", body.get("FunctionName"))
    c.required("role", body.get("Role"))
    c.required("code", body.get("Code"))
    _check_common(c, body)
    archs = body.get("Architectures")
    if archs is not None:
        if not isinstance(archs, list) or len(archs) != 1:
            c.fail("architectures", archs, "Member must have length less than or equal to 1")
        else:
            c.enum("architectures.1.member", archs[0], ["x86_64", "arm64"])
    c.raise_if_any()
    _check_runtime_enum(body.get("Runtime"))
    refuse_unhandled(_CREATE, request, body)
    _check_snap_start(body)
    ref = arns.parse_function_name(str(body["FunctionName"]))
    arns.check_account(ref, p.settings.region, p.settings.account_id)
    if ref.qualifier:
        raise InvalidParameterValue("Unsupported: function name with a qualifier in CreateFunction.")
    if body.get("PackageType", "Zip") != "Zip":
        raise InvalidParameterValue("Container images are not supported by this lambent server yet; use a .zip package.")
    runtime = body.get("Runtime")
    handler = body.get("Handler")
    if not runtime:
        raise InvalidParameterValue("Runtime and Handler are mandatory parameters for functions created with deployment packages.")
    if not handler:
        raise InvalidParameterValue("Runtime and Handler are mandatory parameters for functions created with deployment packages.")
    if archs and archs[0] != "x86_64":
        raise InvalidParameterValue("Architecture arm64 is not supported on this lambent host (x86_64).")
    zip_file = _decode_zip(body["Code"], p.settings.limits.zip_max_bytes)
    tags = body.get("Tags") or {}
    if not isinstance(tags, dict):
        raise InvalidParameterValue("Tags must be a map of strings.")
    logging_cfg = body.get("LoggingConfig") or {}
    dlq = _dead_letter_arn(body)
    publish = _publish_flag(body)
    cfg = await p.functions.create(
        CreateFunctionInput(
            name=ref.name, runtime=runtime, role=body["Role"], handler=handler, zip_file=zip_file,
            description=body.get("Description") or "",
            timeout_s=body.get("Timeout") or 3,
            memory_mb=body.get("MemorySize") or 128,
            ephemeral_storage_mb=(body.get("EphemeralStorage") or {}).get("Size") or 512,
            environment=_env_vars(body),
            architectures=("x86_64",),
            tags={str(k): str(v) for k, v in tags.items()},
            tracing_mode=(body.get("TracingConfig") or {}).get("Mode") or "PassThrough",
            log_format=logging_cfg.get("LogFormat") or "Text",
            log_group=logging_cfg.get("LogGroup"),
            dead_letter_arn=dlq,
        )
    )
    if publish:
        # AWS answers with version 1's configuration under the unqualified ARN.
        cfg = await _publish_when_ready(p, cfg.name)
    return json_response(shapes.function_configuration(cfg, p.functions.arn(cfg.name)), status=201)


async def _publish_when_ready(p: Platform, name: str) -> FunctionConfig:
    """``Publish: true`` on CreateFunction / UpdateFunctionCode: publish once the code is ready."""
    await p.functions.settle(name)
    return await p.versions.publish(name)


def _target(request: Request) -> tuple[Platform, str, str | None]:
    p = platform_of(request)
    name, qualifier = p.functions.ref(request.path_params["name"], request.query_params.get("Qualifier"))
    return p, name, qualifier


def _config_out(p: Platform, name: str, qualifier: str | None) -> dict[str, Any]:
    cfg = p.functions.resolve(name, qualifier)
    return shapes.function_configuration(cfg, p.functions.arn(name, qualifier))


@endpoint
async def get_function(request: Request) -> Response:
    p, name, qualifier = _target(request)
    cfg = p.functions.resolve(name, qualifier)
    entry = p.functions.entry(name)
    out: dict[str, Any] = {
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
    return json_response(out)


@endpoint
async def get_function_configuration(request: Request) -> Response:
    p, name, qualifier = _target(request)
    return json_response(_config_out(p, name, qualifier))


@endpoint
async def list_functions(request: Request) -> Response:
    p = platform_of(request)
    refuse_unhandled(_LIST, request)
    if request.query_params.get("FunctionVersion") == "ALL":
        configs = [c for e in p.functions.entries() for c in [e.latest, *published(e)]]
    else:
        configs = [e.latest for e in p.functions.entries()]
    page, nxt = paginate(configs, request, lambda c: f"{c.name}:{c.version}")
    out: dict[str, Any] = {
        "Functions": [
            shapes.list_entry(c, p.functions.arn(c.name, None if c.version == arns.LATEST else c.version))
            for c in page
        ]
    }
    if nxt:
        out["NextMarker"] = nxt
    return json_response(out)


@endpoint
async def update_function_code(request: Request) -> Response:
    p, name, qualifier = _target(request)
    if qualifier is not None:
        raise InvalidParameterValue("Updating the code of a qualified function is not allowed.")
    body = body_json(request)
    refuse_unhandled(_UPDATE_CODE, request, body)
    _check_architectures(body.get("Architectures"))
    if body.get("DryRun"):
        p.code.check(_decode_zip(body, p.settings.limits.zip_max_bytes))
        return json_response(_config_out(p, name, None))
    publish = _publish_flag(body)
    zip_file = _decode_zip(body, p.settings.limits.zip_max_bytes)
    cfg = await p.functions.update_code(name, zip_file, body.get("RevisionId"))
    if publish:
        # AWS answers with the new version's configuration under its qualified ARN.
        cfg = await _publish_when_ready(p, name)
        return json_response(shapes.function_configuration(cfg, p.functions.arn(name, cfg.version)))
    return json_response(shapes.function_configuration(cfg, p.functions.arn(name)))


def _publish_flag(body: dict[str, Any]) -> bool:
    value = body.get("Publish", False)
    if not isinstance(value, bool):
        raise InvalidParameterValue(f"Publish must be a boolean, got {value!r}.")
    return value


_CONFIG_FIELDS = {
    "Role": "role",
    "Handler": "handler",
    "Description": "description",
    "Timeout": "timeout_s",
    "MemorySize": "memory_mb",
    "Runtime": "runtime",
}


@endpoint
async def update_function_configuration(request: Request) -> Response:
    p, name, qualifier = _target(request)
    if qualifier is not None:
        raise InvalidParameterValue("Updating the configuration of a qualified function is not allowed.")
    body = body_json(request)
    c = Checker()
    _check_common(c, body)
    c.raise_if_any()
    _check_runtime_enum(body.get("Runtime"))
    refuse_unhandled(_UPDATE_CONFIG, request, body)
    _check_snap_start(body)
    p.functions.entry(name)  # 404 before anything else
    changes: dict[str, Any] = {field: body[key] for key, field in _CONFIG_FIELDS.items() if key in body and body[key] is not None}
    if "Environment" in body:
        changes["environment"] = _env_vars(body) or {}
    if isinstance(body.get("EphemeralStorage"), dict):
        changes["ephemeral_storage_mb"] = body["EphemeralStorage"]["Size"]
    if isinstance(body.get("TracingConfig"), dict) and body["TracingConfig"].get("Mode"):
        changes["tracing_mode"] = body["TracingConfig"]["Mode"]
    if "DeadLetterConfig" in body:
        changes["dead_letter_arn"] = _dead_letter_arn(body)
    if isinstance(body.get("LoggingConfig"), dict):
        lc = body["LoggingConfig"]
        if lc.get("LogFormat"):
            changes["log_format"] = lc["LogFormat"]
        if lc.get("LogGroup"):
            changes["log_group"] = lc["LogGroup"]
    cfg = await p.functions.update_configuration(name, changes, body.get("RevisionId"))
    return json_response(shapes.function_configuration(cfg, p.functions.arn(name)))


@endpoint
async def delete_function(request: Request) -> Response:
    p, name, qualifier = _target(request)
    if qualifier is None:
        await p.functions.delete(name)
    else:
        await p.versions.delete(name, qualifier)
    return Response(status_code=204)


# -- invoke ----------------------------------------------------------------------------------------
@endpoint
async def invoke(request: Request) -> Response:
    p = platform_of(request)
    headers = request.headers
    name, qualifier = p.functions.ref(request.path_params["name"], request.query_params.get("Qualifier"))
    invocation_type = headers.get("x-amz-invocation-type", "RequestResponse")
    refuse_unhandled(_INVOKE, request)  # two header look-ups (TenantId, DurableExecutionName)
    payload: bytes = request.state.body
    if len(payload) > p.settings.limits.sync_payload_max_bytes:
        raise RequestTooLarge(
            f"Request must be smaller than {p.settings.limits.sync_payload_max_bytes} bytes for the InvokeFunction operation"
        )
    if invocation_type not in ("RequestResponse", "Event", "DryRun"):
        c = Checker()
        c.enum("invocationType", invocation_type, ["Event", "RequestResponse", "DryRun"])
        c.raise_if_any()
    log_type = headers.get("x-amz-log-type", "None")
    if log_type not in ("None", "Tail"):
        c = Checker()
        c.enum("logType", log_type, ["None", "Tail"])
        c.raise_if_any()
    if payload:
        try:
            json.loads(payload)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # RecursionError: nested too deep
            raise InvalidRequestContent(f"Could not parse request body into json: Could not parse payload into json: {exc}") from None
    else:
        payload = b"{}"
    request_id = str(uuid.uuid4())
    if invocation_type == "DryRun":
        p.invoker.check_invocable(p.functions.resolve(name, qualifier))
        return Response(status_code=204, headers={"x-amzn-RequestId": request_id})
    if invocation_type == "Event":
        limit = p.settings.limits.async_payload_max_bytes
        if len(payload) > limit:
            raise RequestTooLarge(f"Request must be smaller than {limit} bytes for the InvokeFunction operation")
        await p.async_invoker.enqueue(name, qualifier, payload, request_id=request_id)
        return Response(status_code=202, headers={"x-amzn-RequestId": request_id})
    invoked_arn = p.functions.arn(name, qualifier)
    result = await p.invoker.invoke(
        name, qualifier,
        InvokeRequest(
            request_id=request_id, payload=payload, invoked_arn=invoked_arn, want_tail=log_type == "Tail",
            client_context=_client_context(headers.get("x-amz-client-context")), trace_id=headers.get("x-amzn-trace-id"),
        ),
    )
    out_headers = {"x-amzn-RequestId": request_id, "X-Amz-Executed-Version": result.config.version}
    if result.outcome.function_error:
        out_headers["X-Amz-Function-Error"] = result.outcome.function_error
    if log_type == "Tail":
        out_headers["X-Amz-Log-Result"] = base64.b64encode(result.outcome.log_tail).decode()
    return Response(result.outcome.payload, status_code=200, headers=out_headers, media_type="application/json")


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


@endpoint
async def invoke_async(request: Request) -> Response:
    """The deprecated InvokeAsync (2014-11-13): queue the body as an event, answer 202."""
    p = platform_of(request)
    name, qualifier = p.functions.ref(request.path_params["name"])
    payload: bytes = request.state.body
    limit = p.settings.limits.invoke_async_max_bytes
    if len(payload) > limit:
        raise RequestTooLarge(f"Request must be smaller than {limit} bytes for the InvokeAsync operation")
    if payload:
        try:
            json.loads(payload)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # RecursionError: nested too deep
            raise InvalidRequestContent(f"Could not parse request body into json: {exc}") from None
    request_id = await p.async_invoker.enqueue(name, qualifier, payload or b"{}")
    # The model's only output member, Status, is the HTTP status code: the body is empty.
    return Response(status_code=202, headers={"x-amzn-RequestId": request_id})


# -- account, concurrency, tags ------------------------------------------------------------------
@endpoint
async def get_account_settings(request: Request) -> Response:
    p = platform_of(request)
    limits = p.settings.limits
    # AWS counts the code of $LATEST and of every published version, also when versions share it.
    total_code = sum(cfg.code_size for e in p.functions.entries() for cfg in e.versions.values())
    return json_response(
        {
            "AccountLimit": {
                "TotalCodeSize": 80_530_636_800,
                "CodeSizeUnzipped": limits.unzipped_max_bytes,
                "CodeSizeZipped": limits.zip_max_bytes,
                "ConcurrentExecutions": limits.account_concurrency,
                "UnreservedConcurrentExecutions": limits.account_concurrency - p.functions.total_reserved(),
            },
            "AccountUsage": {"TotalCodeSize": total_code, "FunctionCount": len(p.functions.entries())},
        }
    )


@endpoint
async def put_function_concurrency(request: Request) -> Response:
    p, name, qualifier = _target(request)
    if qualifier is not None:
        raise InvalidParameterValue("Reserved concurrency is set on the function, not on a version or alias.")
    body = body_json(request)
    value = body.get("ReservedConcurrentExecutions")
    c = Checker()
    c.required("reservedConcurrentExecutions", value)
    # The model bounds it below only; too much for the account is the service's InvalidParameterValue.
    c.int_range("reservedConcurrentExecutions", value, 0, 2**31 - 1)
    c.raise_if_any()
    result = await p.functions.put_concurrency(name, int(str(value)))
    return json_response({"ReservedConcurrentExecutions": result})


@endpoint
async def get_function_concurrency(request: Request) -> Response:
    p, name, _ = _target(request)
    value = p.functions.entry(name).reserved_concurrency
    return json_response({} if value is None else {"ReservedConcurrentExecutions": value})


@endpoint
async def delete_function_concurrency(request: Request) -> Response:
    p, name, _ = _target(request)
    await p.functions.delete_concurrency(name)
    return Response(status_code=204)


@endpoint
async def tag_resource(request: Request) -> Response:
    p = platform_of(request)
    body = body_json(request)
    tags = body.get("Tags")
    c = Checker()
    c.required("tags", tags)
    c.raise_if_any()
    if not isinstance(tags, dict):
        raise InvalidParameterValue("Tags must be a map of strings.")
    await p.functions.tag(request.path_params["arn"], {str(k): str(v) for k, v in tags.items()})
    return Response(status_code=204)


@endpoint
async def untag_resource(request: Request) -> Response:
    p = platform_of(request)
    keys = request.query_params.getlist("tagKeys")
    c = Checker()
    if not keys:
        c.required("tagKeys", None)
    c.raise_if_any()
    await p.functions.untag(request.path_params["arn"], keys)
    return Response(status_code=204)


@endpoint
async def list_tags(request: Request) -> Response:
    p = platform_of(request)
    return json_response({"Tags": p.functions.tags(request.path_params["arn"])})


def max_body_bytes(method: str, path: str) -> int:
    """Largest body read for a route; bigger requests are refused before they are read."""
    if path.endswith("/invocations"):
        return 6_291_456 + 1
    if "/invoke-async" in path:
        return 262_144 + 1
    return CODE_REQUEST_MAX_BYTES


def build_router() -> Router:
    fn = "/2015-03-31/functions/{name}"
    return Router(
        routes=[
            Route(fn + "/invocations", invoke, methods=["POST"]),
            Route("/2015-03-31/functions", create_function, methods=["POST"]),
            Route("/2015-03-31/functions/", create_function, methods=["POST"]),
            Route("/2015-03-31/functions", list_functions, methods=["GET"]),
            Route("/2015-03-31/functions/", list_functions, methods=["GET"]),
            Route(fn, get_function, methods=["GET"]),
            Route(fn, delete_function, methods=["DELETE"]),
            Route(fn + "/configuration", get_function_configuration, methods=["GET"]),
            Route(fn + "/configuration", update_function_configuration, methods=["PUT"]),
            Route(fn + "/code", update_function_code, methods=["PUT"]),
            Route("/2016-08-19/account-settings", get_account_settings, methods=["GET"]),
            Route("/2016-08-19/account-settings/", get_account_settings, methods=["GET"]),
            Route("/2017-10-31/functions/{name}/concurrency", put_function_concurrency, methods=["PUT"]),
            Route("/2017-10-31/functions/{name}/concurrency", delete_function_concurrency, methods=["DELETE"]),
            Route("/2019-09-30/functions/{name}/concurrency", get_function_concurrency, methods=["GET"]),
            Route("/2017-03-31/tags/{arn}", tag_resource, methods=["POST"]),
            Route("/2017-03-31/tags/{arn}", untag_resource, methods=["DELETE"]),
            Route("/2017-03-31/tags/{arn}", list_tags, methods=["GET"]),
            Route("/2014-11-13/functions/{name}/invoke-async", invoke_async, methods=["POST"]),
            Route("/2014-11-13/functions/{name}/invoke-async/", invoke_async, methods=["POST"]),
            *lambda_versions.routes(),
            *lambda_async.routes(),
        ]
    )
