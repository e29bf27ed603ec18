"""The EC2 API subset lambent serves (VPCs, subnets, security groups, NAT gateways, VPC endpoints,
network interfaces) on :data:`EC2`, in EC2's XML wire format (lambent/api/protocols/ec2.py).

Handlers read the caller's account from ``call.principal.account_id`` and act through the
platform's :class:`~lambent.vpc.service.VpcService` (``call.platform.vpc``); they only turn
botocore's input members into the service's arguments and its values into the output shapes.
Members a handler does not act on are refused by name (``handled``); ``DryRun=true`` answers
DryRunOperation once the call's own checks pass, as EC2 does for an authorised caller.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, Protocol, TypeVar, cast

from lambent.api.dispatch import Call
from lambent.api.protocols.registry import Operations
from lambent.vpc import errors as ve
from lambent.vpc import filters as vf
from lambent.vpc.model import (
    NatGateway, NetworkInterface, Protocol as IpProtocol, Rule, SecurityGroup, Subnet, Tags, Vpc, VpcEndpoint,
    check_id, check_tags, check_text, echo,
)
from lambent.vpc.rules import permissions_of
from lambent.vpc.service import VpcService

#: The EC2 operations lambent serves (the integrator lists it in lambent/api/services.py).
EC2 = Operations("ec2")

Output = dict[str, Any]
T = TypeVar("T")


class _WithVpc(Protocol):
    vpc: VpcService


def _service(call: Call) -> VpcService:
    return cast(_WithVpc, call.platform).vpc


def _account(call: Call) -> str:
    return call.principal.account_id


def _dry_run(call: Call) -> None:
    if call.params.get("DryRun"):
        raise ve.DryRunOperation("Request would have succeeded, but DryRun flag is set.")


def _tags_in(call: Call, resource_type: str) -> Tags:
    pairs: list[tuple[str, str]] = []
    for spec in call.params.get("TagSpecifications") or []:
        kind = spec.get("ResourceType")
        if kind != resource_type:
            raise ve.InvalidValue(f"'{echo(kind)}' is not a valid taggable resource type for this operation.")
        pairs.extend((str(t.get("Key", "")), str(t.get("Value", ""))) for t in spec.get("Tags") or [])
    return check_tags(tuple(pairs), _service(call).quotas.tags_per_resource)


def _tags_out(tags: Tags) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags]


def _time(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, timezone.utc)


def _arn(call: Call, kind: str, resource_id: str, account: str) -> str:
    return f"arn:aws:ec2:{_service(call).region}:{account}:{kind}/{resource_id}"


def _describe(
    call: Call, items: Sequence[T], key: Callable[[T], str], ids_member: str, filters_member: str,
    known: frozenset[str], attributes: Callable[[T], vf.Attributes], tags: Callable[[T], Tags],
    not_found: Callable[[str], Exception], check: Callable[[str], str],
) -> tuple[list[T], str | None]:
    """The items a Describe call asks for: by id (each must exist), by filter, one page."""
    wanted = [check(i) for i in call.params.get(ids_member) or []]
    by_id = {key(i): i for i in items}
    for resource_id in wanted:
        if resource_id not in by_id:
            raise not_found(resource_id)
    chosen = [by_id[i] for i in dict.fromkeys(wanted)] if wanted else list(items)
    rules = vf.parse(call.params.get(filters_member), known)
    chosen = [i for i in chosen if vf.matches(rules, attributes(i), tags(i))]
    if wanted:
        return chosen, None
    ids, token = vf.page([key(i) for i in chosen], call.params.get("NextToken"), call.params.get("MaxResults"),
                         _service(call).quotas.max_results)
    return [by_id[i] for i in ids], token


def _vpc_id(value: str) -> str:
    return check_id(value, "vpc", ve.VpcIdMalformed)


def _subnet_id(value: str) -> str:
    return check_id(value, "subnet", ve.SubnetIdMalformed)


def _group_id(value: str) -> str:
    return check_id(value, "sg", ve.GroupIdMalformed)


def _nat_id(value: str) -> str:
    return check_id(value, "nat", ve.NatGatewayMalformed)


def _endpoint_id(value: str) -> str:
    return check_id(value, "vpce", ve.VpcEndpointIdMalformed)


def _interface_id(value: str) -> str:
    return check_id(value, "eni", ve.NetworkInterfaceIdMalformed)


# -- VPCs ------------------------------------------------------------------------------------------
def _vpc_out(v: Vpc) -> Output:
    return {
        "VpcId": v.vpc_id, "CidrBlock": str(v.cidr), "State": "available", "OwnerId": v.account_id,
        "InstanceTenancy": "default", "IsDefault": False, "DhcpOptionsId": "default",
        "CidrBlockAssociationSet": [{"AssociationId": f"vpc-cidr-assoc-{v.vpc_id[4:]}", "CidrBlock": str(v.cidr),
                                     "CidrBlockState": {"State": "associated"}}],
        "Ipv6CidrBlockAssociationSet": [], "Tags": _tags_out(v.tags),
    }


_VPC_FILTERS = frozenset({"vpc-id", "cidr", "cidr-block-association.cidr-block", "state", "owner-id", "is-default",
                          "instance-tenancy", "dhcp-options-id"})


def _vpc_attributes(v: Vpc) -> vf.Attributes:
    return {"vpc-id": [v.vpc_id], "cidr": [str(v.cidr)], "cidr-block-association.cidr-block": [str(v.cidr)],
            "state": ["available"], "owner-id": [v.account_id], "is-default": ["false"],
            "instance-tenancy": ["default"], "dhcp-options-id": ["default"]}


@EC2.register("CreateVpc", handled={"CidrBlock": None, "TagSpecifications": None, "DryRun": None,
                                    "InstanceTenancy": None})
async def create_vpc(call: Call) -> Output:
    p = call.params
    if p.get("InstanceTenancy") not in (None, "default"):
        raise ve.InvalidValue("InstanceTenancy: lambent's VPCs have the default tenancy only.")
    block = p.get("CidrBlock")
    if not block:
        raise ve.MissingParameter("Either 'cidrBlock' or 'ipv4IpamPoolId' should be provided.")
    tags = _tags_in(call, "vpc")
    _dry_run(call)
    return {"Vpc": _vpc_out(_service(call).create_vpc(_account(call), block, tags))}


@EC2.register("DescribeVpcs")
async def describe_vpcs(call: Call) -> Output:
    _dry_run(call)
    vpcs, token = _describe(call, _service(call).vpcs(_account(call)), lambda v: v.vpc_id, "VpcIds", "Filters",
                            _VPC_FILTERS, _vpc_attributes, lambda v: v.tags,
                            lambda i: ve.VpcNotFound(f"The vpc ID '{i}' does not exist"), _vpc_id)
    return {"Vpcs": [_vpc_out(v) for v in vpcs], "NextToken": token}


@EC2.register("DeleteVpc")
async def delete_vpc(call: Call) -> None:
    vpc_id = _vpc_id(call.params["VpcId"])
    _service(call).vpc(_account(call), vpc_id)
    _dry_run(call)
    _service(call).delete_vpc(_account(call), vpc_id)


# -- subnets ---------------------------------------------------------------------------------------
def _subnet_out(call: Call, s: Subnet) -> Output:
    return {
        "SubnetId": s.subnet_id, "VpcId": s.vpc_id, "CidrBlock": str(s.cidr), "AvailabilityZone": s.availability_zone,
        "AvailableIpAddressCount": _service(call).available_addresses(s.subnet_id), "State": "available",
        "DefaultForAz": False, "MapPublicIpOnLaunch": False, "AssignIpv6AddressOnCreation": False,
        "Ipv6CidrBlockAssociationSet": [], "Ipv6Native": False, "OwnerId": s.account_id,
        "SubnetArn": _arn(call, "subnet", s.subnet_id, s.account_id), "Tags": _tags_out(s.tags),
    }


_SUBNET_FILTERS = frozenset({"subnet-id", "vpc-id", "cidr-block", "cidr", "cidrBlock", "availability-zone",
                             "availabilityZone", "state", "available-ip-address-count", "default-for-az",
                             "defaultForAz", "owner-id", "subnet-arn"})


def _subnet_filter(call: Call) -> Callable[[Subnet], vf.Attributes]:
    def attributes(s: Subnet) -> vf.Attributes:
        block, zone = [str(s.cidr)], [s.availability_zone]
        return {"subnet-id": [s.subnet_id], "vpc-id": [s.vpc_id], "cidr-block": block, "cidr": block,
                "cidrBlock": block, "availability-zone": zone, "availabilityZone": zone, "state": ["available"],
                "available-ip-address-count": [str(_service(call).available_addresses(s.subnet_id))],
                "default-for-az": ["false"], "defaultForAz": ["false"], "owner-id": [s.account_id],
                "subnet-arn": [_arn(call, "subnet", s.subnet_id, s.account_id)]}

    return attributes


@EC2.register("CreateSubnet", handled={"TagSpecifications": None, "AvailabilityZone": None, "CidrBlock": None,
                                       "VpcId": None, "DryRun": None})
async def create_subnet(call: Call) -> Output:
    p = call.params
    if not p.get("CidrBlock"):
        raise ve.MissingParameter("Either 'cidrBlock' or 'ipv4IpamPoolId' should be provided.")
    vpc_id = _vpc_id(p["VpcId"])
    tags = _tags_in(call, "subnet")
    _service(call).vpc(_account(call), vpc_id)
    _dry_run(call)
    subnet = _service(call).create_subnet(_account(call), vpc_id, p["CidrBlock"], p.get("AvailabilityZone"), tags)
    return {"Subnet": _subnet_out(call, subnet)}


@EC2.register("DescribeSubnets")
async def describe_subnets(call: Call) -> Output:
    _dry_run(call)
    subnets, token = _describe(call, _service(call).subnets(_account(call)), lambda s: s.subnet_id, "SubnetIds",
                               "Filters", _SUBNET_FILTERS, _subnet_filter(call), lambda s: s.tags,
                               lambda i: ve.SubnetNotFound(f"The subnet ID '{i}' does not exist"), _subnet_id)
    return {"Subnets": [_subnet_out(call, s) for s in subnets], "NextToken": token}


@EC2.register("DeleteSubnet")
async def delete_subnet(call: Call) -> None:
    subnet_id = _subnet_id(call.params["SubnetId"])
    _service(call).subnet(_account(call), subnet_id)
    _dry_run(call)
    _service(call).delete_subnet(_account(call), subnet_id)


# -- security groups -------------------------------------------------------------------------------
def _group_out(call: Call, g: SecurityGroup) -> Output:
    svc = _service(call)
    return {
        "GroupId": g.group_id, "GroupName": g.name, "Description": g.description, "VpcId": g.vpc_id,
        "OwnerId": g.account_id, "SecurityGroupArn": _arn(call, "security-group", g.group_id, g.account_id),
        "IpPermissions": permissions_of(svc.rules(g.group_id, egress=False), svc.owner_of_group),
        "IpPermissionsEgress": permissions_of(svc.rules(g.group_id, egress=True), svc.owner_of_group),
        "Tags": _tags_out(g.tags),
    }


def _rule_out(call: Call, r: Rule, account: str) -> Output:
    out: Output = {
        "SecurityGroupRuleId": r.rule_id, "GroupId": r.group_id, "GroupOwnerId": account, "IsEgress": r.egress,
        "IpProtocol": r.protocol.value,
        "FromPort": -1 if r.from_port is None else r.from_port, "ToPort": -1 if r.to_port is None else r.to_port,
        "SecurityGroupRuleArn": _arn(call, "security-group-rule", r.rule_id, account), "Tags": [],
    }
    if r.cidr is not None:
        out["CidrIpv4"] = str(r.cidr)
    if r.peer_group_id is not None:
        out["ReferencedGroupInfo"] = {"GroupId": r.peer_group_id, "UserId": r.peer_account_id or account}
    if r.description:
        out["Description"] = r.description
    return out


_GROUP_FILTERS = frozenset({"group-id", "group-name", "vpc-id", "description", "owner-id",
                            "ip-permission.protocol", "ip-permission.cidr", "ip-permission.group-id",
                            "ip-permission.from-port", "ip-permission.to-port", "egress.ip-permission.protocol",
                            "egress.ip-permission.cidr", "egress.ip-permission.group-id"})


def _group_filter(call: Call) -> Callable[[SecurityGroup], vf.Attributes]:
    svc = _service(call)

    def attributes(g: SecurityGroup) -> vf.Attributes:
        out: dict[str, list[str]] = {"group-id": [g.group_id], "group-name": [g.name], "vpc-id": [g.vpc_id],
                                     "description": [g.description], "owner-id": [g.account_id]}
        for egress, prefix in ((False, "ip-permission"), (True, "egress.ip-permission")):
            for r in svc.rules(g.group_id, egress=egress):
                out.setdefault(f"{prefix}.protocol", []).append(r.protocol.value)
                if r.cidr is not None:
                    out.setdefault(f"{prefix}.cidr", []).append(str(r.cidr))
                if r.peer_group_id is not None:
                    out.setdefault(f"{prefix}.group-id", []).append(r.peer_group_id)
                if not egress and r.from_port is not None:
                    out.setdefault("ip-permission.from-port", []).append(str(r.from_port))
                    out.setdefault("ip-permission.to-port", []).append(str(r.to_port))
        return out

    return attributes


def _no_default_vpc(name: str) -> ve.GroupNotFound:
    # EC2 looks a bare GroupName up in the account's default VPC; lambent creates none.
    return ve.GroupNotFound(f"The security group '{echo(name, 255)}' does not exist in default VPC 'none'")


@EC2.register("CreateSecurityGroup", handled={"Description": None, "GroupName": None, "VpcId": None,
                                              "TagSpecifications": None, "DryRun": None})
async def create_security_group(call: Call) -> Output:
    p = call.params
    if not p.get("VpcId"):
        raise ve.VpcIdNotSpecified("No default VPC for this user (lambent has no default VPC: give VpcId)")
    vpc_id = _vpc_id(p["VpcId"])
    tags = _tags_in(call, "security-group")
    _service(call).vpc(_account(call), vpc_id)
    _dry_run(call)
    group = _service(call).create_group(_account(call), vpc_id, p["GroupName"], p["Description"], tags)
    return {"GroupId": group.group_id, "Tags": _tags_out(group.tags),
            "SecurityGroupArn": _arn(call, "security-group", group.group_id, group.account_id)}


@EC2.register("DescribeSecurityGroups")
async def describe_security_groups(call: Call) -> Output:
    _dry_run(call)
    for name in call.params.get("GroupNames") or []:
        raise _no_default_vpc(name)
    groups, token = _describe(call, _service(call).groups(_account(call)), lambda g: g.group_id, "GroupIds",
                              "Filters", _GROUP_FILTERS, _group_filter(call), lambda g: g.tags,
                              lambda i: ve.GroupNotFound(f"The security group '{i}' does not exist"), _group_id)
    return {"SecurityGroups": [_group_out(call, g) for g in groups], "NextToken": token}


def _group_of(call: Call) -> str:
    p = call.params
    if p.get("GroupId"):
        group_id = _group_id(p["GroupId"])
        _service(call).group(_account(call), group_id)
        return group_id
    if p.get("GroupName"):
        raise _no_default_vpc(p["GroupName"])
    raise ve.MissingParameter("The request must contain the parameter groupId")


@EC2.register("DeleteSecurityGroup")
async def delete_security_group(call: Call) -> Output:
    group_id = _group_of(call)
    _dry_run(call)
    _service(call).delete_group(_account(call), group_id)
    return {"Return": True, "GroupId": group_id}


def _permissions(call: Call) -> list[Mapping[str, Any]]:
    """``IpPermissions``, or the one permission the older top-level members describe."""
    p = call.params
    legacy = {k: p[k] for k in ("IpProtocol", "FromPort", "ToPort", "CidrIp") if p.get(k) is not None}
    if p.get("SourceSecurityGroupName") or p.get("SourceSecurityGroupOwnerId"):
        raise ve.InvalidValue("SourceSecurityGroupName needs a default VPC, which lambent has none of: name the "
                              "source group by GroupId in IpPermissions.UserIdGroupPairs.")
    if legacy:
        if p.get("IpPermissions"):
            raise ve.ParameterCombination("The parameter 'ipPermissions' may not be used in combination with "
                                          "'ipProtocol', 'fromPort', 'toPort' or 'cidrIp'.")
        permission: dict[str, Any] = {"IpProtocol": legacy.get("IpProtocol", IpProtocol.ALL.value),
                                      "FromPort": legacy.get("FromPort"), "ToPort": legacy.get("ToPort")}
        if "CidrIp" in legacy:
            permission["IpRanges"] = [{"CidrIp": legacy["CidrIp"]}]
        return [permission]
    return list(p.get("IpPermissions") or [])


_AUTHORIZE_HANDLED = {m: None for m in ("GroupId", "GroupName", "IpPermissions", "IpProtocol", "FromPort", "ToPort",
                                        "CidrIp", "SourceSecurityGroupName", "SourceSecurityGroupOwnerId", "DryRun")}


async def _authorize(call: Call, egress: bool) -> Output:
    group_id = _group_of(call)
    permissions = _permissions(call)
    _dry_run(call)
    new = _service(call).authorize(_account(call), group_id, egress=egress, permissions=permissions)
    return {"Return": True, "SecurityGroupRules": [_rule_out(call, r, _account(call)) for r in new]}


@EC2.register("AuthorizeSecurityGroupIngress", handled=_AUTHORIZE_HANDLED)
async def authorize_ingress(call: Call) -> Output:
    return await _authorize(call, egress=False)


@EC2.register("AuthorizeSecurityGroupEgress", handled=_AUTHORIZE_HANDLED)
async def authorize_egress(call: Call) -> Output:
    return await _authorize(call, egress=True)


async def _revoke(call: Call, egress: bool) -> Output:
    group_id = _group_of(call)
    permissions = _permissions(call)
    rule_ids = list(call.params.get("SecurityGroupRuleIds") or [])
    if not permissions and not rule_ids:
        raise ve.MissingParameter("The request must contain the parameter ipPermissions or securityGroupRuleIds")
    _dry_run(call)
    account = _account(call)
    revoked, unknown = _service(call).revoke(account, group_id, egress=egress, permissions=permissions,
                                             rule_ids=rule_ids)
    out: Output = {"Return": True, "RevokedSecurityGroupRules": [_revoked_out(r) for r in revoked]}
    if unknown:
        out["UnknownIpPermissions"] = permissions_of(unknown, _service(call).owner_of_group)
    return out


def _revoked_out(r: Rule) -> Output:
    """A ``RevokedSecurityGroupRule`` (flatter than a SecurityGroupRule: ``ReferencedGroupId``)."""
    out: Output = {"SecurityGroupRuleId": r.rule_id, "GroupId": r.group_id, "IsEgress": r.egress,
                   "IpProtocol": r.protocol.value, "FromPort": -1 if r.from_port is None else r.from_port,
                   "ToPort": -1 if r.to_port is None else r.to_port}
    if r.cidr is not None:
        out["CidrIpv4"] = str(r.cidr)
    if r.peer_group_id is not None:
        out["ReferencedGroupId"] = r.peer_group_id
    if r.description:
        out["Description"] = r.description
    return out


_REVOKE_HANDLED = {**_AUTHORIZE_HANDLED, "SecurityGroupRuleIds": None}


@EC2.register("RevokeSecurityGroupIngress", handled=_REVOKE_HANDLED)
async def revoke_ingress(call: Call) -> Output:
    return await _revoke(call, egress=False)


@EC2.register("RevokeSecurityGroupEgress", handled=_REVOKE_HANDLED)
async def revoke_egress(call: Call) -> Output:
    return await _revoke(call, egress=True)


# -- NAT gateways ----------------------------------------------------------------------------------
def _nat_out(n: NatGateway) -> Output:
    return {
        "NatGatewayId": n.nat_gateway_id, "SubnetId": n.subnet_id, "VpcId": n.vpc_id, "State": "available",
        "ConnectivityType": n.connectivity, "CreateTime": _time(n.created_at), "Tags": _tags_out(n.tags),
        "NatGatewayAddresses": [{"NetworkInterfaceId": n.interface_id, "PrivateIp": str(n.private_ip),
                                 "IsPrimary": True, "Status": "succeeded"}],
    }


_NAT_FILTERS = frozenset({"nat-gateway-id", "subnet-id", "vpc-id", "state"})


def _nat_attributes(n: NatGateway) -> vf.Attributes:
    return {"nat-gateway-id": [n.nat_gateway_id], "subnet-id": [n.subnet_id], "vpc-id": [n.vpc_id],
            "state": ["available"]}


@EC2.register("CreateNatGateway", handled={"ClientToken": None, "DryRun": None, "SubnetId": None,
                                           "TagSpecifications": None, "ConnectivityType": None})
async def create_nat_gateway(call: Call) -> Output:
    p = call.params
    if not p.get("SubnetId"):
        raise ve.MissingParameter("The request must contain the parameter SubnetId")
    subnet_id = _subnet_id(p["SubnetId"])
    token = check_text(p.get("ClientToken") or "", "ClientToken", 64)
    tags = _tags_in(call, "natgateway")
    _service(call).subnet(_account(call), subnet_id)
    _dry_run(call)
    nat = _service(call).create_nat_gateway(_account(call), subnet_id, p.get("ConnectivityType") or "public", tags,
                                            client_token=token)
    out: Output = {"NatGateway": _nat_out(nat)}
    if token:
        out["ClientToken"] = token
    return out


@EC2.register("DescribeNatGateways")
async def describe_nat_gateways(call: Call) -> Output:
    _dry_run(call)
    nats, token = _describe(call, _service(call).nat_gateways(_account(call)), lambda n: n.nat_gateway_id,
                            "NatGatewayIds", "Filter", _NAT_FILTERS, _nat_attributes, lambda n: n.tags,
                            lambda i: ve.NatGatewayNotFound(f"The Nat Gateway {i} was not found"), _nat_id)
    return {"NatGateways": [_nat_out(n) for n in nats], "NextToken": token}


@EC2.register("DeleteNatGateway")
async def delete_nat_gateway(call: Call) -> Output:
    nat_id = _nat_id(call.params["NatGatewayId"])
    _service(call).nat_gateway(_account(call), nat_id)
    _dry_run(call)
    _service(call).delete_nat_gateway(_account(call), nat_id)
    return {"NatGatewayId": nat_id}


# -- VPC endpoints ---------------------------------------------------------------------------------
def _endpoint_out(call: Call, x: VpcEndpoint) -> Output:
    svc = _service(call)
    groups = [{"GroupId": g, "GroupName": svc.group(x.account_id, g).name} for g in x.group_ids]
    out: Output = {
        "VpcEndpointId": x.endpoint_id, "VpcEndpointType": x.endpoint_type, "VpcId": x.vpc_id,
        "ServiceName": x.service_name, "State": "available", "RouteTableIds": [], "SubnetIds": list(x.subnet_ids),
        "Groups": groups, "IpAddressType": "ipv4", "PrivateDnsEnabled": x.private_dns, "RequesterManaged": False,
        "NetworkInterfaceIds": list(x.interface_ids), "DnsEntries": [], "CreationTimestamp": _time(x.created_at),
        "Tags": _tags_out(x.tags), "OwnerId": x.account_id,
    }
    if x.policy:
        out["PolicyDocument"] = x.policy
    return out


_ENDPOINT_FILTERS = frozenset({"vpc-endpoint-id", "vpc-id", "service-name", "vpc-endpoint-state",
                               "vpc-endpoint-type", "ip-address-type"})


def _endpoint_attributes(x: VpcEndpoint) -> vf.Attributes:
    return {"vpc-endpoint-id": [x.endpoint_id], "vpc-id": [x.vpc_id], "service-name": [x.service_name],
            "vpc-endpoint-state": ["available"], "vpc-endpoint-type": [x.endpoint_type], "ip-address-type": ["ipv4"]}


@EC2.register("CreateVpcEndpoint", handled={"DryRun": None, "VpcEndpointType": None, "VpcId": None,
                                            "ServiceName": None, "PolicyDocument": None, "SubnetIds": None,
                                            "SecurityGroupIds": None, "ClientToken": None,
                                            "PrivateDnsEnabled": None, "TagSpecifications": None})
async def create_vpc_endpoint(call: Call) -> Output:
    p = call.params
    if not p.get("ServiceName"):
        raise ve.MissingParameter("The request must contain the parameter ServiceName")
    vpc_id = _vpc_id(p["VpcId"])
    subnet_ids = [_subnet_id(s) for s in p.get("SubnetIds") or []]
    group_ids = [_group_id(g) for g in p.get("SecurityGroupIds") or []]
    token = check_text(p.get("ClientToken") or "", "ClientToken", 64)
    tags = _tags_in(call, "vpc-endpoint")
    _service(call).vpc(_account(call), vpc_id)
    _dry_run(call)
    endpoint = _service(call).create_vpc_endpoint(
        _account(call), vpc_id, p["ServiceName"], endpoint_type=p.get("VpcEndpointType") or "Interface",
        subnet_ids=subnet_ids, group_ids=group_ids, private_dns=bool(p.get("PrivateDnsEnabled")),
        policy=p.get("PolicyDocument") or "", tags=tags, client_token=token)
    out: Output = {"VpcEndpoint": _endpoint_out(call, endpoint)}
    if token:
        out["ClientToken"] = token
    return out


@EC2.register("DescribeVpcEndpoints")
async def describe_vpc_endpoints(call: Call) -> Output:
    _dry_run(call)
    found, token = _describe(
        call, _service(call).vpc_endpoints(_account(call)), lambda x: x.endpoint_id, "VpcEndpointIds", "Filters",
        _ENDPOINT_FILTERS, _endpoint_attributes, lambda x: x.tags,
        lambda i: ve.VpcEndpointNotFound(f"The Vpc Endpoint Id '{i}' does not exist"), _endpoint_id)
    return {"VpcEndpoints": [_endpoint_out(call, x) for x in found], "NextToken": token}


@EC2.register("DeleteVpcEndpoints")
async def delete_vpc_endpoints(call: Call) -> Output:
    _dry_run(call)
    unsuccessful: list[Output] = []
    for raw in call.params["VpcEndpointIds"]:
        try:
            _service(call).delete_vpc_endpoint(_account(call), _endpoint_id(raw))
        except ve.Ec2Error as exc:  # EC2 reports each id that could not be deleted, not one error
            unsuccessful.append({"ResourceId": echo(raw), "Error": {"Code": exc.code, "Message": exc.message}})
    return {"Unsuccessful": unsuccessful}


# -- network interfaces ----------------------------------------------------------------------------
def _mac(interface_id: str) -> str:
    digits = interface_id[4:14].ljust(10, "0")
    return "02:" + ":".join(digits[i : i + 2] for i in range(0, 10, 2))


def _interface_out(call: Call, i: NetworkInterface) -> Output:
    svc = _service(call)
    groups = [{"GroupId": g, "GroupName": svc.group_name(g)} for g in i.group_ids]
    return {
        "NetworkInterfaceId": i.interface_id, "SubnetId": i.subnet_id, "VpcId": i.vpc_id,
        "AvailabilityZone": i.availability_zone, "Description": i.description, "Groups": groups,
        "InterfaceType": i.interface_type.value, "PrivateIpAddress": str(i.address),
        "PrivateIpAddresses": [{"Primary": True, "PrivateIpAddress": str(i.address)}], "Ipv6Addresses": [],
        "Status": "in-use", "OwnerId": i.account_id, "RequesterManaged": True, "SourceDestCheck": True,
        "MacAddress": _mac(i.interface_id), "TagSet": [],
    }


_INTERFACE_FILTERS = frozenset({"network-interface-id", "subnet-id", "vpc-id", "group-id", "private-ip-address",
                                "addresses.private-ip-address", "interface-type", "status", "description",
                                "availability-zone", "requester-managed", "owner-id"})


def _interface_attributes(i: NetworkInterface) -> vf.Attributes:
    address = [str(i.address)]
    return {"network-interface-id": [i.interface_id], "subnet-id": [i.subnet_id], "vpc-id": [i.vpc_id],
            "group-id": list(i.group_ids), "private-ip-address": address, "addresses.private-ip-address": address,
            "interface-type": [i.interface_type.value], "status": ["in-use"], "description": [i.description],
            "availability-zone": [i.availability_zone], "requester-managed": ["true"], "owner-id": [i.account_id]}


@EC2.register("DescribeNetworkInterfaces", handled={"NextToken": None, "MaxResults": None, "DryRun": None,
                                                    "NetworkInterfaceIds": None, "Filters": None,
                                                    "IncludeManagedResources": None})
async def describe_network_interfaces(call: Call) -> Output:
    _dry_run(call)
    found, token = _describe(
        call, _service(call).interfaces(_account(call)), lambda i: i.interface_id, "NetworkInterfaceIds", "Filters",
        _INTERFACE_FILTERS, _interface_attributes, lambda i: (),
        lambda i: ve.NetworkInterfaceNotFound(f"The networkInterface ID '{i}' does not exist"), _interface_id)
    return {"NetworkInterfaces": [_interface_out(call, i) for i in found], "NextToken": token}

