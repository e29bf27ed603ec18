"""A function's ``VpcConfig`` checked against the VPC model, with Lambda's answers.

https://docs.aws.amazon.com/lambda/latest/dg/configuration-vpc.html: Lambda looks the subnets and
security groups up in EC2 when a function is created or its configuration updated, and reports
the VPC they share as ``VpcConfig.VpcId``. Its refusals, all InvalidParameterValueException
(AWS's wording as clients record it):

- subnets without groups or groups without subnets: "SubnetIds and SecurityIds must coexist or be
  both empty list.";
- an unknown subnet: "Error occurred while DescribeSubnets. EC2 Error Code: InvalidSubnetID.NotFound.
  EC2 Error Message: The subnet ID 'subnet-…' does not exist" (groups: DescribeSecurityGroups,
  InvalidGroup.NotFound, "The security group 'sg-…' does not exist") — EC2's own code and message;
- subnets and groups of several VPCs: "Security Groups are required to be in the same VPC.";
- more than 16 subnets or 5 groups: the model's length constraint (ValidationException, by the
  protocol layer before this runs).

Another account's subnet is "not found", exactly as one that does not exist. Pure: the VPC model
comes in as a :class:`VpcDirectory` (``lambent.vpc.service.VpcService`` is one).

Abuse case: a VpcConfig naming another tenant's subnet or group to put a function on that
tenant's network is refused here (its ids answer "not found" to any other account), so no
environment ever gets an address there.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from lambent.control.model import VpcConfig
from lambent.errors import InvalidParameterValue, LambentError

__all__ = ["COEXIST", "SAME_VPC", "VpcDirectory", "resolve_vpc_config"]

COEXIST = "SubnetIds and SecurityIds must coexist or be both empty list."
SAME_VPC = "Security Groups are required to be in the same VPC."


class _InVpc(Protocol):
    @property
    def vpc_id(self) -> str: ...


class VpcDirectory(Protocol):
    """Look-ups of the VPC model within one account; an unknown id raises a LambentError whose
    ``code`` is EC2's (``InvalidSubnetID.NotFound``, ``InvalidGroup.NotFound``)."""

    def subnet(self, account_id: str, subnet_id: str) -> _InVpc: ...

    def group(self, account_id: str, group_id: str) -> _InVpc: ...


def _ec2_refusal(operation: str, exc: LambentError) -> InvalidParameterValue:
    code = getattr(exc, "code", "InvalidParameterValue")
    return InvalidParameterValue(
        f"Error occurred while {operation}. EC2 Error Code: {code}. EC2 Error Message: {exc.message}")


def resolve_vpc_config(directory: VpcDirectory, account_id: str, subnet_ids: Sequence[str],
                       group_ids: Sequence[str], ipv6_allowed_for_dual_stack: bool = False) -> VpcConfig:
    """The VpcConfig to store: ids deduplicated in the order given, the VPC they share. Both lists
    empty: the empty configuration (the function leaves its VPC)."""
    subnets = tuple(dict.fromkeys(subnet_ids))
    groups = tuple(dict.fromkeys(group_ids))
    if not subnets and not groups:
        return VpcConfig(account_id=account_id, ipv6_allowed_for_dual_stack=ipv6_allowed_for_dual_stack)
    if not subnets or not groups:
        raise InvalidParameterValue(COEXIST)
    vpcs: list[str] = []
    for subnet_id in subnets:
        try:
            vpcs.append(directory.subnet(account_id, subnet_id).vpc_id)
        except LambentError as exc:
            raise _ec2_refusal("DescribeSubnets", exc) from None
    for group_id in groups:
        try:
            vpcs.append(directory.group(account_id, group_id).vpc_id)
        except LambentError as exc:
            raise _ec2_refusal("DescribeSecurityGroups", exc) from None
    if len(set(vpcs)) != 1:
        raise InvalidParameterValue(SAME_VPC)
    return VpcConfig(subnets, groups, vpcs[0], account_id, ipv6_allowed_for_dual_stack)
