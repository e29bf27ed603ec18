"""NAT gateways, VPC endpoints and network interfaces (leases) through botocore's ec2 client."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError
from ec2_wire import ACCOUNT, OTHER, Endpoint

from lambent.vpc import errors as ve


def code_of(caught: pytest.ExceptionInfo[ClientError]) -> str:
    return str(caught.value.response["Error"]["Code"])


@pytest.fixture
def net(endpoint: Endpoint) -> tuple[Any, str, str]:
    ec2 = endpoint.client()
    vpc_id = ec2.create_vpc(CidrBlock="10.30.0.0/16")["Vpc"]["VpcId"]
    subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.30.1.0/28")["Subnet"]["SubnetId"]
    return ec2, vpc_id, subnet_id


def test_a_nat_gateway_takes_an_address_of_its_subnet_until_deleted(endpoint: Endpoint, net: tuple[Any, str, str]) -> None:
    ec2, vpc_id, subnet_id = net
    nat = ec2.create_nat_gateway(SubnetId=subnet_id, TagSpecifications=[
        {"ResourceType": "natgateway", "Tags": [{"Key": "k", "Value": "v"}]}])["NatGateway"]
    assert nat["NatGatewayId"].startswith("nat-") and nat["State"] == "available" and nat["VpcId"] == vpc_id
    address = nat["NatGatewayAddresses"][0]
    assert address["PrivateIp"] == "10.30.1.4"  # the first address after the four reserved ones
    assert endpoint.vpc.has_nat_gateway(vpc_id)
    assert ec2.describe_subnets(SubnetIds=[subnet_id])["Subnets"][0]["AvailableIpAddressCount"] == 10
    enis = ec2.describe_network_interfaces()["NetworkInterfaces"]
    assert [(e["NetworkInterfaceId"], e["InterfaceType"]) for e in enis] == [(address["NetworkInterfaceId"],
                                                                               "nat_gateway")]
    found = ec2.describe_nat_gateways(Filter=[{"Name": "vpc-id", "Values": [vpc_id]}])["NatGateways"]
    assert [n["NatGatewayId"] for n in found] == [nat["NatGatewayId"]]
    with pytest.raises(ClientError) as caught:
        ec2.delete_subnet(SubnetId=subnet_id)
    assert code_of(caught) == "DependencyViolation"

    assert ec2.delete_nat_gateway(NatGatewayId=nat["NatGatewayId"])["NatGatewayId"] == nat["NatGatewayId"]
    assert not endpoint.vpc.has_nat_gateway(vpc_id)
    assert ec2.describe_network_interfaces()["NetworkInterfaces"] == []
    with pytest.raises(ClientError) as caught:
        ec2.delete_nat_gateway(NatGatewayId=nat["NatGatewayId"])
    assert code_of(caught) == "NatGatewayNotFound"
    ec2.delete_subnet(SubnetId=subnet_id)


def test_a_vpc_endpoint_for_lambents_api(endpoint: Endpoint, net: tuple[Any, str, str]) -> None:
    ec2, vpc_id, subnet_id = net
    made = ec2.create_vpc_endpoint(VpcId=vpc_id, ServiceName="com.amazonaws.us-east-1.lambda",
                                   VpcEndpointType="Interface", SubnetIds=[subnet_id])["VpcEndpoint"]
    assert made["VpcEndpointId"].startswith("vpce-") and made["State"] == "available"
    assert made["SubnetIds"] == [subnet_id] and len(made["NetworkInterfaceIds"]) == 1
    assert [g["GroupName"] for g in made["Groups"]] == ["default"]
    listed = ec2.describe_vpc_endpoints(Filters=[{"Name": "service-name",
                                                  "Values": ["com.amazonaws.us-east-1.lambda"]}])["VpcEndpoints"]
    assert [x["VpcEndpointId"] for x in listed] == [made["VpcEndpointId"]]
    with pytest.raises(ClientError) as caught:
        ec2.delete_vpc(VpcId=vpc_id)
    assert code_of(caught) == "DependencyViolation"

    for service in ("com.amazonaws.us-east-1.s3", "com.amazonaws.eu-west-1.lambda", "evil"):
        with pytest.raises(ClientError) as caught:
            ec2.create_vpc_endpoint(VpcId=vpc_id, ServiceName=service)
        assert code_of(caught) == "InvalidServiceName", service

    answer = ec2.delete_vpc_endpoints(VpcEndpointIds=[made["VpcEndpointId"], "vpce-0123456789abcdef0"])
    assert [u["ResourceId"] for u in answer["Unsuccessful"]] == ["vpce-0123456789abcdef0"]
    assert answer["Unsuccessful"][0]["Error"]["Code"] == "InvalidVpcEndpointId.NotFound"
    assert ec2.describe_vpc_endpoints()["VpcEndpoints"] == []
    assert ec2.describe_network_interfaces()["NetworkInterfaces"] == []


def test_leases_count_down_available_addresses_and_show_as_lambda_interfaces(
        endpoint: Endpoint, net: tuple[Any, str, str]) -> None:
    ec2, vpc_id, subnet_id = net
    group = ec2.describe_security_groups()["SecurityGroups"][0]["GroupId"]
    leases = [endpoint.vpc.lease_address(subnet_id, description="AWS Lambda VPC ENI-fn", group_ids=[group])
              for _ in range(11)]
    assert [str(x.address) for x in leases] == [f"10.30.1.{i}" for i in range(4, 15)]
    assert ec2.describe_subnets(SubnetIds=[subnet_id])["Subnets"][0]["AvailableIpAddressCount"] == 0
    with pytest.raises(ve.InsufficientFreeAddresses) as full:
        endpoint.vpc.lease_address(subnet_id)
    assert subnet_id in full.value.message
    enis = ec2.describe_network_interfaces(Filters=[{"Name": "group-id", "Values": [group]}])["NetworkInterfaces"]
    assert len(enis) == 11 and {e["InterfaceType"] for e in enis} == {"lambda"}
    assert enis[0]["Groups"] == [{"GroupId": group, "GroupName": "default"}] and enis[0]["OwnerId"] == ACCOUNT
    with pytest.raises(ClientError) as caught:
        ec2.delete_subnet(SubnetId=subnet_id)
    assert code_of(caught) == "DependencyViolation"
    assert endpoint.client(OTHER).describe_network_interfaces()["NetworkInterfaces"] == []

    assert endpoint.vpc.release_address(leases[3].interface_id) is True
    assert endpoint.vpc.release_address(leases[3].interface_id) is False
    assert str(endpoint.vpc.lease_address(subnet_id).address) == "10.30.1.7"  # the freed one is reused
    for lease in leases:
        endpoint.vpc.release_address(lease.interface_id)
    assert ec2.describe_subnets(SubnetIds=[subnet_id])["Subnets"][0]["AvailableIpAddressCount"] == 10


def test_a_client_token_makes_a_retried_create_return_the_first_result(endpoint: Endpoint, net: tuple[Any, str, str]) -> None:
    ec2, vpc_id, subnet_id = net
    first = ec2.create_nat_gateway(SubnetId=subnet_id, ClientToken="retry-1")
    again = ec2.create_nat_gateway(SubnetId=subnet_id, ClientToken="retry-1")
    assert again["NatGateway"]["NatGatewayId"] == first["NatGateway"]["NatGatewayId"]
    assert first["ClientToken"] == "retry-1" and len(ec2.describe_nat_gateways()["NatGateways"]) == 1
    other = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.30.2.0/28")["Subnet"]["SubnetId"]
    with pytest.raises(ClientError) as caught:
        ec2.create_nat_gateway(SubnetId=other, ClientToken="retry-1")
    assert code_of(caught) == "IdempotentParameterMismatch"
    endpoint_a = ec2.create_vpc_endpoint(VpcId=vpc_id, ServiceName="com.amazonaws.us-east-1.sts", ClientToken="e-1")
    endpoint_b = ec2.create_vpc_endpoint(VpcId=vpc_id, ServiceName="com.amazonaws.us-east-1.sts", ClientToken="e-1")
    assert endpoint_a["VpcEndpoint"]["VpcEndpointId"] == endpoint_b["VpcEndpoint"]["VpcEndpointId"]
    # a token is the caller's own: another account's same token creates its own gateway
    theirs = endpoint.client(OTHER)
    their_vpc = theirs.create_vpc(CidrBlock="10.30.0.0/16")["Vpc"]["VpcId"]
    their_subnet = theirs.create_subnet(VpcId=their_vpc, CidrBlock="10.30.1.0/28")["Subnet"]["SubnetId"]
    theirs_nat = theirs.create_nat_gateway(SubnetId=their_subnet, ClientToken="retry-1")["NatGateway"]
    assert theirs_nat["NatGatewayId"] != first["NatGateway"]["NatGatewayId"]
