"""boto3's ec2 waiters that tools use around these calls finish on the first poll."""

from __future__ import annotations

from ec2_wire import Endpoint

ONCE = {"Delay": 1, "MaxAttempts": 1}


def test_waiters_for_vpcs_subnets_groups_and_nat_gateways_succeed_at_once(endpoint: Endpoint) -> None:
    ec2 = endpoint.client()
    vpc_id = ec2.create_vpc(CidrBlock="10.50.0.0/16")["Vpc"]["VpcId"]
    ec2.get_waiter("vpc_exists").wait(VpcIds=[vpc_id], WaiterConfig=ONCE)
    ec2.get_waiter("vpc_available").wait(VpcIds=[vpc_id], WaiterConfig=ONCE)
    subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.50.1.0/24")["Subnet"]["SubnetId"]
    ec2.get_waiter("subnet_available").wait(SubnetIds=[subnet_id], WaiterConfig=ONCE)
    group_id = ec2.create_security_group(VpcId=vpc_id, GroupName="g", Description="g")["GroupId"]
    ec2.get_waiter("security_group_exists").wait(GroupIds=[group_id], WaiterConfig=ONCE)
    nat_id = ec2.create_nat_gateway(SubnetId=subnet_id)["NatGateway"]["NatGatewayId"]
    ec2.get_waiter("nat_gateway_available").wait(NatGatewayIds=[nat_id], WaiterConfig=ONCE)
    ec2.delete_nat_gateway(NatGatewayId=nat_id)
    ec2.get_waiter("nat_gateway_deleted").wait(NatGatewayIds=[nat_id], WaiterConfig=ONCE)
    assert ec2.describe_nat_gateways()["NatGateways"] == []
