"""STS handlers through the real wire: GetCallerIdentity for each kind of principal, AssumeRole's
credentials, refusals and the members lambent refuses rather than ignores."""

from __future__ import annotations

import json

from iam_wire import call, error

from lambent.iam.service import IamService

ACCOUNT = "000000000000"


def _trust(aws: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": aws}, "Action": "sts:AssumeRole"}]})


async def test_caller_identity_of_the_root(iam: IamService) -> None:
    got = await call(iam, "sts", "GetCallerIdentity")
    assert (got["UserId"], got["Account"], got["Arn"]) == (ACCOUNT, ACCOUNT, "arn:aws:iam::000000000000:root")


async def test_assume_role_issues_working_temporary_credentials(iam: IamService) -> None:
    iam.create_user(ACCOUNT, "alice")
    alice = iam.lookup(iam.create_access_key(ACCOUNT, "alice").access_key_id)
    assert alice is not None
    role = iam.create_role(ACCOUNT, "worker", _trust(alice.arn))
    got = await call(iam, "sts", "AssumeRole", {"RoleArn": role.arn, "RoleSessionName": "job", "DurationSeconds": 900},
                     principal=alice)
    creds = got["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA") and len(creds["SecretAccessKey"]) == 40 and creds["SessionToken"]
    assert got["AssumedRoleUser"] == {"AssumedRoleId": f"{role.role_id}:job",
                                      "Arn": "arn:aws:sts::000000000000:assumed-role/worker/job"}
    session = iam.lookup(creds["AccessKeyId"])
    assert session is not None and session.token_matches(creds["SessionToken"])
    assert session.secret_access_key == creds["SecretAccessKey"]
    assert abs(creds["Expiration"].timestamp() - session.expires_at) < 1
    me = await call(iam, "sts", "GetCallerIdentity", principal=session)
    assert (me["UserId"], me["Arn"]) == (f"{role.role_id}:job", "arn:aws:sts::000000000000:assumed-role/worker/job")


async def test_refusals(iam: IamService) -> None:
    iam.create_user(ACCOUNT, "alice")
    alice = iam.lookup(iam.create_access_key(ACCOUNT, "alice").access_key_id)
    assert alice is not None
    role = iam.create_role(ACCOUNT, "worker", _trust(ACCOUNT))
    assert error(await call(iam, "sts", "AssumeRole", {"RoleArn": role.arn, "RoleSessionName": "s1"})) == (
        403, "AccessDenied", "Roles may not be assumed by root accounts.")
    status, code, message = error(await call(iam, "sts", "AssumeRole",
                                             {"RoleArn": role.arn + "x", "RoleSessionName": "s1"}, principal=alice))
    assert (status, code) == (403, "AccessDenied") and "is not authorized to perform: sts:AssumeRole" in message
    status, code, _ = error(await call(iam, "sts", "AssumeRole", {"RoleArn": role.arn, "RoleSessionName": "s1",
                                                                 "DurationSeconds": 60}, principal=alice))
    assert (status, code) == (400, "ValidationError")
    status, code, message = error(await call(iam, "sts", "AssumeRole", {
        "RoleArn": role.arn, "RoleSessionName": "s1", "Policy": '{"Version": "2012-10-17"}'}, principal=alice))
    assert (status, code) == (400, "InvalidParameterValue") and "Policy" in message


async def test_external_id_reaches_the_trust_condition(iam: IamService) -> None:
    iam.create_user(ACCOUNT, "alice")
    alice = iam.lookup(iam.create_access_key(ACCOUNT, "alice").access_key_id)
    assert alice is not None
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": alice.arn}, "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"sts:ExternalId": "shared-secret"}}}]})
    role = iam.create_role(ACCOUNT, "vendor", trust)
    params = {"RoleArn": role.arn, "RoleSessionName": "s1"}
    assert error(await call(iam, "sts", "AssumeRole", params, principal=alice))[1] == "AccessDenied"
    assert error(await call(iam, "sts", "AssumeRole", {**params, "ExternalId": "guess"}, principal=alice))[1] == "AccessDenied"
    got = await call(iam, "sts", "AssumeRole", {**params, "ExternalId": "shared-secret"}, principal=alice)
    assert got["AssumedRoleUser"]["Arn"] == "arn:aws:sts::000000000000:assumed-role/vendor/s1"
