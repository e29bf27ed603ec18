"""Security groups and their rules through botocore's ec2 client and the layer's request path."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError
from ec2_wire import ACCOUNT, OTHER, Endpoint

from lambent.vpc.model import ChangeKind, VpcChange


def code_of(caught: pytest.ExceptionInfo[ClientError]) -> str:
    return str(caught.value.response["Error"]["Code"])


@pytest.fixture
def world(endpoint: Endpoint) -> tuple[Any, str]:
    ec2 = endpoint.client()
    return ec2, ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]


def test_a_new_group_allows_all_egress_and_no_ingress(world: tuple[Any, str]) -> None:
    ec2, vpc_id = world
    made = ec2.create_security_group(VpcId=vpc_id, GroupName="db", Description="the database")
    group = ec2.describe_security_groups(GroupIds=[made["GroupId"]])["SecurityGroups"][0]
    assert group["GroupName"] == "db" and group["Description"] == "the database" and group["VpcId"] == vpc_id
    assert group["IpPermissions"] == []
    assert [p["IpProtocol"] for p in group["IpPermissionsEgress"]] == ["-1"]
    assert made["SecurityGroupArn"] == f"arn:aws:ec2:us-east-1:{ACCOUNT}:security-group/{made['GroupId']}"
    with pytest.raises(ClientError) as caught:
        ec2.create_security_group(VpcId=vpc_id, GroupName="db", Description="again")
    assert code_of(caught) == "InvalidGroup.Duplicate"


def test_rules_are_authorised_described_as_ip_permissions_and_revoked(world: tuple[Any, str]) -> None:
    ec2, vpc_id = world
    app = ec2.create_security_group(VpcId=vpc_id, GroupName="app", Description="app")["GroupId"]
    db = ec2.create_security_group(VpcId=vpc_id, GroupName="db", Description="db")["GroupId"]
    answer = ec2.authorize_security_group_ingress(GroupId=db, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432,
         "IpRanges": [{"CidrIp": "10.20.1.0/24", "Description": "subnet a"}],
         "UserIdGroupPairs": [{"GroupId": app}]},
        {"IpProtocol": "icmp", "FromPort": 8, "ToPort": -1, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]},
    ])
    assert answer["Return"] is True
    rules = answer["SecurityGroupRules"]
    assert len(rules) == 3 and all(r["SecurityGroupRuleId"].startswith("sgr-") and not r["IsEgress"] for r in rules)
    assert {r.get("CidrIpv4") for r in rules} == {"10.20.1.0/24", "10.0.0.0/8", None}
    assert [r["ReferencedGroupInfo"]["GroupId"] for r in rules if "ReferencedGroupInfo" in r] == [app]

    group = ec2.describe_security_groups(GroupIds=[db])["SecurityGroups"][0]
    tcp = next(p for p in group["IpPermissions"] if p["IpProtocol"] == "tcp")
    assert (tcp["FromPort"], tcp["ToPort"]) == (5432, 5432)
    assert tcp["IpRanges"] == [{"CidrIp": "10.20.1.0/24", "Description": "subnet a"}]
    assert tcp["UserIdGroupPairs"] == [{"GroupId": app, "UserId": ACCOUNT}]
    icmp = next(p for p in group["IpPermissions"] if p["IpProtocol"] == "icmp")
    assert (icmp["FromPort"], icmp["ToPort"]) == (8, -1)

    with pytest.raises(ClientError) as caught:
        ec2.authorize_security_group_ingress(GroupId=db, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "IpRanges": [{"CidrIp": "10.20.1.0/24"}]}])
    assert code_of(caught) == "InvalidPermission.Duplicate"

    revoked = ec2.revoke_security_group_ingress(GroupId=db, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "UserIdGroupPairs": [{"GroupId": app}]}])
    assert revoked["Return"] is True
    assert [(r["ReferencedGroupId"], r["FromPort"], r["IsEgress"]) for r in revoked["RevokedSecurityGroupRules"]] == [
        (app, 5432, False)]
    tcp = next(p for p in ec2.describe_security_groups(GroupIds=[db])["SecurityGroups"][0]["IpPermissions"]
               if p["IpProtocol"] == "tcp")
    assert tcp["UserIdGroupPairs"] == []
    with pytest.raises(ClientError) as caught:
        ec2.revoke_security_group_ingress(GroupId=db, IpPermissions=[
            {"IpProtocol": "udp", "FromPort": 53, "ToPort": 53, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    assert code_of(caught) == "InvalidPermission.NotFound"
    by_id = ec2.revoke_security_group_ingress(GroupId=db, SecurityGroupRuleIds=[
        r["SecurityGroupRuleId"] for r in rules if r["IpProtocol"] == "icmp"])
    assert [r["IpProtocol"] for r in by_id["RevokedSecurityGroupRules"]] == ["icmp"]


def test_egress_rules_and_the_older_top_level_members(world: tuple[Any, str]) -> None:
    ec2, vpc_id = world
    group = ec2.create_security_group(VpcId=vpc_id, GroupName="fn", Description="fn")["GroupId"]
    ec2.revoke_security_group_egress(GroupId=group, IpPermissions=[
        {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    ec2.authorize_security_group_egress(GroupId=group, IpPermissions=[
        {"IpProtocol": "udp", "FromPort": 53, "ToPort": 53, "IpRanges": [{"CidrIp": "10.20.0.2/32"}]}])
    ec2.authorize_security_group_ingress(GroupId=group, IpProtocol="tcp", FromPort=443, ToPort=443,
                                         CidrIp="192.0.2.0/24")
    described = ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"][0]
    assert [(p["IpProtocol"], p["FromPort"], p["IpRanges"][0]["CidrIp"]) for p in described["IpPermissionsEgress"]] \
        == [("udp", 53, "10.20.0.2/32")]
    assert [(p["IpProtocol"], p["ToPort"]) for p in described["IpPermissions"]] == [("tcp", 443)]


@pytest.mark.parametrize("permission", [
    {"IpProtocol": "gre", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
    {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 70000, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
    {"IpProtocol": "tcp", "FromPort": 90, "ToPort": 80, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
    {"IpProtocol": "tcp", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
    {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "300.0.0.0/8"}]},
    {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "Ipv6Ranges": [{"CidrIpv6": "::/0"}]},
])
def test_bad_permissions_are_invalid_parameter_value(world: tuple[Any, str], permission: dict[str, Any]) -> None:
    ec2, vpc_id = world
    group = ec2.create_security_group(VpcId=vpc_id, GroupName="g", Description="g")["GroupId"]
    with pytest.raises(ClientError) as caught:
        ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[permission])
    assert code_of(caught) == "InvalidParameterValue"
    assert ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"][0]["IpPermissions"] == []


def test_a_source_group_must_be_one_of_the_callers_in_the_same_vpc(endpoint: Endpoint, world: tuple[Any, str]) -> None:
    ec2, vpc_id = world
    group = ec2.create_security_group(VpcId=vpc_id, GroupName="g", Description="g")["GroupId"]
    other_vpc = ec2.create_vpc(CidrBlock="10.21.0.0/16")["Vpc"]["VpcId"]
    elsewhere = ec2.create_security_group(VpcId=other_vpc, GroupName="g", Description="g")["GroupId"]
    theirs = endpoint.client(OTHER)
    their_vpc = theirs.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    their_group = theirs.create_security_group(VpcId=their_vpc, GroupName="g", Description="g")["GroupId"]
    for source in (elsewhere, their_group, "sg-0123456789abcdef0"):
        with pytest.raises(ClientError) as caught:
            ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[
                {"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": source}]}])
        assert code_of(caught) == "InvalidGroup.NotFound", source
    # nor may the other account change, describe or delete this account's group
    for call, kwargs in ((theirs.authorize_security_group_ingress, {"GroupId": group, "IpPermissions": [
            {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]}),
            (theirs.describe_security_groups, {"GroupIds": [group]}),
            (theirs.delete_security_group, {"GroupId": group})):
        with pytest.raises(ClientError) as caught:
            call(**kwargs)
        assert code_of(caught) == "InvalidGroup.NotFound"


def test_a_referenced_group_cannot_be_deleted_until_the_reference_goes(world: tuple[Any, str]) -> None:
    ec2, vpc_id = world
    a = ec2.create_security_group(VpcId=vpc_id, GroupName="a", Description="a")["GroupId"]
    b = ec2.create_security_group(VpcId=vpc_id, GroupName="b", Description="b")["GroupId"]
    permission = {"IpProtocol": "tcp", "FromPort": 1, "ToPort": 2, "UserIdGroupPairs": [{"GroupId": a}]}
    ec2.authorize_security_group_ingress(GroupId=b, IpPermissions=[permission])
    with pytest.raises(ClientError) as caught:
        ec2.delete_security_group(GroupId=a)
    assert code_of(caught) == "DependencyViolation"
    with pytest.raises(ClientError) as caught:
        ec2.delete_vpc(VpcId=vpc_id)
    assert code_of(caught) == "DependencyViolation"
    ec2.revoke_security_group_ingress(GroupId=b, IpPermissions=[permission])
    deleted = ec2.delete_security_group(GroupId=a)
    assert (deleted["Return"], deleted["GroupId"]) == (True, a)
    ec2.delete_security_group(GroupId=b)
    ec2.delete_vpc(VpcId=vpc_id)
    assert ec2.describe_security_groups()["SecurityGroups"] == []


def test_a_group_name_without_a_vpc_is_refused_as_ec2_does_without_a_default_vpc(world: tuple[Any, str]) -> None:
    ec2, _ = world
    with pytest.raises(ClientError) as caught:
        ec2.create_security_group(GroupName="x", Description="x")
    assert code_of(caught) == "VPCIdNotSpecified"
    with pytest.raises(ClientError) as caught:
        ec2.delete_security_group(GroupName="default")
    assert code_of(caught) == "InvalidGroup.NotFound"


def test_rule_changes_reach_the_listener_once_committed(endpoint: Endpoint, world: tuple[Any, str]) -> None:
    ec2, vpc_id = world
    group = ec2.create_security_group(VpcId=vpc_id, GroupName="g", Description="g")["GroupId"]
    seen: list[VpcChange] = []
    unsubscribe = endpoint.vpc.subscribe(seen.append)
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}])
    with pytest.raises(ClientError):
        ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}])
    ec2.revoke_security_group_ingress(GroupId=group, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}])
    unsubscribe()
    ec2.authorize_security_group_egress(GroupId=group, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]}])
    assert seen == [VpcChange(ChangeKind.RULES_CHANGED, ACCOUNT, vpc_id, group)] * 2


def test_the_rules_quota_holds_per_direction(endpoint: Endpoint, world: tuple[Any, str]) -> None:
    ec2, vpc_id = world
    group = ec2.create_security_group(VpcId=vpc_id, GroupName="g", Description="g")["GroupId"]
    limit = endpoint.vpc.quotas.rules_per_group
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 1, "ToPort": 1, "IpRanges": [{"CidrIp": f"10.0.{i}.0/24"} for i in range(limit)]}])
    with pytest.raises(ClientError) as caught:
        ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 2, "ToPort": 2, "IpRanges": [{"CidrIp": "10.1.0.0/24"}]}])
    assert code_of(caught) == "RulesPerSecurityGroupLimitExceeded"
