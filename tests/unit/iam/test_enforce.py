"""enforce.authorize: each served operation authorised with its real action and resource, AWS's
denial messages, resource-based policies, cross-account rules and the request's global keys."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from iam_fixtures import ACCOUNT

from lambent.errors import AccessDenied, ServiceError
from lambent.iam.actions import ACTIONS
from lambent.iam.authorize import Authorizer
from lambent.iam.enforce import authorize
from lambent.iam.model import OwnerKind, Principal
from lambent.iam.policy import CompiledPolicy, PolicyKind, compile_policy
from lambent.iam.service import IamService

REGION = "us-east-1"
OTHER = "111111111111"
FN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:f"
OTHER_FN = f"arn:aws:lambda:{REGION}:{OTHER}:function:x"

#: every member any entry reads: one call shape that names a resource for every operation
UNIVERSAL: dict[str, Any] = {
    "FunctionName": "f", "Name": "n", "UserName": "u", "RoleName": "r", "PolicyName": "p",
    "Resource": FN, "ResourceArn": f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule-group/g",
    "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/r", "DeploymentId": "d-1", "StatementId": "s",
}


def _doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _allow(action: str, *resources: str, **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": list(resources) or "*", **extra}


def _user(iam: IamService, name: str, *statements: dict[str, Any]) -> Principal:
    iam.create_user(ACCOUNT, name)
    if statements:
        iam.put_inline_policy(ACCOUNT, OwnerKind.USER, name, "p", _doc(*statements))
    found = iam.lookup(iam.create_access_key(ACCOUNT, name).access_key_id)
    assert found is not None
    return found


def _fn_policy(*statements: dict[str, Any]) -> CompiledPolicy:
    return compile_policy(_doc(*statements), PolicyKind.RESOURCE)


def _policies(mapping: dict[str, CompiledPolicy]) -> Callable[[str], CompiledPolicy | None]:
    return mapping.get


def _call(iam: IamService, who: Principal, service: str, operation: str, **kw: Any) -> None:
    params = kw.pop("params", UNIVERSAL)
    authorize(Authorizer(iam), who, service, operation, params, region=REGION, account=ACCOUNT, **kw)


def _denied(iam: IamService, who: Principal, service: str, operation: str, **kw: Any) -> str:
    with pytest.raises(AccessDenied) as caught:
        _call(iam, who, service, operation, **kw)
    return caught.value.message


OPERATIONS = sorted(ACTIONS)


def test_the_root_may_do_everything_in_its_account(iam: IamService) -> None:
    refused = []
    for service, operation in OPERATIONS:
        try:
            _call(iam, iam.root_principal(), service, operation)
        except AccessDenied as e:
            refused.append((service, operation, e.message))
    assert refused == []


@pytest.fixture
def bob(iam: IamService) -> Principal:
    # AWS's way to grant one function with its versions and aliases: the ARN and ARN:*
    return _user(iam, "bob", _allow("lambda:InvokeFunction", FN, f"{FN}:*"))


@pytest.mark.parametrize("params", [
    {"FunctionName": "f"}, {"FunctionName": f"{ACCOUNT}:function:f"}, {"FunctionName": FN},
    {"FunctionName": "f:prod"}, {"FunctionName": "f", "Qualifier": "prod"}, {"FunctionName": f"{FN}:3"},
])
def test_a_user_allowed_to_invoke_one_function_can_invoke_it_however_named(iam: IamService, bob: Principal,
                                                                          params: dict[str, Any]) -> None:
    _call(iam, bob, "lambda", "Invoke", params=params)


def test_and_nothing_else(iam: IamService, bob: Principal) -> None:
    wrong = []
    for service, operation in OPERATIONS:
        spec = ACTIONS[(service, operation)]
        if (service, operation) == ("lambda", "Invoke") or spec.always_allowed:
            continue
        resource = spec.checks(UNIVERSAL, REGION, ACCOUNT, bob.arn)[0].resource
        expected = (f"User: {bob.arn} is not authorized to perform: {spec.action} on resource: {resource} "
                    f"because no identity-based policy allows the {spec.action} action")
        try:
            _call(iam, bob, service, operation)
        except AccessDenied as e:
            if e.message != expected:
                wrong.append((operation, e.message))
        else:
            wrong.append((operation, "allowed"))
    assert wrong == []


def test_nor_another_function(iam: IamService, bob: Principal) -> None:
    assert _denied(iam, bob, "lambda", "Invoke", params={"FunctionName": "g"}) == (
        f"User: {bob.arn} is not authorized to perform: lambda:InvokeFunction on resource: "
        f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:g because no identity-based policy allows the "
        "lambda:InvokeFunction action")
    # f* would match; f:* does not cover a function whose name merely starts with f
    _denied(iam, bob, "lambda", "Invoke", params={"FunctionName": "f2"})


def test_an_unqualified_grant_does_not_cover_an_alias(iam: IamService) -> None:
    carol = _user(iam, "carol", _allow("lambda:InvokeFunction", FN))
    _call(iam, carol, "lambda", "Invoke", params={"FunctionName": "f"})
    assert _denied(iam, carol, "lambda", "Invoke", params={"FunctionName": "f:prod"}) == (
        f"User: {carol.arn} is not authorized to perform: lambda:InvokeFunction on resource: {FN}:prod "
        "because no identity-based policy allows the lambda:InvokeFunction action")


def test_an_explicit_deny_wins(iam: IamService) -> None:
    dave = _user(iam, "dave", _allow("lambda:*"), {"Effect": "Deny", "Action": "lambda:InvokeFunction",
                                                   "Resource": f"{FN}:prod"})
    _call(iam, dave, "lambda", "Invoke", params={"FunctionName": "f"})
    assert _denied(iam, dave, "lambda", "Invoke", params={"FunctionName": "f", "Qualifier": "prod"}) == (
        f"User: {dave.arn} is not authorized to perform: lambda:InvokeFunction on resource: {FN}:prod "
        "with an explicit deny in an identity-based policy")


def test_an_explicit_deny_in_the_functions_policy_wins_over_an_identity_allow(iam: IamService) -> None:
    erin = _user(iam, "erin", _allow("lambda:*"))
    deny = _fn_policy({"Effect": "Deny", "Principal": {"AWS": erin.arn}, "Action": "lambda:InvokeFunction",
                       "Resource": FN})
    assert _denied(iam, erin, "lambda", "Invoke", params={"FunctionName": "f"},
                   resource_policy_of=_policies({FN: deny})) == (
        f"User: {erin.arn} is not authorized to perform: lambda:InvokeFunction on resource: {FN} "
        "with an explicit deny in a resource-based policy")


def test_in_one_account_the_functions_policy_alone_can_allow(iam: IamService) -> None:
    frank = _user(iam, "frank")
    grant = _fn_policy({"Effect": "Allow", "Principal": {"AWS": frank.arn}, "Action": "lambda:InvokeFunction",
                        "Resource": FN})
    _call(iam, frank, "lambda", "Invoke", params={"FunctionName": "f"}, resource_policy_of=_policies({FN: grant}))
    # the policy is the function's, looked up by the resource ARN: it does not reach g
    _denied(iam, frank, "lambda", "Invoke", params={"FunctionName": "g"}, resource_policy_of=_policies({FN: grant}))


CROSS = _fn_policy({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                    "Action": "lambda:InvokeFunction", "Resource": OTHER_FN})


@pytest.mark.parametrize(("identity", "resource_policy", "denied_by"), [
    (True, None, "resource-based"),
    (False, CROSS, "identity-based"),
    (False, None, "identity-based"),
    (True, CROSS, None),
])
def test_another_accounts_function_needs_both_sides(iam: IamService, identity: bool,
                                                     resource_policy: CompiledPolicy | None, denied_by: str | None) -> None:
    gina = _user(iam, "gina", *([_allow("lambda:InvokeFunction")] if identity else []))
    kw: dict[str, Any] = {"params": {"FunctionName": OTHER_FN},
                          "resource_policy_of": _policies({OTHER_FN: resource_policy} if resource_policy else {})}
    if denied_by is None:
        _call(iam, gina, "lambda", "Invoke", **kw)
        return
    assert _denied(iam, gina, "lambda", "Invoke", **kw) == (
        f"User: {gina.arn} is not authorized to perform: lambda:InvokeFunction on resource: {OTHER_FN} "
        f"because no {denied_by} policy allows the lambda:InvokeFunction action")


def test_the_root_is_not_allowed_another_accounts_function_without_its_policy(iam: IamService) -> None:
    root = iam.root_principal()
    _denied(iam, root, "lambda", "Invoke", params={"FunctionName": f"{OTHER}:function:x"})
    _call(iam, root, "lambda", "Invoke", params={"FunctionName": f"{OTHER}:function:x"},
          resource_policy_of=_policies({OTHER_FN: CROSS}))


def test_create_function_also_needs_pass_role(iam: IamService) -> None:
    role = f"arn:aws:iam::{ACCOUNT}:role/exec"
    hank = _user(iam, "hank", _allow("lambda:CreateFunction"))
    params = {"FunctionName": "f", "Role": role}
    assert _denied(iam, hank, "lambda", "CreateFunction", params=params) == (
        f"User: {hank.arn} is not authorized to perform: iam:PassRole on resource: {role} "
        "because no identity-based policy allows the iam:PassRole action")
    ivy = _user(iam, "ivy", _allow("lambda:CreateFunction"),
                _allow("iam:PassRole", role, Condition={"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}}))
    _call(iam, ivy, "lambda", "CreateFunction", params=params)
    # a role of another account: Lambda's own refusal, even for a user allowed every PassRole
    other = "arn:aws:iam::111122223333:role/theirs"
    zed = _user(iam, "zed", _allow("lambda:CreateFunction"), _allow("iam:PassRole"))
    _call(iam, zed, "lambda", "CreateFunction", params=params)
    assert _denied(iam, zed, "lambda", "CreateFunction", params={"FunctionName": "f", "Role": other}) == (
        "Cross-account pass role is not allowed.")


def test_global_keys_come_from_the_request(iam: IamService) -> None:
    jo = _user(iam, "jo", _allow("lambda:InvokeFunction", Condition={
        "IpAddress": {"aws:SourceIp": "10.0.0.0/8"}, "Bool": {"aws:SecureTransport": "true"},
        "StringEquals": {"aws:RequestedRegion": REGION}}))
    params = {"FunctionName": "f"}
    _call(iam, jo, "lambda", "Invoke", params=params, source_ip="10.1.2.3", secure_transport=True)
    _denied(iam, jo, "lambda", "Invoke", params=params, source_ip="127.0.0.1", secure_transport=True)
    _denied(iam, jo, "lambda", "Invoke", params=params, source_ip="10.1.2.3", secure_transport=False)
    _denied(iam, jo, "lambda", "Invoke", params=params)  # no source address: the IpAddress condition fails


def test_request_members_cannot_pose_as_global_keys(iam: IamService) -> None:
    # tag keys come from the caller; the keys they produce are aws:RequestTag/..., never a global
    kim = _user(iam, "kim", _allow("lambda:TagResource", Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}))
    params = {"Resource": FN, "Tags": {"aws:SourceIp": "10.0.0.1", "aws:PrincipalArn": kim.arn}}
    _denied(iam, kim, "lambda", "TagResource", params=params, source_ip="127.0.0.1")
    _call(iam, kim, "lambda", "TagResource", params=params, source_ip="10.9.9.9")


def test_tag_condition_keys_reach_the_policy(iam: IamService) -> None:
    lee = _user(iam, "lee", _allow("lambda:TagResource", Condition={"StringEquals": {"aws:RequestTag/team": "blue"}}))
    _call(iam, lee, "lambda", "TagResource", params={"Resource": FN, "Tags": {"team": "blue"}})
    _denied(iam, lee, "lambda", "TagResource", params={"Resource": FN, "Tags": {"team": "red"}})


def test_get_caller_identity_needs_no_permission(iam: IamService) -> None:
    nobody = _user(iam, "nobody", {"Effect": "Deny", "Action": "*", "Resource": "*"})
    _call(iam, nobody, "sts", "GetCallerIdentity", params={})


def test_an_operation_without_an_entry_is_refused(iam: IamService) -> None:
    with pytest.raises(ServiceError):
        _call(iam, iam.root_principal(), "lambda", "CreateEventSourceMapping", params={})


def test_the_functions_tags_are_resource_tag_keys(iam: IamService) -> None:
    mo = _user(iam, "mo", _allow("lambda:InvokeFunction", Condition={"StringEquals": {"aws:ResourceTag/team": "blue"}}))
    tags = {FN: {"team": "blue"}, f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:g": {"team": "red"}}
    _call(iam, mo, "lambda", "Invoke", params={"FunctionName": "f"}, resource_tags_of=tags.get)
    _denied(iam, mo, "lambda", "Invoke", params={"FunctionName": "g"}, resource_tags_of=tags.get)
    # a request naming tags cannot pose as the resource's: TagResource's tags are aws:RequestTag/...
    tagger = _user(iam, "tagger", _allow("lambda:TagResource", Condition={"StringEquals": {"aws:ResourceTag/team": "blue"}}))
    _denied(iam, tagger, "lambda", "TagResource", params={"Resource": FN, "Tags": {"team": "blue"}})


def test_function_code_cannot_use_its_execution_role_to_manage_lambda(iam: IamService) -> None:
    # a function's code holds its role session's credentials; AWSLambdaBasicExecutionRole gives logs only
    trust = _doc({"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"})
    role = iam.create_role(ACCOUNT, "exec", trust)
    iam.attach_policy(ACCOUNT, OwnerKind.ROLE, "exec", "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole")
    session, _ = iam.issue_session(role, "f", 900)
    code = iam.lookup(session.access_key_id)
    assert code is not None
    for service, operation in (("lambda", "UpdateFunctionCode"), ("lambda", "AddPermission"), ("iam", "AttachRolePolicy"),
                               ("iam", "PutRolePolicy"), ("lambda", "Invoke"), ("scheduler", "CreateSchedule")):
        assert _denied(iam, code, service, operation).startswith(f"User: {code.arn} is not authorized to perform: ")


def test_assume_role_needs_the_roles_trust_policy_across_accounts(iam: IamService) -> None:
    other_role = f"arn:aws:iam::{OTHER}:role/deployer"
    nora = _user(iam, "nora", _allow("sts:AssumeRole"))
    params = {"RoleArn": other_role, "RoleSessionName": "s"}
    assert _denied(iam, nora, "sts", "AssumeRole", params=params).endswith(
        "because no resource-based policy allows the sts:AssumeRole action")
    trust = compile_policy(_doc({"Effect": "Allow", "Principal": {"AWS": nora.arn}, "Action": "sts:AssumeRole"}),
                           PolicyKind.TRUST)
    _call(iam, nora, "sts", "AssumeRole", params=params, resource_policy_of=_policies({other_role: trust}))
