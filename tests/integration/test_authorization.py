"""Every call authorised, end to end through boto3 against a real server (issue 10): a user allowed
only lambda:InvokeFunction on one function can invoke it and nothing else; a policy change applies
at once; another account is denied, allowed by AddPermission, denied again after RemovePermission;
an Inactive or deleted key is answered like an unknown one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from harness import Server, create_function, unique

pytestmark = pytest.mark.integration

APP = {"app.py": "def handler(event, context):\n    return {'ok': True}\n"}


def _client(server: Server, key: str, secret: str, service: str = "lambda") -> Any:
    return boto3.client(service, endpoint_url=server.url, region_name="us-east-1", aws_access_key_id=key,
                        aws_secret_access_key=secret, config=Config(retries={"max_attempts": 0}))


def _error(call: Any, **kwargs: Any) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as exc:
        call(**kwargs)
    err: Any = exc.value.response
    return err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"], err["Error"]["Message"]


def _user(server: Server, policy: dict[str, Any] | None) -> tuple[str, str, str]:
    """A new IAM user (its ARN and a key pair) with ``policy`` as its only inline policy."""
    iam = server.client("iam")
    name = unique("user")
    arn = iam.create_user(UserName=name)["User"]["Arn"]
    if policy is not None:
        iam.put_user_policy(UserName=name, PolicyName="only", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return arn, key["AccessKeyId"], key["SecretAccessKey"]


def test_a_user_allowed_only_to_invoke_one_function_can_do_that_and_nothing_else(server: Server) -> None:
    lam = server.client()
    allowed, other = create_function(lam, APP), create_function(lam, APP)
    fn_arn = lam.get_function(FunctionName=allowed)["Configuration"]["FunctionArn"]
    user_arn, key, secret = _user(server, {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": fn_arn}]})
    bob = _client(server, key, secret)
    # Then it invokes that function, by name and by ARN
    assert json.loads(bob.invoke(FunctionName=allowed)["Payload"].read()) == {"ok": True}
    assert bob.invoke(FunctionName=fn_arn)["StatusCode"] == 200
    # and nothing else, with AWS's message
    other_arn = f"arn:aws:lambda:us-east-1:000000000000:function:{other}"
    assert _error(bob.invoke, FunctionName=other) == (
        "AccessDeniedException", 403,
        f"User: {user_arn} is not authorized to perform: lambda:InvokeFunction on resource: {other_arn} "
        "because no identity-based policy allows the lambda:InvokeFunction action")
    assert _error(bob.get_function, FunctionName=allowed)[:2] == ("AccessDeniedException", 403)
    assert _error(bob.list_functions)[:2] == ("AccessDeniedException", 403)
    assert _error(bob.delete_function, FunctionName=allowed)[:2] == ("AccessDeniedException", 403)
    assert _error(_client(server, key, secret, "iam").list_users)[:2] == ("AccessDenied", 403)
    # When an explicit deny is added, it applies to the next call
    iam = server.client("iam")
    name = user_arn.rsplit("/", 1)[1]
    iam.put_user_policy(UserName=name, PolicyName="deny", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Deny", "Action": "lambda:*", "Resource": "*"}]}))
    code, status, message = _error(bob.invoke, FunctionName=allowed)
    assert (code, status) == ("AccessDeniedException", 403) and "with an explicit deny in an identity-based policy" in message
    # An Inactive key is answered like an unknown one
    iam.delete_user_policy(UserName=name, PolicyName="deny")
    assert bob.invoke(FunctionName=allowed)["StatusCode"] == 200
    iam.update_access_key(UserName=name, AccessKeyId=key, Status="Inactive")
    assert _error(bob.invoke, FunctionName=allowed)[:2] == ("UnrecognizedClientException", 403)
    iam.delete_access_key(UserName=name, AccessKeyId=key)
    assert _error(bob.invoke, FunctionName=allowed)[:2] == ("UnrecognizedClientException", 403)


def _new_account(server: Server) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAMBENT_")}
    out = subprocess.run([sys.executable, "-m", "lambent.cli.accounts_cmd", "create", unique("tenant"),
                          "--data-dir", str(server.data_dir)], capture_output=True, text=True, timeout=120, env=env,
                         check=True)
    made: dict[str, str] = json.loads(out.stdout)
    return made


def test_another_account_is_denied_allowed_by_add_permission_and_denied_after_remove_permission(server: Server) -> None:
    lam = server.client()
    name = create_function(lam, APP)
    fn_arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    tenant = _new_account(server)
    other = _client(server, tenant["AccessKeyId"], tenant["SecretAccessKey"])
    # Its caller identity is its own account's root (a running server sees a key the CLI made within
    # a second: it re-reads iam.db for an unknown key at most once a second)
    sts = _client(server, tenant["AccessKeyId"], tenant["SecretAccessKey"], "sts")
    deadline = time.monotonic() + 5
    while True:
        try:
            ident = sts.get_caller_identity()
            break
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "InvalidClientTokenId" or time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    assert ident["Account"] == tenant["AccountId"] and ident["Arn"] == f"arn:aws:iam::{tenant['AccountId']}:root"
    # Then, without a resource policy, it is denied
    assert _error(other.invoke, FunctionName=fn_arn)[:2] == ("AccessDeniedException", 403)
    # and a bare name or a list acts on its own account (which has no such function)
    assert _error(other.invoke, FunctionName=name)[:2] == ("ResourceNotFoundException", 404)
    assert other.list_functions()["Functions"] == []
    # When the function's owner allows that account
    lam.add_permission(FunctionName=name, StatementId="tenant", Action="lambda:InvokeFunction",
                       Principal=tenant["AccountId"])
    assert json.loads(other.invoke(FunctionName=fn_arn)["Payload"].read()) == {"ok": True}
    # it may invoke, and only invoke
    assert _error(other.get_function, FunctionName=fn_arn)[:2] == ("AccessDeniedException", 403)
    # And after RemovePermission it is denied again
    lam.remove_permission(FunctionName=name, StatementId="tenant")
    assert _error(other.invoke, FunctionName=fn_arn)[:2] == ("AccessDeniedException", 403)
