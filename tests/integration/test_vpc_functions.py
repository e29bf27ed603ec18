"""Functions in a VPC, the control plane (issue 11, part 3): VpcConfig on CreateFunction and
UpdateFunctionConfiguration against the real server's VPC model (boto3's ec2 client), Lambda's
exact refusals, Pending -> Active, VpcId reported, removal, versions, DependencyViolation on the
subnets and groups a function uses, and an invoke on a server without its network.

The data plane (addresses, security groups, NAT, endpoints, exhaustion) is
tests/integration/network/test_vpc_functions_network.py.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from harness import ROLE, ROLE_TRUST, Server, create_function, invoke_json, unique, zip_of

APP = {"app.py": "def handler(event, context):\n    return {'ok': True}\n"}
VPC_ACCESS = "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"


def vpc_role(server: Server) -> str:
    """An execution role with AWSLambdaVPCAccessExecutionRole (made once per server)."""
    iam = server.client("iam")
    try:
        arn: str = iam.create_role(RoleName="vpc-role", AssumeRolePolicyDocument=ROLE_TRUST)["Role"]["Arn"]
        iam.attach_role_policy(RoleName="vpc-role", PolicyArn=VPC_ACCESS)
    except iam.exceptions.EntityAlreadyExistsException:
        arn = iam.get_role(RoleName="vpc-role")["Role"]["Arn"]
    return arn


class Net:
    """A VPC with two subnets and a group, made through the EC2 API; deleted afterwards."""

    def __init__(self, server: Server, cidr: str = "10.91.0.0/16") -> None:
        self.ec2 = server.client("ec2")
        base = cidr.rsplit(".", 2)[0]
        self.vpc = self.ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
        self.subnets = [self.ec2.create_subnet(VpcId=self.vpc, CidrBlock=f"{base}.{i}.0/24")["Subnet"]["SubnetId"]
                        for i in (1, 2)]
        self.group = self.ec2.create_security_group(VpcId=self.vpc, GroupName=unique("fngroup"),
                                                    Description="functions")["GroupId"]

    def config(self) -> dict[str, Any]:
        return {"SubnetIds": list(self.subnets), "SecurityGroupIds": [self.group]}

    def delete(self) -> None:
        self.ec2.delete_security_group(GroupId=self.group)
        for s in self.subnets:
            self.ec2.delete_subnet(SubnetId=s)
        self.ec2.delete_vpc(VpcId=self.vpc)


@pytest.fixture
def net(server: Server) -> Iterator[Net]:
    made = Net(server)
    try:
        yield made
    finally:
        lam = server.client()
        # every page: the session's server holds the functions of every test module
        for page in lam.get_paginator("list_functions").paginate(FunctionVersion="ALL"):
            for fn in page["Functions"]:
                if fn.get("VpcConfig", {}).get("VpcId") == made.vpc and fn["Version"] == "$LATEST":
                    lam.delete_function(FunctionName=fn["FunctionName"])
        made.delete()


def _refusal(call: Any, **kwargs: Any) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    r = caught.value.response
    return r["Error"]["Code"], r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Message"]


def _create_args(role: str, vpc: dict[str, Any]) -> dict[str, Any]:
    return dict(FunctionName=unique(), Runtime="python3.11", Role=role, Handler="app.handler",
                Code={"ZipFile": zip_of(APP)}, VpcConfig=vpc)


def test_create_goes_pending_then_active_and_reports_the_vpc(server: Server, net: Net) -> None:
    lam = server.client()
    out = lam.create_function(**_create_args(vpc_role(server), net.config()))
    assert (out["State"], out["StateReason"], out["StateReasonCode"]) == ("Pending", "The function is being created.",
                                                                         "Creating")
    assert out["VpcConfig"] == {"SubnetIds": net.subnets, "SecurityGroupIds": [net.group], "VpcId": net.vpc,
                                "Ipv6AllowedForDualStack": False}
    name = out["FunctionName"]
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 100})
    got = lam.get_function_configuration(FunctionName=name)
    assert got["State"] == "Active" and "StateReasonCode" not in got
    assert got["VpcConfig"]["VpcId"] == net.vpc
    listed = [f for page in lam.get_paginator("list_functions").paginate() for f in page["Functions"]
              if f["FunctionName"] == name]
    assert listed[0]["VpcConfig"]["SubnetIds"] == net.subnets


def test_the_empty_config_removes_it_and_versions_keep_theirs(server: Server, net: Net) -> None:
    lam = server.client()
    args = _create_args(vpc_role(server), net.config())
    lam.create_function(**args, Publish=True)
    name = args["FunctionName"]
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 100})
    out = lam.update_function_configuration(FunctionName=name, VpcConfig={"SubnetIds": [], "SecurityGroupIds": []})
    assert out["LastUpdateStatus"] == "InProgress"
    assert out["VpcConfig"] == {"SubnetIds": [], "SecurityGroupIds": [], "VpcId": "", "Ipv6AllowedForDualStack": False}
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 100})
    assert lam.get_function_configuration(FunctionName=name, Qualifier="1")["VpcConfig"]["VpcId"] == net.vpc
    assert lam.get_function_configuration(FunctionName=name)["VpcConfig"]["VpcId"] == ""
    # back in, by an update: InProgress until its network is prepared, then Successful
    out = lam.update_function_configuration(FunctionName=name, VpcConfig=net.config())
    assert (out["LastUpdateStatus"], out["VpcConfig"]["VpcId"]) == ("InProgress", net.vpc)
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 100})
    assert lam.get_function_configuration(FunctionName=name)["LastUpdateStatus"] == "Successful"


def test_a_function_without_vpcconfig_reports_none(lam: Any) -> None:
    name = create_function(lam, APP)
    assert "VpcConfig" not in lam.get_function_configuration(FunctionName=name)


def test_unknown_subnets_and_groups_are_named_as_lambda_names_them(server: Server, net: Net) -> None:
    lam, role = server.client(), vpc_role(server)
    ghost_subnet, ghost_group = "subnet-0000000000000dead", "sg-0000000000000beef"
    assert _refusal(lam.create_function, **_create_args(role, {"SubnetIds": [ghost_subnet],
                                                                "SecurityGroupIds": [net.group]})) == (
        "InvalidParameterValueException", 400,
        f"Error occurred while DescribeSubnets. EC2 Error Code: InvalidSubnetID.NotFound. "
        f"EC2 Error Message: The subnet ID '{ghost_subnet}' does not exist")
    assert _refusal(lam.create_function, **_create_args(role, {"SubnetIds": net.subnets,
                                                                "SecurityGroupIds": [ghost_group]})) == (
        "InvalidParameterValueException", 400,
        f"Error occurred while DescribeSecurityGroups. EC2 Error Code: InvalidGroup.NotFound. "
        f"EC2 Error Message: The security group '{ghost_group}' does not exist")
    assert _refusal(lam.create_function, **_create_args(role, {"SubnetIds": net.subnets, "SecurityGroupIds": []})) == (
        "InvalidParameterValueException", 400, "SubnetIds and SecurityIds must coexist or be both empty list.")


def test_subnets_and_groups_of_two_vpcs_are_refused(server: Server, net: Net) -> None:
    other = Net(server, "10.92.0.0/16")
    try:
        lam = server.client()
        mixed = {"SubnetIds": [net.subnets[0], other.subnets[0]], "SecurityGroupIds": [net.group]}
        assert _refusal(lam.create_function, **_create_args(vpc_role(server), mixed)) == (
            "InvalidParameterValueException", 400, "Security Groups are required to be in the same VPC.")
    finally:
        other.delete()


def test_more_than_16_subnets_or_5_groups_break_the_models_constraint(server: Server, net: Net) -> None:
    lam = server.client(parameter_validation=False)
    many = {"SubnetIds": [f"subnet-{i:017x}" for i in range(17)], "SecurityGroupIds": [net.group]}
    code, status, message = _refusal(lam.create_function, **_create_args(vpc_role(server), many))
    assert (code, status) == ("ValidationException", 400)
    assert "at 'vpcConfig.subnetIds' failed to satisfy constraint: Member must have length less than or equal to 16" \
        in message
    groups = {"SubnetIds": net.subnets, "SecurityGroupIds": [f"sg-{i:017x}" for i in range(6)]}
    code, status, message = _refusal(lam.create_function, **_create_args(vpc_role(server), groups))
    assert (code, status) == ("ValidationException", 400)
    assert "at 'vpcConfig.securityGroupIds' failed to satisfy constraint: Member must have length less than or " \
           "equal to 5" in message


def test_a_role_that_cannot_manage_interfaces_is_refused(server: Server, net: Net) -> None:
    lam = server.client()
    assert _refusal(lam.create_function, **_create_args(ROLE, net.config())) == (
        "InvalidParameterValueException", 400,
        "The provided execution role does not have permissions to call CreateNetworkInterface on EC2")
    # a role allowed to create but not to describe them: named as AWS names the next one
    iam = server.client("iam")
    half = unique("half")
    arn = iam.create_role(RoleName=half, AssumeRolePolicyDocument=ROLE_TRUST)["Role"]["Arn"]
    iam.put_role_policy(RoleName=half, PolicyName="create-only", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ec2:CreateNetworkInterface",
                                                "Resource": "*"}]}))
    assert _refusal(lam.create_function, **_create_args(arn, net.config()))[2] == (
        "The provided execution role does not have permissions to call DescribeNetworkInterfaces on EC2")
    # UpdateFunctionConfiguration: into a VPC with a role that cannot, or to such a role while in one
    plain = create_function(lam, APP)
    assert _refusal(lam.update_function_configuration, FunctionName=plain, VpcConfig=net.config())[2] == (
        "The provided execution role does not have permissions to call CreateNetworkInterface on EC2")
    args = _create_args(vpc_role(server), net.config())
    lam.create_function(**args)
    lam.get_waiter("function_active_v2").wait(FunctionName=args["FunctionName"],
                                              WaiterConfig={"Delay": 0.1, "MaxAttempts": 100})
    assert _refusal(lam.update_function_configuration, FunctionName=args["FunctionName"], Role=ROLE)[2] == (
        "The provided execution role does not have permissions to call CreateNetworkInterface on EC2")
    # a role without them is fine for a function that leaves its VPC at the same time
    lam.update_function_configuration(FunctionName=args["FunctionName"], Role=ROLE,
                                      VpcConfig={"SubnetIds": [], "SecurityGroupIds": []})


def test_subnets_and_groups_in_use_by_a_function_cannot_be_deleted(server: Server) -> None:
    lam, made = server.client(), Net(server, "10.93.0.0/16")
    args = _create_args(vpc_role(server), {"SubnetIds": [made.subnets[0]], "SecurityGroupIds": [made.group]})
    lam.create_function(**args)
    assert _refusal(made.ec2.delete_subnet, SubnetId=made.subnets[0]) == (
        "DependencyViolation", 400, f"The subnet '{made.subnets[0]}' has dependencies and cannot be deleted.")
    assert _refusal(made.ec2.delete_security_group, GroupId=made.group) == (
        "DependencyViolation", 400, f"resource {made.group} has a dependent object")
    lam.delete_function(FunctionName=args["FunctionName"])
    made.delete()  # free once the function (and its versions) are gone


def test_without_the_network_an_invoke_fails_as_lambda_fails_and_others_keep_working(fresh_server: Any) -> None:
    # the VPC network is on by default: an operator turns it off
    server: Server = fresh_server(LAMBENT_VPC_NETWORK_ENABLED="0")
    net = Net(server)
    lam = server.client()
    args = _create_args(vpc_role(server), net.config())
    lam.create_function(**args)
    name = args["FunctionName"]
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 100})
    code, status, message = _refusal(lam.invoke, FunctionName=name, Payload=b"{}")
    assert (code, status) == ("EC2UnexpectedException", 502)
    assert "LAMBENT_VPC_NETWORK_ENABLED" in message
    plain = create_function(lam, APP)
    resp, body = invoke_json(lam, plain)
    assert (resp["StatusCode"], body) == (200, {"ok": True})


def test_the_vpc_network_is_on_by_default(server: Server, net: Net) -> None:
    """A server started without any VPC setting serves VPC functions: the invoke runs in the
    subnet (its interface shows in DescribeNetworkInterfaces while the environment lives)."""
    lam = server.client()
    args = _create_args(vpc_role(server), net.config())
    lam.create_function(**args)
    name = args["FunctionName"]
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 100})
    resp, body = invoke_json(lam, name)
    assert (resp["StatusCode"], body) == (200, {"ok": True})
    enis = net.ec2.describe_network_interfaces(Filters=[{"Name": "vpc-id", "Values": [net.vpc]}])["NetworkInterfaces"]
    assert [e["InterfaceType"] for e in enis] == ["lambda"] and enis[0]["SubnetId"] in net.subnets
    lam.delete_function(FunctionName=name)
    deadline = time.monotonic() + 15  # the environment ends with its function and gives its address back
    while net.ec2.describe_network_interfaces(Filters=[{"Name": "vpc-id", "Values": [net.vpc]}])["NetworkInterfaces"]:
        assert time.monotonic() < deadline, "the interface outlived its function by 15 s"
        time.sleep(0.1)
