"""Functions in a VPC end to end (issue 11, part 3): a real server with its network on, real
sandboxes, real packets between namespaces of this machine (lambent's VPC data plane:
lambent/network/vpc/). A VPC function reaches a "private database" (a TCP server in a namespace
attached to a subnet with ``lambent vpc attach``) only when its security group allows the port;
the public host (203.0.113.1) only with a NAT gateway; lambent's API (boto3 inside the function
lists functions) only with an endpoint or a NAT gateway; functions in different groups are kept
apart and ingress rules decide whether one reaches the other; a /28 subnet (16 - 5 reserved = 11
addresses) runs out with SubnetIPAddressLimitReachedException while the platform keeps serving;
after deletes and shutdown nothing of lambent's stays in ``ip link`` / ``ip addr`` / ``nft``.

Every namespace, link and process a test makes is removed in ``finally``; servers are swept by
the ``net_fresh`` fixture (conftest.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import botocore.exceptions
import pytest
from harness import ACCESS_KEY, ROLE_TRUST, SECRET_KEY, Server, invoke_json, unique, zip_of
from hosts import PUBLIC, NsHost, lambent_traces, sh
from probe import PROBE

from lambent.network import names_for
from lambent.network.vpc.manager import vpc_names

#: The probe, plus a handler that lists functions through lambent's API with boto3 (short
#: time-outs, no retries: a shut gate answers at once).
APP = PROBE + r'''

def list_handler(event, context):
    import boto3
    from botocore.config import Config
    lam = boto3.client("lambda", config=Config(connect_timeout=2, read_timeout=3, retries={"max_attempts": 1}))
    try:
        return {"ok": sorted(f["FunctionName"] for f in lam.list_functions()["Functions"])}
    except Exception as exc:
        return {"error": type(exc).__name__}
'''
VPC_ACCESS = "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"
DB_SERVER = """
import socket, sys, threading
def serve(port):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port)); s.listen(16)
    while True:
        c, _ = s.accept()
        try:
            c.settimeout(2); c.recv(4096); c.sendall(b"HTTP/1.0 200 OK\\r\\n\\r\\ndb:" + str(port).encode())
        except OSError:
            pass
        c.close()
for p in sys.argv[1:]:
    threading.Thread(target=serve, args=(int(p),), daemon=True).start()
print("ready", flush=True)
threading.Event().wait()
"""


def _until(check: Callable[[], bool], timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return bool(check())


class Vpc:
    """One VPC of a test server: subnets, groups, the VPC execution role."""

    def __init__(self, server: Server, cidr: str, subnets: list[str]) -> None:
        self.server = server
        self.ec2 = server.client("ec2")
        self.lam = server.client()
        self.vpc = self.ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
        self.subnets = [self.ec2.create_subnet(VpcId=self.vpc, CidrBlock=c)["Subnet"]["SubnetId"] for c in subnets]
        iam = server.client("iam")
        name = unique("vpcrole")
        self.role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=ROLE_TRUST)["Role"]["Arn"]
        iam.attach_role_policy(RoleName=name, PolicyArn=VPC_ACCESS)
        iam.put_role_policy(RoleName=name, PolicyName="list", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "lambda:ListFunctions",
                                                    "Resource": "*"}]}))

    def group(self, *, egress_all: bool = True) -> str:
        group: str = self.ec2.create_security_group(VpcId=self.vpc, GroupName=unique("fngroup"),
                                                    Description="test")["GroupId"]
        if not egress_all:
            self.ec2.revoke_security_group_egress(GroupId=group, IpPermissions=[
                {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
        return group

    def default_group(self) -> str:
        groups = self.ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [self.vpc]},
                                                            {"Name": "group-name", "Values": ["default"]}])
        return str(groups["SecurityGroups"][0]["GroupId"])

    def function(self, group: str, subnets: list[str] | None = None, handler: str = "app.handler") -> str:
        name = unique()
        self.lam.create_function(FunctionName=name, Runtime="python3.11", Role=self.role, Handler=handler,
                                 Code={"ZipFile": zip_of({"app.py": APP})}, Timeout=30,
                                 VpcConfig={"SubnetIds": subnets or self.subnets, "SecurityGroupIds": [group]})
        self.lam.get_waiter("function_active_v2").wait(FunctionName=name,
                                                       WaiterConfig={"Delay": 0.1, "MaxAttempts": 150})
        return name

    def run(self, name: str, *steps: dict[str, Any]) -> list[str]:
        _, out = invoke_json(self.lam, name, {"steps": list(steps)})
        assert all(str(i) in out for i in range(len(steps))), out
        return [out[str(i)] for i in range(len(steps))]


def _cli(server: Server, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
           "AWS_ENDPOINT_URL": server.url, "AWS_REGION": "us-east-1"}
    return subprocess.run([sys.executable, "-m", "lambent.cli.main", *args], capture_output=True, text=True,
                          env=env, timeout=60, check=False)


@contextmanager
def private_database(server: Server, subnet: str, ports: tuple[int, ...]) -> Iterator[str]:
    """A TCP server on ``ports`` in a namespace attached to ``subnet`` with ``lambent vpc attach``;
    yields its address. Detached, stopped and deleted on exit, even after a failure."""
    ns = f"lmbtest-db{uuid.uuid4().hex[:6]}"
    proc: subprocess.Popen[bytes] | None = None
    sh("ip", "netns", "add", ns)
    attached = False
    try:
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        done = _cli(server, "vpc", "attach", subnet, "--netns", ns)
        assert done.returncode == 0, done.stderr
        attached = True
        address = json.loads(done.stdout)["Address"]
        proc = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", DB_SERVER, *map(str, ports)],
                                stdout=subprocess.PIPE)
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
        yield str(address)
    finally:
        if proc is not None:
            proc.kill()
            proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        if attached:
            _cli(server, "vpc", "detach", subnet, "--netns", ns)
        sh("ip", "netns", "del", ns, check=False)


@pytest.fixture
def server(net_fresh: Any) -> Server:
    # idle environments are not frozen: a listening function keeps accepting between invocations
    srv: Server = net_fresh(LAMBENT_VPC_NETWORK_ENABLED="1", LAMBENT_WORKER_FREEZE_AFTER_MS="600000")
    return srv


def test_the_private_database_is_reached_only_on_the_ports_the_group_allows(server: Server) -> None:
    vpc = Vpc(server, "10.241.0.0/16", ["10.241.1.0/24"])
    fn_group = vpc.group(egress_all=False)
    db_group = vpc.default_group()
    with private_database(server, vpc.subnets[0], (5432, 5433)) as db:
        # the database's own group (the VPC's default) lets the function's group in on both ports
        vpc.ec2.authorize_security_group_ingress(GroupId=db_group, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5433, "UserIdGroupPairs": [{"GroupId": fn_group}]}])
        name = vpc.function(fn_group)
        probe = [{"do": "connect", "host": db, "port": p} for p in (5432, 5433)]
        before = vpc.run(name, *probe)
        assert all(r.startswith("error:") for r in before), before  # no egress rule at all
        vpc.ec2.authorize_security_group_egress(GroupId=fn_group, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "IpRanges": [{"CidrIp": "10.241.0.0/16"}]}])
        # applies to the running environment within a second
        assert _until(lambda: vpc.run(name, probe[0])[0] == "ok:db:5432", 5)
        assert vpc.run(name, probe[1])[0].startswith("error:")  # 5433: not in the egress rule
        # the public host is not reachable without a NAT gateway whatever the groups say
        vpc.ec2.authorize_security_group_egress(GroupId=fn_group, IpPermissions=[
            {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
        assert vpc.run(name, {"do": "connect", "host": PUBLIC, "port": 8080})[0].startswith("error:")
        vpc.lam.delete_function(FunctionName=name)


def test_the_public_host_only_through_a_nat_gateway(server: Server, public: NsHost) -> None:
    vpc = Vpc(server, "10.242.0.0/16", ["10.242.1.0/24", "10.242.2.0/24"])
    name = vpc.function(vpc.group())
    step = {"do": "connect", "host": PUBLIC, "port": public.port}
    assert vpc.run(name, step)[0].startswith("error:")
    nat = vpc.ec2.create_nat_gateway(SubnetId=vpc.subnets[1])["NatGateway"]["NatGatewayId"]
    assert _until(lambda: vpc.run(name, step)[0] == f"ok:{public.body.decode()}", 5)
    vpc.ec2.delete_nat_gateway(NatGatewayId=nat)
    assert _until(lambda: vpc.run(name, step)[0].startswith("error:"), 5)


def test_boto3_inside_lists_functions_only_with_an_endpoint_or_a_nat(server: Server) -> None:
    vpc = Vpc(server, "10.243.0.0/16", ["10.243.1.0/24"])
    name = vpc.function(vpc.group(), handler="app.list_handler")
    lam = vpc.lam

    def listed() -> dict[str, Any]:
        return invoke_json(lam, name)[1]

    assert listed() == {"error": "ConnectionClosedError"}  # closed unanswered (AWS: a time-out)
    endpoint = vpc.ec2.create_vpc_endpoint(VpcId=vpc.vpc, ServiceName="com.amazonaws.us-east-1.lambda",
                                           VpcEndpointType="Interface", SubnetIds=[vpc.subnets[0]])
    endpoint_id = endpoint["VpcEndpoint"]["VpcEndpointId"]
    assert _until(lambda: name in listed().get("ok", []), 5)
    vpc.ec2.delete_vpc_endpoints(VpcEndpointIds=[endpoint_id])
    assert _until(lambda: "error" in listed(), 5)
    nat = vpc.ec2.create_nat_gateway(SubnetId=vpc.subnets[0])["NatGateway"]["NatGatewayId"]
    assert _until(lambda: name in listed().get("ok", []), 5)
    vpc.ec2.delete_nat_gateway(NatGatewayId=nat)


def test_functions_in_different_groups_are_apart_until_an_ingress_rule_lets_one_in(server: Server) -> None:
    vpc = Vpc(server, "10.244.0.0/16", ["10.244.1.0/24"])
    ga, gb, gc = vpc.group(), vpc.group(), vpc.group()
    a, b, c = vpc.function(ga), vpc.function(gb), vpc.function(gc)
    served, address = vpc.run(a, {"do": "listen", "port": 7070}, {"do": "address", "via": "10.244.1.1"})
    assert served == "ok" and address.startswith("ok:10.244.1.")
    target = {"do": "connect", "host": address[3:], "port": 7070}
    assert vpc.run(a, target) == ["ok:sandbox"]  # control: it serves
    assert vpc.run(b, target)[0].startswith("error:")
    assert vpc.run(c, target)[0].startswith("error:")
    vpc.ec2.authorize_security_group_ingress(GroupId=ga, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 7070, "ToPort": 7070, "UserIdGroupPairs": [{"GroupId": gb}]}])
    assert _until(lambda: vpc.run(b, target) == ["ok:sandbox"], 5)
    assert vpc.run(c, target)[0].startswith("error:")  # the rule names B's group only


def test_a_full_subnet_fails_the_invoke_and_the_platform_keeps_serving(server: Server) -> None:
    vpc = Vpc(server, "10.245.0.0/16", ["10.245.1.0/28"])  # 16 - 5 reserved = 11 addresses
    group = vpc.group()
    subnet = vpc.subnets[0]
    held = [vpc.function(group) for _ in range(11)]
    for name in held:  # each warm environment keeps its address
        assert vpc.run(name, {"do": "address", "via": "10.245.1.1"})[0].startswith("ok:10.245.1.")
    assert vpc.ec2.describe_subnets(SubnetIds=[subnet])["Subnets"][0]["AvailableIpAddressCount"] == 0
    one_more = vpc.function(group)
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        vpc.run(one_more, {"do": "address"})
    r = caught.value.response
    assert (r["Error"]["Code"], r["ResponseMetadata"]["HTTPStatusCode"]) == ("SubnetIPAddressLimitReachedException", 502)
    assert subnet in r["Error"]["Message"]
    # the warm ones still serve, and a function off the VPC starts as usual
    assert vpc.run(held[0], {"do": "address", "via": "10.245.1.1"})[0].startswith("ok:10.245.1.")
    plain = unique()
    vpc.lam.create_function(FunctionName=plain, Runtime="python3.11", Role=vpc.role, Handler="app.handler",
                            Code={"ZipFile": zip_of({"app.py": APP})})
    vpc.lam.get_waiter("function_active_v2").wait(FunctionName=plain, WaiterConfig={"Delay": 0.1, "MaxAttempts": 150})
    assert invoke_json(vpc.lam, plain, {"steps": []})[0]["StatusCode"] == 200
    # an event for it meanwhile is accepted and retried (a system error: backed off, not an attempt)
    assert vpc.lam.invoke(FunctionName=one_more, InvocationType="Event", Payload=b'{"steps": []}')["StatusCode"] == 202
    assert _until(lambda: "system error, next attempt in" in server.log(), 10)
    # a deleted function gives its address back: the retried event gets it, then so does a new start
    vpc.lam.delete_function(FunctionName=held.pop())
    logs = server.client("logs")

    def ran() -> bool:
        try:
            events = logs.filter_log_events(logGroupName=f"/aws/lambda/{one_more}")["events"]
        except botocore.exceptions.ClientError:
            return False
        return any(e["message"].startswith("REPORT") for e in events)

    assert _until(ran, 20)
    assert vpc.run(one_more, {"do": "address", "via": "10.245.1.1"})[0].startswith("ok:10.245.1.")


def test_the_hosts_cap_on_vpc_interfaces_is_enilimitreached(net_fresh: Any) -> None:
    server: Server = net_fresh(LAMBENT_VPC_NETWORK_ENABLED="1", LAMBENT_WORKER_VPC_INTERFACES_MAX="1")
    vpc = Vpc(server, "10.247.0.0/16", ["10.247.1.0/24"])
    group = vpc.group()
    first, second = vpc.function(group), vpc.function(group)
    assert vpc.run(first, {"do": "address", "via": "10.247.1.1"})[0].startswith("ok:10.247.1.")
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        vpc.run(second, {"do": "address"})
    r = caught.value.response
    assert (r["Error"]["Code"], r["ResponseMetadata"]["HTTPStatusCode"]) == ("ENILimitReachedException", 502)
    assert r["Error"]["Message"] == ("Lambda was not able to create an ENI in the VPC of the Lambda function because "
                                     "the limit for Network Interfaces has been reached.")
    vpc.lam.delete_function(FunctionName=first)  # its interface goes with its environment

    def second_starts() -> bool:
        try:
            return vpc.run(second, {"do": "address", "via": "10.247.1.1"})[0].startswith("ok:10.247.1.")
        except botocore.exceptions.ClientError as exc:
            assert exc.response["Error"]["Code"] == "ENILimitReachedException"  # until the first one is gone
            return False

    assert _until(second_starts, 10)


def test_after_deletes_and_shutdown_nothing_of_lambents_stays(server: Server) -> None:
    vpc = Vpc(server, "10.246.0.0/16", ["10.246.1.0/24"])
    group = vpc.group()
    names = [vpc.function(group) for _ in range(2)]
    for name in names:
        vpc.run(name, {"do": "address", "via": "10.246.1.1"})
    interfaces = vpc.ec2.describe_network_interfaces(Filters=[{"Name": "group-id", "Values": [group]}])
    assert len(interfaces["NetworkInterfaces"]) == 2  # one per environment, as Lambda's ENIs show up
    for name in names:
        vpc.lam.delete_function(FunctionName=name)
    assert _until(lambda: not vpc.ec2.describe_network_interfaces(
        Filters=[{"Name": "group-id", "Values": [group]}])["NetworkInterfaces"])
    vpc.ec2.delete_security_group(GroupId=group)
    vpc.ec2.delete_subnet(SubnetId=vpc.subnets[0])
    vpc.ec2.delete_vpc(VpcId=vpc.vpc)
    assert server.stop() == 0
    default_prefix, default_table = names_for(server.data_dir)
    vpc_prefix, vpc_table = vpc_names(server.data_dir)
    assert lambent_traces(default_prefix, default_table) == []
    assert lambent_traces(vpc_prefix, vpc_table) == []
    assert "10.246." not in sh("ip", "-4", "-o", "addr", "show") + sh("ip", "-4", "route", "show")
