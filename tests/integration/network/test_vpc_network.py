"""VPCs on real Linux networking: namespaces attached to subnets (``VpcNetwork.attach_namespace``,
what ``lambent vpc attach --netns`` does) over a real VpcService on SQLite. Real packets; the only
"public" host is a namespace on TEST-NET-3 (203.0.113.1). Everything lambent or the test created is
removed at teardown, even after a failure; each test also checks nothing stale is left."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from hosts import PRIVATE, PUBLIC, NsHost, namespace_host, sh  # noqa: E402

from lambent.network.vpc import VpcNetwork  # noqa: E402
from lambent.network.vpc.manager import FunctionVpcNetwork, vpc_names  # noqa: E402
from lambent.network.vpc.ruleset import delete_text  # noqa: E402
from lambent.settings import NetworkSettings  # noqa: E402
from lambent.store.vpc import VpcStore  # noqa: E402
from lambent.vpc import errors as ve  # noqa: E402
from lambent.vpc.model import InterfaceType  # noqa: E402
from lambent.vpc.service import VpcService  # noqa: E402

ACCOUNT, OTHER = "111111111111", "222222222222"
#: blocks no route of this host covers (checked by the subnet guard anyway)
VPC1, VPC2 = "10.231.0.0/16", "10.232.0.0/16"

SERVE = """
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 8080)); s.listen(16)
print("ready", flush=True)
while True:
    c, _ = s.accept()
    try:
        c.settimeout(2); c.recv(4096); c.sendall(b"pong")
    except OSError:
        pass
    c.close()
"""

CONNECT = """
import socket, sys
try:
    with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3])) as s:
        s.sendall(b"ping"); s.settimeout(float(sys.argv[3])); print("ok:" + s.recv(64).decode())
except OSError as exc:
    print("error:" + type(exc).__name__)
"""

pytestmark = pytest.mark.skipif(not Path("/usr/sbin/nft").exists(), reason="nftables not installed")


class Namespaces:
    """Plain namespaces (lo up) with an optional TCP server on 8080; all deleted at exit."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.procs: list[subprocess.Popen[bytes]] = []

    def make(self, serve: bool = False) -> str:
        name = f"lmvtest-{uuid.uuid4().hex[:6]}"
        sh("ip", "netns", "add", name)
        self.names.append(name)
        sh("ip", "-n", name, "link", "set", "lo", "up")
        if serve:
            proc = subprocess.Popen(["ip", "netns", "exec", name, sys.executable, "-c", SERVE],
                                    stdout=subprocess.PIPE)
            self.procs.append(proc)
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == b"ready"
        return name

    def close(self) -> None:
        for proc in self.procs:
            proc.kill()
            proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        for name in self.names:
            sh("ip", "netns", "del", name, check=False)


def connect(netns: str, host: str, port: int = 8080, timeout: float = 1.0) -> str:
    done = subprocess.run(["ip", "netns", "exec", netns, sys.executable, "-c", CONNECT, host, str(port), str(timeout)],
                          capture_output=True, text=True, timeout=timeout + 10, check=False)
    return done.stdout.strip() or f"error:{done.stderr.strip()[-200:]}"


def eventually(check: Callable[[], bool], within_s: float) -> float:
    """Seconds until ``check()`` held; fails past ``within_s``."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > within_s:
            pytest.fail(f"not within {within_s} s")
        time.sleep(0.05)
    return time.monotonic() - start


def traces(data_dir: Path) -> list[str]:
    prefix, table = vpc_names(data_dir)
    found = [line for line in sh("ip", "-o", "link", "show").splitlines() if prefix in line]
    found += [line for line in sh("ip", "-o", "addr", "show").splitlines() if prefix in line]
    found += [line for line in sh("nft", "list", "tables").splitlines() if table in line]
    return found


@pytest.fixture
def spaces() -> Iterator[Namespaces]:
    ns = Namespaces()
    try:
        yield ns
    finally:
        ns.close()


@pytest.fixture
def public() -> Iterator[NsHost]:
    with namespace_host(PUBLIC, "203.0.113.254") as host:
        yield host


@pytest.fixture
def private() -> Iterator[NsHost]:
    with namespace_host(PRIVATE, "10.213.7.254") as host:
        yield host


class Plane:
    """A VpcService on SQLite and its VpcNetwork, on one event loop thread of the test."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.loop = asyncio.new_event_loop()
        self.store = VpcStore.open_in(data_dir)
        self.vpcs = VpcService(self.store, region="us-east-1")
        files = data_dir / "files"
        files.mkdir(parents=True, exist_ok=True)
        self.net = VpcNetwork(NetworkSettings(enabled=True, dns_upstream="127.0.0.1:53"), self.vpcs,
                              data_dir=data_dir, files_dir=files)

    def run(self, coro: object) -> object:
        return self.loop.run_until_complete(coro)  # type: ignore[arg-type]

    def settle(self, seconds: float = 0.0) -> None:
        """Let scheduled work (a change's ruleset) run on the loop."""
        self.loop.run_until_complete(asyncio.sleep(seconds))

    def close(self) -> None:
        try:
            self.run(self.net.close())
        finally:
            self.loop.close()
            self.store.close()


@pytest.fixture
def plane(tmp_path: Path) -> Iterator[Plane]:
    p = Plane(tmp_path / "data")
    try:
        p.run(p.net.start())
        yield p
    finally:
        p.close()
        p.net.cleanup_leftovers()
    assert traces(tmp_path / "data") == []


@contextmanager
def stand_ins(count: int) -> Iterator[list[subprocess.Popen[bytes]]]:
    """``count`` processes, each in its own network namespace (``unshare -n``), standing in for
    sandboxes' init; killed at exit."""
    procs = [subprocess.Popen(["unshare", "-n", "sleep", "60"]) for _ in range(count)]
    try:
        time.sleep(0.2)
        yield procs
    finally:
        for p in procs:
            p.kill()
            p.wait()


class WholeLoads:
    """Counts ``plane.net``'s whole ruleset loads from now on (wraps its ``_apply``)."""

    def __init__(self, plane: Plane) -> None:
        self.count = 0
        real_apply = plane.net._apply

        async def counting(snap: object = None) -> None:
            self.count += 1
            await real_apply(snap)  # type: ignore[arg-type]

        plane.net._apply = counting  # type: ignore[method-assign]


def one_function(plane: Plane) -> FunctionVpcNetwork:
    """A function in one subnet (10.231.1.0/24) with one group, its prepared chains loaded."""
    vpc = plane.vpcs.create_vpc(ACCOUNT, VPC1)
    a = plane.vpcs.create_subnet(ACCOUNT, vpc.vpc_id, "10.231.1.0/24")
    group = plane.vpcs.create_group(ACCOUNT, vpc.vpc_id, "fn", "function").group_id
    fn = plane.net.for_function(ACCOUNT, [a.subnet_id], [group])
    plane.settle(0.3)
    return fn


def test_same_vpc_reachable_when_groups_allow_and_a_rules_change_applies_within_1s(
        plane: Plane, spaces: Namespaces) -> None:
    vpc = plane.vpcs.create_vpc(ACCOUNT, VPC1)
    a = plane.vpcs.create_subnet(ACCOUNT, vpc.vpc_id, "10.231.1.0/24")
    b = plane.vpcs.create_subnet(ACCOUNT, vpc.vpc_id, "10.231.2.0/24")
    ns_a, ns_b = spaces.make(), spaces.make(serve=True)
    addr_a, gw_a = plane.run(plane.net.attach_namespace(ACCOUNT, a.subnet_id, ns_a))  # type: ignore[misc]
    addr_b, gw_b = plane.run(plane.net.attach_namespace(ACCOUNT, b.subnet_id, ns_b))  # type: ignore[misc]
    assert str(gw_a) == "10.231.1.1" and str(gw_b) == "10.231.2.1"
    # the model shows them (AvailableIpAddressCount counts down)
    kinds = {i.interface_type for i in plane.vpcs.interfaces(ACCOUNT)}
    assert kinds == {InterfaceType.ATTACHMENT}
    assert plane.vpcs.available_addresses(a.subnet_id) == 251 - 1
    # default group: members reach each other (across subnets of the VPC)
    assert connect(ns_a, str(addr_b)) == "ok:pong"
    # revoke the default group's "ingress from itself": refused within 1 s
    default = plane.vpcs.default_group(vpc.vpc_id).group_id
    plane.vpcs.revoke(ACCOUNT, default, egress=False, permissions=[
        {"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": default}]}])
    plane.settle(0.3)
    took = eventually(lambda: connect(ns_a, str(addr_b), timeout=0.3).startswith("error"), 1.0)
    assert took <= 1.0
    # a narrower rule: tcp 8080 from A's subnet only
    plane.vpcs.authorize(ACCOUNT, default, egress=False, permissions=[
        {"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080, "IpRanges": [{"CidrIp": "10.231.1.0/24"}]}])
    plane.settle(0.3)
    assert connect(ns_a, str(addr_b)) == "ok:pong"
    plane.run(plane.net.detach_namespace(ACCOUNT, a.subnet_id, ns_a))
    plane.run(plane.net.detach_namespace(ACCOUNT, b.subnet_id, ns_b))
    assert plane.vpcs.interfaces(ACCOUNT) == []


def test_another_vpc_is_never_reachable_nor_its_subnet_attachable(plane: Plane, spaces: Namespaces) -> None:
    mine = plane.vpcs.create_vpc(ACCOUNT, VPC1)
    theirs = plane.vpcs.create_vpc(OTHER, VPC2)
    s1 = plane.vpcs.create_subnet(ACCOUNT, mine.vpc_id, "10.231.1.0/24")
    s2 = plane.vpcs.create_subnet(OTHER, theirs.vpc_id, "10.232.1.0/24")
    # their groups allow everything in
    their_default = plane.vpcs.default_group(theirs.vpc_id).group_id
    plane.vpcs.authorize(OTHER, their_default, egress=False, permissions=[
        {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    ns1, ns2 = spaces.make(), spaces.make(serve=True)
    plane.run(plane.net.attach_namespace(ACCOUNT, s1.subnet_id, ns1))
    addr2, _ = plane.run(plane.net.attach_namespace(OTHER, s2.subnet_id, ns2))  # type: ignore[misc]
    plane.settle(0.2)
    assert connect(ns1, str(addr2)).startswith("error")
    # and their gateway's DNS or any other port of the host is not ours to reach either
    assert connect(ns1, "10.232.1.1", port=22).startswith("error")
    # another account's subnet is "not found"
    spare = spaces.make()
    with pytest.raises(ve.SubnetNotFound):
        plane.run(plane.net.attach_namespace(ACCOUNT, s2.subnet_id, spare))


def test_public_host_reachable_only_while_a_nat_gateway_exists(plane: Plane, spaces: Namespaces,
                                                               public: NsHost, private: NsHost) -> None:
    vpc = plane.vpcs.create_vpc(ACCOUNT, VPC1)
    s = plane.vpcs.create_subnet(ACCOUNT, vpc.vpc_id, "10.231.1.0/24")
    ns = spaces.make()
    plane.run(plane.net.attach_namespace(ACCOUNT, s.subnet_id, ns))
    assert connect(ns, PUBLIC, public.port).startswith("error")
    nat = plane.vpcs.create_nat_gateway(ACCOUNT, s.subnet_id)
    plane.settle(0.3)
    assert connect(ns, PUBLIC, public.port).startswith("ok:")
    # the deny list (network.deny: private ranges) holds through a NAT gateway too
    assert connect(ns, PRIVATE, private.port).startswith("error")
    assert plane.net.api_reachable(ACCOUNT, vpc.vpc_id)
    plane.vpcs.delete_nat_gateway(ACCOUNT, nat.nat_gateway_id)
    plane.settle(0.3)
    assert connect(ns, PUBLIC, public.port).startswith("error")
    assert not plane.net.api_reachable(ACCOUNT, vpc.vpc_id)
    # an endpoint for another service does not open lambent's Lambda API; one for lambda does
    plane.vpcs.create_vpc_endpoint(ACCOUNT, vpc.vpc_id, "com.amazonaws.us-east-1.sts")
    assert not plane.net.api_reachable(ACCOUNT, vpc.vpc_id)
    endpoint = plane.vpcs.create_vpc_endpoint(ACCOUNT, vpc.vpc_id, "com.amazonaws.us-east-1.lambda")
    assert plane.net.api_reachable(ACCOUNT, vpc.vpc_id) and not plane.net.api_reachable(OTHER, vpc.vpc_id)
    plane.vpcs.delete_vpc_endpoint(ACCOUNT, endpoint.endpoint_id)
    assert not plane.net.api_reachable(ACCOUNT, vpc.vpc_id)
    # the host's own addresses stay out of reach (192.0.2.x, loopback services)
    assert connect(ns, "10.231.1.1", port=8080).startswith("error")


def test_subnet_over_a_host_route_is_refused(plane: Plane, public: NsHost) -> None:
    vpc = plane.vpcs.create_vpc(ACCOUNT, "203.0.113.0/24")
    with pytest.raises(ve.SubnetConflict):
        plane.vpcs.create_subnet(ACCOUNT, vpc.vpc_id, "203.0.113.0/25")
    assert plane.vpcs.subnets(ACCOUNT) == []


def test_overlapping_vpcs_of_two_accounts_cannot_both_be_built(plane: Plane) -> None:
    a = plane.vpcs.create_vpc(ACCOUNT, VPC1)
    b = plane.vpcs.create_vpc(OTHER, VPC1)
    plane.vpcs.create_subnet(ACCOUNT, a.vpc_id, "10.231.1.0/24")
    with pytest.raises(ve.SubnetConflict):
        plane.vpcs.create_subnet(OTHER, b.vpc_id, "10.231.1.0/24")


def test_deletes_remove_the_linux_side(plane: Plane, spaces: Namespaces) -> None:
    vpc = plane.vpcs.create_vpc(ACCOUNT, VPC1)
    s = plane.vpcs.create_subnet(ACCOUNT, vpc.vpc_id, "10.231.1.0/24")
    plane.settle(0.3)
    prefix, _ = vpc_names(plane.data_dir)
    assert any("10.231.1.1/24" in line for line in sh("ip", "-o", "addr", "show").splitlines() if prefix in line)
    ns = spaces.make()
    plane.run(plane.net.attach_namespace(ACCOUNT, s.subnet_id, ns))
    with pytest.raises(ve.DependencyViolation):
        plane.vpcs.delete_subnet(ACCOUNT, s.subnet_id)
    plane.run(plane.net.detach_namespace(ACCOUNT, s.subnet_id, ns))
    plane.vpcs.delete_subnet(ACCOUNT, s.subnet_id)
    plane.settle(0.3)
    assert not [line for line in sh("ip", "-o", "link", "show").splitlines() if prefix in line]


CRASHING = """
import asyncio, sys, time
from pathlib import Path
from lambent.network.vpc import VpcNetwork
from lambent.settings import NetworkSettings
from lambent.store.vpc import VpcStore
from lambent.vpc.service import VpcService

async def main(data, netns):
    vpcs = VpcService(VpcStore.open_in(data), region="us-east-1")
    (data / "files").mkdir(exist_ok=True)
    net = VpcNetwork(NetworkSettings(enabled=True, dns_upstream="127.0.0.1:53"), vpcs, data_dir=data,
                     files_dir=data / "files")
    await net.start()
    vpc = vpcs.create_vpc("111111111111", "10.231.0.0/16")
    subnet = vpcs.create_subnet("111111111111", vpc.vpc_id, "10.231.1.0/24")
    await net.attach_namespace("111111111111", subnet.subnet_id, netns)
    print(subnet.subnet_id, flush=True)
    await asyncio.sleep(60)

asyncio.run(main(Path(sys.argv[1]), sys.argv[2]))
"""


def test_kill_9_then_restart_removes_leftovers_and_rebuilds(tmp_path: Path, spaces: Namespaces) -> None:
    data = tmp_path / "data"
    data.mkdir()
    ns_a, ns_b = spaces.make(), spaces.make(serve=True)
    proc = subprocess.Popen([sys.executable, "-c", CRASHING, str(data), ns_a], stdout=subprocess.PIPE)
    second: Plane | None = None
    try:
        assert proc.stdout is not None
        subnet_id = proc.stdout.readline().decode().strip()
        assert subnet_id.startswith("subnet-"), subnet_id
        assert "10.231.1." in sh("ip", "-n", ns_a, "-o", "addr", "show")
        proc.kill()  # SIGKILL: nothing of the first run is cleaned by itself
        proc.wait()
        prefix, _ = vpc_names(data)
        assert traces(data)  # its bridge, veth and tables are still there
        second = Plane(data)
        second.run(second.net.start())
        assert second.vpcs.interfaces(ACCOUNT) == []  # the dead run's attachment was released
        links = [line for line in sh("ip", "-o", "link", "show").splitlines() if prefix in line]
        assert len(links) == 1  # only the rebuilt bridge: the old veth went with the cleanup
        assert "10.231.1." not in sh("ip", "-n", ns_a, "-o", "addr", "show")
        addr_a, _ = second.run(second.net.attach_namespace(ACCOUNT, subnet_id, ns_a))  # type: ignore[misc]
        addr_b, _ = second.run(second.net.attach_namespace(ACCOUNT, subnet_id, ns_b))  # type: ignore[misc]
        assert connect(ns_a, str(addr_b)) == "ok:pong"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        if second is not None:
            second.close()
        VpcNetwork(NetworkSettings(), VpcService(VpcStore.open_in(tmp_path / "sweep"), region="us-east-1"),
                   data_dir=data, files_dir=tmp_path).cleanup_leftovers()
    assert traces(data) == []


def test_function_environments_spread_over_subnets_get_dns_and_give_addresses_back(
        plane: Plane, spaces: Namespaces) -> None:
    """``for_function(...).attach(env, pid)`` as the worker pool calls it for a sandbox: a process
    in its own network namespace (``unshare -n``) stands in for the sandbox's init."""
    from hosts import dns_responder

    with dns_responder({"public.test": PUBLIC}) as (host, port, asked):
        # the forwarders were started at plane start with 127.0.0.1:53; this test's own plane
        # relays to the responder instead
        plane.run(plane.net.close())
        plane.net = VpcNetwork(NetworkSettings(enabled=True, dns_upstream=f"{host}:{port}"), plane.vpcs,
                               data_dir=plane.data_dir, files_dir=plane.data_dir / "files")
        plane.run(plane.net.start())
        vpc = plane.vpcs.create_vpc(ACCOUNT, VPC1)
        a = plane.vpcs.create_subnet(ACCOUNT, vpc.vpc_id, "10.231.1.0/28")  # 11 usable addresses
        b = plane.vpcs.create_subnet(ACCOUNT, vpc.vpc_id, "10.231.2.0/24")
        group = plane.vpcs.create_group(ACCOUNT, vpc.vpc_id, "fn", "function").group_id
        fn = plane.net.for_function(ACCOUNT, [a.subnet_id, b.subnet_id], [group])
        plane.settle(0.2)
        resolv = fn.resolv_conf.read_text()
        assert "nameserver 10.231.1.1" in resolv and "nameserver 10.231.2.1" in resolv
        with stand_ins(2) as procs:
            atts = [plane.run(fn.attach(f"env{i}", p.pid)) for i, p in enumerate(procs)]
            # the subnet with the most free addresses first: both land in b
            assert {att.subnet_id for att in atts} == {b.subnet_id}  # type: ignore[attr-defined]
            enis = plane.vpcs.interfaces(ACCOUNT)
            assert {i.interface_type for i in enis} == {InterfaceType.LAMBDA}
            assert all(i.group_ids == (group,) for i in enis)
            pid = str(procs[0].pid)
            # (no sandbox here to mount resolv.conf: ask subnet a's gateway, from subnet b, directly)
            query = ("import socket,struct,sys; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2);"
                     "q=b'\\x12\\x34\\x01\\x00\\x00\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x06public\\x04test\\x00\\x00\\x01\\x00\\x01';"
                     "s.sendto(q, (sys.argv[1], 53)); d=s.recv(512); print(socket.inet_ntoa(d[-4:]))")

            async def ask(gateway: str) -> str:
                # the forwarder runs on this loop: the probe must not block it
                proc = await asyncio.create_subprocess_exec("nsenter", "-t", pid, "-n", sys.executable, "-c", query,
                                                            gateway, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                out, err = await asyncio.wait_for(proc.communicate(), 20)
                return out.decode().strip() or err.decode()[-200:]

            for gateway in ("10.231.2.1", "10.231.1.1"):
                assert plane.run(ask(gateway)) == PUBLIC, gateway
            assert asked  # relayed by the forwarder on a gateway of the VPC (another subnet's)
            for att in atts:
                plane.run(fn.detach(att))
                plane.run(fn.detach(att))  # idempotent
            assert plane.vpcs.interfaces(ACCOUNT) == []
            assert plane.vpcs.available_addresses(b.subnet_id) == 251


def test_a_full_subnet_is_insufficient_free_addresses_and_leaves_nothing(plane: Plane) -> None:
    vpc = plane.vpcs.create_vpc(ACCOUNT, VPC1)
    a = plane.vpcs.create_subnet(ACCOUNT, vpc.vpc_id, "10.231.1.0/28")
    for _ in range(11):
        plane.vpcs.lease_address(a.subnet_id)
    fn = plane.net.for_function(ACCOUNT, [a.subnet_id], [])
    with pytest.raises(ve.InsufficientFreeAddresses) as caught:
        plane.run(fn.attach("env", 1))
    assert caught.value.context["subnet_id"] == a.subnet_id
    # a pid with no namespace to enter: NetworkSetupFailed, the lease given back
    for interface in plane.vpcs.interfaces(ACCOUNT)[:1]:
        plane.vpcs.release_address(interface.interface_id)
    from lambent.network.errors import NetworkSetupFailed
    with pytest.raises(NetworkSetupFailed):
        plane.run(fn.attach("env", 2**22 + 12345))
    assert len(plane.vpcs.interfaces(ACCOUNT)) == 10


def test_a_stored_subnet_the_host_now_routes_is_not_built_and_the_rest_is(tmp_path: Path, spaces: Namespaces) -> None:
    data = tmp_path / "data"
    first = Plane(data)
    try:
        first.run(first.net.start())
        vpc = first.vpcs.create_vpc(ACCOUNT, VPC1)
        clashing = first.vpcs.create_subnet(ACCOUNT, vpc.vpc_id, "10.231.1.0/24")
        fine = first.vpcs.create_subnet(ACCOUNT, vpc.vpc_id, "10.231.2.0/24")
    finally:
        first.close()
    dummy = f"tdum{uuid.uuid4().hex[:6]}"
    second: Plane | None = None
    try:
        # the host meanwhile routes 10.231.1.0/24 itself (a LAN, a container bridge)
        sh("ip", "link", "add", dummy, "type", "veth", "peer", "name", f"{dummy}p")
        sh("ip", "addr", "add", "10.231.1.254/24", "dev", dummy)
        sh("ip", "link", "set", dummy, "up")
        second = Plane(data)
        second.run(second.net.start())  # the server still starts
        ns = spaces.make()
        from lambent.network.errors import NetworkSetupFailed
        with pytest.raises(NetworkSetupFailed):
            second.run(second.net.attach_namespace(ACCOUNT, clashing.subnet_id, ns))
        assert second.vpcs.interfaces(ACCOUNT) == []
        address, _ = second.run(second.net.attach_namespace(ACCOUNT, fine.subnet_id, ns))  # type: ignore[misc]
        assert str(address).startswith("10.231.2.")
    finally:
        if second is not None:
            second.close()
        sh("ip", "link", "del", dummy, check=False)
    assert traces(data) == []


def test_a_host_attachment_is_reachable_from_its_vpc_only_and_reaches_into_it(
        plane: Plane, spaces: Namespaces) -> None:
    import socket
    import threading

    vpc = plane.vpcs.create_vpc(ACCOUNT, VPC1)
    other = plane.vpcs.create_vpc(OTHER, VPC2)
    s = plane.vpcs.create_subnet(ACCOUNT, vpc.vpc_id, "10.231.1.0/24")
    t = plane.vpcs.create_subnet(OTHER, other.vpc_id, "10.232.1.0/24")
    ns_in, ns_out = spaces.make(serve=True), spaces.make()
    member, _ = plane.run(plane.net.attach_namespace(ACCOUNT, s.subnet_id, ns_in))  # type: ignore[misc]
    plane.run(plane.net.attach_namespace(OTHER, t.subnet_id, ns_out))
    host_addr, gateway = plane.run(plane.net.attach_host(ACCOUNT, s.subnet_id))  # type: ignore[misc]
    served = socket.socket()
    served.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    served.bind(("0.0.0.0", 0))  # on every address of the host: only the attachment's is reachable
    served.listen(8)
    port = served.getsockname()[1]
    served.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = served.accept()
            except OSError:
                continue
            conn.recv(64)
            conn.sendall(b"pong")
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        assert connect(ns_in, str(host_addr), port) == "ok:pong"
        assert connect(ns_in, str(gateway), port).startswith("error")  # the gateway answers DNS only
        assert connect(ns_out, str(host_addr), port).startswith("error")  # another VPC
        # the host reaches the VPC from its attachment's address (and from no other)
        with socket.create_connection((str(member), 8080), timeout=2, source_address=(str(host_addr), 0)) as c:
            c.sendall(b"ping")
            assert c.recv(64) == b"pong"
        with pytest.raises(OSError):
            socket.create_connection((str(member), 8080), timeout=1).close()
        kinds = [i.interface_type for i in plane.vpcs.interfaces(ACCOUNT)]
        assert kinds.count(InterfaceType.ATTACHMENT) == 2
    finally:
        stop.set()
        thread.join()
        served.close()
    plane.run(plane.net.detach_host(ACCOUNT, s.subnet_id))
    assert str(host_addr) not in sh("ip", "-o", "addr", "show")


SPOOF = """
import socket, sys
try:
    s = socket.socket(); s.settimeout(1); s.bind((sys.argv[2], 0)); s.connect((sys.argv[1], 8080))
    s.sendall(b"ping"); print("ok:" + s.recv(64).decode())
except OSError as exc:
    print("error:" + type(exc).__name__)
"""


def test_an_interface_cannot_borrow_another_address_to_pass_a_group(plane: Plane, spaces: Namespaces) -> None:
    """The trusted address belongs to a real interface (so the group chains alone would let a
    packet from it through): only the per-port source check on the bridge stops the spoof."""
    vpc = plane.vpcs.create_vpc(ACCOUNT, VPC1)
    s = plane.vpcs.create_subnet(ACCOUNT, vpc.vpc_id, "10.231.1.0/24")
    trusted_ns, attacker, target = spaces.make(), spaces.make(), spaces.make(serve=True)
    trusted, _ = plane.run(plane.net.attach_namespace(ACCOUNT, s.subnet_id, trusted_ns))  # type: ignore[misc]
    locked = plane.vpcs.create_group(ACCOUNT, vpc.vpc_id, "locked", "only the trusted address").group_id
    plane.vpcs.authorize(ACCOUNT, locked, egress=False, permissions=[
        {"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080, "IpRanges": [{"CidrIp": f"{trusted}/32"}]}])
    plane.run(plane.net.attach_namespace(ACCOUNT, s.subnet_id, attacker))
    victim, _ = plane.run(plane.net.attach_namespace(ACCOUNT, s.subnet_id, target,  # type: ignore[misc]
                                                     group_ids=[locked]))
    plane.settle(0.2)
    inner = f"v{s.subnet_id.removeprefix('subnet-')[:8]}"
    spoof = ["ip", "netns", "exec", attacker, sys.executable, "-c", SPOOF, str(victim), str(trusted)]
    honest = ["ip", "netns", "exec", trusted_ns, sys.executable, "-c", SPOOF, str(victim), str(trusted)]
    assert subprocess.run(honest, capture_output=True, text=True, timeout=15, check=False).stdout.strip() == "ok:pong"
    sh("ip", "-n", attacker, "addr", "add", f"{trusted}/32", "dev", inner)  # the trusted address, spoofed
    done = subprocess.run(spoof, capture_output=True, text=True, timeout=15, check=False)
    assert done.stdout.strip().startswith("error"), done.stdout
    # its own address does not pass the group either
    assert connect(attacker, str(victim)).startswith("error")


def test_a_function_whose_subnets_were_deleted_gets_subnet_not_found(plane: Plane) -> None:
    vpc = plane.vpcs.create_vpc(ACCOUNT, VPC1)
    a = plane.vpcs.create_subnet(ACCOUNT, vpc.vpc_id, "10.231.1.0/24")
    fn = plane.net.for_function(ACCOUNT, [a.subnet_id], [])
    plane.vpcs.delete_subnet(ACCOUNT, a.subnet_id)
    plane.settle(0.2)
    with pytest.raises(ve.SubnetNotFound):
        plane.run(fn.attach("env", 1))
    assert "nameserver" not in fn.resolv_conf.read_text()


PING = """
import os, socket, struct, sys
def checksum(b):
    b += b"\\0" * (len(b) % 2); s = sum(struct.unpack(f"!{len(b)//2}H", b)); s = (s >> 16) + (s & 0xffff); s += s >> 16
    return ~s & 0xffff
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP); s.settimeout(1)
ident = os.getpid() & 0xffff
head = struct.pack("!BBHHH", 8, 0, 0, ident, 1); body = b"lambent"
s.sendto(struct.pack("!BBHHH", 8, 0, checksum(head + body), ident, 1) + body, (sys.argv[1], 0))
try:
    while True:
        data, _ = s.recvfrom(1024)
        kind, _, _, rid, _ = struct.unpack("!BBHHH", data[20:28])
        if kind == 0 and rid == ident:
            print("pong"); break
except OSError:
    print("timeout")
"""


def ping(netns: str, address: str) -> str:
    return subprocess.run(["ip", "netns", "exec", netns, sys.executable, "-c", PING, address], capture_output=True,
                          text=True, timeout=15, check=False).stdout.strip()


def test_icmp_rules_by_type(plane: Plane, spaces: Namespaces) -> None:
    vpc = plane.vpcs.create_vpc(ACCOUNT, VPC1)
    s = plane.vpcs.create_subnet(ACCOUNT, vpc.vpc_id, "10.231.1.0/24")
    tcp_only = plane.vpcs.create_group(ACCOUNT, vpc.vpc_id, "tcp-only", "tcp 8080 from the subnet").group_id
    plane.vpcs.authorize(ACCOUNT, tcp_only, egress=False, permissions=[
        {"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080, "IpRanges": [{"CidrIp": "10.231.1.0/24"}]}])
    source, target = spaces.make(), spaces.make(serve=True)
    plane.run(plane.net.attach_namespace(ACCOUNT, s.subnet_id, source))
    victim, _ = plane.run(plane.net.attach_namespace(ACCOUNT, s.subnet_id, target,  # type: ignore[misc]
                                                     group_ids=[tcp_only]))
    assert connect(source, str(victim)) == "ok:pong"
    assert ping(source, str(victim)) == "timeout"
    plane.vpcs.authorize(ACCOUNT, tcp_only, egress=False, permissions=[
        {"IpProtocol": "icmp", "FromPort": 8, "ToPort": -1, "IpRanges": [{"CidrIp": "10.231.1.0/24"}]}])
    plane.settle(0.3)
    assert ping(source, str(victim)) == "pong"


def _table_state(table: str) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """(sets and maps -> sorted elements, chains -> their rules) of both families of ``table``."""
    import json

    elements: dict[str, list[str]] = {}
    chains: dict[str, list[str]] = {}
    for family in ("inet", "bridge"):
        listed = json.loads(sh("nft", "-j", "list", "table", family, table))["nftables"]
        for item in listed:
            kind, body = next(iter(item.items()))
            if kind in ("set", "map"):
                elements[f"{family} {body['name']}"] = sorted(json.dumps(e, sort_keys=True) for e in body.get("elem", []))
            elif kind == "chain":
                chains.setdefault(f"{family} {body['name']}", [])
            elif kind == "rule":
                chains.setdefault(f"{family} {body['chain']}", []).append(json.dumps(body["expr"], sort_keys=True))
    return elements, chains


def test_environments_are_added_element_wise_and_leave_what_a_whole_load_would(
        plane: Plane, spaces: Namespaces) -> None:
    """An environment's interface costs one small transaction of elements (no whole ruleset load:
    its groups' chains were prepared when the function was placed); after attaches and detaches
    the kernel holds exactly the elements and chains a whole load of the same model would."""
    import dataclasses

    from lambent.network.vpc import _nft

    vpc = plane.vpcs.create_vpc(ACCOUNT, VPC1)
    a = plane.vpcs.create_subnet(ACCOUNT, vpc.vpc_id, "10.231.1.0/24")
    fn_group = plane.vpcs.create_group(ACCOUNT, vpc.vpc_id, "fn", "function").group_id
    db_group = plane.vpcs.create_group(ACCOUNT, vpc.vpc_id, "db", "database").group_id
    plane.vpcs.authorize(ACCOUNT, db_group, egress=False, permissions=[
        {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "UserIdGroupPairs": [{"GroupId": fn_group}]}])
    one = plane.net.for_function(ACCOUNT, [a.subnet_id], [fn_group])
    two = plane.net.for_function(ACCOUNT, [a.subnet_id], [fn_group, db_group])
    plane.settle(0.3)  # the prepared chains' load
    whole = WholeLoads(plane)
    copy = plane.net.table + "_copy"
    with stand_ins(3) as procs:
        try:
            atts = [plane.run(fn.attach(f"env{i}", p.pid)) for i, (fn, p) in enumerate(zip((one, two, one), procs, strict=True))]
            assert whole.count == 0
            plane.run(one.detach(atts[0]))
            assert whole.count == 0
            rebuilt = dataclasses.replace(plane.net.ruleset(plane.vpcs.snapshot()), table=copy)
            _nft.load(rebuilt.text(), nft_path="/usr/sbin/nft", what="a copy")
            got_elements, got_chains = _table_state(plane.net.table)
            want_elements, want_chains = _table_state(copy)
            assert got_elements == want_elements
            assert len(got_elements["inet if_eg"]) == 2 and len(got_elements[f"inet m_{fn_group.replace('-', '_')}"]) == 2
            for name, rules in want_chains.items():
                assert got_chains.get(name) == rules, name
            for att in atts[1:]:
                plane.run(one.detach(att))
            assert whole.count == 0 and plane.vpcs.interfaces(ACCOUNT) == []
            elements, _ = _table_state(plane.net.table)
            assert elements["inet if_eg"] == [] and elements["bridge ports"] == []
            assert elements[f"inet m_{fn_group.replace('-', '_')}"] == []
            # a rules change is still a whole load
            plane.vpcs.authorize(ACCOUNT, fn_group, egress=False, permissions=[
                {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "10.231.0.0/16"}]}])
            eventually(lambda: (plane.settle(0.05), whole.count)[1] >= 1, 1.0)
        finally:
            _nft.load(delete_text(copy), nft_path="/usr/sbin/nft", what="delete the copy", check=False)


def test_a_refused_element_step_falls_back_to_a_whole_load(plane: Plane, spaces: Namespaces) -> None:
    """An address whose map entry exists already (a stale holder) is not silently kept with its
    old verdict: ``create element`` is refused and the whole ruleset is loaded instead."""
    fn = one_function(plane)
    with stand_ins(1) as (proc,):
        att = plane.run(fn.attach("env", proc.pid))
        live = plane.net._live[att.interface_id]  # type: ignore[attr-defined]
        loaded = plane.net._loaded
        whole = WholeLoads(plane)

        async def again() -> None:
            async with plane.net._lock:
                await plane.net._apply_interface(live, add=True)

        plane.run(again())
        assert whole.count == 1 and plane.net._loaded is not None and plane.net._loaded is not loaded
        elements, _ = _table_state(plane.net.table)
        assert len(elements["inet if_eg"]) == 1 and len(elements["bridge ports"]) == 1
        plane.run(fn.detach(att))
        elements, _ = _table_state(plane.net.table)
        assert elements["inet if_eg"] == [] and elements["bridge ports"] == []


def test_an_attach_does_not_wait_for_a_detach_or_a_whole_load_in_progress(plane: Plane, spaces: Namespaces) -> None:
    """A detach holds the ruleset's lock for its element removal (10-30 ms on a loaded host): an
    environment's attach whose chains are loaded adds its elements without waiting for it."""
    fn = one_function(plane)
    with stand_ins(1) as (proc,):
        async def while_locked() -> object:
            async with plane.net._lock:  # as a detach or a rules change would hold it
                return await asyncio.wait_for(fn.attach("env", proc.pid), 10)

        att = plane.run(while_locked())
        elements, _ = _table_state(plane.net.table)
        assert elements["inet if_eg"] and elements["bridge ports"]
        plane.run(fn.detach(att))
        elements, _ = _table_state(plane.net.table)
        assert elements["inet if_eg"] == [] and elements["bridge ports"] == []
