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


def test_the_cli_follows_iams_and_lambdas_pages(server: Server, home: Path) -> None:
    # Given three more roles and three more functions than the server had
    iam, lam = server.client("iam"), server.client()
    roles = [unique("page-role") for _ in range(3)]
    for name in roles:
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(TRUST))
    functions = [create_function(lam, APP) for _ in range(3)]
    every_role = [r["RoleName"] for r in iam.list_roles(MaxItems=1000)["Roles"]]
    every_function = [f["FunctionName"] for f in lam.list_functions(MaxItems=50)["Functions"]]
    assert set(roles) <= set(every_role) and set(functions) <= set(every_function)
    # When the aws CLI asks for one item per request, it follows Marker / NextMarker to the end
    paged_roles = [r["RoleName"] for r in ok(aws(server, home, "iam", "list-roles", "--page-size", "1"))["Roles"]]
    paged_fns = [f["FunctionName"] for f in ok(aws(server, home, "lambda", "list-functions", "--page-size", "1"))["Functions"]]
    # Then it sees exactly what one big page holds, in the same order, nothing twice
    assert paged_roles == every_role
    assert paged_fns == every_function
    # and --max-items gives its own resumable token
    first = ok(aws(server, home, "iam", "list-roles", "--max-items", "2"))
    rest = ok(aws(server, home, "iam", "list-roles", "--starting-token", first["NextToken"]))
    assert [r["RoleName"] for r in first["Roles"] + rest["Roles"]] == every_role


def test_a_wrong_secret_is_refused(server: Server, home: Path) -> None:
    # When the aws CLI signs with the right key id and a wrong secret
    result = aws(server, home, "sts", "get-caller-identity", AWS_SECRET_ACCESS_KEY="not-the-secret")
    # Then STS refuses it, as AWS does
    assert result.returncode == SERVICE_ERROR_RC
    assert "SignatureDoesNotMatch" in result.stderr and ACCESS_KEY not in result.stdout


# -- the lambent CLI signs as the aws CLI does ---------------------------------------------------
def lambent(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``lambent ARGS`` with nothing but the temp HOME's files and ``env`` to find credentials in
    (no LAMBENT_* variable, no data dir: the root's fallback is out of reach)."""
    return subprocess.run([sys.executable, "-m", "lambent.cli.main", *args], env=_clean_env(home, COLUMNS="200", **env),
                          cwd=home, capture_output=True, text=True, timeout=120, check=False)


def _user_keys(server: Server, policy: dict[str, Any] | None = None) -> tuple[str, str, str]:
    iam = server.client("iam")
    name = unique("cli-user")
    iam.create_user(UserName=name)
    if policy is not None:
        iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return name, key["AccessKeyId"], key["SecretAccessKey"]


LIST_ONLY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "lambent:ListDeployments", "Resource": "*"}]}


def test_lambent_deploy_signs_with_a_named_profile_over_the_environment_keys(server: Server, home: Path) -> None:
    # Given a user allowed only lambent:ListDeployments, as profile "ops" of ~/.aws/credentials,
    # and the account root's keys in the environment
    name, key, secret = _user_keys(server, LIST_ONLY)
    (home / ".aws" / "credentials").write_text(f"[ops]\naws_access_key_id = {key}\naws_secret_access_key = {secret}\n")
    root = {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
    fn = unique("nofn")
    # When lambent deploy lists with --profile ops, the user may: nothing deployed, exit 0
    listed = lambent(home, "deploy", "list", fn, "--json", "--profile", "ops", "--endpoint-url", server.url, **root)
    assert (listed.returncode, json.loads(listed.stdout)) == (0, []), listed.stderr
    # and what the user may not do is refused as the user, not as the root of the environment's keys
    denied = lambent(home, "deploy", "status", "d-ABCDEFGHI", "--profile", "ops", "--endpoint-url", server.url, **root)
    assert denied.returncode == 1
    assert "AccessDeniedException" in denied.stdout and f":user/{name} is not authorized to perform: lambent:GetDeployment" in denied.stdout
    # while without --profile the environment's (root's) keys sign: GetDeployment reaches the handler
    as_root = lambent(home, "deploy", "status", "d-ABCDEFGHI", "--endpoint-url", server.url, **root)
    assert as_root.returncode == 1 and "ResourceNotFoundException" in as_root.stdout, as_root.stdout


def test_a_role_profile_assumes_the_role_through_lambents_sts_for_both_clis(server: Server, home: Path) -> None:
    # Given a role the account trusts, allowed only lambent:ListDeployments; a user who may assume
    # it (AWS refuses AssumeRole to an account root) as profile "base"; and a profile that assumes
    # the role from it, its endpoint and region in ~/.aws/config
    iam = server.client("iam")
    role = unique("cli-role")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::000000000000:root"}, "Action": "sts:AssumeRole"}]}))
    iam.put_role_policy(RoleName=role, PolicyName="p", PolicyDocument=json.dumps(LIST_ONLY))
    _, key, secret = _user_keys(server, {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": f"arn:aws:iam::000000000000:role/{role}"}]})
    (home / ".aws" / "credentials").write_text(f"[base]\naws_access_key_id = {key}\naws_secret_access_key = {secret}\n")
    (home / ".aws" / "config").write_text(
        f"[profile deployer]\nrole_arn = arn:aws:iam::000000000000:role/{role}\nsource_profile = base\n"
        f"role_session_name = k3\nregion = us-east-1\nendpoint_url = {server.url}\n")
    # When the aws CLI asks who it is with that profile (no --endpoint-url: the profile's)
    who = subprocess.run([str(AWS), "sts", "get-caller-identity", "--profile", "deployer", "--output", "json"],
                         env=_clean_env(home), capture_output=True, text=True, timeout=120, check=False)
    # Then it is the role's session, credentials obtained from lambent's STS
    assert ok(who)["Arn"] == f"arn:aws:sts::000000000000:assumed-role/{role}/k3"
    # and lambent deploy, with the same profile, signs as that session (a session token on the wire)
    listed = lambent(home, "deploy", "list", unique("nofn"), "--json", "--profile", "deployer")
    assert (listed.returncode, json.loads(listed.stdout or "null")) == (0, []), listed.stderr
    denied = lambent(home, "deploy", "stop", "d-ABCDEFGHI", "--profile", "deployer")
    assert f"assumed-role/{role}/k3 is not authorized to perform: lambent:StopDeployment" in denied.stdout, denied.stdout


def test_lambent_deploy_without_any_credentials_says_what_to_set(server: Server, home: Path) -> None:
    result = lambent(home, "deploy", "list", "f", "--endpoint-url", server.url)
    assert result.returncode == 1 and result.stdout == ""
    assert "no credentials" in result.stderr and "AWS_ACCESS_KEY_ID" in result.stderr
