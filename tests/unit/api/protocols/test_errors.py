"""Errors in each protocol's envelope, read back by botocore's CLIENT parser: the same Code,
Message and status the caller's SDK will see."""

from __future__ import annotations

from typing import Any

import pytest
from protocols_wire import client_parse, proto

from lambent import errors as e

CASES = [
    ("lambda", None, "GetFunction"),
    ("scheduler", None, "GetSchedule"),
    ("apigatewayv2", None, "GetApi"),
    ("logs", None, "CreateLogGroup"),
    ("cloudwatch", "json", "ListMetrics"),
    ("iam", None, "GetRole"),
    ("sts", None, "GetCallerIdentity"),
    ("cloudwatch", "query", "ListMetrics"),
    ("ec2", None, "DescribeInstances"),
]

#: A ResourceNotFound as each service's table answers it (services without a table: Lambda's).
NOT_FOUND = {
    "iam": ("NoSuchEntity", 404),
    # AssumeRole of a missing role is "not authorized" on AWS
    "sts": ("AccessDenied", 403),
    # EC2's not-found codes are per resource (InvalidSubnetID.NotFound ...), all 400
    "ec2": ("InvalidParameterValue", 400),
    # CloudWatch's model names it ResourceNotFound (GetDashboard, ...)
    "cloudwatch": ("ResourceNotFound", 404),
}


def _error(service: str, protocol: str | None, operation: str, wire: Any) -> dict[str, Any]:
    parsed = client_parse(service, operation, wire, protocol)
    assert parsed["ResponseMetadata"]["HTTPStatusCode"] == wire[0]
    error: dict[str, Any] = parsed["Error"]
    return error


@pytest.mark.parametrize(("service", "protocol", "operation"), CASES)
def test_lambent_error_reaches_the_client_with_code_message_and_status(
    service: str, protocol: str | None, operation: str
) -> None:
    wire = proto(service, protocol).serialise_error(
        e.ResourceNotFound("Function not found: arn:aws:lambda:us-east-1:123456789012:function:f <&>"),
        request_id="req-9",
    )
    code, status = NOT_FOUND.get(service, ("ResourceNotFoundException", 404))
    assert wire[0] == status
    error = _error(service, protocol, operation, wire)
    assert error["Code"] == code
    assert error["Message"] == "Function not found: arn:aws:lambda:us-east-1:123456789012:function:f <&>"
    assert client_parse(service, operation, wire, protocol)["ResponseMetadata"].get("RequestId", "req-9") == "req-9"


@pytest.mark.parametrize(("service", "protocol", "operation"), CASES)
def test_explicit_code_message_and_status_override(service: str, protocol: str | None, operation: str) -> None:
    wire = proto(service, protocol).serialise_error(code="NoSuchEntity", message="The role x cannot be found.", status=404)
    error = _error(service, protocol, operation, wire)
    assert (wire[0], error["Code"], error["Message"]) == (404, "NoSuchEntity", "The role x cannot be found.")


def test_query_error_is_aws_error_response_with_sender_and_request_id() -> None:
    status, headers, body = proto("iam").serialise_error(e.ValidationError("bad"), request_id="rid-1")
    assert status == 400 and headers["Content-Type"] == "text/xml"
    assert body == (
        b'<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender</Type>'
        b"<Code>ValidationError</Code><Message>bad</Message></Error><RequestId>rid-1</RequestId></ErrorResponse>"
    )
    _, _, body = proto("sts").serialise_error(e.ServiceError("boom"), request_id="rid-2")
    assert b"<Type>Receiver</Type>" in body


def test_ec2_error_is_response_errors_error_with_request_id() -> None:
    status, _, body = proto("ec2").serialise_error(code="InvalidInstanceID.NotFound", message="nope", status=400,
                                                   request_id="rid-3")
    assert status == 400
    assert body == (
        b"<Response><Errors><Error><Code>InvalidInstanceID.NotFound</Code><Message>nope</Message></Error></Errors>"
        b"<RequestID>rid-3</RequestID></Response>"
    )
    error = _error("ec2", None, "DescribeInstances", (status, {}, body))
    assert error["Code"] == "InvalidInstanceID.NotFound"


def test_rest_json_error_matches_lambents_envelope_and_keeps_the_throttle_reason() -> None:
    status, headers, body = proto("lambda").serialise_error(
        e.TooManyRequests("Rate exceeded", reason="ReservedFunctionConcurrentInvocationLimitExceeded"),
        request_id="rid-4",
    )
    assert (status, headers["x-amzn-ErrorType"], headers["x-amzn-RequestId"]) == (429, "TooManyRequestsException", "rid-4")
    assert body == (
        b'{"Type": "User", "message": "Rate exceeded", "Reason": "ReservedFunctionConcurrentInvocationLimitExceeded"}'
    )
    # the message key is the one the model's error shape names
    _, _, body = proto("lambda").serialise_error(e.ResourceNotFound("gone"))
    assert body == b'{"Type": "User", "Message": "gone"}'
    status, _, body = proto("lambda").serialise_error(e.ServiceError("oops"))
    assert (status, body) == (500, b'{"Type": "Service", "Message": "oops"}')


def test_json_error_has_type_and_json_content_type() -> None:
    status, headers, body = proto("logs").serialise_error(e.InvalidParameterValue("bad value"), request_id="r")
    assert status == 400
    assert headers["Content-Type"] == "application/x-amz-json-1.1"
    assert body == b'{"__type": "InvalidParameterException", "message": "bad value"}'


def test_lambda_sends_type_on_its_own_errors_and_the_front_end_does_not() -> None:
    # Lambda's modelled errors: {"Type": "User", "message": ...} (AWS's recorded 412 is exactly that)
    _, _, body = proto("lambda").serialise_error(e.PreconditionFailed("The Revision Id provided does not match"))
    assert body == b'{"Type": "User", "message": "The Revision Id provided does not match"}'
    # refusals of AWS's front end (SigV4, access denied) carry no Type
    for exc, code in [(e.InvalidSignature("sig"), "InvalidSignatureException"),
                      (e.UnrecognizedClient("key"), "UnrecognizedClientException"),
                      (e.AccessDenied("denied"), "AccessDeniedException")]:
        _, headers, body = proto("lambda").serialise_error(exc)
        assert headers["x-amzn-ErrorType"] == code and b"Type" not in body
