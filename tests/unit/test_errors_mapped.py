"""Every LambentError renders, for every served service and through its real protocol handler, to
a code the service's botocore model declares or one of AWS's common errors, with a status of its
family: a client's mistake is a 4xx (never a 500), lambent's own failure a 5xx. What the caller's
SDK sees is read back with botocore's own client parser."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest
from botocore.awsrequest import HeadersDict
from botocore.parsers import create_parser

import lambent
from lambent import errors as e
from lambent.vpc import errors as vpc_errors
from lambent.api import envelopes
from lambent.api.protocols import build_handler
from lambent.api.protocols.model import service_model

SERVICES = {
    "lambda": "GetFunction",
    "scheduler": "GetSchedule",
    "iam": "GetRole",
    "sts": "GetCallerIdentity",
    "logs": "CreateLogGroup",
    "ec2": "DescribeInstances",
    # lambent's own API (its botocore-format model under lambent/api/models/) speaks Lambda's table
    "lambent": "GetDeployment",
}

#: AWS's common errors (the "Common Errors" page of each API reference, e.g.
#: https://docs.aws.amazon.com/IAM/latest/APIReference/CommonErrors.html and the EC2 API
#: reference's "Error codes"), in the spellings each protocol's front end sends.
COMMON = frozenset({
    "AccessDeniedException", "ExpiredTokenException", "IncompleteSignature", "InternalFailure",
    "InvalidAction", "InvalidClientTokenId", "InvalidParameterCombination", "InvalidParameterValue",
    "InvalidQueryParameter", "MalformedQueryString", "MissingAction", "MissingAuthenticationToken",
    "MissingParameter", "NotAuthorized", "OptInRequired", "RequestEntityTooLargeException",
    "RequestExpired", "RequestTimeoutException", "ServiceUnavailable", "ThrottlingException",
    "UnrecognizedClientException", "UnknownOperationException", "ValidationError",
    # the JSON front end's spelling of a model constraint broken (answers recorded against Lambda: 400)
    "ValidationException",
    # SigV4 refusals as AWS's JSON front end spells them (what Lambda answers on the wire)
    "MissingAuthenticationTokenException", "IncompleteSignatureException", "InvalidSignatureException",
    # the query protocol's spellings (IAM/STS): SigV4, denial, expiry, throttle
    "SignatureDoesNotMatch", "AccessDenied", "ExpiredToken", "Throttling",
    # EC2's common client and server codes
    "AuthFailure", "UnauthorizedOperation", "IdempotentParameterMismatch", "RequestLimitExceeded",
    "InternalError", "Unavailable",
})

#: lambent's own answer to an HTTP head over its limits (431, before any service is known); AWS's
#: front end has no published code for it. The only code outside the models and COMMON.
TRANSPORT = frozenset({"RequestHeaderFieldsTooLargeException"})

#: Throttles some services send as 503 (EC2's RequestLimitExceeded): a client's fault, not a 500.
THROTTLE_5XX = {("ec2", "RequestLimitExceeded"): 503}


def _import_error_modules() -> None:
    """Every ``lambent/**/errors.py`` (where packages derive their own LambentErrors)."""
    root = Path(lambent.__file__).parent
    for path in sorted(root.rglob("errors.py")):
        module = ".".join(("lambent", *path.relative_to(root).with_suffix("").parts))
        importlib.import_module(module)


def _classes() -> list[type[e.LambentError]]:
    _import_error_modules()
    out: list[type[e.LambentError]] = []
    stack: list[type[e.LambentError]] = [e.LambentError]
    while stack:
        cls = stack.pop()
        if cls not in out:
            out.append(cls)
        stack.extend(cls.__subclasses__())
    # lambent's classes, wherever defined (tests may define subclasses of their own)
    return sorted((c for c in out if c.__module__.startswith("lambent.")), key=lambda c: (c.__name__, c.__module__))


def _instance(cls: type[e.LambentError]) -> e.LambentError:
    if issubclass(cls, e.TooManyRequests):
        return cls("slow <down> & retry", reason="ConcurrentInvocationLimitExceeded")
    return cls("it went <wrong> & here")


def _model_codes(service: str) -> frozenset[str]:
    model = service_model(service)
    codes = frozenset(s.metadata.get("error", {}).get("code", s.name) for s in model.error_shapes)
    if service == "ec2":  # the ec2 model declares no errors: the EC2 API reference's codes
        return codes | {c.code for c in vpc_errors.EC2_ERRORS}
    return codes | _model_codes("lambda") if service == "lambent" else codes


def _family_ok(service: str, cls: type[e.LambentError], code: str, status: int) -> bool:
    if issubclass(cls, e.ClientError):
        return 400 <= status < 500 or THROTTLE_5XX.get((service, code)) == status
    return 500 <= status < 600


def _client_view(service: str, operation: str, wire: tuple[int, dict[str, str], bytes]) -> dict[str, Any]:
    handler = build_handler(service)
    status, headers, body = wire
    parsed: dict[str, Any] = create_parser(handler.protocol).parse(
        {"status_code": status, "headers": HeadersDict(headers), "body": body},
        service_model(service).operation_model(operation).output_shape,
    )
    return parsed


def test_the_tree_is_walked_whole() -> None:
    names = {c.__name__ for c in _classes()}
    assert {"NoSuchEntity", "EntityAlreadyExists", "DeleteConflict", "ExpiredToken", "StorageFull"} <= names
    # including what other packages derive (the store's ConstraintViolation, the policy engine's ...)
    assert any(c.__module__ != e.__name__ for c in _classes())


@pytest.mark.parametrize("service", sorted(SERVICES))
@pytest.mark.parametrize("cls", _classes(), ids=lambda c: f"{c.__module__}.{c.__name__}")
def test_every_error_renders_to_a_declared_code_of_its_family(service: str, cls: type[e.LambentError]) -> None:
    exc = _instance(cls)
    wire = build_handler(service).serialise_error(exc, request_id="rid-7")
    status = wire[0]
    error = _client_view(service, SERVICES[service], wire)["Error"]
    code = error["Code"]
    assert code in _model_codes(service) | COMMON | TRANSPORT, f"{service}: {cls.__name__} -> {code}"
    assert _family_ok(service, cls, code, status), f"{service}: {cls.__name__} -> {code} {status}"
    assert error["Message"] == exc.message
    # the table the handler used is the service's, looked up along the MRO
    assert (code, status) == (envelopes.shape_for(exc, service).code, envelopes.shape_for(exc, service).status)


@pytest.mark.parametrize("service", sorted(SERVICES))
@pytest.mark.parametrize("cls", _classes(), ids=lambda c: f"{c.__module__}.{c.__name__}")
def test_a_client_error_is_never_a_500(service: str, cls: type[e.LambentError]) -> None:
    shape = envelopes.shape_for(_instance(cls), service)
    if issubclass(cls, e.ClientError):
        assert shape.status != 500 and shape.status < 600
    else:
        assert shape.status >= 500


def test_the_lambent_api_speaks_lambdas_table() -> None:
    codes = {envelopes.shape_for(_instance(c), "lambent").code for c in _classes()}
    assert codes <= _model_codes("lambda") | COMMON | TRANSPORT


def test_the_scheduler_table_is_the_one_the_scheduler_documents() -> None:
    expect = {
        e.ResourceNotFound("x"): ("ResourceNotFoundException", 404),
        e.ResourceConflict("x"): ("ConflictException", 409),
        e.TooManyRequests("x", reason="r"): ("ThrottlingException", 429),
        e.InvalidParameterValue("x"): ("ValidationException", 400),
        e.ServiceError("x"): ("InternalServerException", 500),
        e.LambentError("x"): ("InternalServerException", 500),
    }
    for exc, (code, status) in expect.items():
        shape = envelopes.shape_for(exc, "scheduler")
        assert (shape.code, shape.status) == (code, status), type(exc).__name__


def test_iam_and_sts_answer_in_the_query_protocols_words() -> None:
    cases = [
        ("iam", e.NoSuchEntity("The role with name r cannot be found."), "NoSuchEntity", 404),
        ("iam", e.EntityAlreadyExists("Role with name r already exists."), "EntityAlreadyExists", 409),
        ("iam", e.DeleteConflict("Cannot delete entity, must detach all policies first."), "DeleteConflict", 409),
        ("iam", e.MalformedPolicyDocument("Syntax errors in policy."), "MalformedPolicyDocument", 400),
        ("iam", e.LimitExceeded("Cannot exceed quota for PoliciesPerRole: 10"), "LimitExceeded", 409),
        ("iam", e.ValidationError("1 validation error detected"), "ValidationError", 400),
        ("iam", e.InvalidParameterValue("bad"), "InvalidInput", 400),
        ("iam", e.UnrecognizedClient("The security token included in the request is invalid"),
         "InvalidClientTokenId", 403),
        ("sts", e.InvalidSignature("The request signature we calculated does not match"), "SignatureDoesNotMatch", 403),
        ("sts", e.ExpiredToken("The security token included in the request is expired"), "ExpiredToken", 403),
        ("sts", e.AccessDenied("User: x is not authorized to perform: sts:AssumeRole"), "AccessDenied", 403),
        ("iam", e.ServiceError("boom"), "ServiceFailure", 500),
        ("sts", e.ServiceError("boom"), "InternalFailure", 500),
    ]
    for service, exc, code, status in cases:
        wire = build_handler(service).serialise_error(exc, request_id="rid")
        error = _client_view(service, SERVICES[service], wire)["Error"]
        assert (wire[0], error["Code"], error["Message"]) == (status, code, exc.message), (service, code)
        fault = "Receiver" if status >= 500 else "Sender"
        assert error["Type"] == fault


def test_only_lambda_carries_the_throttle_reason() -> None:
    throttle = e.TooManyRequests("Rate exceeded", reason="ReservedFunctionConcurrentInvocationLimitExceeded")
    lam = build_handler("lambda").serialise_error(throttle, request_id="r")
    sched = build_handler("scheduler").serialise_error(throttle, request_id="r")
    assert b'"Reason": "ReservedFunctionConcurrentInvocationLimitExceeded"' in lam[2]
    assert b"Reason" not in sched[2] and sched[1]["x-amzn-ErrorType"] == "ThrottlingException"


def test_a_message_cannot_inject_markup_into_a_query_answer() -> None:
    hostile = e.NoSuchEntity("</Message><Code>AccessDenied</Code><Message>")
    wire = build_handler("iam").serialise_error(hostile, request_id="</RequestId>")
    error = _client_view("iam", "GetRole", wire)["Error"]
    assert (error["Code"], error["Message"]) == ("NoSuchEntity", hostile.message)
