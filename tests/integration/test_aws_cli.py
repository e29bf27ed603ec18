"""The real ``aws`` CLI (v1, ``.venv/bin/aws``), unmodified, against a real server (issue 10): STS
and IAM over the query protocol, Lambda over rest-json, and a service error's exit code; then the
``lambent`` CLI signing as the aws CLI does (a named profile, a session token from STS).

Every command runs with a temporary HOME and only the variables it needs, so no user's
``~/.aws`` or ``AWS_*`` environment leaks in.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness import ACCESS_KEY, SECRET_KEY, Server, create_function, unique

pytestmark = pytest.mark.integration

AWS = Path(sys.executable).parent / "aws"
APP = {"app.py": "def handler(event, context):\n    return {'got': event}\n"}
TRUST = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}


def _clean_env(home: Path, **extra: str) -> dict[str, str]:
    """Only PATH, a temp HOME (config files in it) and what the test gives; IMDS never asked."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LANG": "C.UTF-8",
            "AWS_CONFIG_FILE": str(home / ".aws" / "config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(home / ".aws" / "credentials"),
            "AWS_EC2_METADATA_DISABLED": "true", **extra}


def aws(server: Server, home: Path, *args: str, cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    """``aws ARGS --endpoint-url URL`` signed with the harness's root key pair (unless ``env`` says otherwise)."""
    creds = {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_DEFAULT_REGION": "us-east-1"}
    return subprocess.run(
        [str(AWS), *args, "--endpoint-url", server.url, "--output", "json"],
        env=_clean_env(home, **{**creds, **env}), cwd=cwd, capture_output=True, text=True, timeout=120, check=False,
    )


def ok(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, (result.returncode, result.stderr)
    return json.loads(result.stdout) if result.stdout.strip() else None


@pytest.fixture
def home(tmp_path: Path) -> Path:
    (tmp_path / ".aws").mkdir()
    return tmp_path


def test_get_caller_identity_is_the_account_root(server: Server, home: Path) -> None:
    # When the aws CLI asks STS who signed
    who = ok(aws(server, home, "sts", "get-caller-identity"))
    # Then it is the account's root, in AWS's three fields
    assert who == {"UserId": "000000000000", "Account": "000000000000", "Arn": "arn:aws:iam::000000000000:root"}


def test_create_get_and_list_a_role(server: Server, home: Path) -> None:
    # Given a trust policy in a file, as the aws CLI's docs show
    (home / "trust.json").write_text(json.dumps(TRUST))
    name = unique("role")
    # When the role is created from file://trust.json
    created = ok(aws(server, home, "iam", "create-role", "--role-name", name,
                     "--assume-role-policy-document", "file://trust.json", "--description", "made by aws", cwd=home))
    # Then the answer is the role, with its ARN, id and the document as given
    role = created["Role"]
    assert role["RoleName"] == name and role["Arn"] == f"arn:aws:iam::000000000000:role/{name}"
    assert role["RoleId"].startswith("AROA") and role["Path"] == "/"
    assert role["AssumeRolePolicyDocument"] == TRUST
    # and get-role and list-roles see it
    got = ok(aws(server, home, "iam", "get-role", "--role-name", name))["Role"]
    assert (got["Arn"], got["RoleId"], got["AssumeRolePolicyDocument"]) == (role["Arn"], role["RoleId"], TRUST)
    assert got["Description"] == "made by aws"
    listed = ok(aws(server, home, "iam", "list-roles"))["Roles"]
    assert role["Arn"] in [r["Arn"] for r in listed]


#: The aws CLI v1's exit code for a service's error (v2 says 254; v1 has only 255, "Command failed.
#: There were errors from either the AWS CLI or from the service": docs.aws.amazon.com/cli/v1/
#: userguide/cli-usage-returncodes.html and awscli/clidriver.py's ``ClientError`` branch).
SERVICE_ERROR_RC = 255


def test_a_missing_role_exits_with_no_such_entity(server: Server, home: Path) -> None:
    # When the aws CLI asks for a role that does not exist
    result = aws(server, home, "iam", "get-role", "--role-name", "missing")
    # Then it exits as for any service error, and says AWS's code and message
    assert result.returncode == SERVICE_ERROR_RC, result.stderr
    assert "An error occurred (NoSuchEntity) when calling the GetRole operation" in result.stderr
    assert "The role with name missing cannot be found." in result.stderr and result.stdout == ""


def test_list_functions_and_invoke(server: Server, home: Path) -> None:
    # Given a function created with boto3
    name = create_function(server.client(), APP)
    # When the aws CLI lists functions, it is there
    listed = ok(aws(server, home, "lambda", "list-functions"))
    assert name in [f["FunctionName"] for f in listed["Functions"]]
    # and invoke writes the function's answer to the outfile, the status to stdout
    (home / "event.json").write_text(json.dumps({"n": 1}))
    answer = ok(aws(server, home, "lambda", "invoke", "--function-name", name, "--payload", "file://event.json",
                    "out.json", cwd=home))
    assert answer["StatusCode"] == 200 and answer["ExecutedVersion"] == "$LATEST"
    assert "FunctionError" not in answer
    assert json.loads((home / "out.json").read_text()) == {"got": {"n": 1}}


def test_a_wrong_secret_is_refused(server: Server, home: Path) -> None:
    # When the aws CLI signs with the right key id and a wrong secret
    result = aws(server, home, "sts", "get-caller-identity", AWS_SECRET_ACCESS_KEY="not-the-secret")
    # Then STS refuses it, as AWS does
    assert result.returncode == SERVICE_ERROR_RC
    assert "SignatureDoesNotMatch" in result.stderr and ACCESS_KEY not in result.stdout
