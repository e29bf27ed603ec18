"""VPCs through the real server: boto3's EC2 client builds the VPC, ``lambent vpc attach`` (the CLI,
through lambent's API) attaches namespaces, packets flow by the security groups; a kill -9 and a
restart leave nothing stale, an orderly stop removes everything."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from harness import ACCESS_KEY, SECRET_KEY, Server, require_prerequisites  # noqa: E402
from hosts import sh  # noqa: E402
from test_vpc_network import Namespaces, connect, traces  # noqa: E402

from lambent.network.vpc import VpcNetwork  # noqa: E402
from lambent.settings import NetworkSettings  # noqa: E402
from lambent.store.vpc import VpcStore  # noqa: E402
from lambent.vpc.service import VpcService  # noqa: E402

ENV = {"LAMBENT_VPC_NETWORK_ENABLED": "1", "LAMBENT_NETWORK_DNS_UPSTREAM": "127.0.0.1:53"}


def lambent_vpc(srv: Server, *args: str, keys: tuple[str, str] = (ACCESS_KEY, SECRET_KEY)) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AWS_ACCESS_KEY_ID": keys[0], "AWS_SECRET_ACCESS_KEY": keys[1]}
    return subprocess.run([sys.executable, "-m", "lambent.cli.main", "vpc", *args, "--endpoint-url", srv.url,
                           "--region", "us-east-1"], capture_output=True, text=True, timeout=60, env=env, check=False)


def sweep(data_dir: Path, scratch: Path) -> None:
    VpcNetwork(NetworkSettings(), VpcService(VpcStore.open_in(scratch), region="us-east-1"),
               data_dir=data_dir, files_dir=scratch).cleanup_leftovers()


@pytest.fixture
def spaces() -> Iterator[Namespaces]:
    ns = Namespaces()
    try:
        yield ns
    finally:
        ns.close()


def test_attach_through_the_cli_groups_apply_and_restarts_leave_nothing_stale(
        tmp_path: Path, spaces: Namespaces) -> None:
    require_prerequisites()
    data = tmp_path / "data"
    data.mkdir()
    made = subprocess.run([sys.executable, "-m", "lambent.cli.accounts_cmd", "create", "tenant", "--data-dir", str(data)],
                          capture_output=True, text=True, timeout=120, check=False,
                          env={k: v for k, v in os.environ.items() if not k.startswith("LAMBENT_")})
    assert made.returncode == 0, made.stderr
    tenant = json.loads(made.stdout)
    tenant_keys = (tenant["AccessKeyId"], tenant["SecretAccessKey"])
    srv = Server(data, env_extra=ENV).start()
    try:
        ec2 = srv.client("ec2")
        # a tenant cannot attach anything to the host, not even to its own subnet; the operator
        # cannot name the tenant's subnet (another account's: not found)
        tenant_ec2 = boto3.client("ec2", endpoint_url=srv.url, region_name="us-east-1",
                                  aws_access_key_id=tenant_keys[0], aws_secret_access_key=tenant_keys[1])
        tv = tenant_ec2.create_vpc(CidrBlock="10.234.0.0/16")["Vpc"]["VpcId"]
        ts = tenant_ec2.create_subnet(VpcId=tv, CidrBlock="10.234.1.0/24")["Subnet"]["SubnetId"]
        probe_ns = spaces.make()
        denied = lambent_vpc(srv, "attach", ts, "--netns", probe_ns, keys=tenant_keys)
        assert denied.returncode == 1 and "AccessDenied" in denied.stderr, denied.stderr
        hidden = lambent_vpc(srv, "attach", ts, "--netns", probe_ns)
        assert hidden.returncode == 1 and "NotFound" in hidden.stderr, hidden.stderr
        vpc = ec2.create_vpc(CidrBlock="10.233.0.0/16")["Vpc"]["VpcId"]
        a = ec2.create_subnet(VpcId=vpc, CidrBlock="10.233.1.0/24")["Subnet"]["SubnetId"]
        b = ec2.create_subnet(VpcId=vpc, CidrBlock="10.233.2.0/24")["Subnet"]["SubnetId"]
        # a block over a route of this host is refused at CreateSubnet
        lan = ec2.create_vpc(CidrBlock="192.0.2.0/24")["Vpc"]["VpcId"]
        with pytest.raises(Exception, match="InvalidSubnet.Conflict"):
            ec2.create_subnet(VpcId=lan, CidrBlock="192.0.2.0/25")
        ns_a, ns_b = spaces.make(), spaces.make(serve=True)
        out = lambent_vpc(srv, "attach", a, "--netns", ns_a)
        assert out.returncode == 0, out.stderr
        att_a = json.loads(out.stdout)
        assert att_a["Gateway"] == "10.233.1.1" and att_a["Address"].startswith("10.233.1.")
        out = lambent_vpc(srv, "attach", b, "--netns", ns_b)
        assert out.returncode == 0, out.stderr
        att_b = json.loads(out.stdout)
        enis = ec2.describe_network_interfaces()["NetworkInterfaces"]
        assert {(e["InterfaceType"], e["PrivateIpAddress"]) for e in enis} == {
            ("interface", att_a["Address"]), ("interface", att_b["Address"])}
        free = ec2.describe_subnets(SubnetIds=[a])["Subnets"][0]["AvailableIpAddressCount"]
        assert free == 250
        assert connect(ns_a, att_b["Address"]) == "ok:pong"
        # bad input: no such namespace, another subnet id
        bad = lambent_vpc(srv, "attach", a, "--netns", "no-such-netns-here")
        assert bad.returncode == 1 and "InvalidParameterValue" in bad.stderr
        bad = lambent_vpc(srv, "attach", "subnet-0123456789abcdef0", "--netns", ns_a)
        assert bad.returncode == 1 and "NotFound" in bad.stderr
        with pytest.raises(Exception, match="DependencyViolation"):
            ec2.delete_subnet(SubnetId=a)

        # kill -9, restart: the dead run's links, tables and attachments are gone, the VPC rebuilt
        srv.stop(sig=signal.SIGKILL)
        assert traces(data)
        srv.start()
        assert ec2.describe_network_interfaces()["NetworkInterfaces"] == []
        assert att_a["Address"] not in sh("ip", "-n", ns_a, "-o", "addr", "show")
        out = lambent_vpc(srv, "attach", a, "--netns", ns_a)
        assert out.returncode == 0, out.stderr
        out = lambent_vpc(srv, "attach", b, "--netns", ns_b)
        assert out.returncode == 0, out.stderr
        assert connect(ns_a, json.loads(out.stdout)["Address"]) == "ok:pong"
        assert lambent_vpc(srv, "detach", a, "--netns", ns_a).returncode == 0
        assert lambent_vpc(srv, "detach", a, "--netns", ns_a).returncode == 0  # idempotent
        # an orderly stop removes everything of lambent's
        srv.stop()
        assert traces(data) == []
    finally:
        if srv.proc is not None and srv.proc.poll() is None:
            srv.stop()
        srv.cleanup()
        sweep(data, tmp_path / "sweep")
    assert traces(data) == []
