"""The nftables text of a server's default network: what it drops, in which order, and that it
loads (``nft --check``, which parses and validates against the kernel without applying)."""

from __future__ import annotations

import shutil
import subprocess
from ipaddress import IPv4Address, IPv4Network

import pytest

from lambent.network import Ruleset
from lambent.network.ruleset import delete_text

RULES = Ruleset(table="lambent_abc123", bridge="lmbabc123", port_prefix="lmbabc123v", subnet=IPv4Network("198.18.7.0/24"),
                gateway=IPv4Address("198.18.7.1"), deny=(IPv4Network("10.0.0.0/8"), IPv4Network("100.64.0.0/10")),
                allow=(IPv4Network("10.1.2.0/24"),))


def _chain(text: str, name: str) -> list[str]:
    body = text.split(f"chain {name} {{", 1)[1].split("}", 1)[0]
    return [line.strip() for line in body.strip().splitlines()]


def test_input_only_lets_sandboxes_ask_dns_of_the_gateway_at_a_bounded_rate() -> None:
    text = RULES.text()
    body = text.split("chain input {", 1)[1].split("\n  }", 1)[0]
    chain = [line.strip() for line in body.strip().splitlines()]
    assert chain[1:3] == [
        'iifname "lmbabc123" udp dport 53 update @dns_udp { ip saddr limit rate over 50/second burst 50 packets } drop',
        'iifname "lmbabc123" tcp dport 53 ct state new update @dns_tcp '
        '{ ip saddr limit rate over 50/second burst 50 packets } drop',
    ]
    assert chain[3:] == [
        'iifname "lmbabc123" ct state established,related accept',
        'iifname "lmbabc123" ip daddr 198.18.7.1 udp dport 53 accept',
        'iifname "lmbabc123" ip daddr 198.18.7.1 tcp dport 53 accept',
        'iifname "lmbabc123" drop',
    ]


def test_forwarding_drops_inbound_between_sandboxes_link_local_and_denied_unless_allowed() -> None:
    chain = _chain(RULES.text(), "forward")
    rules = chain[1:]
    assert rules.index('oifname "lmbabc123" drop') > rules.index('oifname "lmbabc123" ct state established,related accept')
    assert 'iifname "lmbabc123" oifname "lmbabc123" drop' == rules[0]
    order = [rules.index(r) for r in ('iifname "lmbabc123" ip daddr 169.254.0.0/16 drop',
                                      'iifname "lmbabc123" ip daddr 198.18.7.0/24 drop',
                                      'iifname "lmbabc123" ip daddr @allow accept',
                                      'iifname "lmbabc123" ip daddr @deny drop',
                                      'iifname "lmbabc123" accept')]
    assert order == sorted(order)
    assert "elements = { 10.0.0.0/8, 100.64.0.0/10 }" in RULES.text()


def test_the_host_itself_cannot_open_a_connection_to_a_sandbox() -> None:
    assert _chain(RULES.text(), "output")[1:] == ['oifname "lmbabc123" ct state established,related accept',
                                                  'oifname "lmbabc123" drop']


def test_bridge_ports_of_this_server_do_not_talk_to_each_other() -> None:
    bridge = RULES.text().split("table bridge lambent_abc123 {\n", 1)[1]
    assert 'iifname "lmbabc123v*" oifname "lmbabc123v*" drop' in bridge


@pytest.mark.parametrize("text", [RULES.text(), delete_text("lambent_abc123")])
def test_the_text_is_valid_nftables(text: str) -> None:
    nft = shutil.which("nft")
    assert nft is not None, "nftables (nft) is needed: apt-get install nftables"
    done = subprocess.run([nft, "--check", "-f", "-"], input=text.encode(), capture_output=True, check=False)
    assert done.returncode == 0, done.stderr.decode()


def test_empty_allow_list_is_still_a_set() -> None:
    text = Ruleset(table="t", bridge="b", port_prefix="bv", subnet=IPv4Network("198.18.7.0/24"),
                   gateway=IPv4Address("198.18.7.1"), deny=(), allow=()).text()
    assert "set allow { type ipv4_addr; flags interval;  }" in text
