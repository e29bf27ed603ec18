"""Model constraints checked generically, with AWS's ValidationException text (the same text
lambent.control.validation produces for Lambda today)."""

from __future__ import annotations

from typing import Any

import pytest
from protocols_wire import client_request, proto

from lambent.api.protocols import build_handler
from lambent.control.validation import ENV_KEY_PATTERN, Checker
from lambent.errors import ValidationError

ROLE = "arn:aws:iam::123456789012:role/r"
CREATE = {"FunctionName": "fn", "Role": ROLE, "Code": {"ZipFile": b"PK"}}


def _refusal(service: str, operation: str, params: dict[str, Any], protocol: str | None = None) -> str:
    method, path, query, headers, body = client_request(service, operation, params, protocol, check=False)
    with pytest.raises(ValidationError) as caught:
        proto(service, protocol).parse(method, path, query, headers, body)
    return caught.value.message


def _checker_text(fill: Any) -> str:
    checker = Checker()
    fill(checker)
    with pytest.raises(ValidationError) as caught:
        checker.raise_if_any()
    return caught.value.message


def test_integer_max_and_min_as_lambdas_checker_says() -> None:
    # botocore's model allows 32768 MB / 5400 s; lambent's own limits (10240 / 900) stay domain checks
    assert _refusal("lambda", "CreateFunction", {**CREATE, "MemorySize": 40000}) == _checker_text(
        lambda c: c.int_range("memorySize", 40000, 128, 32768)
    ) == (
        "1 validation error detected: Value '40000' at 'memorySize' failed to satisfy constraint: "
        "Member must have value less than or equal to 32768"
    )
    assert _refusal("lambda", "CreateFunction", {**CREATE, "Timeout": 0}) == (
        "1 validation error detected: Value '0' at 'timeout' failed to satisfy constraint: "
        "Member must have value greater than or equal to 1"
    )


def test_several_errors_are_counted_and_joined() -> None:
    assert _refusal("lambda", "CreateFunction", {**CREATE, "MemorySize": 64, "Timeout": 5401}) == (
        # in the model's member order (Timeout comes before MemorySize in CreateFunctionRequest)
        "2 validation errors detected: "
        "Value '5401' at 'timeout' failed to satisfy constraint: Member must have value less than or equal to 5400; "
        "Value '64' at 'memorySize' failed to satisfy constraint: Member must have value greater than or equal to 128"
    )


def test_enum() -> None:
    message = _refusal("lambda", "CreateFunction", {**CREATE, "PackageType": "Wheel"})
    assert message == (
        "1 validation error detected: Value 'Wheel' at 'packageType' failed to satisfy constraint: "
        "Member must satisfy enum value set: [Zip, Image]"
    )


def test_string_length_and_pattern() -> None:
    long_name = "f" * 200
    assert _refusal("lambda", "GetFunctionConfiguration", {"FunctionName": "ok", "Qualifier": "q" * 129}) == (
        "1 validation error detected: Value '" + "q" * 129 + "' at 'qualifier' failed to satisfy constraint: "
        "Member must have length less than or equal to 128"
    )
    message = _refusal("lambda", "CreateFunction", {**CREATE, "FunctionName": long_name})
    assert message == (
        f"1 validation error detected: Value '{long_name}' at 'functionName' failed to satisfy constraint: "
        "Member must have length less than or equal to 140"
    )
    message = _refusal("lambda", "CreateFunction", {**CREATE, "Role": "not-a-role"})
    assert message.startswith(
        "1 validation error detected: Value 'not-a-role' at 'role' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: arn:(aws[a-zA-Z-]*)?:iam::"
    )


def test_length_minimum_of_strings_and_lists() -> None:
    assert _refusal("logs", "CreateLogGroup", {"logGroupName": ""}) == (
        "1 validation error detected: Value '' at 'logGroupName' failed to satisfy constraint: "
        "Member must have length greater than or equal to 1"
    )
    assert _refusal("logs", "PutLogEvents", {"logGroupName": "g", "logStreamName": "s", "logEvents": []}) == (
        "1 validation error detected: Value '[]' at 'logEvents' failed to satisfy constraint: "
        "Member must have length greater than or equal to 1"
    )


def test_required_member_missing() -> None:
    assert _refusal("lambda", "CreateFunction", {"FunctionName": "fn", "Code": {"ZipFile": b"PK"}}) == _checker_text(
        lambda c: c.required("role", None)
    ) == "1 validation error detected: Value 'null' at 'role' failed to satisfy constraint: Member must not be null"


def test_nested_members_and_list_elements_have_dotted_paths() -> None:
    assert _refusal("iam", "CreateRole", {"RoleName": "r", "AssumeRolePolicyDocument": "{}",
                                          "Tags": [{"Key": "ok", "Value": "v"}, {"Key": "", "Value": "v"}]}) == (
        "1 validation error detected: Value '' at 'tags.2.member.key' failed to satisfy constraint: "
        "Member must have length greater than or equal to 1"
    )
    assert _refusal("lambda", "CreateFunction", {**CREATE, "EphemeralStorage": {"Size": 100}}) == (
        "1 validation error detected: Value '100' at 'ephemeralStorage.size' failed to satisfy constraint: "
        "Member must have value greater than or equal to 512"
    )


def test_map_keys_use_lambdas_environment_text() -> None:
    assert _refusal("lambda", "CreateFunction", {**CREATE, "Environment": {"Variables": {"1BAD": "v"}}}) == (
        "1 validation error detected: Value at 'environment.variables' failed to satisfy constraint: "
        "Map keys must satisfy constraint: [Member must satisfy regular expression pattern: "
        f"{ENV_KEY_PATTERN}]"
    )


def test_query_and_ec2_services_are_validated_too() -> None:
    assert _refusal("sts", "AssumeRole", {"RoleArn": ROLE, "RoleSessionName": "s", "DurationSeconds": 10}) == (
        "2 validation errors detected: "
        "Value 's' at 'roleSessionName' failed to satisfy constraint: Member must have length greater than or equal to 2; "
        "Value '10' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900"
    )
    assert _refusal("cloudwatch", "PutMetricData", {"MetricData": [{"MetricName": "m"}]}, "query") == (
        "1 validation error detected: Value 'null' at 'namespace' failed to satisfy constraint: "
        "Member must not be null"
    )
    assert _refusal("ec2", "AssignPrivateNatGatewayAddress", {"NatGatewayId": "nat-1", "PrivateIpAddressCount": 32}) == (
        "1 validation error detected: Value '32' at 'privateIpAddressCount' failed to satisfy constraint: "
        "Member must have value less than or equal to 31"
    )


def test_a_service_overrides_a_member_it_checks_itself() -> None:
    """Where AWS answers with another error (Lambda's reserved keys, its 4 KB environment), the
    service skips the generic check for that member and its domain code answers."""
    custom = build_handler("lambda", skip={"CreateFunction": frozenset({"environment.variables", "memorySize"})})
    method, path, query, headers, body = client_request(
        "lambda", "CreateFunction", {**CREATE, "MemorySize": 1, "Environment": {"Variables": {"1BAD": "v"}}}, check=False
    )
    name, params = custom.parse(method, path, query, headers, body)
    assert (name, params["MemorySize"], params["Environment"]) == ("CreateFunction", 1, {"Variables": {"1BAD": "v"}})
    with pytest.raises(ValidationError):
        proto("lambda").parse(method, path, query, headers, body)


def test_valid_requests_pass_and_parse_can_skip_validation() -> None:
    method, path, query, headers, body = client_request("lambda", "CreateFunction", {**CREATE, "MemorySize": 1},
                                                        check=False)
    assert proto("lambda").parse(method, path, query, headers, body, validate=False)[1]["MemorySize"] == 1
