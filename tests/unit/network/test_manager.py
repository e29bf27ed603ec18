"""``DefaultNetwork`` on the real host (root, real links and nftables): a namespace attached and
detached, a failed attach leaves nothing and is a 500 ServiceException, the server's names are its
own, and close (or the next start) removes everything it made."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from lambent.api.envelopes import shape_for
from lambent.network import DefaultNetwork, NetworkSetupFailed, names_for
from lambent.settings import NetworkSettings


def _sh(*argv: str) -> str:
    return subprocess.run(argv, capture_output=True, text=True, check=False).stdout


def _traces(net: DefaultNetwork) -> list[str]:
    links = [line for line in _sh("ip", "-o", "link", "show").splitlines() if net.prefix in line]
    return links + [line for line in _sh("nft", "list", "tables").splitlines() if net.table in line]


@pytest.fixture
def netns_process() -> Iterator[subprocess.Popen[bytes]]:
    """A process alone in a new network namespace (as a sandbox's init is)."""
    proc = subprocess.Popen(["unshare", "--net", "sh", "-c", "echo ready; exec sleep 60"], stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()


@pytest.fixture
async def network(tmp_path: Path) -> AsyncIterator[DefaultNetwork]:
    net = DefaultNetwork(NetworkSettings(enabled=True, dns_upstream="127.0.0.1:53"), data_dir=tmp_path / "data",
                         files_dir=tmp_path)
    await net.start()
    try:
        yield net
    finally:
        await net.close()
        assert _traces(net) == []


async def test_attach_gives_the_namespace_eth0_with_an_address_and_a_default_route(
        network: DefaultNetwork, netns_process: subprocess.Popen[bytes]) -> None:
    att = await network.attach("env-1", netns_process.pid)
    inside = ["nsenter", f"--net=/proc/{netns_process.pid}/ns/net", "ip", "-4", "-o"]
    assert f"{att.address}/{network.pool.subnet.prefixlen if network.pool else 0}" in _sh(*inside, "addr", "show", "eth0")
    assert f"default via {network.gateway} dev eth0" in _sh(*inside, "route")
    details = _sh("ip", "-d", "link", "show", att.host_link)
    assert f"master {network.bridge}" in details and "isolated on" in details and "learning off" in details
    assert (network.resolv_conf.read_text().splitlines()[0] == f"nameserver {network.gateway}")
    await network.detach(att)
    await network.detach(att)  # twice: harmless
    assert att.host_link not in _sh("ip", "-o", "link", "show")
    assert network.pool is not None and network.pool.available == network.pool.subnet.num_addresses - 3


async def test_the_gateway_keeps_its_mac_as_sandboxes_come_and_go(network: DefaultNetwork, tmp_path: Path) -> None:
    # A bridge without an address of its own takes its lowest port's: a new sandbox's veth could
    # change the gateway's MAC under the others' ARP caches, and their traffic went nowhere.
    procs = [subprocess.Popen(["unshare", "--net", "sh", "-c", "echo ready; exec sleep 60"], stdout=subprocess.PIPE)
             for _ in range(6)]
    mac = Path(f"/sys/class/net/{network.bridge}/address")
    try:
        assert mac.read_text().strip() == network.bridge_mac
        atts = []
        for i, proc in enumerate(procs):
            assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
            atts.append(await network.attach(f"env-{i}", proc.pid))
            assert mac.read_text().strip() == network.bridge_mac
        for att in atts[::2]:
            await network.detach(att)
            assert mac.read_text().strip() == network.bridge_mac
        int(network.bridge_mac.replace(":", ""), 16)  # a valid address: locally administered, unicast
        assert int(network.bridge_mac[:2], 16) & 0b11 == 0b10
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()


async def test_a_failed_attach_leaves_nothing_and_is_a_service_exception(network: DefaultNetwork) -> None:
    assert network.pool is not None
    free = network.pool.available
    with pytest.raises(NetworkSetupFailed) as caught:
        await network.attach("env-x", 2**22 + 12345)  # no such process
    assert caught.value.message == "cannot set up the network of environment env-x"
    assert shape_for(caught.value).code == "ServiceException" and shape_for(caught.value).status == 500
    assert network.pool.available == free
    assert [line for line in _sh("ip", "-o", "link", "show").splitlines() if network.port_prefix in line] == []


async def test_leftovers_of_a_server_are_removed_by_its_next_start_and_no_one_elses(tmp_path: Path) -> None:
    settings = NetworkSettings(enabled=True, dns_upstream="127.0.0.1:53")
    crashed = DefaultNetwork(settings, data_dir=tmp_path / "a", files_dir=tmp_path)
    other = DefaultNetwork(settings, data_dir=tmp_path / "b", files_dir=tmp_path / "b")
    (tmp_path / "b").mkdir()
    await crashed.start()
    await other.start()
    try:
        assert crashed.prefix != other.prefix and crashed.pool and other.pool
        assert not crashed.pool.subnet.overlaps(other.pool.subnet)
        assert crashed.dns is not None
        crashed.dns.close()  # its process "died": links and tables stay
        again = DefaultNetwork(settings, data_dir=tmp_path / "a", files_dir=tmp_path)
        await again.start()
        await again.close()
        assert _traces(again) == []
        assert len(_traces(other)) == 3  # its bridge and both tables
    finally:
        await other.close()
        await crashed.close()


def test_names_fit_linux_interface_names_and_follow_the_data_dir(tmp_path: Path) -> None:
    prefix, table = names_for(tmp_path)
    assert prefix == names_for(tmp_path / "." )[0] and table == f"lambent_{prefix[3:]}"
    assert len(prefix) + 1 + 5 <= 15  # "v" and up to 5 base-36 digits per veth


async def test_invalid_settings_fail_the_start_clearly(tmp_path: Path) -> None:
    net = DefaultNetwork(NetworkSettings(enabled=True, deny="10.0.0.0/8,bogus", dns_upstream="127.0.0.1:53"),
                         data_dir=tmp_path, files_dir=tmp_path)
    with pytest.raises(NetworkSetupFailed, match="invalid network settings: not an IPv4 network: 'bogus'"):
        await net.start()
    assert _traces(net) == []


_START_ONE = """
import asyncio, sys, time
from pathlib import Path
from lambent.network import DefaultNetwork, NetworkSetupFailed
from lambent.settings import NetworkSettings

async def main() -> None:
    net = DefaultNetwork(NetworkSettings(pool=sys.argv[2], dns_upstream="127.0.0.1:53"),
                         data_dir=Path(sys.argv[1]), files_dir=Path(sys.argv[1]).parent)
    time.sleep(max(0.0, float(sys.argv[3]) - time.time()))  # every process starts at this instant
    try:
        await net.start()
    except NetworkSetupFailed as exc:
        print("failed:", exc.message, flush=True)
        return
    try:
        print(net.pool.subnet if net.pool else "", flush=True)
        sys.stdin.readline()
    finally:
        await net.close()

asyncio.run(main())
"""


def test_servers_starting_at_the_same_moment_never_pick_the_same_subnet(tmp_path: Path) -> None:
    # Two /24s for four servers started at the same instant, each in its own process: without the
    # host-wide lock, all four see no route yet and take the block their seed points at.
    import os
    import sys
    import time

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    at = str(time.time() + 3.0)
    procs = []
    for i in range(4):
        (tmp_path / f"s{i}").mkdir()
        procs.append(subprocess.Popen([sys.executable, "-c", _START_ONE, str(tmp_path / f"s{i}" / "data"),
                                       "198.19.242.0/23", at], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, env=env))
    try:
        lines = []
        for proc in procs:
            assert proc.stdout is not None
            line = proc.stdout.readline().decode().strip()
            assert line, proc.stderr.read().decode() if proc.stderr else ""
            lines.append(line)
        subnets = sorted(line for line in lines if not line.startswith("failed:"))
        assert subnets == ["198.19.242.0/24", "198.19.243.0/24"], lines
        assert [line for line in lines if line.startswith("failed:")] == [
            "failed: every /24 of network.pool 198.19.242.0/23 is already routed on this host"] * 2, lines
    finally:
        for proc in procs:
            if proc.stdin is not None:
                proc.stdin.close()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
        for i in range(4):
            DefaultNetwork(NetworkSettings(), data_dir=tmp_path / f"s{i}" / "data", files_dir=tmp_path).cleanup_leftovers()
    assert all(_traces(DefaultNetwork(NetworkSettings(), data_dir=tmp_path / f"s{i}" / "data", files_dir=tmp_path)) == []
               for i in range(4))


async def test_a_host_without_nft_fails_the_start_naming_the_tool(tmp_path: Path) -> None:
    net = DefaultNetwork(NetworkSettings(nft_path=str(tmp_path / "no-nft"), dns_upstream="127.0.0.1:53"),
                         data_dir=tmp_path, files_dir=tmp_path)
    with pytest.raises(NetworkSetupFailed, match=f"{tmp_path / 'no-nft'} is missing"):
        await net.start()
    assert _traces(net) == []
