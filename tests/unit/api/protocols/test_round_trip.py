"""Every operation of the models lambent serves, both ways, against botocore's own CLIENT code:
botocore's serializer builds the request, the layer parses it back to the same params; the layer
serialises an output, botocore's parser reads back the same dict."""

from __future__ import annotations

import calendar
from datetime import datetime, timezone
from typing import Any

import pytest
from protocols_gen import skip_reason, value
from protocols_wire import client_parse, client_request, proto, round_trip_request

from lambent.api.protocols import protocols_of
from lambent.api.protocols.model import service_model

SERVICES: list[tuple[str, str | None]] = [
    ("lambda", None),
    ("scheduler", None),
    ("apigatewayv2", None),
    ("logs", None),
    ("iam", None),
    ("sts", None),
    ("cloudwatch", "query"),
    ("cloudwatch", "json"),
    ("ec2", None),
]


def _cases() -> list[Any]:
    out = []
    for service, protocol in SERVICES:
        model = service_model(service)
        for name in model.operation_names:
            if skip_reason(model.operation_model(name)) is None:
                out.append(pytest.param(service, protocol, name, id=f"{service}-{protocol or 'default'}-{name}"))
    return out


CASES = _cases()


def test_every_model_protocol_is_served() -> None:
    assert protocols_of("lambda") == ("rest-json",)
    assert protocols_of("logs") == ("json",)
    assert protocols_of("iam") == ("query",)
    assert protocols_of("ec2") == ("ec2",)
    assert set(protocols_of("cloudwatch")) == {"json", "query"}
    assert len(CASES) > 1400  # the sweep really covers the models


@pytest.mark.parametrize(("service", "protocol", "operation"), CASES)
def test_request_parses_back_to_the_clients_params(service: str, protocol: str | None, operation: str) -> None:
    op = service_model(service).operation_model(operation)
    params = (value(op.input_shape) or {}) if op.input_shape is not None else {}
    method, path, query, headers, body = client_request(service, operation, params, protocol, check=False)
    assert proto(service, protocol).parse(method, path, query, headers, body, validate=False) == (operation, params)


def _bytes_payload(parsed: dict[str, Any]) -> dict[str, Any]:
    # botocore hands a non-streaming blob payload back as the decoded body text
    for key in ("Payload", "body"):
        if isinstance(parsed.get(key), str):
            parsed[key] = parsed[key].encode()
    return parsed


@pytest.mark.parametrize(("service", "protocol", "operation"), CASES)
def test_output_parses_back_in_the_client(service: str, protocol: str | None, operation: str) -> None:
    op = service_model(service).operation_model(operation)
    output = (value(op.output_shape) or {}) if op.output_shape is not None else {}
    parsed = client_parse(service, operation, proto(service, protocol).serialise(operation, output, "req-1"), protocol)
    meta = parsed.pop("ResponseMetadata")
    assert _bytes_payload(parsed) == output
    if service in ("iam", "sts", "ec2") or protocol == "query":
        assert meta["RequestId"] == "req-1"


WHEN = datetime(2026, 12, 1, 22, 46, 53, tzinfo=timezone.utc)
ROLE = "arn:aws:iam::123456789012:role/lambda-role"
HAND_PICKED: list[tuple[str, str | None, str, dict[str, Any]]] = [
    ("lambda", None, "Invoke", {"FunctionName": "my-fn", "Qualifier": "live", "InvocationType": "Event",
                                "LogType": "Tail", "ClientContext": "e30=", "Payload": b'{"k": [1, 2]}'}),
    ("lambda", None, "Invoke", {"FunctionName": "arn:aws:lambda:us-east-1:123456789012:function:my-fn:7"}),
    ("lambda", None, "CreateFunction", {"FunctionName": "my-fn", "Runtime": "python3.12", "Role": ROLE,
                                        "Handler": "app.handler", "Code": {"ZipFile": b"PK\x03\x04\x00\xff"},
                                        "MemorySize": 256, "Timeout": 30, "Publish": True,
                                        "Environment": {"Variables": {"STAGE": "prod", "DEBUG": "0"}},
                                        "Tags": {"team": "core"}, "Architectures": ["x86_64"]}),
    ("lambda", None, "ListFunctions", {"MaxItems": 10, "Marker": "abc", "FunctionVersion": "ALL"}),
    ("lambda", None, "GetFunction", {"FunctionName": "my-fn", "Qualifier": "$LATEST"}),
    ("lambda", None, "UpdateAlias", {"FunctionName": "my-fn", "Name": "live", "FunctionVersion": "3",
                                     "RoutingConfig": {"AdditionalVersionWeights": {"4": 0.25}}}),
    ("lambda", None, "PutFunctionEventInvokeConfig", {"FunctionName": "my-fn", "MaximumRetryAttempts": 0,
                                                      "MaximumEventAgeInSeconds": 60}),
    ("scheduler", None, "CreateSchedule", {"Name": "nightly", "ScheduleExpression": "cron(0 3 * * ? *)",
                                           "FlexibleTimeWindow": {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 15},
                                           "Target": {"Arn": "arn:aws:lambda:us-east-1:123456789012:function:f",
                                                      "RoleArn": ROLE, "Input": "{}"},
                                           "StartDate": WHEN, "State": "ENABLED"}),
    ("apigatewayv2", None, "CreateRoute", {"ApiId": "a1b2c3", "RouteKey": "GET /items/{id}",
                                           "Target": "integrations/xyz"}),
    ("logs", None, "PutLogEvents", {"logGroupName": "/aws/lambda/my-fn", "logStreamName": "2026/12/01/[$LATEST]ab",
                                    "logEvents": [{"timestamp": 1764629213000, "message": "hello"}]}),
    ("logs", None, "FilterLogEvents", {"logGroupName": "/aws/lambda/my-fn", "startTime": 1, "limit": 50,
                                       "filterPattern": "ERROR", "interleaved": True}),
    ("iam", None, "CreateRole", {"RoleName": "lambda-role", "AssumeRolePolicyDocument": '{"Version":"2012-10-17"}',
                                 "Tags": [{"Key": "team", "Value": "core"}], "MaxSessionDuration": 3600}),
    ("iam", None, "ListRoles", {"PathPrefix": "/service/", "MaxItems": 5}),
    ("sts", None, "AssumeRole", {"RoleArn": ROLE, "RoleSessionName": "s1", "DurationSeconds": 900,
                                 "Tags": [{"Key": "k", "Value": "v"}]}),
    ("sts", None, "GetCallerIdentity", {}),
    ("cloudwatch", "query", "PutMetricData", {"Namespace": "App", "MetricData": [
        {"MetricName": "Latency", "Timestamp": WHEN, "Value": 12.5, "Unit": "Milliseconds",
         "Dimensions": [{"Name": "FunctionName", "Value": "my-fn"}]}]}),
    ("cloudwatch", "query", "GetMetricStatistics", {"Namespace": "AWS/Lambda", "MetricName": "Invocations",
                                                    "StartTime": WHEN, "EndTime": WHEN, "Period": 60,
                                                    "Statistics": ["Sum", "Average"]}),
    ("cloudwatch", "json", "ListMetrics", {"Namespace": "AWS/Lambda", "Dimensions": [{"Name": "FunctionName"}]}),
    ("ec2", None, "DescribeInstances", {"InstanceIds": ["i-0123456789abcdef0"], "MaxResults": 5,
                                        "Filters": [{"Name": "tag:team", "Values": ["core", "edge"]}]}),
    ("ec2", None, "CreateTags", {"Resources": ["i-1"], "Tags": [{"Key": "Name", "Value": "web"}], "DryRun": False}),
]


@pytest.mark.parametrize(("service", "protocol", "operation", "params"), HAND_PICKED,
                         ids=[f"{s}-{o}-{i}" for i, (s, _, o, _) in enumerate(HAND_PICKED)])
def test_hand_picked_requests_parse_and_validate(
    service: str, protocol: str | None, operation: str, params: dict[str, Any]
) -> None:
    """Realistic params pass botocore's client validation and the layer's model validation alike."""
    assert round_trip_request(service, operation, params, protocol) == (operation, params)


def test_invoke_answer_carries_status_headers_and_raw_payload() -> None:
    wire = proto("lambda").serialise(
        "Invoke", {"StatusCode": 202, "Payload": b"", "FunctionError": "Unhandled", "ExecutedVersion": "$LATEST"}, "r"
    )
    status, headers, body = wire
    assert (status, body) == (202, b"")
    assert headers["x-amz-function-error"] == "Unhandled"
    assert headers["x-amz-executed-version"] == "$LATEST"
    assert client_parse("lambda", "Invoke", wire)["StatusCode"] == 202


def test_rest_json_output_status_defaults_to_the_models_response_code() -> None:
    status, _, body = proto("lambda").serialise("DeleteAlias", None)
    assert (status, body) == (204, b"")
    status, headers, _ = proto("lambda").serialise("CreateFunction", {"FunctionName": "f"})
    assert status == 201 and headers["Content-Type"] == "application/json"


def test_timestamps_travel_in_each_protocols_format() -> None:
    _, _, body = proto("scheduler").serialise("GetSchedule", {"Name": "n", "CreationDate": WHEN})
    assert f'"CreationDate": {calendar.timegm(WHEN.timetuple())}'.encode() in body
    _, _, body = proto("iam").serialise("GetRole", {"Role": {"RoleName": "r", "Path": "/", "RoleId": "i",
                                                             "Arn": "a", "CreateDate": WHEN}})
    assert b"<CreateDate>2026-12-01T22:46:53Z</CreateDate>" in body
    _, _, query, _, _ = client_request("cloudwatch", "GetMetricStatistics", {
        "Namespace": "n", "MetricName": "m", "StartTime": WHEN, "EndTime": WHEN, "Period": 60}, "query")
    assert query == ""  # POST: the fields travel in the form body
