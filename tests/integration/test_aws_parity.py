"""Deviations from AWS in operations lambent serves, checked through boto3 against the real server.

Expected codes and messages are AWS's recorded answers (LocalStack keeps snapshots recorded
against real AWS in tests/aws/services/lambda_/*.snapshot.json; the messages below match them).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from botocore.exceptions import ClientError

from harness import ROLE, create_function, unique, zip_of

ARN = "arn:aws:lambda:us-east-1:000000000000:function:"
APP = {"app.py": "def handler(e, c):\n    return e\n"}


def error_of(call: Any) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as exc:
        call()
    r = exc.value.response
    return r["Error"]["Code"], r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Message"]


def test_unknown_runtime_is_invalid_parameter_value_naming_the_enum(lam: Any) -> None:
    raw_create = lam.create_function
    code, status, message = error_of(lambda: raw_create(
        FunctionName=unique(), Runtime="python2.0", Role=ROLE, Handler="app.handler", Code={"ZipFile": zip_of(APP)}))
    assert (code, status) == ("InvalidParameterValueException", 400)
    assert message.startswith("Value python2.0 at 'runtime' failed to satisfy constraint: "
                              "Member must satisfy enum value set: [")
    assert message.endswith("] or be a valid ARN")
    assert "python3.12" in message


def test_unknown_runtime_on_update_is_invalid_parameter_value(lam: Any) -> None:
    name = create_function(lam, APP)
    code, status, message = error_of(lambda: lam.update_function_configuration(FunctionName=name, Runtime="python2.0"))
    assert (code, status) == ("InvalidParameterValueException", 400)
    assert message.startswith("Value python2.0 at 'runtime' failed to satisfy constraint: ")


def test_publish_version_with_a_stale_code_sha256_is_400(lam: Any) -> None:
    name = create_function(lam, APP)
    sha = lam.get_function_configuration(FunctionName=name)["CodeSha256"]
    assert error_of(lambda: lam.publish_version(FunctionName=name, CodeSha256="bm9wZQ==")) == (
        "InvalidParameterValueException", 400,
        f"CodeSHA256 (bm9wZQ==) is different from current CodeSHA256 in $LATEST ({sha}). "
        "Please try again with the CodeSHA256 in $LATEST.",
    )
    # a RevisionId mismatch stays 412
    assert error_of(lambda: lam.publish_version(FunctionName=name, RevisionId="stale"))[:2] == (
        "PreconditionFailedException", 412)
    assert lam.publish_version(FunctionName=name, CodeSha256=sha)["Version"] == "1"


def test_missing_event_invoke_config_names_the_qualified_arn(lam: Any) -> None:
    name = create_function(lam, APP)
    assert error_of(lambda: lam.get_function_event_invoke_config(FunctionName=name)) == (
        "ResourceNotFoundException", 404, f"The function {ARN}{name}:$LATEST doesn't have an EventInvokeConfig")
    assert error_of(lambda: lam.update_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=1)) == (
        "ResourceNotFoundException", 404, f"The function {ARN}{name}:$LATEST doesn't have an EventInvokeConfig")


def test_lambda_destination_must_exist(lam: Any) -> None:
    name = create_function(lam, APP)
    missing = f"{ARN}{unique('missing')}"
    assert error_of(lambda: lam.put_function_event_invoke_config(
        FunctionName=name, DestinationConfig={"OnFailure": {"Destination": missing}})) == (
        "InvalidParameterValueException", 400, f"The destination ARN {missing} is invalid.")
    assert error_of(lambda: lam.put_function_event_invoke_config(
        FunctionName=name, DestinationConfig={"OnSuccess": {"Destination": f"{ARN}{name}"}})) == (
        "InvalidParameterValueException", 400, "You can't specify the function as a destination for itself.")
    other_account = f"arn:aws:lambda:us-east-1:111111111111:function:{name}"
    assert error_of(lambda: lam.put_function_event_invoke_config(
        FunctionName=name, DestinationConfig={"OnFailure": {"Destination": other_account}})) == (
        "InvalidParameterValueException", 400, f"The destination ARN {other_account} is invalid.")
    sink = create_function(lam, APP)
    cfg = lam.put_function_event_invoke_config(
        FunctionName=name, DestinationConfig={"OnFailure": {"Destination": f"{ARN}{sink}"}})
    assert cfg["DestinationConfig"]["OnFailure"]["Destination"] == f"{ARN}{sink}"


PATH_PATTERN = (r"(arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?(\d{12}:)?"
                r"(function:)?([a-zA-Z0-9-_\.]+)(:(\$LATEST(\.PUBLISHED)?|[a-zA-Z0-9-_]+))?")
CREATE_PATTERN = (r"(arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?(\d{12}:)?"
                  r"(function:)?([a-zA-Z0-9-_]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?")


def test_function_name_validation_reports_aws_patterns(server: Any) -> None:
    lam = server.client(parameter_validation=False)
    assert error_of(lambda: lam.get_function(FunctionName="my-function!")) == (
        "ValidationException", 400, "1 validation error detected: Value 'my-function!' at 'functionName' failed to "
        f"satisfy constraint: Member must satisfy regular expression pattern: {PATH_PATTERN}")
    assert error_of(lambda: lam.get_function(FunctionName="my-function", Qualifier="invalid!")) == (
        "ValidationException", 400, "1 validation error detected: Value 'invalid!' at 'qualifier' failed to satisfy "
        r"constraint: Member must satisfy regular expression pattern: \$(LATEST(\.PUBLISHED)?)|[a-zA-Z0-9-_$]+")
    assert error_of(lambda: lam.get_function(FunctionName="my-function", Qualifier="a" * 129)) == (
        "ValidationException", 400, f"1 validation error detected: Value '{'a' * 129}' at 'qualifier' failed to "
        "satisfy constraint: Member must have length less than or equal to 128")
    # an over-long name is simply not found (with the qualifier kept in the ARN)
    long = "a" * 65
    assert error_of(lambda: lam.get_function(FunctionName=long)) == (
        "ResourceNotFoundException", 404, f"Function not found: {ARN}{long}")
    assert error_of(lambda: lam.get_function(FunctionName="my-function", Qualifier=long)) == (
        "ResourceNotFoundException", 404, f"Function not found: {ARN}my-function:{long}")
    # CreateFunction: its own (stricter) pattern; an over-long name is InvalidParameterValueException
    create = lambda fn: lam.create_function(FunctionName=fn, Runtime="python3.11", Role=ROLE,  # noqa: E731
                                            Handler="app.handler", Code={"ZipFile": zip_of(APP)})
    assert error_of(lambda: create(long)) == (
        "InvalidParameterValueException", 400, f"1 validation error detected: Value '{long}' at 'functionName' "
        "failed to satisfy constraint: Member must have length less than or equal to 64")
    too_long = "arn:aws:lambda:invalid-region:000000000000:function:my-function" + "a" * 140
    assert error_of(lambda: create(too_long)) == (
        "ValidationException", 400, f"2 validation errors detected: Value '{too_long}' at 'functionName' failed to "
        f"satisfy constraint: Member must have length less than or equal to 140; Value '{too_long}' at "
        f"'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: {CREATE_PATTERN}")


def test_other_region_and_other_account(lam: Any) -> None:
    name = create_function(lam, APP)
    code, status, message = error_of(lambda: lam.get_function(
        FunctionName=f"arn:aws:lambda:ap-southeast-1:000000000000:function:{name}"))
    assert (code, status, message) == (
        "ResourceNotFoundException", 404, "Functions from 'ap-southeast-1' are not reachable in this region ('us-east-1')")
    code, status, _ = error_of(lambda: lam.get_function(FunctionName=f"arn:aws:lambda:us-east-1:111111111111:function:{name}"))
    assert (code, status) == ("AccessDeniedException", 403)


def test_deletes_of_missing_versions_and_aliases_succeed(lam: Any) -> None:
    name = create_function(lam, APP)
    # AWS: idempotent for a version or alias that does not exist
    assert lam.delete_function(FunctionName=name, Qualifier="1233")["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert lam.delete_function(FunctionName=name, Qualifier="1233")["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert lam.delete_alias(FunctionName=name, Name="non-existent")["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert error_of(lambda: lam.delete_function(FunctionName=name, Qualifier="$LATEST")) == (
        "InvalidParameterValueException", 400, "$LATEST version cannot be deleted without deleting the function.")
    lam.delete_function(FunctionName=name)
    for qualifier in ({}, {"Qualifier": "1233"}):
        assert error_of(lambda: lam.delete_function(FunctionName=name, **qualifier)) == (
            "ResourceNotFoundException", 404, f"Function not found: {ARN}{name}")


@pytest.mark.parametrize("runtime", ["python3.7", "nodejs14.x", "provided", "go1.x"])
def test_deprecated_runtimes_get_aws_no_longer_supported_message(lam: Any, runtime: str) -> None:
    expected = ("InvalidParameterValueException", 400,
                f"The runtime parameter of {runtime} is no longer supported for creating or updating AWS Lambda "
                "functions. We recommend you use a supported runtime while creating or updating functions.")
    assert error_of(lambda: lam.create_function(FunctionName=unique(), Runtime=runtime, Role=ROLE,
                                                Handler="app.handler", Code={"ZipFile": zip_of(APP)})) == expected
    name = create_function(lam, APP)
    assert error_of(lambda: lam.update_function_configuration(FunctionName=name, Runtime=runtime)) == expected


def test_configuration_shapes_as_on_aws(lam: Any) -> None:
    name = unique()
    created = lam.create_function(FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="app.handler",
                                  Code={"ZipFile": zip_of(APP)}, Environment={"Variables": {}})
    assert created["Environment"] == {"Variables": {}}
    assert re.fullmatch(r"arn:aws:lambda:us-east-1::runtime:[0-9a-f]{64}",
                        created["RuntimeVersionConfig"]["RuntimeVersionArn"])
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 100})
    assert lam.get_function_configuration(FunctionName=name)["Environment"] == {"Variables": {}}
    updated = lam.update_function_configuration(FunctionName=name, LoggingConfig={"LogFormat": "JSON"})
    assert updated["LoggingConfig"] == {"LogFormat": "JSON", "LogGroup": f"/aws/lambda/{name}",
                                        "ApplicationLogLevel": "INFO", "SystemLogLevel": "INFO"}
    # a function created without Environment has none
    other = create_function(lam, APP)
    assert "Environment" not in lam.get_function_configuration(FunctionName=other)


def test_answers_carry_a_request_id(lam: Any) -> None:
    for answer in (lam.list_functions(), lam.get_account_settings()):
        rid = answer["ResponseMetadata"].get("RequestId")
        assert rid and re.fullmatch(r"[0-9a-f-]{36}", rid)


def test_list_entries_carry_no_state_fields(lam: Any) -> None:
    name = create_function(lam, APP)
    lam.publish_version(FunctionName=name)
    entries = lam.list_versions_by_function(FunctionName=name)["Versions"]
    entries += [f for f in lam.list_functions(FunctionVersion="ALL")["Functions"] if f["FunctionName"] == name]
    assert len(entries) == 4
    for entry in entries:
        assert not {"State", "StateReason", "StateReasonCode", "LastUpdateStatus", "RuntimeVersionConfig"} & set(entry)
    assert lam.get_function_configuration(FunctionName=name)["State"] == "Active"


def test_function_environment_variables_as_on_aws(lam: Any) -> None:
    code = {"app.py": "import os\ndef handler(e, c):\n    return {k: os.environ.get(k) for k in e}\n"}
    name = create_function(lam, code)
    keys = ["HOME", "PYTHONUNBUFFERED", "PATH", "LANG", "TZ"]
    import json as _json
    got = _json.loads(lam.invoke(FunctionName=name, Payload=_json.dumps(keys))["Payload"].read())
    assert got == {"HOME": None, "PYTHONUNBUFFERED": None, "PATH": "/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin",
                   "LANG": "en_US.UTF-8", "TZ": ":UTC"}


def test_total_code_size_grows_with_published_versions(lam: Any) -> None:
    before = lam.get_account_settings()["AccountUsage"]["TotalCodeSize"]
    name = create_function(lam, APP)
    size = lam.get_function_configuration(FunctionName=name)["CodeSize"]
    assert lam.get_account_settings()["AccountUsage"]["TotalCodeSize"] == before + size
    lam.publish_version(FunctionName=name)  # the same code, counted again as on AWS
    assert lam.get_account_settings()["AccountUsage"]["TotalCodeSize"] == before + 2 * size


def test_log_levels_are_kept_with_json_and_refused_with_text(lam: Any) -> None:
    # https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-log-level.html: "To use
    # log-level filtering, your function must be configured to use the JSON log format."
    name = unique()
    created = lam.create_function(FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="app.handler",
                                  Code={"ZipFile": zip_of(APP)},
                                  LoggingConfig={"LogFormat": "JSON", "ApplicationLogLevel": "DEBUG"})
    assert created["LoggingConfig"] == {"LogFormat": "JSON", "LogGroup": f"/aws/lambda/{name}",
                                        "ApplicationLogLevel": "DEBUG", "SystemLogLevel": "INFO"}
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 100})
    updated = lam.update_function_configuration(FunctionName=name, LoggingConfig={"SystemLogLevel": "WARN"})
    assert (updated["LoggingConfig"]["ApplicationLogLevel"], updated["LoggingConfig"]["SystemLogLevel"]) == ("DEBUG", "WARN")
    code, status, message = error_of(lambda: lam.create_function(
        FunctionName=unique(), Runtime="python3.11", Role=ROLE, Handler="app.handler", Code={"ZipFile": zip_of(APP)},
        LoggingConfig={"LogFormat": "Text", "ApplicationLogLevel": "DEBUG"}))
    assert (code, status) == ("InvalidParameterValueException", 400)
    assert "LogFormat JSON" in message
    text_fn = create_function(lam, APP)
    code, status, _ = error_of(lambda: lam.update_function_configuration(
        FunctionName=text_fn, LoggingConfig={"SystemLogLevel": "DEBUG"}))
    assert (code, status) == ("InvalidParameterValueException", 400)
    assert "ApplicationLogLevel" not in lam.get_function_configuration(FunctionName=text_fn)["LoggingConfig"]
