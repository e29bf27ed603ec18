"""CreateVpc/DescribeVpcs/DeleteVpc and the subnet calls through botocore's ec2 client and the
protocol layer's request path (serializer -> Dispatcher -> handler -> XML -> botocore's parser)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from botocore.exceptions import ClientError
from ec2_wire import ACCOUNT, OTHER, Endpoint


def code_of(caught: pytest.ExceptionInfo[ClientError]) -> str:
    return str(caught.value.response["Error"]["Code"])


def test_a_vpc_is_created_described_and_deleted(endpoint: Endpoint) -> None:
    ec2 = endpoint.client()
    vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16", TagSpecifications=[
        {"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": "main"}]}])["Vpc"]
    assert re.fullmatch(r"vpc-[0-9a-f]{17}", vpc["VpcId"])
    assert vpc["CidrBlock"] == "10.1.0.0/16" and vpc["State"] == "available" and vpc["OwnerId"] == ACCOUNT
    assert vpc["IsDefault"] is False and vpc["Tags"] == [{"Key": "Name", "Value": "main"}]
    assert vpc["CidrBlockAssociationSet"][0]["CidrBlockState"]["State"] == "associated"

    described = ec2.describe_vpcs(VpcIds=[vpc["VpcId"]])["Vpcs"]
    assert [v["VpcId"] for v in described] == [vpc["VpcId"]]

    ec2.delete_vpc(VpcId=vpc["VpcId"])
    assert ec2.describe_vpcs()["Vpcs"] == []
    with pytest.raises(ClientError) as caught:
        ec2.describe_vpcs(VpcIds=[vpc["VpcId"]])
    assert code_of(caught) == "InvalidVpcID.NotFound"
    assert vpc["VpcId"] in caught.value.response["Error"]["Message"]


@pytest.mark.parametrize("block", ["10.0.0.0/15", "10.0.0.0/29", "10.0.0.0/8"])
def test_a_vpc_block_outside_16_to_28_is_invalid_vpc_range(endpoint: Endpoint, block: str) -> None:
    with pytest.raises(ClientError) as caught:
        endpoint.client().create_vpc(CidrBlock=block)
    assert code_of(caught) == "InvalidVpc.Range"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


@pytest.mark.parametrize("block", ["10.0.0.1/16", "not-a-cidr", "fd00::/48", "10.0.0.0"])
def test_a_malformed_block_is_invalid_parameter_value(endpoint: Endpoint, block: str) -> None:
    with pytest.raises(ClientError) as caught:
        endpoint.client().create_vpc(CidrBlock=block)
    assert code_of(caught) == "InvalidParameterValue"


def test_each_vpc_has_a_default_group_allowing_all_egress_and_its_own_members(endpoint: Endpoint) -> None:
    ec2 = endpoint.client()
    vpc_id = ec2.create_vpc(CidrBlock="10.2.0.0/16")["Vpc"]["VpcId"]
    groups = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["SecurityGroups"]
    assert [g["GroupName"] for g in groups] == ["default"]
    group = groups[0]
    assert group["IpPermissionsEgress"] == [
        {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}], "Ipv6Ranges": [], "PrefixListIds": [],
         "UserIdGroupPairs": []}]
    assert group["IpPermissions"][0]["UserIdGroupPairs"] == [{"GroupId": group["GroupId"], "UserId": ACCOUNT}]
    with pytest.raises(ClientError) as caught:
        ec2.delete_security_group(GroupId=group["GroupId"])
    assert code_of(caught) == "CannotDelete"


def test_subnets_lie_inside_their_vpc_and_apart(endpoint: Endpoint) -> None:
    ec2 = endpoint.client()
    vpc_id = ec2.create_vpc(CidrBlock="10.3.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.3.1.0/24", AvailabilityZone="us-east-1b")["Subnet"]
    assert re.fullmatch(r"subnet-[0-9a-f]{17}", subnet["SubnetId"])
    assert subnet["AvailableIpAddressCount"] == 256 - 5
    assert subnet["AvailabilityZone"] == "us-east-1b" and subnet["VpcId"] == vpc_id
    assert subnet["SubnetArn"] == f"arn:aws:ec2:us-east-1:{ACCOUNT}:subnet/{subnet['SubnetId']}"

    for block, code in (("10.4.0.0/24", "InvalidSubnet.Range"), ("10.2.0.0/15", "InvalidSubnet.Range"),
                        ("10.3.0.0/29", "InvalidSubnet.Range"), ("10.3.1.128/25", "InvalidSubnet.Conflict"),
                        ("10.3.0.0/16", "InvalidSubnet.Conflict")):
        with pytest.raises(ClientError) as caught:
            ec2.create_subnet(VpcId=vpc_id, CidrBlock=block)
        assert code_of(caught) == code, block

    small = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.3.2.0/28")["Subnet"]
    assert small["AvailableIpAddressCount"] == 11 and small["AvailabilityZone"] == "us-east-1a"


def test_a_vpc_with_subnets_cannot_be_deleted(endpoint: Endpoint) -> None:
    ec2 = endpoint.client()
    vpc_id = ec2.create_vpc(CidrBlock="10.5.0.0/16")["Vpc"]["VpcId"]
    subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.5.0.0/24")["Subnet"]["SubnetId"]
    with pytest.raises(ClientError) as caught:
        ec2.delete_vpc(VpcId=vpc_id)
    assert code_of(caught) == "DependencyViolation"
    ec2.delete_subnet(SubnetId=subnet_id)
    ec2.delete_vpc(VpcId=vpc_id)
    with pytest.raises(ClientError) as caught:
        ec2.delete_subnet(SubnetId=subnet_id)
    assert code_of(caught) == "InvalidSubnetID.NotFound"


def test_unknown_and_malformed_ids(endpoint: Endpoint) -> None:
    ec2 = endpoint.client()
    for call, kwargs, code in (
        (ec2.delete_vpc, {"VpcId": "vpc-0123456789abcdef0"}, "InvalidVpcID.NotFound"),
        (ec2.delete_vpc, {"VpcId": "vpc-XYZ"}, "InvalidVpcID.Malformed"),
        (ec2.create_subnet, {"VpcId": "vpc-0123456789abcdef0", "CidrBlock": "10.0.0.0/24"}, "InvalidVpcID.NotFound"),
        (ec2.describe_subnets, {"SubnetIds": ["subnet-0123456789abcdef0"]}, "InvalidSubnetID.NotFound"),
        (ec2.describe_subnets, {"SubnetIds": ["sg-0123456789abcdef0"]}, "InvalidSubnetID.Malformed"),
    ):
        with pytest.raises(ClientError) as caught:
            call(**kwargs)
        assert code_of(caught) == code, kwargs


def test_another_accounts_vpcs_are_invisible_and_untouchable(endpoint: Endpoint) -> None:
    mine, theirs = endpoint.client(ACCOUNT), endpoint.client(OTHER)
    vpc_id = mine.create_vpc(CidrBlock="10.6.0.0/16")["Vpc"]["VpcId"]
    subnet_id = mine.create_subnet(VpcId=vpc_id, CidrBlock="10.6.0.0/24")["Subnet"]["SubnetId"]
    assert theirs.describe_vpcs()["Vpcs"] == [] and theirs.describe_subnets()["Subnets"] == []
    assert theirs.describe_security_groups()["SecurityGroups"] == []
    attempts: list[tuple[Any, dict[str, Any], str]] = [
        (theirs.describe_vpcs, {"VpcIds": [vpc_id]}, "InvalidVpcID.NotFound"),
        (theirs.delete_vpc, {"VpcId": vpc_id}, "InvalidVpcID.NotFound"),
        (theirs.create_subnet, {"VpcId": vpc_id, "CidrBlock": "10.6.1.0/24"}, "InvalidVpcID.NotFound"),
        (theirs.delete_subnet, {"SubnetId": subnet_id}, "InvalidSubnetID.NotFound"),
        (theirs.create_security_group, {"VpcId": vpc_id, "GroupName": "x", "Description": "x"},
         "InvalidVpcID.NotFound"),
        (theirs.create_nat_gateway, {"SubnetId": subnet_id}, "InvalidSubnetID.NotFound"),
    ]
    for call, kwargs, code in attempts:
        with pytest.raises(ClientError) as caught:
            call(**kwargs)
        assert code_of(caught) == code, kwargs
    # the other account's own VPC may reuse the same block
    assert theirs.create_vpc(CidrBlock="10.6.0.0/16")["Vpc"]["OwnerId"] == OTHER
    assert [v["VpcId"] for v in mine.describe_vpcs()["Vpcs"]] == [vpc_id]


def test_filters_as_ec2_applies_them(endpoint: Endpoint) -> None:
    ec2 = endpoint.client()
    a = ec2.create_vpc(CidrBlock="10.7.0.0/16", TagSpecifications=[
        {"ResourceType": "vpc", "Tags": [{"Key": "env", "Value": "prod"}]}])["Vpc"]["VpcId"]
    b = ec2.create_vpc(CidrBlock="10.8.0.0/16", TagSpecifications=[
        {"ResourceType": "vpc", "Tags": [{"Key": "env", "Value": "dev"}]}])["Vpc"]["VpcId"]
    sa = ec2.create_subnet(VpcId=a, CidrBlock="10.7.1.0/24")["Subnet"]["SubnetId"]
    ec2.create_subnet(VpcId=b, CidrBlock="10.8.1.0/24")

    def vpcs(*filters: dict[str, Any]) -> list[str]:
        return sorted(v["VpcId"] for v in ec2.describe_vpcs(Filters=list(filters))["Vpcs"])

    assert vpcs({"Name": "tag:env", "Values": ["prod"]}) == [a]
    assert vpcs({"Name": "tag:env", "Values": ["prod", "dev"]}) == sorted([a, b])
    assert vpcs({"Name": "cidr", "Values": ["10.8.*"]}) == [b]
    assert vpcs({"Name": "tag:env", "Values": ["prod"]}, {"Name": "cidr", "Values": ["10.8.0.0/16"]}) == []
    assert vpcs({"Name": "tag-key", "Values": ["env"]}) == sorted([a, b])
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [a]}])["Subnets"]
    assert [s["SubnetId"] for s in subnets] == [sa]
    with pytest.raises(ClientError) as caught:
        ec2.describe_vpcs(Filters=[{"Name": "no-such-filter", "Values": ["x"]}])
    assert code_of(caught) == "InvalidParameterValue"


def test_describe_pages_with_max_results_and_next_token(endpoint: Endpoint) -> None:
    ec2 = endpoint.client()
    vpc_id = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    made = {ec2.create_subnet(VpcId=vpc_id, CidrBlock=f"10.9.{i}.0/24")["Subnet"]["SubnetId"] for i in range(7)}
    seen: list[str] = []
    for page in ec2.get_paginator("describe_subnets").paginate(PaginationConfig={"PageSize": 5}):
        assert len(page["Subnets"]) <= 5
        seen.extend(s["SubnetId"] for s in page["Subnets"])
    assert sorted(seen) == sorted(made)
    with pytest.raises(ClientError) as caught:
        ec2.describe_subnets(NextToken="%%%not-a-token", MaxResults=5)
    assert code_of(caught) == "InvalidPaginationToken"


def test_dry_run_answers_dry_run_operation_and_changes_nothing(endpoint: Endpoint) -> None:
    ec2 = endpoint.client()
    with pytest.raises(ClientError) as caught:
        ec2.create_vpc(CidrBlock="10.10.0.0/16", DryRun=True)
    assert code_of(caught) == "DryRunOperation"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    assert ec2.describe_vpcs()["Vpcs"] == []


def test_members_lambent_does_not_act_on_are_refused_by_name(endpoint: Endpoint) -> None:
    ec2 = endpoint.client()
    with pytest.raises(ClientError) as caught:
        ec2.create_vpc(CidrBlock="10.11.0.0/16", AmazonProvidedIpv6CidrBlock=True)
    assert code_of(caught) == "InvalidParameterValue"
    assert "AmazonProvidedIpv6CidrBlock" in caught.value.response["Error"]["Message"]
    assert ec2.describe_vpcs()["Vpcs"] == []


def test_the_vpc_quota_holds(endpoint: Endpoint) -> None:
    ec2 = endpoint.client()
    for i in range(endpoint.vpc.quotas.vpcs_per_account):
        ec2.create_vpc(CidrBlock=f"10.{20 + i}.0.0/16")
    with pytest.raises(ClientError) as caught:
        ec2.create_vpc(CidrBlock="10.99.0.0/16")
    assert code_of(caught) == "VpcLimitExceeded"
    # another account's quota is its own
    assert endpoint.client(OTHER).create_vpc(CidrBlock="10.99.0.0/16")["Vpc"]["OwnerId"] == OTHER


def test_values_xml_cannot_carry_are_refused_so_no_answer_becomes_unparsable(endpoint: Endpoint) -> None:
    """Given a caller sending control characters in a tag, an id, a filter or a CIDR, when the call
    is answered, then the answer still parses (the refusal quotes them as ``?``) and nothing is stored
    that would break a later Describe of the account."""
    ec2 = endpoint.client()
    with pytest.raises(ClientError) as caught:
        ec2.create_vpc(CidrBlock="10.0.0.0/16", TagSpecifications=[
            {"ResourceType": "vpc", "Tags": [{"Key": "a", "Value": "x\x01y"}]}])
    assert code_of(caught) == "InvalidParameterValue"
    for call, kwargs in ((ec2.delete_vpc, {"VpcId": "vpc-\x01\x02"}),
                         (ec2.create_vpc, {"CidrBlock": "10.\x0b.0.0/16"}),
                         (ec2.describe_vpcs, {"Filters": [{"Name": "\x07", "Values": ["x"]}]})):
        with pytest.raises(ClientError) as caught:
            call(**kwargs)
        assert "\x01" not in caught.value.response["Error"]["Message"]
    assert ec2.describe_vpcs()["Vpcs"] == []
