"""IAM handlers through the real wire: botocore's serialiser -> the protocol layer -> handler ->
the layer's XML -> botocore's parser. AWS's codes, statuses and messages; URL-encoded documents;
Marker paging; members lambent does not act on refused; one account never sees another's."""

from __future__ import annotations

import json
from datetime import datetime
from urllib.parse import unquote

from iam_wire import call, error

from lambent.iam.model import OwnerKind, Principal
from lambent.iam.service import IamService

ACCOUNT = "000000000000"
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
DOC = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "logs:*", "Resource": "*"}]})
BASIC = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"


async def test_users_create_get_list_delete(iam: IamService) -> None:
    created = await call(iam, "iam", "CreateUser", {"UserName": "alice", "Path": "/team/",
                                                     "Tags": [{"Key": "k", "Value": "v"}]})
    user = created["User"]
    assert user["Arn"] == "arn:aws:iam::000000000000:user/team/alice"
    assert user["UserId"].startswith("AIDA") and isinstance(user["CreateDate"], datetime)
    assert user["Tags"] == [{"Key": "k", "Value": "v"}]
    assert created["ResponseMetadata"]["RequestId"] == "req-1"
    got = await call(iam, "iam", "GetUser", {"UserName": "alice"})
    assert got["User"]["UserId"] == user["UserId"]
    assert error(await call(iam, "iam", "CreateUser", {"UserName": "alice"})) == (
        409, "EntityAlreadyExists", "User with name alice already exists.")
    assert (await call(iam, "iam", "ListUsers"))["Users"][0]["UserName"] == "alice"
    await call(iam, "iam", "DeleteUser", {"UserName": "alice"})
    assert error(await call(iam, "iam", "GetUser", {"UserName": "alice"})) == (
        404, "NoSuchEntity", "The user with name alice cannot be found.")


async def test_get_user_without_a_name_is_the_caller(iam: IamService) -> None:
    root = (await call(iam, "iam", "GetUser"))["User"]
    assert (root["UserId"], root["Arn"]) == (ACCOUNT, "arn:aws:iam::000000000000:root")


async def test_list_users_pages_with_marker(iam: IamService) -> None:
    for i in range(5):
        await call(iam, "iam", "CreateUser", {"UserName": f"u{i}"})
    first = await call(iam, "iam", "ListUsers", {"MaxItems": 2})
    assert [u["UserName"] for u in first["Users"]] == ["u0", "u1"] and first["IsTruncated"] is True
    names = [u["UserName"] for u in first["Users"]]
    marker = first["Marker"]
    while marker:
        nxt = await call(iam, "iam", "ListUsers", {"MaxItems": 2, "Marker": marker})
        names += [u["UserName"] for u in nxt["Users"]]
        marker = nxt.get("Marker")
    assert names == [f"u{i}" for i in range(5)] and nxt["IsTruncated"] is False


async def test_access_keys_secret_only_once(iam: IamService) -> None:
    await call(iam, "iam", "CreateUser", {"UserName": "alice"})
    key = (await call(iam, "iam", "CreateAccessKey", {"UserName": "alice"}))["AccessKey"]
    assert key["AccessKeyId"].startswith("AKIA") and len(key["SecretAccessKey"]) == 40 and key["Status"] == "Active"
    listed = (await call(iam, "iam", "ListAccessKeys", {"UserName": "alice"}))["AccessKeyMetadata"]
    assert listed == [{"UserName": "alice", "AccessKeyId": key["AccessKeyId"], "Status": "Active",
                       "CreateDate": key["CreateDate"]}]
    await call(iam, "iam", "UpdateAccessKey", {"UserName": "alice", "AccessKeyId": key["AccessKeyId"], "Status": "Inactive"})
    assert iam.lookup(key["AccessKeyId"]) is None
    assert error(await call(iam, "iam", "DeleteUser", {"UserName": "alice"})) == (
        409, "DeleteConflict", "Cannot delete entity, must delete access keys first.")
    await call(iam, "iam", "DeleteAccessKey", {"UserName": "alice", "AccessKeyId": key["AccessKeyId"]})
    assert error(await call(iam, "iam", "DeleteAccessKey", {"UserName": "alice", "AccessKeyId": key["AccessKeyId"]})) == (
        404, "NoSuchEntity", f"The Access Key with id {key['AccessKeyId']} cannot be found.")


OWN_KEYS = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Action": ["iam:CreateAccessKey", "iam:ListAccessKeys"],
    "Resource": "arn:aws:iam::*:user/${aws:username}"}]})


async def test_a_user_manages_its_own_keys_without_naming_itself(iam: IamService) -> None:
    iam.create_user(ACCOUNT, "alice")
    iam.put_inline_policy(ACCOUNT, OwnerKind.USER, "alice", "own-keys", OWN_KEYS)
    alice = iam.lookup(iam.create_access_key(ACCOUNT, "alice").access_key_id)
    assert alice is not None
    created = (await call(iam, "iam", "CreateAccessKey", principal=alice))["AccessKey"]
    assert created["UserName"] == "alice"
    assert len((await call(iam, "iam", "ListAccessKeys", principal=alice))["AccessKeyMetadata"]) == 2


async def test_roles_with_url_encoded_trust_policy(iam: IamService) -> None:
    role = (await call(iam, "iam", "CreateRole", {"RoleName": "exec", "AssumeRolePolicyDocument": TRUST,
                                                   "Description": "d", "MaxSessionDuration": 7200}))["Role"]
    assert role["Arn"] == "arn:aws:iam::000000000000:role/exec" and role["RoleId"].startswith("AROA")
    got = (await call(iam, "iam", "GetRole", {"RoleName": "exec"}))["Role"]
    assert got["AssumeRolePolicyDocument"].startswith("%7B%22Version%22%3A")
    assert json.loads(unquote(got["AssumeRolePolicyDocument"])) == json.loads(TRUST)
    assert (got["Description"], got["MaxSessionDuration"]) == ("d", 7200)
    assert error(await call(iam, "iam", "CreateRole", {"RoleName": "exec", "AssumeRolePolicyDocument": TRUST})) == (
        409, "EntityAlreadyExists", "Role with name exec already exists.")
    assert error(await call(iam, "iam", "GetRole", {"RoleName": "nope"})) == (
        404, "NoSuchEntity", "The role with name nope cannot be found.")
    new_trust = TRUST.replace("lambda", "scheduler")
    await call(iam, "iam", "UpdateAssumeRolePolicy", {"RoleName": "exec", "PolicyDocument": new_trust})
    assert iam.get_role(ACCOUNT, "exec").assume_role_policy == new_trust
    assert [r["RoleName"] for r in (await call(iam, "iam", "ListRoles"))["Roles"]] == ["exec"]
    await call(iam, "iam", "DeleteRole", {"RoleName": "exec"})
    assert (await call(iam, "iam", "ListRoles"))["Roles"] == []


async def test_model_constraints_and_unhandled_members_are_refused(iam: IamService) -> None:
    status, code, message = error(await call(iam, "iam", "CreateRole", {
        "RoleName": "exec", "AssumeRolePolicyDocument": TRUST, "MaxSessionDuration": 60}))
    assert (status, code) == (400, "ValidationError") and "maxSessionDuration" in message
    status, code, _ = error(await call(iam, "iam", "CreateUser", {"UserName": "bad name!"}))
    assert (status, code) == (400, "ValidationError")
    status, code, message = error(await call(iam, "iam", "CreateUser", {
        "UserName": "alice", "PermissionsBoundary": "arn:aws:iam::aws:policy/ReadOnlyAccess"}))
    assert (status, code) == (400, "InvalidInput") and "PermissionsBoundary" in message
    assert iam.list_users(ACCOUNT) == []


async def test_inline_role_and_user_policies(iam: IamService) -> None:
    iam.create_role(ACCOUNT, "exec", TRUST)
    await call(iam, "iam", "PutRolePolicy", {"RoleName": "exec", "PolicyName": "logs", "PolicyDocument": DOC})
    got = await call(iam, "iam", "GetRolePolicy", {"RoleName": "exec", "PolicyName": "logs"})
    assert (got["RoleName"], got["PolicyName"], unquote(got["PolicyDocument"])) == ("exec", "logs", DOC)
    assert (await call(iam, "iam", "ListRolePolicies", {"RoleName": "exec"}))["PolicyNames"] == ["logs"]
    assert error(await call(iam, "iam", "GetRolePolicy", {"RoleName": "exec", "PolicyName": "x"})) == (
        404, "NoSuchEntity", "The role policy with name x cannot be found.")
    assert error(await call(iam, "iam", "PutRolePolicy", {"RoleName": "exec", "PolicyName": "bad",
                                                          "PolicyDocument": "{nope"})) == (
        400, "MalformedPolicyDocument", "This policy contains invalid Json")
    await call(iam, "iam", "DeleteRolePolicy", {"RoleName": "exec", "PolicyName": "logs"})
    assert (await call(iam, "iam", "ListRolePolicies", {"RoleName": "exec"}))["PolicyNames"] == []

    iam.create_user(ACCOUNT, "alice")
    await call(iam, "iam", "PutUserPolicy", {"UserName": "alice", "PolicyName": "p", "PolicyDocument": DOC})
    assert unquote((await call(iam, "iam", "GetUserPolicy", {"UserName": "alice", "PolicyName": "p"}))["PolicyDocument"]) == DOC
    assert (await call(iam, "iam", "ListUserPolicies", {"UserName": "alice"}))["PolicyNames"] == ["p"]
    await call(iam, "iam", "DeleteUserPolicy", {"UserName": "alice", "PolicyName": "p"})


async def test_managed_policies_versions_and_attachments(iam: IamService) -> None:
    iam.create_role(ACCOUNT, "exec", TRUST)
    policy = (await call(iam, "iam", "CreatePolicy", {"PolicyName": "mine", "PolicyDocument": DOC, "Path": "/app/"}))["Policy"]
    arn = policy["Arn"]
    assert arn == "arn:aws:iam::000000000000:policy/app/mine"
    assert (policy["DefaultVersionId"], policy["AttachmentCount"], policy["IsAttachable"]) == ("v1", 0, True)
    version = (await call(iam, "iam", "GetPolicyVersion", {"PolicyArn": arn, "VersionId": "v1"}))["PolicyVersion"]
    assert (unquote(version["Document"]), version["IsDefaultVersion"]) == (DOC, True)

    await call(iam, "iam", "AttachRolePolicy", {"RoleName": "exec", "PolicyArn": arn})
    await call(iam, "iam", "AttachRolePolicy", {"RoleName": "exec", "PolicyArn": BASIC})
    attached = (await call(iam, "iam", "ListAttachedRolePolicies", {"RoleName": "exec"}))["AttachedPolicies"]
    assert attached == [{"PolicyName": "AWSLambdaBasicExecutionRole", "PolicyArn": BASIC},
                        {"PolicyName": "mine", "PolicyArn": arn}]
    assert (await call(iam, "iam", "GetPolicy", {"PolicyArn": arn}))["Policy"]["AttachmentCount"] == 1
    assert error(await call(iam, "iam", "DeletePolicy", {"PolicyArn": arn})) == (
        409, "DeleteConflict", "Cannot delete a policy attached to entities.")
    assert error(await call(iam, "iam", "DeleteRole", {"RoleName": "exec"})) == (
        409, "DeleteConflict", "Cannot delete entity, must detach all policies first.")
    only = (await call(iam, "iam", "ListPolicies", {"Scope": "Local", "OnlyAttached": True}))["Policies"]
    assert [p["Arn"] for p in only] == [arn]
    await call(iam, "iam", "DetachRolePolicy", {"RoleName": "exec", "PolicyArn": arn})
    assert error(await call(iam, "iam", "DetachRolePolicy", {"RoleName": "exec", "PolicyArn": arn})) == (
        404, "NoSuchEntity", f"Policy {arn} was not found.")
    await call(iam, "iam", "DeletePolicy", {"PolicyArn": arn})
    assert error(await call(iam, "iam", "GetPolicy", {"PolicyArn": arn})) == (
        404, "NoSuchEntity", f"Policy {arn} was not found.")

    iam.create_user(ACCOUNT, "alice")
    await call(iam, "iam", "AttachUserPolicy", {"UserName": "alice", "PolicyArn": BASIC})
    assert (await call(iam, "iam", "ListAttachedUserPolicies", {"UserName": "alice"}))["AttachedPolicies"] == [
        {"PolicyName": "AWSLambdaBasicExecutionRole", "PolicyArn": BASIC}]
    await call(iam, "iam", "DetachUserPolicy", {"UserName": "alice", "PolicyArn": BASIC})


async def test_aws_managed_policies_by_their_real_arns(iam: IamService) -> None:
    listed = (await call(iam, "iam", "ListPolicies", {"Scope": "AWS"}))["Policies"]
    arns = {p["Arn"] for p in listed}
    assert {BASIC, "arn:aws:iam::aws:policy/service-role/AWSLambdaRole",
            "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole",
            "arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole",
            "arn:aws:iam::aws:policy/AdministratorAccess", "arn:aws:iam::aws:policy/ReadOnlyAccess"} == arns
    version = (await call(iam, "iam", "GetPolicyVersion", {"PolicyArn": BASIC, "VersionId": "v1"}))["PolicyVersion"]
    assert json.loads(unquote(version["Document"]))["Statement"] == [{"Effect": "Allow", "Action": [
        "logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"], "Resource": "*"}]
    vpc = (await call(iam, "iam", "GetPolicy", {"PolicyArn": "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"}))
    assert vpc["Policy"]["DefaultVersionId"] == "v3"


async def test_list_policies_pages_across_aws_and_local(iam: IamService) -> None:
    for i in range(3):
        iam.create_policy(ACCOUNT, f"p{i}", DOC)
    arns: list[str] = []
    params: dict[str, object] = {"MaxItems": 4}
    while True:
        got = await call(iam, "iam", "ListPolicies", params)
        arns += [p["Arn"] for p in got["Policies"]]
        if not got["IsTruncated"]:
            break
        params = {"MaxItems": 4, "Marker": got["Marker"]}
    assert len(arns) == len(set(arns)) == 9
    assert arns[-3:] == [f"arn:aws:iam::000000000000:policy/p{i}" for i in range(3)]


async def test_one_account_never_sees_another(iam: IamService) -> None:
    other, key = iam.create_account("tenant")
    tenant = iam.lookup(key.access_key_id)
    assert tenant is not None
    iam.create_role(ACCOUNT, "exec", TRUST)
    iam.create_user(ACCOUNT, "alice")
    arn = iam.create_policy(ACCOUNT, "mine", DOC).arn
    assert (await call(iam, "iam", "ListRoles", principal=tenant))["Roles"] == []
    assert (await call(iam, "iam", "ListUsers", principal=tenant))["Users"] == []
    assert error(await call(iam, "iam", "GetRole", {"RoleName": "exec"}, principal=tenant))[1] == "NoSuchEntity"
    assert error(await call(iam, "iam", "GetPolicy", {"PolicyArn": arn}, principal=tenant))[1] == "NoSuchEntity"
    assert error(await call(iam, "iam", "DeleteUser", {"UserName": "alice"}, principal=tenant))[1] == "NoSuchEntity"
    created = (await call(iam, "iam", "CreateRole", {"RoleName": "exec", "AssumeRolePolicyDocument": TRUST},
                          principal=tenant))["Role"]
    assert created["Arn"] == f"arn:aws:iam::{other.account_id}:role/exec"
    assert iam.get_role(ACCOUNT, "exec").role_id != created["RoleId"]


async def test_policy_versions_can_be_listed_switched_and_deleted(iam: IamService) -> None:
    arn = iam.create_policy(ACCOUNT, "p", DOC).arn
    v2 = (await call(iam, "iam", "CreatePolicyVersion", {"PolicyArn": arn, "PolicyDocument": DOC.replace("logs", "sqs"),
                                                         "SetAsDefault": True}))["PolicyVersion"]
    assert (v2["VersionId"], v2["IsDefaultVersion"]) == ("v2", True)
    listed = (await call(iam, "iam", "ListPolicyVersions", {"PolicyArn": arn}))["Versions"]
    assert [(v["VersionId"], v["IsDefaultVersion"]) for v in listed] == [("v2", True), ("v1", False)]
    assert error(await call(iam, "iam", "DeletePolicyVersion", {"PolicyArn": arn, "VersionId": "v2"})) == (
        409, "DeleteConflict", "Cannot delete the default version of a policy.")
    assert error(await call(iam, "iam", "DeletePolicy", {"PolicyArn": arn}))[1] == "DeleteConflict"
    await call(iam, "iam", "SetDefaultPolicyVersion", {"PolicyArn": arn, "VersionId": "v1"})
    assert iam.get_policy(ACCOUNT, arn).document == DOC
    await call(iam, "iam", "DeletePolicyVersion", {"PolicyArn": arn, "VersionId": "v2"})
    assert error(await call(iam, "iam", "SetDefaultPolicyVersion", {"PolicyArn": arn, "VersionId": "v2"})) == (
        404, "NoSuchEntity", f"Policy {arn} version v2 does not exist or is not attachable.")
    await call(iam, "iam", "DeletePolicy", {"PolicyArn": arn})
    assert iam.list_policies(ACCOUNT, "Local") == []


def _alice(iam: IamService, *policies: str) -> Principal:
    iam.create_user(ACCOUNT, "alice")
    for i, doc in enumerate(policies):
        iam.put_inline_policy(ACCOUNT, OwnerKind.USER, "alice", f"p{i}", doc)
    found = iam.lookup(iam.create_access_key(ACCOUNT, "alice").access_key_id)
    assert found is not None
    return found


async def test_a_user_without_policies_may_do_nothing(iam: IamService) -> None:
    alice = _alice(iam)
    assert error(await call(iam, "iam", "CreateUser", {"UserName": "bob"}, principal=alice)) == (
        403, "AccessDenied", f"User: {alice.arn} is not authorized to perform: iam:CreateUser on resource:"
        " arn:aws:iam::000000000000:user/bob because no identity-based policy allows the iam:CreateUser action")
    assert error(await call(iam, "iam", "ListRoles", principal=alice))[1] == "AccessDenied"
    assert error(await call(iam, "iam", "AttachUserPolicy", {
        "UserName": "alice", "PolicyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}, principal=alice))[1] == "AccessDenied"
    assert iam.list_users(ACCOUNT) == [iam.get_user(ACCOUNT, "alice")]
    assert iam.attached_policies(ACCOUNT, OwnerKind.USER, "alice") == []


async def test_keys_of_another_user_stay_out_of_reach(iam: IamService) -> None:
    alice = _alice(iam, OWN_KEYS)
    iam.create_user(ACCOUNT, "bob")
    assert "AccessKey" in await call(iam, "iam", "CreateAccessKey", principal=alice)
    assert error(await call(iam, "iam", "CreateAccessKey", {"UserName": "bob"}, principal=alice))[1] == "AccessDenied"
    assert iam.list_access_keys(ACCOUNT, "bob") == []


async def test_attach_conditions_see_the_policy_arn(iam: IamService) -> None:
    only_read = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "iam:AttachUserPolicy", "Resource": "*",
        "Condition": {"ArnEquals": {"iam:PolicyARN": "arn:aws:iam::aws:policy/ReadOnlyAccess"}}}]})
    alice = _alice(iam, only_read)
    admin = {"UserName": "alice", "PolicyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}
    assert error(await call(iam, "iam", "AttachUserPolicy", admin, principal=alice))[1] == "AccessDenied"
    await call(iam, "iam", "AttachUserPolicy", {"UserName": "alice", "PolicyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"},
               principal=alice)
    assert [p.name for p in iam.attached_policies(ACCOUNT, OwnerKind.USER, "alice")] == ["ReadOnlyAccess"]


async def test_a_user_allowed_iam_actions_can_list_users(iam: IamService) -> None:
    alice = _alice(iam, json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "iam:*", "Resource": "*"}]}))
    assert "Users" in await call(iam, "iam", "ListUsers", principal=alice)


async def test_tags_of_users_and_roles(iam: IamService) -> None:
    iam.create_role(ACCOUNT, "exec", TRUST, tags=(("team", "a"),))
    await call(iam, "iam", "TagRole", {"RoleName": "exec", "Tags": [{"Key": "team", "Value": "b"}, {"Key": "env", "Value": "dev"}]})
    listed = await call(iam, "iam", "ListRoleTags", {"RoleName": "exec"})
    assert listed["Tags"] == [{"Key": "env", "Value": "dev"}, {"Key": "team", "Value": "b"}] and listed["IsTruncated"] is False
    await call(iam, "iam", "UntagRole", {"RoleName": "exec", "TagKeys": ["team"]})
    assert (await call(iam, "iam", "GetRole", {"RoleName": "exec"}))["Role"]["Tags"] == [{"Key": "env", "Value": "dev"}]
    iam.create_user(ACCOUNT, "alice")
    await call(iam, "iam", "TagUser", {"UserName": "alice", "Tags": [{"Key": "k", "Value": "v"}]})
    assert (await call(iam, "iam", "ListUserTags", {"UserName": "alice"}))["Tags"] == [{"Key": "k", "Value": "v"}]
    await call(iam, "iam", "UntagUser", {"UserName": "alice", "TagKeys": ["k"]})
    assert iam.get_user(ACCOUNT, "alice").tags == ()
    too_many = [{"Key": f"k{i}", "Value": "v"} for i in range(50)]
    await call(iam, "iam", "TagUser", {"UserName": "alice", "Tags": too_many})
    assert error(await call(iam, "iam", "TagUser", {"UserName": "alice", "Tags": [{"Key": "one-more", "Value": "v"}]})) == (
        409, "LimitExceeded", "Cannot exceed quota for TagsPerUser: 50")


async def test_roles_have_no_instance_profiles(iam: IamService) -> None:
    iam.create_role(ACCOUNT, "exec", TRUST)
    got = await call(iam, "iam", "ListInstanceProfilesForRole", {"RoleName": "exec"})
    assert (got["InstanceProfiles"], got["IsTruncated"]) == ([], False)
    assert error(await call(iam, "iam", "ListInstanceProfilesForRole", {"RoleName": "nope"}))[1] == "NoSuchEntity"


async def test_a_user_allowed_to_read_policies_reads_aws_managed_ones(iam: IamService) -> None:
    alice = _alice(iam, json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["iam:GetPolicy", "iam:GetPolicyVersion"], "Resource": "*"}]}))
    got = await call(iam, "iam", "GetPolicy", {"PolicyArn": BASIC}, principal=alice)
    assert got["Policy"]["Arn"] == BASIC
    assert "PolicyVersion" in await call(iam, "iam", "GetPolicyVersion", {"PolicyArn": BASIC, "VersionId": "v1"},
                                         principal=alice)
