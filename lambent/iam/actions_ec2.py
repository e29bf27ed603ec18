"""The IAM actions and resource ARNs of the EC2 operations lambent serves (the VPC subset).

Names and resource types follow AWS's Service Authorization Reference, "Actions, resources, and
condition keys for Amazon EC2"
(https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonec2.html):
``ec2:<Operation>``; resources ``arn:aws:ec2:REGION:ACCOUNT:vpc/ID``, ``subnet/ID``,
``security-group/ID``, ``natgateway/ID``, ``vpc-endpoint/ID``; a create acts on the new resource
(``vpc/*`` and the like: its id does not exist yet) and on the resources it is created in (the
VPC of a subnet or group, the subnet of a NAT gateway, the VPC, subnets and groups of an
endpoint); Describe* calls support no resource-level permissions (``*``). Pure, like
:mod:`lambent.iam.actions`, which lists :func:`actions` in its table.
"""

from __future__ import annotations

from collections.abc import Callable

from lambent.iam.actions import Action, Check, ExtraOf, Params, ResourceOf

_Ids = Callable[[Params], list[str]]


def _arn(region: str, account: str, kind: str, resource_id: str) -> str:
    return f"arn:aws:ec2:{region}:{account}:{kind}/{resource_id}"


def _new(kind: str) -> ResourceOf:
    def resource(params: Params, region: str, account: str, caller: str) -> str:
        return _arn(region, account, kind, "*")

    return resource


def _named(kind: str, member: str) -> ResourceOf:
    """The resource the member names (``*`` when the request names it otherwise, e.g. a group
    by GroupName, which the handler then refuses)."""

    def resource(params: Params, region: str, account: str, caller: str) -> str:
        value = params.get(member)
        return _arn(region, account, kind, str(value) if value else "*")

    return resource


def _star(params: Params, region: str, account: str, caller: str) -> str:
    return "*"


def _one(member: str) -> _Ids:
    return lambda p: [str(p[member])] if p.get(member) else []


def _many(member: str) -> _Ids:
    return lambda p: [str(i) for i in p.get(member) or []]


def _also(action: str, *parts: tuple[str, _Ids]) -> ExtraOf:
    """The same action on the resources a create places its new resource in."""

    def extra(params: Params, region: str, account: str) -> tuple[Check, ...]:
        return tuple(Check(action, _arn(region, account, kind, i)) for kind, ids in parts for i in ids(params))

    return extra


def _first_endpoint(params: Params, region: str, account: str, caller: str) -> str:
    ids = params.get("VpcEndpointIds") or []
    return _arn(region, account, "vpc-endpoint", str(ids[0]) if ids else "*")


def _other_endpoints(params: Params, region: str, account: str) -> tuple[Check, ...]:
    ids = params.get("VpcEndpointIds") or []
    return tuple(Check("ec2:DeleteVpcEndpoints", _arn(region, account, "vpc-endpoint", str(i))) for i in ids[1:])


def actions() -> list[Action]:
    def ec2(operation: str, resource: ResourceOf, extra: ExtraOf | None = None) -> Action:
        return Action("ec2", operation, f"ec2:{operation}", resource, extra=extra)

    vpc, subnet = _one("VpcId"), _one("SubnetId")
    rules = [ec2(op, _named("security-group", "GroupId")) for op in (
        "AuthorizeSecurityGroupIngress", "AuthorizeSecurityGroupEgress",
        "RevokeSecurityGroupIngress", "RevokeSecurityGroupEgress")]
    return [
        ec2("CreateVpc", _new("vpc")),
        ec2("DeleteVpc", _named("vpc", "VpcId")),
        ec2("CreateSubnet", _new("subnet"), _also("ec2:CreateSubnet", ("vpc", vpc))),
        ec2("DeleteSubnet", _named("subnet", "SubnetId")),
        ec2("CreateSecurityGroup", _new("security-group"), _also("ec2:CreateSecurityGroup", ("vpc", vpc))),
        ec2("DeleteSecurityGroup", _named("security-group", "GroupId")),
        *rules,
        ec2("CreateNatGateway", _new("natgateway"), _also("ec2:CreateNatGateway", ("subnet", subnet))),
        ec2("DeleteNatGateway", _named("natgateway", "NatGatewayId")),
        ec2("CreateVpcEndpoint", _new("vpc-endpoint"), _also(
            "ec2:CreateVpcEndpoint", ("vpc", vpc), ("subnet", _many("SubnetIds")),
            ("security-group", _many("SecurityGroupIds")))),
        ec2("DeleteVpcEndpoints", _first_endpoint, _other_endpoints),
        *(ec2(op, _star) for op in ("DescribeVpcs", "DescribeSubnets", "DescribeSecurityGroups",
                                    "DescribeNatGateways", "DescribeVpcEndpoints", "DescribeNetworkInterfaces")),
    ]


__all__ = ["actions"]
