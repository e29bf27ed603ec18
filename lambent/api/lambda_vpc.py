"""CreateFunction / UpdateFunctionConfiguration's ``VpcConfig``: the request's members checked
against the VPC model of the function's account (:mod:`lambent.control.vpc_config`) and the
execution role's EC2 permissions.

Lambda creates the function's network interfaces with its execution role, so it refuses a role
that may not: "The provided execution role does not have permissions to call
CreateNetworkInterface on EC2" (InvalidParameterValueException; AWS names the first of
ec2:CreateNetworkInterface, ec2:DescribeNetworkInterfaces, ec2:DeleteNetworkInterface the role's
policies do not allow: https://docs.aws.amazon.com/lambda/latest/dg/configuring-vpc.html#configuring-vpc-permissions,
all three in the managed policy AWSLambdaVPCAccessExecutionRole). The role's identity policies
are evaluated as IAM would for the role's session, on ``Resource: *``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lambent.control.model import FunctionConfig, VpcConfig
from lambent.control.vpc_config import resolve_vpc_config
from lambent.errors import InvalidParameterValue
from lambent.iam.model import Principal, PrincipalKind
from lambent.platform import Platform

__all__ = ["ENI_ACTIONS", "check_role_may_manage_interfaces", "vpc_config_of"]

#: What Lambda does with the execution role for a VPC function, in the order it is checked.
ENI_ACTIONS = ("CreateNetworkInterface", "DescribeNetworkInterfaces", "DeleteNetworkInterface")


def role_account(role_arn: str) -> str:
    """The account of an execution role's ARN: the function's (a cross-account role is refused)."""
    parts = role_arn.split(":")
    return parts[4] if len(parts) > 4 else ""


def vpc_config_of(p: Platform, params: Mapping[str, Any], role_arn: str) -> VpcConfig | None:
    """The request's VpcConfig resolved in the role's (the function's) account; None when the
    request has none."""
    raw = params.get("VpcConfig")
    if raw is None:
        return None
    return resolve_vpc_config(p.vpc, role_account(role_arn), list(raw.get("SubnetIds") or ()),
                              list(raw.get("SecurityGroupIds") or ()), bool(raw.get("Ipv6AllowedForDualStack")))


def check_role_may_manage_interfaces(p: Platform, role_arn: str) -> None:
    """InvalidParameterValueException naming the first EC2 action of :data:`ENI_ACTIONS` the
    role's policies do not allow (an unknown role was refused before, by the trust check)."""
    role = p.iam.role_by_arn(role_arn)
    if role is None:
        return
    session = Principal(PrincipalKind.ASSUMED_ROLE, role.account_id, role.arn, role.role_id, role.name,
                        access_key_id="", secret_access_key="", role_arn=role.arn)
    for action in ENI_ACTIONS:
        if not p.authorizer.evaluate(session, f"ec2:{action}", "*", resource_account=role.account_id).allowed:
            raise InvalidParameterValue(
                f"The provided execution role does not have permissions to call {action} on EC2", role=role_arn)


def check_vpc_update(p: Platform, current: FunctionConfig, vpc: VpcConfig | None, role_arn: str | None) -> None:
    """UpdateFunctionConfiguration: the role the function will run with must manage interfaces
    whenever the resulting configuration joins a VPC (a new VpcConfig, or a new role)."""
    joined = vpc if vpc is not None else current.vpc_config
    if joined is None or not joined.attached:
        return
    if vpc is not None or role_arn is not None:
        check_role_may_manage_interfaces(p, role_arn or current.role)
