"""Routing and malformed input: which operation a request names, and the refusals."""

from __future__ import annotations

import pytest
from protocols_wire import client_request, proto

from lambent.api.protocols import validate as validate_mod
from lambent.api.protocols import build_handler
from lambent.errors import InvalidRequestContent, UnknownOperation, ValidationError


def _parse(service: str, method: str, path: str, query: str = "", headers: dict[str, str] | None = None,
           body: bytes = b"") -> tuple[str, dict[str, object]]:
    return proto(service).parse(method, path, query, headers or {}, body)


def test_rest_routes_by_method_path_and_labels() -> None:
    assert _parse("lambda", "GET", "/2015-03-31/functions/") == ("ListFunctions", {})
    assert _parse("lambda", "GET", "/2015-03-31/functions") == ("ListFunctions", {})
    assert _parse("lambda", "GET", "/2015-03-31/functions/my-fn") == ("GetFunction", {"FunctionName": "my-fn"})
    assert _parse("lambda", "GET", "/2015-03-31/functions/my-fn/configuration", "Qualifier=3") == (
        "GetFunctionConfiguration", {"FunctionName": "my-fn", "Qualifier": "3"})
    assert _parse("lambda", "DELETE", "/2015-03-31/functions/my-fn/aliases/live") == (
        "DeleteAlias", {"FunctionName": "my-fn", "Name": "live"})


def test_percent_encoded_labels_are_decoded() -> None:
    arn = "arn:aws:lambda:us-east-1:123456789012:function:my-fn:7"
    method, path, query, headers, body = client_request("lambda", "GetFunction", {"FunctionName": arn})
    assert "%3A" in path
    assert proto("lambda").parse(method, path, query, headers, body) == ("GetFunction", {"FunctionName": arn})


def test_unknown_rest_request_names_the_model_operation_or_the_path() -> None:
    with pytest.raises(UnknownOperation) as caught:
        _parse("lambda", "PATCH", "/2015-03-31/functions/f")
    assert caught.value.message == "No lambda operation matches PATCH /2015-03-31/functions/f."


def test_json_routes_by_target_and_refuses_an_unknown_one() -> None:
    assert _parse("logs", "POST", "/", headers={"X-Amz-Target": "Logs_20140328.CreateLogGroup"},
                  body=b'{"logGroupName": "g"}') == ("CreateLogGroup", {"logGroupName": "g"})
    with pytest.raises(UnknownOperation) as caught:
        _parse("logs", "POST", "/", headers={"X-Amz-Target": "Logs_20140328.Nope"}, body=b"{}")
    assert caught.value.message == "No logs operation matches X-Amz-Target 'Logs_20140328.Nope'."


def test_query_routes_by_action_in_the_form_body_or_query_string() -> None:
    assert _parse("iam", "POST", "/", body=b"Action=GetRole&Version=2010-05-08&RoleName=r") == (
        "GetRole", {"RoleName": "r"})
    assert _parse("sts", "GET", "/", "Action=GetCallerIdentity&Version=2011-06-15") == ("GetCallerIdentity", {})
    with pytest.raises(UnknownOperation) as caught:
        _parse("iam", "POST", "/", body=b"Action=DropTables")
    assert caught.value.message == "No iam operation named 'DropTables'."


def test_malformed_json_body_is_invalid_request_content() -> None:
    with pytest.raises(InvalidRequestContent) as caught:
        _parse("lambda", "POST", "/2015-03-31/functions", body=b"{not json")
    assert caught.value.message.startswith("Could not parse request body into json: ")
    with pytest.raises(InvalidRequestContent) as caught:
        _parse("lambda", "POST", "/2015-03-31/functions", body=b"[1]")
    assert caught.value.message == "Could not parse request body into json: the body is not a JSON object."


def test_wrong_json_types_are_refused_with_the_member_path() -> None:
    with pytest.raises(InvalidRequestContent) as caught:
        _parse("lambda", "POST", "/2015-03-31/functions", body=b'{"FunctionName": "f", "MemorySize": "big"}')
    assert caught.value.message == "Could not parse request body into json: value at '/MemorySize' is not a integer."
    with pytest.raises(InvalidRequestContent) as caught:
        _parse("lambda", "POST", "/2015-03-31/functions", body=b'{"MemorySize": true}')
    assert caught.value.message == "Could not parse request body into json: value at '/MemorySize' is not a integer."
    with pytest.raises(InvalidRequestContent) as caught:
        _parse("lambda", "POST", "/2015-03-31/functions", body=b'{"Code": {"ZipFile": "***"}}')
    assert caught.value.message == "Value at '/Code/ZipFile' is not valid base64."


def test_bad_scalars_in_query_fields_are_refused() -> None:
    with pytest.raises(InvalidRequestContent) as caught:
        _parse("iam", "POST", "/", body=b"Action=ListRoles&MaxItems=ten")
    assert caught.value.message == "Value 'ten' at 'MaxItems' is not a valid integer."
    with pytest.raises(InvalidRequestContent) as caught:
        _parse("ec2", "POST", "/", body=b"Action=DescribeInstances&DryRun=yes")
    assert caught.value.message == "Value 'yes' at 'DryRun' is not a valid boolean."


def test_unknown_members_are_ignored_as_aws_does() -> None:
    assert _parse("lambda", "PUT", "/2017-10-31/functions/f/concurrency",
                  body=b'{"ReservedConcurrentExecutions": 3, "Extra": 1}') == (
        "PutFunctionConcurrency", {"FunctionName": "f", "ReservedConcurrentExecutions": 3})


def test_pattern_memo_stays_bounded_and_keeps_answers_right() -> None:
    handler = build_handler("lambda")
    check = handler.validator("GetFunction")
    for i in range(validate_mod._PATTERN_MEMO_SIZE + 10):
        check({"FunctionName": f"fn-{i}"})
    check({"FunctionName": "ok-" + "a" * 100})
    with pytest.raises(ValidationError):
        check({"FunctionName": "bad name"})
    with pytest.raises(ValidationError):  # the remembered refusal is still a refusal
        check({"FunctionName": "bad name"})


def test_precompile_builds_every_operations_plan() -> None:
    handler = build_handler("lambda")
    handler.precompile()
    assert set(handler._validators) == set(handler.model.operation_names)
