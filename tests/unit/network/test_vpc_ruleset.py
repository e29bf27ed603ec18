"""The nftables text of VPCs (pure): security-group rules as nft matches, the order of the
route / group chains, NAT only for VPCs with a NAT gateway, anti-spoofing per port; and that the
text loads (``nft -c``: parsed and validated by the kernel, nothing applied)."""

from __future__ import annotations

import shutil
import subprocess
from ipaddress import IPv4Address, IPv4Network

import pytest

from lambent.network.vpc.manager import _host_routes
from lambent.network.vpc.ruleset import NetInterface, NetSubnet, NetVpc, VpcRuleset, interface_text, rule_expr, set_chain
from lambent.vpc.model import Protocol, Rule

SG, PEER = "sg-0123456789abcdef0", "sg-0fedcba9876543210"


def _rule(egress: bool, protocol: Protocol, low: int | None, high: int | None, cidr: str | None = None,
          peer: str | None = None) -> Rule:
    return Rule("sgr-1", SG, egress, protocol, low, high, IPv4Network(cidr) if cidr else None, peer)


def _chain(text: str, name: str) -> list[str]:
    lines = text.splitlines()
    start = lines.index(f"  chain {name} {{")
    end = lines.index("  }", start)
    return [line.strip() for line in lines[start + 1:end]]


RULES = VpcRuleset(
    table="lambent_vpc_abc123", link_prefix="lmvabc123",
    vpcs=(NetVpc("vpc-1", IPv4Network("10.231.0.0/16"), nat=True), NetVpc("vpc-2", IPv4Network("10.232.0.0/16"), nat=False)),
    subnets=(NetSubnet("subnet-a", "vpc-1", "lmvabc123b1", IPv4Network("10.231.1.0/24"), IPv4Address("10.231.1.1")),
             NetSubnet("subnet-b", "vpc-2", "lmvabc123b2", IPv4Network("10.232.1.0/24"), IPv4Address("10.232.1.1"))),
    interfaces=(NetInterface(IPv4Address("10.231.1.4"), "vpc-1", (SG,), "lmvabc123e1"),
                NetInterface(IPv4Address("10.231.1.5"), "vpc-1", (SG, PEER), None)),
    rules={SG: (_rule(True, Protocol.ALL, None, None, "0.0.0.0/0"),
                _rule(False, Protocol.TCP, 443, 443, peer=PEER),
                _rule(False, Protocol.UDP, 1000, 2000, "10.0.0.0/8")),
           PEER: ()},
    members={PEER: (IPv4Address("10.231.1.5"),)},
    deny=(IPv4Network("10.0.0.0/8"),), allow=(IPv4Network("10.9.0.0/16"),), never=(IPv4Network("198.18.0.0/15"),),
)


@pytest.mark.parametrize(("rule", "expected"), [
    (_rule(True, Protocol.ALL, None, None, "0.0.0.0/0"), "meta nfproto ipv4"),
    (_rule(True, Protocol.TCP, 22, 22, "10.0.0.0/8"), "ip daddr 10.0.0.0/8 tcp dport 22"),
    (_rule(False, Protocol.TCP, 8000, 8080, "192.0.2.0/24"), "ip saddr 192.0.2.0/24 tcp dport 8000-8080"),
    (_rule(False, Protocol.UDP, 0, 65535, peer=PEER), f"ip saddr @m_{PEER.replace('-', '_')} meta l4proto udp"),
    (_rule(False, Protocol.ICMP, 8, -1, "0.0.0.0/0"), "meta l4proto icmp icmp type 8"),
    (_rule(False, Protocol.ICMP, 3, 4, "0.0.0.0/0"), "meta l4proto icmp icmp type 3 icmp code 4"),
    (_rule(False, Protocol.ICMP, -1, -1, "0.0.0.0/0"), "meta l4proto icmp"),
])
def test_rule_expressions(rule: Rule, expected: str) -> None:
    assert rule_expr(rule) == expected


def test_group_and_interface_chains_accept_on_any_group_and_drop_the_rest() -> None:
    text = RULES.text()
    g = SG.replace("-", "_")
    assert _chain(text, f"g_{g}_eg") == ["meta nfproto ipv4 accept"]
    assert _chain(text, f"g_{g}_in") == [f"ip saddr @m_{PEER.replace('-', '_')} tcp dport 443 accept",
                                         "ip saddr 10.0.0.0/8 udp dport 1000-2000 accept"]
    assert _chain(text, f"{set_chain((SG, PEER))}_in") == [f"jump g_{g}_in", f"jump g_{PEER.replace('-', '_')}_in",
                                                            "drop"]
    # an interface's address jumps to the chain of its list of groups, shared by every holder
    assert f"10.231.1.5 : jump {set_chain((SG, PEER))}_in" in text
    assert f"10.231.1.4 : jump {set_chain((SG,))}_eg" in text
    # stateful: replies pass before any group is asked, both ways
    for chain in ("sg_out", "sg_in"):
        body = _chain(text, chain)
        assert body.index("ct state established,related accept") < len(body) - 2
        assert body[-1] == "drop"


def test_route_chain_nat_only_for_a_vpc_with_a_gateway_and_never_to_other_vpcs() -> None:
    body = _chain(RULES.text(), "route")
    a = [line for line in body if line.startswith('iifname "lmvabc123b1"')]
    assert a == ['iifname "lmvabc123b1" ip saddr != 10.231.1.0/24 drop',
                 'iifname "lmvabc123b1" ip daddr 10.231.0.0/16 oifname "lmvabc123*" accept',
                 'iifname "lmvabc123b1" ip daddr @never drop', 'iifname "lmvabc123b1" ip daddr @all_vpcs drop',
                 'iifname "lmvabc123b1" oifname "lmvabc123*" drop', 'iifname "lmvabc123b1" ip daddr @allow accept',
                 'iifname "lmvabc123b1" ip daddr @deny drop', 'iifname "lmvabc123b1" accept']
    b = [line for line in body if line.startswith('iifname "lmvabc123b2"')]
    assert b[-1] == 'iifname "lmvabc123b2" drop' and not any("accept" in line and "@allow" in line for line in b)
    assert body[-1] == 'oifname "lmvabc123*" drop'  # nothing opens a connection into a subnet
    assert "10.231.0.0/16" in _chain_set(RULES.text(), "nat_src") and "10.232" not in _chain_set(RULES.text(), "nat_src")


def _chain_set(text: str, name: str) -> str:
    return next(line for line in text.splitlines() if line.strip().startswith(f"set {name} "))


def test_input_lets_dns_to_the_vpcs_gateways_and_host_attachments_only() -> None:
    body = _chain(RULES.text(), "input_route")
    assert 'iifname "lmvabc123b1" ip saddr 10.231.1.0/24 ip daddr { 10.231.1.1 } udp dport 53 accept' in body
    assert 'iifname "lmvabc123b1" ip saddr 10.231.1.0/24 ip daddr { 10.231.1.5 } accept' in body
    assert not any("10.232.1.1" in line and "lmvabc123b1" in line for line in body)
    assert body[-1] == "drop"


def test_ports_are_bound_to_their_own_address() -> None:
    text = RULES.text()
    assert '"lmvabc123e1" . 10.231.1.4' in text
    body = _chain(text, "prerouting")
    assert body[-1] == "drop" and "ether type ip iifname . ip saddr @ports accept" in body


def test_an_empty_server_and_a_rule_flood_are_bounded_text() -> None:
    empty = VpcRuleset(table="lambent_vpc_abc123", link_prefix="lmvabc123", vpcs=(), subnets=(), interfaces=())
    assert "chain route" in empty.text()
    flood = {SG: tuple(_rule(False, Protocol.TCP, p, p, "10.0.0.0/8") for p in range(60))}
    many = VpcRuleset(table="t", link_prefix="lmvabc123", vpcs=RULES.vpcs, subnets=RULES.subnets,
                      interfaces=RULES.interfaces[:1], rules=flood)
    assert len(_chain(many.text(), f"g_{SG.replace('-', '_')}_in")) == 60


def test_host_routes_skip_our_own_links() -> None:
    text = ("default via 192.0.2.1 dev eth0\n192.0.2.0/24 dev eth0 proto kernel scope link src 192.0.2.2\n"
            "10.231.1.0/24 dev lmvabc123b1 proto kernel scope link src 10.231.1.1\n"
            "local 10.231.1.1 dev lmvabc123b1 table local proto kernel scope host src 10.231.1.1\n"
            "broadcast 192.0.2.255 dev eth0 table local proto kernel scope link src 192.0.2.2\n")
    assert _host_routes(text, "lmvabc123") == [IPv4Network("192.0.2.0/24"), IPv4Network("192.0.2.255/32")]


@pytest.mark.skipif(shutil.which("nft") is None, reason="nft not installed")
def test_the_text_loads() -> None:
    done = subprocess.run(["nft", "-c", "-f", "-"], input=RULES.text().encode(), capture_output=True, check=False)
    if done.returncode != 0 and b"Operation not permitted" in done.stderr:
        pytest.skip("nft -c needs CAP_NET_ADMIN")
    assert done.returncode == 0, done.stderr.decode()


def test_a_refused_text_is_network_setup_failed_with_nfts_message() -> None:
    from lambent.network.errors import NetworkSetupFailed
    from lambent.network.vpc import _nft

    with pytest.raises(NetworkSetupFailed) as caught:
        _nft.load("table inet lambent_vpc_test {\n  chain c { bogus }\n}\n", nft_path="/usr/sbin/nft", what="probe")
    assert "syntax error" in str(caught.value.context.get("error"))
    _nft.load("bogus", nft_path="/usr/sbin/nft", what="probe", check=False)  # unchecked: no error


NEW = NetInterface(IPv4Address("10.231.1.6"), "vpc-1", (SG, PEER), "lmvabc123e7")


def test_an_interface_is_elements_over_loaded_chains() -> None:
    loaded = RULES.loaded()
    assert loaded.groups == {SG, PEER} and loaded.peer_sets == {PEER}
    text = interface_text(loaded, NEW, add=True)
    assert text is not None
    chain = set_chain((SG, PEER))
    assert text.splitlines() == [
        f"create element inet lambent_vpc_abc123 if_eg {{ 10.231.1.6 : jump {chain}_eg }}",
        f"create element inet lambent_vpc_abc123 if_in {{ 10.231.1.6 : jump {chain}_in }}",
        'add element bridge lambent_vpc_abc123 ports { "lmvabc123e7" . 10.231.1.6 }',
        f"add element inet lambent_vpc_abc123 m_{PEER.replace('-', '_')} {{ 10.231.1.6 }}",
    ]
    removed = interface_text(loaded, NEW, add=False)
    assert removed is not None and removed.splitlines() == [
        line.replace("create element", "delete element").replace("add element", "delete element").replace(f" : jump {chain}_eg", "").replace(
            f" : jump {chain}_in", "") for line in text.splitlines()]


def test_a_new_list_of_groups_gets_its_chain_in_the_same_transaction() -> None:
    only_peer = NetInterface(IPv4Address("10.231.1.7"), "vpc-1", (PEER,), "lmvabc123e8")
    text = interface_text(RULES.loaded(), only_peer, add=True)
    assert text is not None
    chain = set_chain((PEER,))
    lines = text.splitlines()
    assert lines[:3] == [f"add chain inet lambent_vpc_abc123 {chain}_eg",
                         f"add rule inet lambent_vpc_abc123 {chain}_eg jump g_{PEER.replace('-', '_')}_eg",
                         f"add rule inet lambent_vpc_abc123 {chain}_eg drop"]
    # removing an interface whose chain this load did not make: the caller reloads everything
    assert interface_text(RULES.loaded(), only_peer, add=False) is None


def test_what_cannot_be_elements_is_left_to_a_whole_load() -> None:
    loaded = RULES.loaded()
    host = NetInterface(IPv4Address("10.231.1.8"), "vpc-1", (SG,), None)
    assert interface_text(loaded, host, add=True) is None  # a host address: the hosts set and input chains
    stranger = NetInterface(IPv4Address("10.231.1.9"), "vpc-1", ("sg-00000000000000001",), "lmvabc123e9")
    assert interface_text(loaded, stranger, add=True) is None  # its group's chains are not loaded
    prepared = VpcRuleset(table=RULES.table, link_prefix=RULES.link_prefix, vpcs=RULES.vpcs, subnets=RULES.subnets,
                          interfaces=RULES.interfaces, rules=RULES.rules, members=RULES.members,
                          prepared=(("sg-00000000000000001",),))
    assert interface_text(prepared.loaded(), stranger, add=True) is not None  # prepared ahead of need
    assert f"chain {set_chain(('sg-00000000000000001',))}_eg" in prepared.text()
