"""actions_ec2: every EC2 operation lambent serves has its IAM action and resource ARNs."""

from __future__ import annotations

from lambent.api.ec2_api import EC2
from lambent.api.protocols.model import service_model
from lambent.iam.actions import Check
from lambent.iam.actions_ec2 import actions

REGION, ACCOUNT = "us-east-1", "111122223333"
CALLER = f"arn:aws:iam::{ACCOUNT}:user/bob"


def _arn(rest: str) -> str:
    return f"arn:aws:ec2:{REGION}:{ACCOUNT}:{rest}"


def _checks(operation: str, **params: object) -> tuple[Check, ...]:
    entry = next(a for a in actions() if a.operation == operation)
    return entry.checks(params, REGION, ACCOUNT, CALLER)


def test_every_served_operation_has_exactly_one_action_named_as_aws_does() -> None:
    entries = actions()
    keys = [(a.service, a.operation) for a in entries]
    assert len(keys) == len(set(keys))
    assert sorted(op for _, op in keys) == sorted(EC2.implemented)
    assert all(a.action == f"ec2:{a.operation}" and not a.always_allowed for a in entries)
    assert all(a.operation in service_model("ec2").operation_names for a in entries)


def test_creates_act_on_the_new_resource_and_where_it_is_created() -> None:
    assert _checks("CreateVpc", CidrBlock="10.0.0.0/16") == (Check("ec2:CreateVpc", _arn("vpc/*")),)
    assert _checks("CreateSubnet", VpcId="vpc-1", CidrBlock="10.0.0.0/24") == (
        Check("ec2:CreateSubnet", _arn("subnet/*")), Check("ec2:CreateSubnet", _arn("vpc/vpc-1")))
    assert _checks("CreateNatGateway", SubnetId="subnet-1") == (
        Check("ec2:CreateNatGateway", _arn("natgateway/*")), Check("ec2:CreateNatGateway", _arn("subnet/subnet-1")))
    assert [c.resource for c in _checks("CreateVpcEndpoint", VpcId="vpc-1", SubnetIds=["subnet-1"],
                                        SecurityGroupIds=["sg-1", "sg-2"])] == [
        _arn("vpc-endpoint/*"), _arn("vpc/vpc-1"), _arn("subnet/subnet-1"), _arn("security-group/sg-1"),
        _arn("security-group/sg-2")]


def test_deletes_and_rule_changes_act_on_the_named_resource() -> None:
    assert _checks("DeleteVpc", VpcId="vpc-1") == (Check("ec2:DeleteVpc", _arn("vpc/vpc-1")),)
    assert _checks("DeleteSubnet", SubnetId="subnet-1")[0].resource == _arn("subnet/subnet-1")
    assert _checks("AuthorizeSecurityGroupIngress", GroupId="sg-1")[0].resource == _arn("security-group/sg-1")
    assert _checks("RevokeSecurityGroupEgress", GroupId="sg-1")[0].action == "ec2:RevokeSecurityGroupEgress"
    assert _checks("DeleteSecurityGroup", GroupName="default")[0].resource == _arn("security-group/*")
    assert _checks("DeleteNatGateway", NatGatewayId="nat-1")[0].resource == _arn("natgateway/nat-1")
    assert [c.resource for c in _checks("DeleteVpcEndpoints", VpcEndpointIds=["vpce-1", "vpce-2"])] == [
        _arn("vpc-endpoint/vpce-1"), _arn("vpc-endpoint/vpce-2")]


def test_describes_take_no_resource() -> None:
    for op in ("DescribeVpcs", "DescribeSubnets", "DescribeSecurityGroups", "DescribeNatGateways",
               "DescribeVpcEndpoints", "DescribeNetworkInterfaces"):
        assert _checks(op) == (Check(f"ec2:{op}", "*"),)
