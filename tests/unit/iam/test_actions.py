"""actions.py: every served operation has its AWS action name, resource ARN(s) and condition keys."""

from __future__ import annotations

from typing import Any

import pytest

from lambent.api import iam_api, services, sts_api
from lambent.api.protocols.model import service_model
from lambent.errors import InvalidParameterValue, ValidationError
from lambent.iam.actions import ACTIONS, Check, action_of

REGION, ACCOUNT, OTHER = "us-east-1", "123456789012", "210987654321"
CALLER = f"arn:aws:iam::{ACCOUNT}:user/bob"
FN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:f"


def _served() -> set[tuple[str, str]]:
    table = services.table()
    served = {(name, op) for name, svc in table.items() for op in svc.operations._entries}
    served |= {("iam", op) for op in iam_api.IAM._entries}
    served |= {("sts", op) for op in sts_api.STS._entries}
    return served


def test_every_served_operation_has_an_entry() -> None:
    missing = sorted(op for op in _served() if op not in ACTIONS)
    assert missing == []


#: credential-scope (signing) names that are not the botocore model's name
_MODEL_OF = {"monitoring": "cloudwatch"}


def test_every_entry_names_a_modelled_operation() -> None:
    unknown = sorted(key for key in ACTIONS
                     if key[1] not in service_model(_MODEL_OF.get(key[0], key[0])).operation_names)
    assert unknown == []


def test_the_permission_operations_another_helper_builds_are_already_mapped() -> None:
    for op in ("AddPermission", "RemovePermission", "GetPolicy"):
        assert ("lambda", op) in ACTIONS


# Service Authorization Reference, "Actions, resources, and condition keys for AWS Lambda".
LAMBDA_ACTIONS = {
    "CreateFunction": "lambda:CreateFunction", "GetFunction": "lambda:GetFunction",
    "GetFunctionConfiguration": "lambda:GetFunctionConfiguration", "ListFunctions": "lambda:ListFunctions",
    "UpdateFunctionCode": "lambda:UpdateFunctionCode", "UpdateFunctionConfiguration": "lambda:UpdateFunctionConfiguration",
    "DeleteFunction": "lambda:DeleteFunction", "Invoke": "lambda:InvokeFunction", "InvokeAsync": "lambda:InvokeAsync",
    "GetAccountSettings": "lambda:GetAccountSettings", "PutFunctionConcurrency": "lambda:PutFunctionConcurrency",
    "GetFunctionConcurrency": "lambda:GetFunctionConcurrency", "DeleteFunctionConcurrency": "lambda:DeleteFunctionConcurrency",
    "TagResource": "lambda:TagResource", "UntagResource": "lambda:UntagResource", "ListTags": "lambda:ListTags",
    "PublishVersion": "lambda:PublishVersion", "ListVersionsByFunction": "lambda:ListVersionsByFunction",
    "CreateAlias": "lambda:CreateAlias", "GetAlias": "lambda:GetAlias", "ListAliases": "lambda:ListAliases",
    "UpdateAlias": "lambda:UpdateAlias", "DeleteAlias": "lambda:DeleteAlias",
    "PutFunctionEventInvokeConfig": "lambda:PutFunctionEventInvokeConfig",
    "UpdateFunctionEventInvokeConfig": "lambda:UpdateFunctionEventInvokeConfig",
    "GetFunctionEventInvokeConfig": "lambda:GetFunctionEventInvokeConfig",
    "ListFunctionEventInvokeConfigs": "lambda:ListFunctionEventInvokeConfigs",
    "DeleteFunctionEventInvokeConfig": "lambda:DeleteFunctionEventInvokeConfig",
    "AddPermission": "lambda:AddPermission", "RemovePermission": "lambda:RemovePermission", "GetPolicy": "lambda:GetPolicy",
}


@pytest.mark.parametrize(("operation", "action"), sorted(LAMBDA_ACTIONS.items()))
def test_lambda_action_names_are_awss(operation: str, action: str) -> None:
    found = action_of("lambda", operation)
    assert found is not None and found.action == action


@pytest.mark.parametrize(("service", "prefix"), [("scheduler", "scheduler"), ("iam", "iam"), ("sts", "sts"),
                                                 ("lambent", "lambent")])
def test_other_services_use_their_prefix_and_the_operation_name(service: str, prefix: str) -> None:
    entries = [a for a in ACTIONS.values() if a.service == service]
    assert entries
    assert all(a.action == f"{prefix}:{a.operation}" for a in entries)


def _checks(service: str, operation: str, **params: Any) -> tuple[Check, ...]:
    found = action_of(service, operation)
    assert found is not None
    return found.checks(params, REGION, ACCOUNT, CALLER)


def _resource(service: str, operation: str, **params: Any) -> str:
    return _checks(service, operation, **params)[0].resource


@pytest.mark.parametrize(("params", "expected"), [
    ({"FunctionName": "f"}, FN),
    ({"FunctionName": f"{ACCOUNT}:function:f"}, FN),
    ({"FunctionName": FN}, FN),
    ({"FunctionName": "f:prod"}, f"{FN}:prod"),
    ({"FunctionName": f"{ACCOUNT}:function:f:7"}, f"{FN}:7"),
    ({"FunctionName": f"{FN}:prod"}, f"{FN}:prod"),
    ({"FunctionName": "f", "Qualifier": "prod"}, f"{FN}:prod"),
    ({"FunctionName": "f", "Qualifier": "$LATEST"}, f"{FN}:$LATEST"),
    ({"FunctionName": f"arn:aws:lambda:{REGION}:{OTHER}:function:f"}, f"arn:aws:lambda:{REGION}:{OTHER}:function:f"),
    ({"FunctionName": f"{OTHER}:function:f:prod"}, f"arn:aws:lambda:{REGION}:{OTHER}:function:f:prod"),
])
def test_invoke_scopes_the_function_as_named_and_qualified(params: dict[str, Any], expected: str) -> None:
    assert _resource("lambda", "Invoke", **params) == expected


@pytest.mark.parametrize("operation", ["GetFunction", "GetFunctionConfiguration", "DeleteFunction", "GetPolicy",
                                       "AddPermission", "RemovePermission", "GetFunctionEventInvokeConfig"])
def test_qualified_operations_are_authorised_on_the_qualified_arn(operation: str) -> None:
    assert _resource("lambda", operation, FunctionName="f", Qualifier="3") == f"{FN}:3"
    assert _resource("lambda", operation, FunctionName="f") == FN


@pytest.mark.parametrize("operation", ["PublishVersion", "ListVersionsByFunction", "CreateAlias", "GetAlias",
                                       "ListAliases", "UpdateFunctionCode", "UpdateFunctionConfiguration",
                                       "PutFunctionConcurrency", "ListFunctionEventInvokeConfigs"])
def test_function_level_operations_authorise_the_unqualified_function_even_if_named_qualified(operation: str) -> None:
    # a grant on function:f:* must never stand in for function:f
    assert _resource("lambda", operation, FunctionName="f:prod", Name="prod") == FN


def test_a_qualifier_that_contradicts_the_name_is_refused_as_aws_does() -> None:
    with pytest.raises(InvalidParameterValue):
        _resource("lambda", "Invoke", FunctionName="f:prod", Qualifier="dev")


@pytest.mark.parametrize("name", ["", "f/../g", "arn:aws:lambda:us-east-1:123:function:f", "f:*", "f g"])
def test_a_malformed_function_name_is_never_authorised_as_something_else(name: str) -> None:
    with pytest.raises(ValidationError):
        _resource("lambda", "Invoke", FunctionName=name)


@pytest.mark.parametrize("operation", ["ListFunctions", "GetAccountSettings"])
def test_account_operations_act_on_star(operation: str) -> None:
    assert _resource("lambda", operation) == "*"


def test_tagging_a_function_acts_on_the_function() -> None:
    assert _resource("lambda", "TagResource", Resource=FN, Tags={"team": "a"}) == FN
    assert _resource("lambda", "ListTags", Resource=FN) == FN


def test_create_function_needs_pass_role_on_its_role_with_condition_keys() -> None:
    role = f"arn:aws:iam::{ACCOUNT}:role/exec"
    first, second = _checks("lambda", "CreateFunction", FunctionName="f", Role=role, Layers=["arn:l:1"],
                            VpcConfig={"SubnetIds": ["s1"], "SecurityGroupIds": ["g1"]}, Tags={"team": "a"})
    assert (first.action, first.resource, first.resource_policy) == ("lambda:CreateFunction", FN, True)
    assert first.context == {"lambda:Layer": ("arn:l:1",), "lambda:SubnetIds": ("s1",),
                             "lambda:SecurityGroupIds": ("g1",), "aws:RequestTag/team": "a", "aws:TagKeys": ("team",)}
    assert second == Check("iam:PassRole", role, {"iam:PassedToService": "lambda.amazonaws.com"},
                           cross_account_refusal="Cross-account pass role is not allowed.")


def test_updating_the_configuration_without_a_role_passes_none() -> None:
    assert len(_checks("lambda", "UpdateFunctionConfiguration", FunctionName="f", Timeout=3)) == 1
    assert _checks("lambda", "UpdateFunctionConfiguration", FunctionName="f", Role="arn:aws:iam::1:role/r")[1].action \
        == "iam:PassRole"


def test_add_permission_sets_lambdas_condition_keys() -> None:
    (check,) = _checks("lambda", "AddPermission", FunctionName="f", Principal="s3.amazonaws.com",
                       FunctionUrlAuthType="NONE", StatementId="s", Action="lambda:InvokeFunction")
    assert check.context == {"lambda:Principal": "s3.amazonaws.com", "lambda:FunctionUrlAuthType": "NONE"}


@pytest.mark.parametrize(("operation", "params", "expected"), [
    ("GetSchedule", {"Name": "s"}, f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/default/s"),
    ("DeleteSchedule", {"Name": "s", "GroupName": "g"}, f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/g/s"),
    ("ListSchedules", {}, "*"),
    ("CreateScheduleGroup", {"Name": "g"}, f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule-group/g"),
    ("ListScheduleGroups", {}, "*"),
    ("ListTagsForResource", {"ResourceArn": "arn:aws:scheduler:r:1:schedule-group/g"}, "arn:aws:scheduler:r:1:schedule-group/g"),
])
def test_scheduler_resources(operation: str, params: dict[str, Any], expected: str) -> None:
    assert _resource("scheduler", operation, **params) == expected


def test_a_schedule_passes_its_target_role_to_scheduler() -> None:
    role = f"arn:aws:iam::{ACCOUNT}:role/sched"
    checks = _checks("scheduler", "CreateSchedule", Name="s", Target={"Arn": FN, "RoleArn": role})
    assert checks[1] == Check("iam:PassRole", role, {"iam:PassedToService": "scheduler.amazonaws.com"})
    assert checks[0].resource_policy is False


@pytest.mark.parametrize(("operation", "params", "expected"), [
    ("GetUser", {}, CALLER),
    ("GetUser", {"UserName": "alice"}, f"arn:aws:iam::{ACCOUNT}:user/alice"),
    ("CreateUser", {"UserName": "alice", "Path": "/eng/"}, f"arn:aws:iam::{ACCOUNT}:user/eng/alice"),
    ("ListAccessKeys", {}, CALLER),
    ("GetRole", {"RoleName": "r"}, f"arn:aws:iam::{ACCOUNT}:role/r"),
    ("ListRoles", {}, "*"),
    ("CreatePolicy", {"PolicyName": "p"}, f"arn:aws:iam::{ACCOUNT}:policy/p"),
    ("GetPolicy", {"PolicyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}, "arn:aws:iam::aws:policy/ReadOnlyAccess"),
    ("AttachRolePolicy", {"RoleName": "r", "PolicyArn": "arn:aws:iam::aws:policy/X"}, f"arn:aws:iam::{ACCOUNT}:role/r"),
])
def test_iam_resources(operation: str, params: dict[str, Any], expected: str) -> None:
    assert _resource("iam", operation, **params) == expected


def test_attach_carries_the_policy_arn_condition_key() -> None:
    (check,) = _checks("iam", "AttachUserPolicy", UserName="u", PolicyArn="arn:aws:iam::aws:policy/X")
    assert check.context == {"iam:PolicyARN": "arn:aws:iam::aws:policy/X"}


def test_sts() -> None:
    assert _resource("sts", "AssumeRole", RoleArn=f"arn:aws:iam::{OTHER}:role/r") == f"arn:aws:iam::{OTHER}:role/r"
    found = action_of("sts", "GetCallerIdentity")
    assert found is not None and found.always_allowed


@pytest.mark.parametrize(("operation", "params", "expected"), [
    ("CreateDeployment", {"FunctionName": "f", "Alias": "live"}, FN),
    ("ListDeployments", {"FunctionName": "f"}, FN),
    ("ListDeployments", {}, "*"),
    ("GetDeployment", {"DeploymentId": "d-1"}, f"arn:aws:lambent:{REGION}:{ACCOUNT}:deployment/d-1"),
    ("StopDeployment", {"DeploymentId": "d-1"}, f"arn:aws:lambent:{REGION}:{ACCOUNT}:deployment/d-1"),
])
def test_lambent_resources(operation: str, params: dict[str, Any], expected: str) -> None:
    assert _resource("lambent", operation, **params) == expected


def test_long_hostile_names_are_not_memoised() -> None:
    from lambent.iam.actions import _memo_function

    before = _memo_function.cache_info().currsize
    for i in range(50):
        with pytest.raises(ValidationError):
            _resource("lambda", "Invoke", FunctionName="f" * 10_000 + f"/{i}")
        assert _resource("lambda", "Invoke", FunctionName="g" * 400 + str(i)).endswith(str(i))
    assert _memo_function.cache_info().currsize == before
