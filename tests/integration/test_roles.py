"""A function's execution role (issue 10), end to end through boto3: CreateFunction and
UpdateFunctionConfiguration take only a role of the function's account that exists and whose trust
policy lets lambda.amazonaws.com assume it (AWS's InvalidParameterValueException "The role defined
for the function cannot be assumed by Lambda."); a role of another account is refused as AWS does
("Cross-account pass role is not allowed."); a user needs iam:PassRole on the role; SnapStart's
ApplyOn None is kept and reported."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from harness import ROLE, Server, create_function, invoke_json, unique, zip_of

pytestmark = pytest.mark.integration

APP = {"app.py": "def handler(event, context):\n    return {'ok': True}\n"}
NOT_ASSUMABLE = ("InvalidParameterValueException", 400, "The role defined for the function cannot be assumed by Lambda.")


def _error(call: Any, **kwargs: Any) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as exc:
        call(**kwargs)
    err: Any = exc.value.response
    return err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"], err["Error"]["Message"]


def _trust(*services: str, **principal: Any) -> str:
    who: dict[str, Any] = {"Service": list(services)} if services else principal
    return json.dumps({"Version": "2012-10-17",
                       "Statement": [{"Effect": "Allow", "Principal": who, "Action": "sts:AssumeRole"}]})


def _role(server: Server, trust: str) -> str:
    arn: str = server.client("iam").create_role(RoleName=unique("role"), AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    return arn


def _create(lam: Any, role: str, **kwargs: Any) -> Any:
    return lam.create_function(FunctionName=kwargs.pop("FunctionName", None) or unique(), Runtime="python3.11",
                               Role=role, Handler="app.handler", Code={"ZipFile": zip_of(APP)}, **kwargs)


def _exists(lam: Any, name: str) -> bool:
    try:
        lam.get_function(FunctionName=name)
    except lam.exceptions.ResourceNotFoundException:
        return False
    return True


def test_a_role_that_does_not_exist_is_refused_and_nothing_is_created(server: Server, lam: Any) -> None:
    name = unique()
    assert _error(_create, lam=lam, role="arn:aws:iam::000000000000:role/never-made", FunctionName=name) == NOT_ASSUMABLE
    assert not _exists(lam, name)
    # a role's path is part of its ARN: the harness's role under another path is not it
    assert _error(_create, lam=lam, role="arn:aws:iam::000000000000:role/other/path/lambda-role") == NOT_ASSUMABLE


def test_a_role_whose_trust_does_not_name_lambda_is_refused(server: Server, lam: Any) -> None:
    for trust in (_trust("ec2.amazonaws.com"), _trust("scheduler.amazonaws.com"),
                  _trust(AWS="arn:aws:iam::000000000000:root")):
        assert _error(_create, lam=lam, role=_role(server, trust)) == NOT_ASSUMABLE
    # a Deny for Lambda in the trust wins over its Allow
    deny = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"},
        {"Effect": "Deny", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
    assert _error(_create, lam=lam, role=_role(server, deny)) == NOT_ASSUMABLE


def test_a_role_of_another_account_is_refused_as_aws_does(server: Server, lam: Any) -> None:
    assert _error(_create, lam=lam, role="arn:aws:iam::111111111111:role/lambda-role") == (
        "AccessDeniedException", 403, "Cross-account pass role is not allowed.")


def test_a_role_trusting_lambda_is_taken_and_its_function_runs_with_it(server: Server, lam: Any) -> None:
    role = _role(server, _trust("lambda.amazonaws.com"))
    name = unique()
    cfg = _create(lam, role, FunctionName=name, SnapStart={"ApplyOn": "None"})
    assert cfg["Role"] == role and cfg["SnapStart"] == {"ApplyOn": "None", "OptimizationStatus": "Off"}
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 100})
    resp, out = invoke_json(lam, name)
    assert "FunctionError" not in resp and out == {"ok": True}


def test_update_function_configuration_with_a_bad_role_changes_nothing(server: Server, lam: Any) -> None:
    name = create_function(lam, APP)
    before = lam.get_function_configuration(FunctionName=name)
    untrusting = _role(server, _trust("ec2.amazonaws.com"))
    for bad in ("arn:aws:iam::000000000000:role/never-made", untrusting):
        assert _error(lam.update_function_configuration, FunctionName=name, Role=bad, Description="changed") == NOT_ASSUMABLE
    assert _error(lam.update_function_configuration, FunctionName=name,
                  Role="arn:aws:iam::111111111111:role/lambda-role")[:2] == ("AccessDeniedException", 403)
    after = lam.get_function_configuration(FunctionName=name)
    assert (after["Role"], after["Description"], after["RevisionId"]) == (ROLE, before["Description"], before["RevisionId"])
    # When the role is fixed to trust Lambda, the same update is taken; SnapStart stays as it was
    server.client("iam").update_assume_role_policy(RoleName=untrusting.rsplit("/", 1)[1],
                                                    PolicyDocument=_trust("lambda.amazonaws.com"))
    cfg = lam.update_function_configuration(FunctionName=name, Role=untrusting)
    assert cfg["Role"] == untrusting and cfg["SnapStart"] == {"ApplyOn": "None", "OptimizationStatus": "Off"}


def test_the_role_is_checked_when_given_not_when_left_out(server: Server, lam: Any) -> None:
    # Given a function whose role was deleted after it was created
    role = _role(server, _trust("lambda.amazonaws.com"))
    name = unique()
    _create(lam, role, FunctionName=name)
    server.client("iam").delete_role(RoleName=role.rsplit("/", 1)[1])
    # an update that does not name the role is taken; one that names it again is refused
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 100})
    assert lam.update_function_configuration(FunctionName=name, Description="d")["Description"] == "d"
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 100})
    assert _error(lam.update_function_configuration, FunctionName=name, Role=role) == NOT_ASSUMABLE


def _user(server: Server, statements: list[dict[str, Any]]) -> Any:
    iam = server.client("iam")
    user = unique("user")
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="only",
                        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    return boto3.client("lambda", endpoint_url=server.url, region_name="us-east-1",
                        aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"],
                        config=Config(retries={"max_attempts": 0}))


def test_a_user_without_iam_pass_role_cannot_create_a_function(server: Server, lam: Any) -> None:
    create = {"Effect": "Allow", "Action": ["lambda:CreateFunction", "lambda:GetFunction"], "Resource": "*"}
    # Given a user allowed to create functions, but not to pass any role
    no_pass = _user(server, [create])
    name = unique()
    code, status, message = _error(_create, lam=no_pass, role=ROLE, FunctionName=name)
    assert (code, status) == ("AccessDeniedException", 403) and f"iam:PassRole on resource: {ROLE}" in message
    assert not _exists(lam, name)
    # Given one who may pass only another role
    other = _user(server, [create, {"Effect": "Allow", "Action": "iam:PassRole",
                                    "Resource": "arn:aws:iam::000000000000:role/other"}])
    assert _error(_create, lam=other, role=ROLE)[:2] == ("AccessDeniedException", 403)
    # Given one who may pass it, to Lambda only: the function is created
    passer = _user(server, [create, {"Effect": "Allow", "Action": "iam:PassRole", "Resource": ROLE,
                                     "Condition": {"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}}}])
    assert _create(passer, ROLE, FunctionName=name)["Role"] == ROLE
    # and PassRole alone does not make an untrusting role usable
    untrusting = _role(server, _trust("ec2.amazonaws.com"))
    anything = _user(server, [create, {"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*"}])
    assert _error(_create, lam=anything, role=untrusting) == NOT_ASSUMABLE
