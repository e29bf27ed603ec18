"""Deviations from AWS in operations lambent serves, checked through boto3 against the real server.

Expected codes and messages are AWS's recorded answers (LocalStack keeps snapshots recorded
against real AWS in tests/aws/services/lambda_/*.snapshot.json; the messages below match them).
"""

from __future__ import annotations

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
